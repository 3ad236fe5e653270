"""The mood diary as a weekly summary, a phone-sized text and a chart. Plain functions, no I/O.

Days are the person's local calendar days (``tz``), so a reading at 23:30 UTC belongs to the
next day for someone in UTC+2. Emotion counts use each entry's *effective* emotion (their own
correction wins over the model). Entries with only a mood (picked from the menu, no selfie) are
counted as readings and shown by mood in the text and as a separate "mood only" block in the
chart, but never in the emotion counts.
"""

from __future__ import annotations

import html
import io
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from bot.diary import MoodEntry
from models.emotion import Emotion
from recommender.track import Mood

EMOJI: dict[Emotion, str] = {
    Emotion.ANGRY: "😠",
    Emotion.DISGUST: "🤢",
    Emotion.FEAR: "😨",
    Emotion.HAPPY: "😊",
    Emotion.SAD: "😢",
    Emotion.SURPRISE: "😮",
    Emotion.NEUTRAL: "😐",
}

# Okabe-Ito colours (distinguishable with the common colour-vision deficiencies), fixed per
# emotion so every chart a person sees uses the same colour for the same feeling.
PALETTE: dict[Emotion, str] = {
    Emotion.ANGRY: "#D55E00",
    Emotion.DISGUST: "#009E73",
    Emotion.FEAR: "#CC79A7",
    Emotion.HAPPY: "#F0E442",
    Emotion.SAD: "#0072B2",
    Emotion.SURPRISE: "#E69F00",
    Emotion.NEUTRAL: "#999999",
}
MOOD_ONLY_COLOUR = "#FFFFFF"

CHART_SIZE_PX = (1000, 700)
CHART_DPI = 150

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Matplotlib is not thread-safe (fonts and text layout share global caches), and render_chart
# is meant to run in asyncio.to_thread; one chart at a time is plenty for /history.
_RENDER_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class DaySummary:
    """One local calendar day."""

    date: date
    counts: dict[Emotion, int] = field(hash=False)  # every Emotion, zeros included
    dominant: Emotion | None  # most frequent; ties go to the one felt latest that day
    track_ids: tuple[str, ...]  # songs suggested that day, first suggestion order, no repeats
    moods: dict[str, int] = field(hash=False)  # follow-up moods chosen (Mood values)
    readings: int  # entries that day, mood-only ones included

    @property
    def songs(self) -> int:
        return len(self.track_ids)

    @property
    def mood_only(self) -> int:
        """Entries without an emotion (a mood picked without a selfie)."""
        return self.readings - sum(self.counts.values())


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
        changes = tuple(
            EmotionChange(e, before[e], after[e])
            for e in sorted(Emotion, key=lambda e: (-after[e], -before[e], _ORDER[e]))
            if before[e] or after[e]
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


def format_summary(summary: HistorySummary) -> str:
    """Short text for a phone; safe to send with Telegram's HTML parse mode."""
    span = f"{_short_date(summary.start)} – {_short_date(summary.end)}"
    if not summary.total_readings:
        lines = [
            f"📅 {span}",
            "",
            "No readings yet — send me a selfie and I'll start your mood diary. 📸",
        ]
        if summary.previous_total:
            lines.append(f"(The {len(summary.days)} days before had {summary.previous_total}.)")
        return "\n".join(lines)

    lines = [f"📅 Your moods, {span}", ""]
    for day in summary.days:
        lines.append(f"{_WEEKDAYS[day.date.weekday()]} {day.date.day} · {_day_text(day)}")
    lines.append("")
    n = summary.total_readings
    lines.append(f"{n} reading{_s(n)} on {summary.days_with_readings} of {len(summary.days)} days.")
    if summary.most_frequent is not None:
        lines.append(f"Most often: {_emotion_text(summary.most_frequent)}")
    if summary.streak >= 2:
        lines.append(f"🔥 {summary.streak}-day streak — keep it going!")
    if summary.changes:
        shown = ", ".join(
            f"{_emotion_text(c.emotion)} {c.before} → {c.after}" for c in summary.changes[:3]
        )
        lines.append(f"vs the {len(summary.days)} days before: {shown}")
    return "\n".join(lines)


def render_chart(summary: HistorySummary) -> bytes:
    """A PNG with one stacked column per day (readings by emotion); thread-safe."""
    width, height = CHART_SIZE_PX
    with _RENDER_LOCK:
        # A bare Figure with its own Agg canvas: no pyplot, so no global figure registry.
        fig = Figure(figsize=(width / CHART_DPI, height / CHART_DPI), dpi=CHART_DPI)
        FigureCanvasAgg(fig)
        fig.set_layout_engine("constrained")
        ax = fig.add_subplot()
        _draw(ax, summary)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=CHART_DPI, facecolor="white")
    return buf.getvalue()


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
    return DaySummary(
        date=day,
        counts={e: counts[e] for e in Emotion},
        dominant=_dominant(entries),
        track_ids=tuple(tracks),
        moods=dict(moods),
        readings=len(entries),
    )


