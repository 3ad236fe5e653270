"""The diary's pictures, as PNG bytes: a week's chart and a month's calendar. Thread-safe.

* The week: one stacked column per day (readings by emotion, then "unsure" and "mood only"),
  labelled in words, with a line for how each day felt (pleasant ↔ unpleasant).
* The month: a calendar, a day per cell in weekday columns, each cell coloured by that day's
  main emotion, big enough to read on a phone. The layout is fixed in pixels (no automatic
  layout) so `calendar_cell_centre` says exactly where a day's cell is drawn.

Colours are Okabe-Ito (distinguishable with the common colour-vision deficiencies), fixed per
emotion so every picture uses the same colour for the same feeling.
"""

from __future__ import annotations

import io
import math
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from bot import fonts
from bot.history import DaySummary, HistorySummary, short_date, span_text
from bot.i18n import _, weekday_abbr
from bot.vocabulary import MOOD_ONLY, UNSURE, adjective
from models.emotion import Emotion

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
UNSURE_COLOUR = "#D9D9D9"
EMPTY_COLOUR = "#F4F4F4"  # a calendar day without entries
LINE_COLOUR = "#5B2A86"  # how the week went (no text or bar is this colour)

CHART_SIZE_PX = (1000, 700)
DPI = 150

# Matplotlib is not thread-safe (fonts and text layout share global caches) and rendering runs
# in asyncio.to_thread: one picture at a time is plenty for /history.
_RENDER_LOCK = threading.Lock()


def render(summary: HistorySummary) -> bytes:
    """The picture for a summary: the calendar for a month, the chart for a week."""
    return render_calendar(summary) if len(summary.days) > 7 else render_chart(summary)


def render_chart(summary: HistorySummary) -> bytes:
    """A week's PNG: stacked columns per day and the pleasant ↔ unpleasant line."""
    with _RENDER_LOCK:
        return _png(chart_figure(summary))


def render_calendar(summary: HistorySummary) -> bytes:
    """A month's PNG: a calendar, a day per cell coloured by that day's main emotion."""
    with _RENDER_LOCK:
        return _png(calendar_figure(summary))


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return buf.getvalue()


def _figure(width: int, height: int) -> Figure:
    fonts.install()  # Hangul for Korean labels
    # A bare Figure with its own Agg canvas: no pyplot, so no global figure registry.
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


# -- the week --------------------------------------------------------------------------------


def chart_figure(summary: HistorySummary) -> Figure:
    """The week's chart as a Figure (rendered by `render_chart`; tests read its texts)."""
    fig = _figure(*CHART_SIZE_PX)
    fig.set_layout_engine("constrained")
    ax = fig.add_subplot()
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
            legend.append(Patch(facecolor=PALETTE[emotion], label=adjective(emotion)))
    for label, heights, style in (
        (_(UNSURE), [d.unsure for d in summary.days], _UNSURE_STYLE),
        (_(MOOD_ONLY), [d.mood_only for d in summary.days], _MOOD_ONLY_STYLE),
    ):
        if any(heights):
            stack(heights, **style)
            legend.append(Patch(label=label, **style))

    top = max(bottoms, default=0)
    for xi, total in zip(x, bottoms, strict=True):
        if total:
            ax.annotate(str(total), (xi, total), xytext=(0, 3), textcoords="offset points",
                        ha="center", va="bottom", fontsize=10)  # fmt: skip
    if not top:
        ax.text(0.5, 0.5, _("No readings yet"), transform=ax.transAxes, ha="center", fontsize=14)
    ax.set_xticks(
        x, [f"{weekday_abbr(d.date.weekday())}\n{short_date(d.date)}" for d in summary.days]
    )
    ax.tick_params(axis="x", labelsize=10, length=0)
    ax.tick_params(axis="y", labelsize=10)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(top * 1.15, top + 0.6, 1))  # headroom for the totals
    ax.set_ylabel(_("readings"), fontsize=11)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(_("Your moods · {span}").format(span=span_text(summary, with_year=True)),
                 fontsize=14, loc="left")  # fmt: skip
    if _draw_feeling_line(ax, x, summary.days):
        legend.append(_line_legend())
    if legend:
        ax.legend(handles=legend[::-1], loc="upper left", bbox_to_anchor=(1.22, 1.0),
                  frameon=False, fontsize=10)  # fmt: skip
    return fig


_UNSURE_STYLE: dict[str, Any] = {"facecolor": UNSURE_COLOUR, "edgecolor": "#777777", "hatch": ".."}
_MOOD_ONLY_STYLE: dict[str, Any] = {
    "facecolor": MOOD_ONLY_COLOUR,
    "edgecolor": "#777777",
    "hatch": "//",
}


def _draw_feeling_line(ax: Axes, x: list[int], days: tuple[DaySummary, ...]) -> bool:
    """How each day felt, on its own axis from unpleasant to pleasant; gaps for days
    without an emotion. False if no day had one."""
    values = [d.valence if d.valence is not None else math.nan for d in days]
    if all(math.isnan(v) for v in values):
        return False
    line_ax = ax.twinx()
    line_ax.plot(x, values, color=LINE_COLOUR, linewidth=2.5, marker="o", markersize=6)
    line_ax.set_ylim(-1.25, 1.25)
    line_ax.set_yticks([-1, 0, 1], [_("unpleasant"), _("so-so"), _("pleasant")], fontsize=9)
    line_ax.tick_params(axis="y", length=0)
    for side in ("top", "left"):
        line_ax.spines[side].set_visible(False)
    return True


