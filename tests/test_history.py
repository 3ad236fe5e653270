"""Weekly summary, its text and its chart, on a fixed clock and in two time zones."""

from __future__ import annotations

import io
import itertools
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image

from bot.diary import MoodEntry
from bot.history import (
    CHART_SIZE_PX,
    EMOJI,
    PALETTE,
    format_summary,
    period_bounds,
    render_chart,
    week_summary,
)
from models.emotion import Emotion
from tests import charts

# Sunday 9 March 2025, 18:00 UTC.
NOW = datetime(2025, 3, 9, 18, 0, tzinfo=UTC)
PLUS2 = timezone(timedelta(hours=2))
_ids = itertools.count(1)


def entry(
    at: datetime,
    emotion: Emotion | None = Emotion.HAPPY,
    *,
    tracks: tuple[str, ...] = ("a", "b"),
    mood: str | None = None,
    corrected: Emotion | None = None,
) -> MoodEntry:
    return MoodEntry(
        id=next(_ids),
        user_id=1,
        created_at=at,
        emotion=emotion,
        confidence=0.8 if emotion else None,
        probabilities={emotion: 0.8} if emotion else {},
        mood=mood,
        corrected_emotion=corrected,
        track_ids=tracks,
        source="face" if emotion else "mood",
    )


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A UTC time in March 2025."""
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


def test_days_follow_the_local_calendar():
    late = entry(at(8, 23, 30))  # Saturday 23:30 UTC = Sunday 01:30 in UTC+2
    utc = week_summary([late], now=NOW, tz=UTC)
    plus2 = week_summary([late], now=NOW, tz=PLUS2)
    assert utc.days[-2].date == date(2025, 3, 8) and utc.days[-2].readings == 1
    assert plus2.days[-1].date == date(2025, 3, 9) and plus2.days[-1].readings == 1
    assert plus2.days[-2].readings == 0
    # At 23:00 UTC it is already Monday in UTC+2: the week moves on by a day.
    shifted = week_summary([late], now=at(9, 23), tz=PLUS2)
    assert (shifted.start, shifted.end) == (date(2025, 3, 4), date(2025, 3, 10))


def test_counts_dominant_totals():
    entries = [
        entry(at(9, 8), Emotion.SAD),
        entry(at(9, 9), Emotion.HAPPY),
        entry(at(9, 10), Emotion.HAPPY, tracks=("b", "c")),
        entry(at(7, 10), Emotion.NEUTRAL, corrected=Emotion.FEAR),  # correction wins
        entry(at(7, 11), None, mood="focus", tracks=("f",)),  # mood only
        entry(at(1, 10), Emotion.ANGRY),  # before the week: ignored
        entry(at(3, 5), Emotion.SAD),
    ]
    s = week_summary(entries, now=NOW, tz=UTC)
    assert (s.start, s.end) == (date(2025, 3, 3), date(2025, 3, 9))
    assert [d.date for d in s.days] == [date(2025, 3, d) for d in range(3, 10)]
    sunday = s.days[-1]
    assert sunday.counts[Emotion.HAPPY] == 2 and sunday.counts[Emotion.SAD] == 1
    assert sunday.dominant is Emotion.HAPPY
    assert sunday.track_ids == ("a", "b", "c") and sunday.songs == 3
    friday = s.days[4]
    assert friday.counts[Emotion.FEAR] == 1 and friday.counts[Emotion.NEUTRAL] == 0
    assert friday.moods == {"focus": 1} and friday.readings == 2 and friday.mood_only == 1
    assert s.total_readings == 6 and s.days_with_readings == 3
    assert s.most_frequent is Emotion.HAPPY
    assert sum(s.counts.values()) == 5  # the mood-only entry is not an emotion


def test_tie_goes_to_the_latest_emotion():
    s = week_summary(
        [entry(at(9, 8), Emotion.SAD), entry(at(9, 9), Emotion.HAPPY)], now=NOW, tz=UTC
    )
    assert s.days[-1].dominant is Emotion.HAPPY


@pytest.mark.parametrize(
    ("days_ago", "expected"),
    [((0, 1, 2), 3), ((1, 2, 3, 4), 4), ((0, 2, 3), 1), ((2, 3), 0), ((), 0)],
)
def test_streak(days_ago, expected):
    entries = [entry(NOW - timedelta(days=d)) for d in days_ago]
    assert week_summary(entries, now=NOW, tz=UTC).streak == expected


def test_streak_runs_into_the_previous_period():
    entries = [entry(NOW - timedelta(days=d)) for d in range(10)]
    assert week_summary(entries, now=NOW, tz=UTC, previous=entries).streak == 10


def test_comparison_with_previous_week():
    this_week = [entry(at(9, h), Emotion.HAPPY) for h in range(5)] + [entry(at(8, 10), Emotion.SAD)]
    last_week = [entry(at(1, h), Emotion.HAPPY) for h in range(3)] + [
        entry(at(2, h), Emotion.ANGRY) for h in range(2)
    ]
    older = [entry(at(1, 10) - timedelta(days=20), Emotion.FEAR)]  # outside both periods
    everything = this_week + last_week + older
    s = week_summary(everything, now=NOW, tz=UTC, previous=everything)
    assert s.total_readings == 6 and s.previous_total == 5
    assert [(c.emotion, c.before, c.after) for c in s.changes] == [
        (Emotion.HAPPY, 3, 5),
        (Emotion.SAD, 0, 1),
        (Emotion.ANGRY, 2, 0),
    ]
    text = format_summary(s)
    assert "😊 happy 3 → 5" in text and "😠 angry 2 → 0" in text
    assert week_summary(this_week, now=NOW, tz=UTC).previous_total is None


def test_format_lists_each_day():
    entries = [
        entry(at(9, 8), Emotion.HAPPY),
        entry(at(9, 9), Emotion.HAPPY),
        entry(at(8, 9), None, mood="heart_touching", tracks=("x",)),
        entry(at(8, 10), None, mood="retired_mood", tracks=()),
    ]
    text = format_summary(week_summary(entries, now=NOW, tz=UTC))
    lines = text.splitlines()
    assert "3 Mar – 9 Mar" in lines[0]
    assert "Sun 9 · 😊 happy ×2 · 2 songs" in lines
    assert "Sat 8 · 💗 Heart-touching, retired mood · 1 song" in lines
    assert "Wed 5 · —" in lines
    assert "4 readings on 2 of 7 days." in lines
    assert "🔥 2-day streak" in text
    assert not {"<", ">", "&"} & set(text)  # safe under Telegram's HTML parse mode


def test_every_emotion_has_an_emoji_and_colour():
    assert set(EMOJI) == set(PALETTE) == set(Emotion)
    assert len(set(PALETTE.values())) == len(Emotion)


def test_empty_history():
    s = week_summary([], now=NOW, tz=PLUS2)
    assert s.total_readings == 0 and s.most_frequent is None and s.streak == 0
    assert len(s.days) == 7 and all(d.dominant is None for d in s.days)
    assert "No readings yet" in format_summary(s) and "selfie" in format_summary(s)


def test_validation():
    with pytest.raises(ValueError):
        week_summary([], now=datetime(2025, 3, 9), tz=UTC)
    with pytest.raises(ValueError):
        week_summary([], now=NOW, tz=UTC, days=0)


def test_period_bounds_are_local_midnights():
    start, end = period_bounds(NOW, PLUS2)
    assert start == datetime(2025, 3, 2, 22, tzinfo=UTC)  # 3 Mar 00:00 in UTC+2
    assert end == datetime(2025, 3, 9, 22, tzinfo=UTC)


def _png(data: bytes) -> Image.Image:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) < 200_000
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.size == CHART_SIZE_PX
    return image


def test_chart_is_a_phone_sized_png():
    emotions = list(Emotion)
    entries = [
        entry(NOW - timedelta(days=d, hours=h), emotions[(d * 3 + h) % 7])
        for d in range(7)
        for h in range(d % 4)
    ]
    entries.append(entry(NOW - timedelta(hours=2), None, mood="party"))
    summary = week_summary(entries, now=NOW, tz=PLUS2, previous=entries)
    data = render_chart(summary)
    _png(data)
    Path("/tmp/history_sample.png").write_bytes(data)  # for a human to look at


def readings(png: bytes, per_reading: float) -> dict[int, list[tuple[Emotion, int]]]:
    """The chart's columns as day -> [(emotion, readings)], bottom up."""
    return {
        day: [(emotion, round(height / per_reading)) for emotion, height in segments]
        for day, segments in charts.stacks(png).items()
    }


