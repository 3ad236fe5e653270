"""Weekly summary, its text and its chart, on a fixed clock and in two time zones."""

from __future__ import annotations

import io
import itertools
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image

from bot.charts import (
    CHART_SIZE_PX,
    EMPTY_COLOUR,
    LINE_COLOUR,
    PALETTE,
    UNSURE_COLOUR,
    calendar_cell_centre,
    chart_figure,
    render_calendar,
    render_chart,
)
from bot.diary import MoodEntry
from bot.history import format_summary, period_bounds, week_summary
from bot.vocabulary import ADJECTIVE, EMOJI
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
    unsure: bool = False,
    note: str | None = None,
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
        unsure=unsure,
        note=note,
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
    assert "Wed 5 · —" not in lines and "3 Mar – 7 Mar · 5 quiet days" in lines
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


def test_empty_chart_still_renders():
    _png(render_chart(week_summary([], now=NOW, tz=UTC)))


def _pixels(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def _count(image: Image.Image, hex_colour: str) -> int:
    target = charts.rgb(hex_colour)
    return sum(1 for p in image.getdata() if p == target)


def test_an_unsure_reading_is_shown_as_unsure_or_as_what_they_chose():
    guess = entry(at(9, 8), Emotion.ANGRY, unsure=True)  # "maybe angry (31%)", nothing chosen
    chose_mood = entry(at(8, 8), Emotion.ANGRY, unsure=True, mood="relaxing")
    corrected = entry(at(7, 8), Emotion.ANGRY, unsure=True, corrected=Emotion.SAD)
    s = week_summary([guess, chose_mood, corrected], now=NOW, tz=UTC)
    assert s.counts[Emotion.ANGRY] == 0 and s.counts[Emotion.SAD] == 1
    assert s.most_frequent is Emotion.SAD and s.total_readings == 3
    sunday, saturday = s.days[-1], s.days[-2]
    assert sunday.unsure == 1 and sunday.dominant is None and sunday.mood_only == 0
    assert saturday.unsure == 0 and saturday.mood_only == 1
    text = format_summary(s)
    assert "angry" not in text
    assert "Sun 9 · 🤔 unsure" in text and "Fri 7 · 😢 sad" in text
    assert next(line for line in text.splitlines() if line.startswith("Sat 8 ·")).endswith(
        "Relaxing · 2 songs"
    )
    # The chart follows the same rule: no angry anywhere, an unsure block, a sad one.
    week = _pixels(render_chart(s))
    assert _count(week, PALETTE[Emotion.ANGRY]) == 0
    assert _count(week, PALETTE[Emotion.SAD]) > 1000
    assert _count(week, UNSURE_COLOUR) > 500
    labels = {t.get_text() for t in chart_figure(s).axes[0].get_legend().get_texts()}
    assert {"unsure", "sad", "mood only"} <= labels and "angry" not in labels
    month = week_summary([guess, chose_mood, corrected], now=NOW, tz=UTC, days=30)
    calendar = _pixels(render_calendar(month))
    assert calendar.getpixel(
        calendar_cell_centre(month, date(2025, 3, 9), 0.88, 0.35)
    ) == charts.rgb(UNSURE_COLOUR)
    assert _count(calendar, PALETTE[Emotion.ANGRY]) == 0


def test_no_comparison_with_an_empty_period():
    this_week = [entry(at(9, 8), Emotion.ANGRY), entry(at(8, 8), Emotion.ANGRY)]
    s = week_summary(this_week, now=NOW, tz=UTC, previous=this_week)
    assert s.previous_total == 0 and s.changes == ()
    assert "days before" not in format_summary(s)


def test_one_vocabulary_everywhere():
    s = week_summary([entry(at(9, 8), Emotion.FEAR)], now=NOW, tz=UTC)
    text = format_summary(s)
    assert "😨 afraid" in text and "fear" not in text
    labels = {t.get_text() for t in chart_figure(s).axes[0].get_legend().get_texts()}
    assert "afraid" in labels and "fear" not in labels
    assert ADJECTIVE[Emotion.FEAR] == "afraid"


def test_week_chart_labels_days_and_draws_how_the_week_felt():
    happy_days = [entry(at(d, 9), Emotion.HAPPY) for d in (3, 4, 5)]
    sad_days = [entry(at(d, 9), Emotion.SAD) for d in (7, 8, 9)]
    s = week_summary(happy_days + sad_days, now=NOW, tz=UTC)
    assert [d.valence for d in s.days] == [1.0, 1.0, 1.0, None, -1.0, -1.0, -1.0]
    fig = chart_figure(s)
    bars, line_axis = fig.axes
    assert [t.get_text() for t in bars.get_xticklabels()][0] == "Mon\n3 Mar"
    assert [t.get_text() for t in line_axis.get_yticklabels()] == [
        "unpleasant",
        "so-so",
        "pleasant",
    ]
    (line,) = line_axis.get_lines()
    ys = list(line.get_ydata())
    assert ys[:3] == [1.0] * 3 and ys[4:] == [-1.0] * 3  # a gap on the day without one
    image = _pixels(render_chart(s))
    assert _count(image, LINE_COLOUR) > 300
    # Only unsure readings: no emotion, so no line at all.
    unsure = week_summary([entry(at(9, 8), Emotion.SAD, unsure=True)], now=NOW, tz=UTC)
    assert len(chart_figure(unsure).axes) == 1
    assert _count(_pixels(render_chart(unsure)), LINE_COLOUR) == 0


def test_month_calendar_colours_each_day_by_its_main_emotion():
    entries = [
        entry(at(3, 9), Emotion.SAD),  # Monday
        entry(at(3, 10), Emotion.SAD),
        entry(at(3, 11), Emotion.HAPPY),
        entry(at(5, 9), Emotion.HAPPY),  # Wednesday
        entry(datetime(2025, 2, 14, 9, tzinfo=UTC), Emotion.ANGRY),  # Friday, a month ago
    ]
    s = week_summary(entries, now=NOW, tz=UTC, days=30)
    image = _pixels(render_calendar(s))
    assert image.size[0] == 1000 and 900 <= image.size[1] <= 1200

    def colour(day: date) -> tuple[int, int, int]:
        return image.getpixel(calendar_cell_centre(s, day, 0.88, 0.35))

    assert colour(date(2025, 3, 3)) == charts.rgb(PALETTE[Emotion.SAD])
    assert colour(date(2025, 3, 5)) == charts.rgb(PALETTE[Emotion.HAPPY])
    assert colour(date(2025, 2, 14)) == charts.rgb(PALETTE[Emotion.ANGRY])
    assert colour(date(2025, 3, 4)) == charts.rgb(EMPTY_COLOUR)
    # Weekday columns: every Monday in the first column, Sundays in the last, one row a week.
    x_mon, y_mon = calendar_cell_centre(s, date(2025, 3, 3))
    x_sun, y_sun = calendar_cell_centre(s, date(2025, 3, 9))
    assert x_mon < x_sun and y_mon == y_sun
    assert calendar_cell_centre(s, date(2025, 2, 24))[0] == x_mon
    from bot.charts import calendar_figure

    texts = {t.get_text() for t in calendar_figure(s).axes[0].texts}
    assert {"Mon", "Sun", "sad", "happy", "angry", "1 Mar", "9"} <= texts


def test_month_text_collapses_quiet_stretches_and_shows_notes():
    entries = [
        entry(at(9, 8), Emotion.HAPPY, note="Walked by the sea <3 & slept well"),
        entry(at(3, 8), Emotion.SAD),
    ]
    text = format_summary(week_summary(entries, now=NOW, tz=UTC, days=30))
    lines = text.splitlines()
    assert "8 Feb – 2 Mar · 23 quiet days" in lines
    assert "4 Mar – 8 Mar · 5 quiet days" in lines
    assert not any(line.endswith("· —") for line in lines)
    assert "    📝 <i>Walked by the sea &lt;3 &amp; slept well</i>" in lines


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
