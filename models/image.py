"""Turn untrusted image bytes into a grayscale array, refusing anything unsafe first."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from models.errors import CorruptImage, ImageTooLarge, UnsupportedImage

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "MPO"}  # MPO: multi-picture JPEGs from some phones
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000


# JPEGs are decoded at a reduced size (by a power of two, in the DCT) down to at least this
# many pixels per side: faces need far fewer, and it makes decoding several times faster.
JPEG_DRAFT_SIDE = 800


def decode_gray(
    data: bytes,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Decode JPEG/PNG/WebP bytes to a uint8 grayscale array at full size, upright per EXIF."""
    return decode_gray_scaled(data, max_bytes, max_pixels, draft=False)[0]


def decode_gray_scaled(
    data: bytes,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    draft: bool = True,
) -> tuple[np.ndarray, float]:
    """Decode to grayscale, upright per EXIF; returns (array, original px per array px).

    The header is read and the size checked before any pixel is decoded, so a small file that
    claims a huge canvas (a decompression bomb) is refused without allocating it.
    """
    if not data:
        raise CorruptImage("empty file")
    if len(data) > max_bytes:
        raise ImageTooLarge(f"{len(data)} bytes > {max_bytes}")
    try:
        with warnings.catch_warnings():
            # Pillow warns (and past 2x raises) on huge images; we check the size ourselves.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(str(e)) from None
    except Image.DecompressionBombWarning as e:
        raise ImageTooLarge(str(e)) from None
    except UnidentifiedImageError:
        raise UnsupportedImage("not a recognised image") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise CorruptImage(str(e)) from None
    with img:
        if img.format not in ALLOWED_FORMATS:
            raise UnsupportedImage(f"format {img.format}")
        w, h = img.size
        if w * h > max_pixels or w > 20_000 or h > 20_000:
            raise ImageTooLarge(f"{w}x{h} pixels")
        if w < 16 or h < 16:
            raise UnsupportedImage(f"{w}x{h} is too small to hold a face")
        if draft and img.format in {"JPEG", "MPO"}:
            img.draft("L", (JPEG_DRAFT_SIDE, JPEG_DRAFT_SIDE))
        scale = w / img.size[0]
        try:
            img.load()  # first full decode; a truncated file fails here
            img = ImageOps.exif_transpose(img)
            gray = img.convert("L")
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise CorruptImage(str(e)) from None
    return np.asarray(gray, dtype=np.uint8), scale