def test_chart_draws_each_day_as_a_column_of_its_emotions_colours():
    entries = [
        *(entry(at(3, h), Emotion.HAPPY) for h in (8, 9, 10)),  # Monday
        entry(at(6, 8), Emotion.SAD),  # Thursday: happy under sad (the palette's order)
        entry(at(6, 9), Emotion.HAPPY),
        entry(at(9, 8), Emotion.ANGRY),  # Sunday
        entry(at(9, 9), Emotion.NEUTRAL, corrected=Emotion.ANGRY),  # drawn as corrected
    ]
    png = render_chart(week_summary(entries, now=NOW, tz=UTC))
    monday = charts.stacks(png)[0]
    assert readings(png, per_reading=monday[0][1] / 3) == {
        0: [(Emotion.HAPPY, 3)],
        3: [(Emotion.HAPPY, 1), (Emotion.SAD, 1)],
        6: [(Emotion.ANGRY, 2)],
    }
    # The legend: one swatch for each emotion shown, and none for the others.
    in_columns = {b for column in charts.columns(png) for b in column}
    swatches = [b.emotion for b in charts.blocks(png) if b not in in_columns]
    assert sorted(swatches) == sorted([Emotion.HAPPY, Emotion.SAD, Emotion.ANGRY])


def test_chart_columns_follow_the_local_calendar():
    """Saturday 23:30 UTC is Sunday in UTC+2: its column moves one day to the right."""
    entries = [
        entry(at(3, 10), Emotion.HAPPY),  # Monday in both
        entry(at(8, 23, 30), Emotion.SAD),
        entry(at(9, 12), Emotion.HAPPY),  # Sunday in both
    ]
    utc = render_chart(week_summary(entries, now=NOW, tz=UTC))
    plus2 = render_chart(week_summary(entries, now=NOW, tz=PLUS2))
    one = charts.stacks(utc)[0][0][1]
    assert readings(utc, one) == {
        0: [(Emotion.HAPPY, 1)],
        5: [(Emotion.SAD, 1)],
        6: [(Emotion.HAPPY, 1)],
    }
    assert readings(plus2, one) == {
        0: [(Emotion.HAPPY, 1)],
        6: [(Emotion.HAPPY, 1), (Emotion.SAD, 1)],
    }


def test_empty_chart_draws_no_columns():
    png = render_chart(week_summary([], now=NOW, tz=UTC))
    _png(png)
    assert charts.blocks(png) == []
