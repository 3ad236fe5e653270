"""Fonts for the charts: Hangul from NanumGothic (SIL OFL), shipped by the koreanize-matplotlib
package, which we use only as a font carrier: its import would change matplotlib's settings
on its own, so we find its files without importing it and register them ourselves.

Text is drawn in DejaVu Sans (matplotlib's own) and falls back glyph by glyph to NanumGothic,
so Latin text looks as before and Korean labels get real Hangul, not boxes.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import matplotlib
from matplotlib import font_manager

HANGUL_FAMILY = "NanumGothic"
FAMILIES = ["DejaVu Sans", HANGUL_FAMILY]  # matplotlib's fallback list, first match per glyph

_lock = threading.Lock()
_installed = False


def hangul_font_files() -> list[Path]:
    """NanumGothic's .ttf files inside the koreanize-matplotlib package (not imported)."""
    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("koreanize-matplotlib (the Hangul font) is not installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "fonts"
    return sorted(folder.glob("NanumGothic*.ttf"))


def install() -> None:
    """Register the Hangul font and the fallback list with matplotlib, once per process."""
    global _installed
    with _lock:
        if _installed:
            return
        for path in hangul_font_files():
            font_manager.fontManager.addfont(str(path))
        matplotlib.rcParams["font.family"] = FAMILIES
        _installed = True
