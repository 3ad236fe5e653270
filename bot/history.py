"""The mood diary as a summary of local days and a phone-sized text. Plain functions, no I/O.

Days are the person's local calendar days (``tz``), so a reading at 23:30 UTC belongs to the
next day for someone in UTC+2. Emotion counts use each entry's *effective* emotion: their own
correction wins over the model, and a reading the bot was unsure of counts as what they then
chose (a correction, or a mood) or as "unsure", never as the bot's guess. Entries with only a
mood are counted as readings and shown by mood, never in the emotion counts. The pictures of a
summary are drawn in bot/charts.py.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from bot.diary import MoodEntry
from bot.i18n import _, format_date, ngettext
from bot.vocabulary import UNSURE, UNSURE_EMOJI, VALENCE, emotion_text, mood_label
from models.emotion import Emotion
from recommender.track import Mood

# Runs of at least this many days without an entry read as one line ("12 quiet days").
QUIET_RUN = 3


@dataclass(frozen=True, slots=True)
class DaySummary:
    """One local calendar day."""

    date: date
    counts: dict[Emotion, int] = field(hash=False)  # every Emotion, zeros included
    dominant: Emotion | None  # most frequent; ties go to the one felt latest that day
    track_ids: tuple[str, ...]  # songs suggested that day, first suggestion order, no repeats
    moods: dict[str, int] = field(hash=False)  # follow-up moods chosen (Mood values)
    readings: int  # entries that day, mood-only and unsure ones included
    unsure: int = 0  # readings the bot was unsure of, with nothing chosen after
    notes: tuple[str, ...] = ()  # the person's own lines, in order

    @property
    def songs(self) -> int:
        return len(self.track_ids)

    @property
    def mood_only(self) -> int:
        """Entries without an emotion that aren't unsure ones: a mood picked, no emotion."""
        return self.readings - sum(self.counts.values()) - self.unsure

    @property
    def valence(self) -> float | None:
        """How pleasant the day's emotions were on average, -1 .. +1; None without any."""
        n = sum(self.counts.values())
        return sum(VALENCE[e] * c for e, c in self.counts.items()) / n if n else None


@dataclass(frozen=True, slots=True)
class EmotionChange:
    """How often an emotion was read in the previous period and in this one."""

    emotion: Emotion
    before: int
    after: int


@dataclass(frozen=True, slots=True)
class HistorySummary:
    """The last `days` local days, oldest first, with totals and the comparison."""

    start: date
    end: date  # today, in the person's time zone
    days: tuple[DaySummary, ...]
    total_readings: int
    days_with_readings: int
    most_frequent: Emotion | None
    streak: int  # consecutive days with an entry, ending today or yesterday
    previous_total: int | None  # None when no previous period was given
    changes: tuple[EmotionChange, ...]  # emotions seen in either period, biggest now first

    @property
    def counts(self) -> dict[Emotion, int]:
        """Emotion counts over the whole period."""
        total: Counter[Emotion] = Counter()
        for day in self.days:
            total.update(day.counts)
        return {e: total[e] for e in Emotion}


def period_bounds(now: datetime, tz: tzinfo, days: int = 7) -> tuple[datetime, datetime]:
    """UTC [start, end) covering the `days` local days ending today; what to load from storage
    (use ``start - timedelta(days=days)`` as the start to also get the previous period)."""
    first, last = _period(now, tz, days)
    return _local_midnight(first, tz), _local_midnight(last + timedelta(days=1), tz)


