"""Reading a history chart back: the coloured columns it draws, from its PNG's pixels."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image
from skimage.measure import label, regionprops

from bot.charts import PALETTE
from models.emotion import Emotion

MIN_BLOCK_PIXELS = 20  # fewer pixels of a palette colour are anti-aliasing, not a block


@dataclass(frozen=True)
class Bar:
    """One solid block of an emotion's colour: a column segment, in pixels (y grows down)."""

    emotion: Emotion
    left: int
    right: int  # exclusive
    top: int
    bottom: int  # exclusive

    @property
    def centre(self) -> float:
        return (self.left + self.right) / 2

    @property
    def height(self) -> int:
        return self.bottom - self.top


def pixels(png: bytes) -> np.ndarray:
    """The PNG as an (height, width, 3) RGB array."""
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def blocks(png: bytes) -> list[Bar]:
    """Every solid block of a palette colour (columns' segments and legend swatches)."""
    rgb = pixels(png)
    found = []
    for emotion, hex_colour in PALETTE.items():
        colour = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)], np.uint8)
        mask = (rgb == colour).all(axis=2)
        for region in regionprops(label(mask, connectivity=1)):
            if region.area >= MIN_BLOCK_PIXELS:
                top, left, bottom, right = region.bbox
                found.append(Bar(emotion, left, right, top, bottom))
    return found


def columns(png: bytes) -> list[list[Bar]]:
    """The chart's columns left to right, each its segments from the bottom up.

    A column stands on the x axis: its lowest segment ends on the lowest row any block reaches,
    and the segments stacked on it share its left and right edges. Legend swatches do neither.
    """
    found = blocks(png)
    if not found:
        return []
    baseline = max(b.bottom for b in found)
    feet = sorted((b for b in found if b.bottom == baseline), key=lambda b: b.left)
    return [
        sorted(
            (b for b in found if (b.left, b.right) == (foot.left, foot.right)),
            key=lambda b: -b.bottom,
        )
        for foot in feet
    ]


def days(cols: list[list[Bar]], span: int = 7) -> list[int]:
    """Each column's day in a chart of `span` days that has readings on its first and last day
    (those two columns anchor the day grid; the others must sit on it)."""
    first, last = cols[0][0].centre, cols[-1][0].centre
    unit = (last - first) / (span - 1)
    offsets = [(c[0].centre - first) / unit for c in cols]
    assert all(abs(o - round(o)) < 0.05 for o in offsets), offsets  # on the day grid
    return [round(o) for o in offsets]


def stacks(png: bytes, span: int = 7) -> dict[int, list[tuple[Emotion, int]]]:
    """Day -> (emotion, height in pixels) of its column's segments, bottom up (see `days`)."""
    cols = columns(png)
    return {
        day: [(b.emotion, b.height) for b in col]
        for day, col in zip(days(cols, span), cols, strict=True)
    }


def rgb(hex_colour: str) -> tuple[int, int, int]:
    """'#A1B2C3' -> (161, 178, 195)."""
    return (int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16))


def colours(png: bytes, min_pixels: int = 200) -> set[tuple[int, int, int]]:
    """The colours that fill at least `min_pixels` pixels of the image (areas, not edges)."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3)
    values, counts = np.unique(pixels, axis=0, return_counts=True)
    return {
        tuple(int(c) for c in v) for v, n in zip(values, counts, strict=True) if n >= min_pixels
    }
