"""Charts in Korean draw Hangul, not boxes: NanumGothic registered as the fallback font."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, fontManager
from matplotlib.ft2font import FT2Font

from bot import fonts, i18n
from bot.charts import calendar_figure, chart_figure
from bot.diary import MoodEntry, Source
from bot.history import week_summary
from models.emotion import Emotion

NOW = datetime(2025, 3, 9, 18, 0, tzinfo=UTC)


def _glyph(text: str, family: list[str]) -> np.ndarray:
    fig = Figure(figsize=(1, 1), dpi=100)
    FigureCanvasAgg(fig)
    fig.text(0.5, 0.5, text, family=family, fontsize=40, ha="center", va="center")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DejaVu alone warns about the missing glyph
        fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., 0].copy()


def test_hangul_font_is_found_and_has_the_glyphs():
    fonts.install()
    path = fontManager.findfont(
        FontProperties(family=fonts.HANGUL_FAMILY), fallback_to_default=False
    )
    assert "NanumGothic" in path
    charmap = FT2Font(path).get_charmap()
    assert all(ord(c) in charmap for c in "슬픔기분한주")


def test_hangul_is_drawn_not_boxes():
    fonts.install()
    # Without a Hangul font every syllable is the same "tofu" box; with it they differ.
    assert np.array_equal(_glyph("슬", ["DejaVu Sans"]), _glyph("픔", ["DejaVu Sans"]))
    drawn = _glyph("슬", fonts.FAMILIES), _glyph("픔", fonts.FAMILIES)
    assert not np.array_equal(*drawn)
    assert (drawn[0] < 128).sum() > 50  # ink, not an empty square


def _entries():
    return [
        MoodEntry(i, 1, NOW - timedelta(days=i), emo, 0.9, {}, None, None, ("a",), Source.FACE)
        for i, emo in enumerate([Emotion.SAD, Emotion.HAPPY, Emotion.SAD, Emotion.ANGRY])
    ]


@pytest.mark.parametrize("days", [7, 30])
def test_korean_charts_have_no_missing_glyphs(days):
    i18n.use("ko")
    try:
        summary = week_summary(_entries(), now=NOW, tz=UTC, days=days)
        fig = (chart_figure if days == 7 else calendar_figure)(summary)
        texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
        assert any("나의 기분" in t or "이번 달" in t for t in texts)  # the title, translated
        assert any("슬픔" in t for t in texts)  # a legend or cell label
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*missing from font")
            fig.canvas.draw()
    finally:
        i18n.use("en")


def test_dates_in_korean_chart_labels():
    i18n.use("ko")
    try:
        fig = chart_figure(week_summary(_entries(), now=NOW, tz=UTC))
        ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
        assert ticks[0] == f"월\n{date(2025, 3, 3).month}월 3일"
    finally:
        i18n.use("en")