def week_summary(
    entries: Iterable[MoodEntry],
    *,
    now: datetime,
    tz: tzinfo,
    days: int = 7,
    previous: Iterable[MoodEntry] | None = None,
) -> HistorySummary:
    """Summarise the `days` local days ending today; `previous` (the period before) for the
    comparison. Entries outside each period are ignored, so one list may be passed as both.
    The streak only sees the entries passed in."""
    start, end = _period(now, tz, days)
    current = list(entries)
    earlier = list(previous) if previous is not None else []

    by_day: dict[date, list[MoodEntry]] = {start + timedelta(days=i): [] for i in range(days)}
    for entry in sorted(current, key=lambda e: (e.created_at, e.id)):
        day = _local_date(entry, tz)
        if day in by_day:
            by_day[day].append(entry)
    summaries = tuple(_day_summary(d, es) for d, es in by_day.items())

    period_entries = [e for es in by_day.values() for e in es]
    changes: tuple[EmotionChange, ...] = ()
    previous_total: int | None = None
    if previous is not None:
        prev_start = start - timedelta(days=days)
        prev_entries = [e for e in earlier if prev_start <= _local_date(e, tz) < start]
        previous_total = len(prev_entries)
        before = _emotion_counts(prev_entries)
        after = _emotion_counts(period_entries)
        # A comparison with an empty period says nothing ("angry 0 -> 2" for a new person).
        changes = tuple(
            EmotionChange(e, before[e], after[e])
            for e in sorted(Emotion, key=lambda e: (-after[e], -before[e], _ORDER[e]))
            if (before[e] or after[e]) and before.total()
        )

    active = {_local_date(e, tz) for e in [*current, *earlier]}
    return HistorySummary(
        start=start,
        end=end,
        days=summaries,
        total_readings=len(period_entries),
        days_with_readings=sum(1 for d in summaries if d.readings),
        most_frequent=_dominant(period_entries),
        streak=_streak(active, end),
        previous_total=previous_total,
        changes=changes,
    )


def span_text(summary: HistorySummary, with_year: bool = False) -> str:
    """'3 Mar – 9 Mar' (in the person's language), the year added where the span crosses one
    or `with_year` asks: the one date format."""
    crosses = summary.start.year != summary.end.year
    first = format_date(summary.start, "yMMMd" if crosses else "MMMd")
    last = format_date(summary.end, "yMMMd" if crosses or with_year else "MMMd")
    return f"{first} – {last}"


def format_summary(summary: HistorySummary) -> str:
    """Short text for a phone; safe to send with Telegram's HTML parse mode."""
    span = span_text(summary)
    n_days = len(summary.days)
    if not summary.total_readings:
        lines = [
            f"📅 {span}",
            "",
            _("No readings yet — send me a selfie and I'll start your mood diary. 📸"),
        ]
        if summary.previous_total:
            lines.append(
                ngettext(
                    "(The {days} days before had {count} reading.)",
                    "(The {days} days before had {count} readings.)",
                    summary.previous_total,
                ).format(days=n_days, count=summary.previous_total)
            )
        return "\n".join(lines)

    lines = [_("📅 Your moods, {span}").format(span=span), ""]
    for run in _runs(summary.days):
        if len(run) >= QUIET_RUN and not run[0].readings:
            quiet = ngettext("{count} quiet day", "{count} quiet days", len(run)).format(
                count=len(run)
            )
            lines.append(f"{short_date(run[0].date)} – {short_date(run[-1].date)} · {quiet}")
            continue
        for day in run:
            lines.append(f"{_day_name(day.date)} · {_day_text(day)}")
            lines += [f"    📝 <i>{html.escape(note)}</i>" for note in day.notes]
    lines.append("")
    n = summary.total_readings
    lines.append(
        ngettext(
            "{count} reading on {active} of {days} days.",
            "{count} readings on {active} of {days} days.",
            n,
        ).format(count=n, active=summary.days_with_readings, days=n_days)
    )
    if summary.most_frequent is not None:
        lines.append(_("Most often: {emotion}").format(emotion=emotion_text(summary.most_frequent)))
    if summary.streak >= 2:
        lines.append(_("🔥 {count}-day streak — keep it going!").format(count=summary.streak))
    if summary.changes:
        shown = ", ".join(
            f"{emotion_text(c.emotion)} {c.before} → {c.after}" for c in summary.changes[:3]
        )
        lines.append(_("vs the {days} days before: {changes}").format(days=n_days, changes=shown))
    return "\n".join(lines)