def _streak(active: set[date], today: date) -> int:
    day = today if today in active else today - timedelta(days=1)
    streak = 0
    while day in active:
        streak += 1
        day -= timedelta(days=1)
    return streak


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _short_date(day: date) -> str:
    return f"{day.day} {_MONTHS[day.month - 1]}"


def _emotion_text(emotion: Emotion) -> str:
    return f"{EMOJI[emotion]} {emotion.value}"


def _mood_text(value: str) -> str:
    try:
        return Mood(value).label
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
        _emotion_text(e) + (f" ×{day.counts[e]}" if day.counts[e] > 1 else "") for e in ranked[:2]
    ]
    if len(ranked) > 2:
        parts.append(f"+{len(ranked) - 2} more")
    parts += [_mood_text(m) for m in day.moods]
    text = ", ".join(parts)
    if day.songs:
        text += f" · {day.songs} song{_s(day.songs)}"
    return text


def _draw(ax, summary: HistorySummary) -> None:
    x = list(range(len(summary.days)))
    bottoms = [0] * len(x)
    legend: list[Patch] = []

    def stack(heights: list[int], **style) -> None:
        # Only non-empty segments: a zero-height bar still draws its edge as a stray line.
        shown = [i for i, h in enumerate(heights) if h]
        ax.bar(
            [x[i] for i in shown],
            [heights[i] for i in shown],
            bottom=[bottoms[i] for i in shown],
            width=0.7,
            **style,
        )
        for i in shown:
            bottoms[i] += heights[i]

    for emotion in Emotion:
        heights = [d.counts[emotion] for d in summary.days]
        if any(heights):
            stack(heights, color=PALETTE[emotion], edgecolor="white")
            legend.append(Patch(facecolor=PALETTE[emotion], label=emotion.value))
    mood_only = [d.mood_only for d in summary.days]
    if any(mood_only):
        style: dict[str, Any] = {
            "facecolor": MOOD_ONLY_COLOUR,
            "edgecolor": "#777777",
            "hatch": "//",
        }
        stack(mood_only, **style)
        legend.append(Patch(label="mood only", **style))

    top = max(bottoms, default=0)
    for xi, total in zip(x, bottoms, strict=True):
        if total:
            ax.annotate(
                str(total),
                (xi, total),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=10,
            )
    if not top:
        ax.text(0.5, 0.5, "No readings yet", transform=ax.transAxes, ha="center", fontsize=14)

    ax.set_xticks(
        x, [f"{_WEEKDAYS[d.date.weekday()]}\n{_short_date(d.date)}" for d in summary.days]
    )
    ax.tick_params(axis="x", labelsize=10, length=0)
    ax.tick_params(axis="y", labelsize=10)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    # Headroom for the totals above the columns.
    ax.set_ylim(0, max(top * 1.15, top + 0.6, 1))
    ax.set_ylabel("readings", fontsize=11)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    first = _short_date(summary.start)
    if summary.start.year != summary.end.year:
        first += f" {summary.start.year}"
    ax.set_title(
        f"Your moods · {first} – {_short_date(summary.end)} {summary.end.year}",
        fontsize=14,
        loc="left",
    )
    if legend:
        ax.legend(
            # Top of the legend = top of the stack.
            handles=legend[::-1],
            loc="upper left",
            bbox_to_anchor=(1.0, 1.0),
            frameon=False,
            fontsize=10,
        )