def _line_legend():
    from matplotlib.lines import Line2D

    return Line2D([], [], color=LINE_COLOUR, linewidth=2.5, marker="o", label=_("how it felt"))


# -- the month -------------------------------------------------------------------------------

CELL_PX = 128
MARGIN_PX = (52, 52, 120, 170)  # left, right, top (title), bottom (legend)
HEADER_ROWS = 0.4  # the weekday names above the grid, in cell heights


@dataclass(frozen=True, slots=True)
class _Grid:
    first_monday: date
    rows: int
    width: int
    height: int


def _grid(summary: HistorySummary) -> _Grid:
    first_monday = summary.start - timedelta(days=summary.start.weekday())
    rows = (summary.end - first_monday).days // 7 + 1
    left, right, top, bottom = MARGIN_PX
    width = left + 7 * CELL_PX + right
    height = top + round((rows + HEADER_ROWS) * CELL_PX) + bottom
    return _Grid(first_monday, rows, width, height)


def _cell(grid: _Grid, day: date) -> tuple[int, int]:
    """(column, row) of a day: weekday columns, a row per week."""
    offset = (day - grid.first_monday).days
    return offset % 7, offset // 7


def calendar_cell_centre(summary: HistorySummary, day: date, fx: float = 0.5, fy: float = 0.5):
    """Pixel (x, y) in the calendar PNG at fraction (fx, fy) of `day`'s cell, from its top
    left corner."""
    grid = _grid(summary)
    col, row = _cell(grid, day)
    left, _, top, _ = MARGIN_PX
    return (
        round(left + (col + fx) * CELL_PX),
        round(top + (HEADER_ROWS + row + fy) * CELL_PX),
    )


def cell_colour(day: DaySummary) -> str:
    """A day's colour: its main emotion; else unsure, mood only, or empty."""
    if day.dominant is not None:
        return PALETTE[day.dominant]
    if day.unsure:
        return UNSURE_COLOUR
    return MOOD_ONLY_COLOUR if day.readings else EMPTY_COLOUR


def calendar_figure(summary: HistorySummary) -> Figure:
    """The month as a Figure (rendered by `render_calendar`)."""
    grid = _grid(summary)
    left, right, top, bottom = MARGIN_PX
    fig = _figure(grid.width, grid.height)
    grid_h = grid.height - top - bottom
    ax = fig.add_axes(
        (left / grid.width, bottom / grid.height, 7 * CELL_PX / grid.width, grid_h / grid.height)
    )
    ax.set_xlim(0, 7)
    ax.set_ylim(grid.rows, -HEADER_ROWS)  # row 0 at the top, the weekday names above it
    ax.set_axis_off()
    for col, name in enumerate(weekday_abbr(i) for i in range(7)):
        ax.text(col + 0.5, -HEADER_ROWS / 2, name, ha="center", va="center", fontsize=12,
                color="#555555", fontweight="bold")  # fmt: skip
    seen: dict[str, Patch] = {}
    for day in summary.days:
        col, row = _cell(grid, day.date)
        colour = cell_colour(day)
        hatch = "//" if colour == MOOD_ONLY_COLOUR and day.readings else None
        ax.add_patch(Rectangle((col + 0.04, row + 0.04), 0.92, 0.92, facecolor=colour,
                               edgecolor="#BBBBBB" if hatch else colour, hatch=hatch,
                               linewidth=0.8))  # fmt: skip
        number = short_date(day.date) if day.date.day == 1 or day is summary.days[0] else None
        dark = colour in (PALETTE[Emotion.SAD], PALETTE[Emotion.ANGRY], PALETTE[Emotion.DISGUST])
        ink = "white" if dark else "#222222"
        ax.text(col + 0.1, row + 0.1, number or str(day.date.day), ha="left", va="top",
                fontsize=12 if number is None else 10, color=ink,
                fontweight="bold" if day.date == summary.end else "normal")  # fmt: skip
        label = _cell_label(day)
        if label:
            ax.text(col + 0.5, row + 0.74, label, ha="center", va="center", fontsize=9, color=ink)
            seen.setdefault(label, Patch(facecolor=colour, edgecolor="#BBBBBB", hatch=hatch,
                                         label=label))  # fmt: skip
    ax.set_title(_("Your month · {span}").format(span=span_text(summary, with_year=True)),
                 fontsize=15, loc="left", pad=14)  # fmt: skip
    order = _legend_order()
    handles = sorted(seen.values(), key=lambda p: order.get(str(p.get_label()), 99))
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=min(4, len(handles)),
                   frameon=False, fontsize=11, bbox_to_anchor=(0.5, 0.01))  # fmt: skip
    return fig


def _legend_order() -> dict[str, int]:
    return {adjective(e): i for i, e in enumerate(Emotion)} | {_(UNSURE): 7, _(MOOD_ONLY): 8}


def _cell_label(day: DaySummary) -> str | None:
    if day.dominant is not None:
        return adjective(day.dominant)
    if day.unsure:
        return _(UNSURE)
    return _(MOOD_ONLY) if day.readings else None