def streak(times: Iterable[datetime], now: datetime, tz: tzinfo) -> int:
    """Consecutive local days with an entry, ending today or yesterday."""
    return _streak({t.astimezone(tz).date() for t in times}, now.astimezone(tz).date())


def short_date(day: date) -> str:
    """'9 Mar', '3월 9일', '9 mar'."""
    return format_date(day, "MMMd")


# -- helpers ---------------------------------------------------------------------------------

_ORDER = {e: i for i, e in enumerate(Emotion)}


def _period(now: datetime, tz: tzinfo, days: int) -> tuple[date, date]:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    end = now.astimezone(tz).date()
    return end - timedelta(days=days - 1), end


def _local_midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def _local_date(entry: MoodEntry, tz: tzinfo) -> date:
    return entry.created_at.astimezone(tz).date()


def _runs(days: Sequence[DaySummary]) -> list[list[DaySummary]]:
    """Consecutive days grouped by whether they have entries."""
    runs: list[list[DaySummary]] = []
    for day in days:
        if runs and bool(runs[-1][-1].readings) == bool(day.readings):
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def _day_name(day: date) -> str:
    """'Sun 9', and 'Sat 1 Mar' where a month begins (in the person's language)."""
    return format_date(day, "MMMEd" if day.day == 1 else "EEEd")


def _emotion_counts(entries: Iterable[MoodEntry]) -> Counter[Emotion]:
    return Counter(e.effective_emotion for e in entries if e.effective_emotion is not None)


def _dominant(entries: Sequence[MoodEntry]) -> Emotion | None:
    """Most frequent effective emotion; a tie goes to the one read most recently."""
    counts: Counter[Emotion] = Counter()
    latest: dict[Emotion, tuple[datetime, int]] = {}
    for e in entries:
        emo = e.effective_emotion
        if emo is not None:
            counts[emo] += 1
            latest[emo] = max(latest.get(emo, (e.created_at, e.id)), (e.created_at, e.id))
    if not counts:
        return None
    return max(counts, key=lambda emo: (counts[emo], latest[emo]))


def _day_summary(day: date, entries: list[MoodEntry]) -> DaySummary:
    counts = _emotion_counts(entries)
    tracks = dict.fromkeys(t for e in entries for t in e.track_ids)  # ordered, no repeats
    moods = Counter(e.mood for e in entries if e.mood)
    unsure = sum(1 for e in entries if e.effective_emotion is None and e.mood is None and e.unsure)
    return DaySummary(
        date=day,
        counts={e: counts[e] for e in Emotion},
        dominant=_dominant(entries),
        track_ids=tuple(tracks),
        moods=dict(moods),
        readings=len(entries),
        unsure=unsure,
        notes=tuple(e.note for e in entries if e.note),
    )


def _streak(active: set[date], today: date) -> int:
    day = today if today in active else today - timedelta(days=1)
    streak = 0
    while day in active:
        streak += 1
        day -= timedelta(days=1)
    return streak


def _mood_text(value: str) -> str:
    try:
        return mood_label(Mood(value))
    except ValueError:  # a mood since retired from the menu: show what was stored
        return html.escape(value.replace("_", " "))


def _day_text(day: DaySummary) -> str:
    if not day.readings:
        return "—"
    ranked = sorted(
        (e for e in Emotion if day.counts[e]),
        key=lambda e: (e is not day.dominant, -day.counts[e], _ORDER[e]),
    )
    parts = [
        emotion_text(e) + (f" ×{day.counts[e]}" if day.counts[e] > 1 else "") for e in ranked[:2]
    ]
    if len(ranked) > 2:
        parts.append(_("+{count} more").format(count=len(ranked) - 2))
    parts += [_mood_text(m) for m in day.moods]
    if day.unsure:
        parts.append(f"{UNSURE_EMOJI} {_(UNSURE)}" + (f" ×{day.unsure}" if day.unsure > 1 else ""))
    text = ", ".join(parts)
    if day.songs:
        text += " · " + ngettext("{count} song", "{count} songs", day.songs).format(count=day.songs)
    return text
