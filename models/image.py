"""Turn untrusted image bytes into a small grayscale array, refusing anything unsafe first.

Two steps. `read_header` decides everything it can from the header alone: byte size, format,
animation, pixel count, shape, and how much memory decoding will take (DECODE_BUDGET); it refuses
before a pixel is decoded. `decode` then decodes reduced where the format allows: JPEGs to gray
at a power-of-two fraction of their size in the DCT (Pillow's draft), PNGs to gray row by row
(OpenCV); WebP has to go through one full-size BGR plane (OpenCV), hence its tighter limit.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
from PIL import ExifTags, Image, ImageFile, UnidentifiedImageError

from models.errors import (
    AnimatedImage,
    CorruptImage,
    CostlyImage,
    ImageTooLarge,
    OddImageShape,
    UnsupportedImage,
)

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "MPO"}  # MPO: multi-picture JPEGs from some phones
# The only Pillow plug-ins that may parse the bytes at all (MPO comes with JPEG's): no header
# parser of a format we refuse anyway ever sees untrusted input.
OPEN_FORMATS = ("JPEG", "PNG", "WEBP")
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
MAX_SIDE = 20_000
MIN_SIDE = 16
# Longest side over shortest: panoramas reach ~8; past 10 a picture can't frame a face, and the
# face detector would have to shrink its short side to nothing.
MAX_ASPECT = 10
# Peak memory one decode may take. Two decodes at once (the analyzer's default) then stay within
# ~200 MB beside the ~110 MB the loaded bot holds; see DECODE_COST for what each format needs.
DECODE_BUDGET = 96 * 1024 * 1024
# Images are decoded reduced (by a power of two) down to at least this many pixels per side:
# faces need far fewer (detection works at 480), and it makes decoding several times faster.
DRAFT_SIDE = 800

# Bytes per full-size pixel a decoder holds beside its output, measured on 16-40 MP images
# (peak RSS, see models.stress): PNG decodes into one full-size gray plane; WebP into a full BGR
# or BGRA plane; a JPEG whose first scan does not hold every component (progressive, or
# non-interleaved) keeps all its DCT coefficients, 2 bytes per coefficient (see
# _jpeg_coefficient_bytes); a single-scan JPEG works a band of rows at a time.
DECODE_COST = {"PNG": 1.0, "WEBP": 4.0, "JPEG": 0.0}
OUTPUT_COST = 3.0  # per output pixel: the gray plane, a copy or two on the way
DECODE_OVERHEAD = 8 * 1024 * 1024  # decoder state, row buffers
# What Pillow raises on bytes it can't parse or decode (fuzzing found only OSError so far).
DECODER_ERRORS = (OSError, ValueError, SyntaxError, EOFError)
# EXIF orientation -> the numpy steps that show the picture upright (what Pillow's
# ImageOps.exif_transpose does to a full image, here on the small decoded one).
UPRIGHT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: a.T,
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].T,
    8: lambda a: np.rot90(a, 1),
}


@dataclass(frozen=True, slots=True)
class ImageHeader:
    """What the header says, checked: safe to decode within DECODE_BUDGET."""

    format: str
    width: int
    height: int
    orientation: int  # EXIF orientation, 1 (as stored) to 8
    reduction: int  # the decoder divides each side by this (1, 2, 4 or 8)
    decode_bytes: int  # expected peak memory of decoding


def read_header(
    data: bytes,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int | None = DRAFT_SIDE,
    decode_budget: int = DECODE_BUDGET,
) -> ImageHeader:
    """Check bytes without decoding any pixel; raises our ImageError subclasses.

    `min_side` is the smallest side a reduced decode may leave (None: decode at full size).
    """
    if not data:
        raise CorruptImage("empty file")
    if len(data) > max_bytes:
        raise ImageTooLarge(f"{len(data)} bytes > {max_bytes}")
    img = _open(data)
    with img:
        if img.format not in ALLOWED_FORMATS:
            raise UnsupportedImage(f"format {img.format}")
        # A selfie is a still; OpenCV's APNG reader also allocated 2 GB on a fuzzed file whose
        # malformed acTL Pillow ignored, so the chunks are looked at too.
        animation = {b"acTL", b"fcTL", b"fdAT"}
        if img.format == "PNG" and animation.intersection(_png_chunk_types(data)):
            raise AnimatedImage("animated PNG")
        if img.format == "WEBP" and getattr(img, "n_frames", 1) > 1:
            raise AnimatedImage("animated WebP")
        w, h = img.size
        if w * h > max_pixels or max(w, h) > MAX_SIDE:
            raise ImageTooLarge(f"{w}x{h} pixels")
        if min(w, h) < MIN_SIDE or max(w, h) > MAX_ASPECT * min(w, h):
            raise OddImageShape(f"{w}x{h} pixels")
        k = reduction(w, h, min_side)
        cost = _decode_bytes(img, data, k)
        if cost > decode_budget:
            raise CostlyImage(f"{img.format} {w}x{h} needs ~{cost / 2**20:.0f} MB to decode")
        return ImageHeader(img.format, w, h, _orientation(img), k, cost)


def decode(data: bytes, header: ImageHeader) -> tuple[np.ndarray, float]:
    """Decode checked bytes to uint8 grayscale, reduced by `header.reduction`, upright per EXIF;
    returns (array, original px per array px). Raises CorruptImage if the data is damaged."""
    if header.format in {"JPEG", "MPO"}:
        gray = _decode_jpeg(data, header)
    else:
        gray = _decode_with_opencv(data, header)
    scale = header.width / gray.shape[1]
    if header.orientation in UPRIGHT:
        gray = np.ascontiguousarray(UPRIGHT[header.orientation](gray))
    return gray, scale


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
    """read_header, then decode (reduced unless draft is False)."""
    header = read_header(data, max_bytes, max_pixels, DRAFT_SIDE if draft else None)
    return decode(data, header)


def reduction(width: int, height: int, min_side: int | None) -> int:
    """The largest of 1, 2, 4, 8 that leaves both sides at least `min_side` (Pillow's draft
    rule for JPEG, used for every format)."""
    if not min_side:
        return 1
    fits = min(width // min_side, height // min_side)
    for k in (8, 4, 2):
        if fits >= k:
            return k
    return 1


def _open(data: bytes) -> ImageFile.ImageFile:
    """Pillow's header parse, its failures turned into ours."""
    try:
        with warnings.catch_warnings():
            # Pillow warns (and past 2x raises) on huge images; we check the size ourselves.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=OPEN_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageTooLarge(str(e)) from None
    except UnidentifiedImageError:
        raise UnsupportedImage("not a JPEG, PNG or WebP image") from None
    except DECODER_ERRORS as e:
        raise CorruptImage(f"{type(e).__name__}: {e}") from None


def _png_chunk_types(data: bytes) -> list[bytes]:
    """The types of a PNG's chunks up to IEND; raises CorruptImage if one claims more bytes than
    the file holds (OpenCV allocates a chunk's claimed length before reading it: a fuzzed 46 KB
    file whose IDAT claimed 2 GB cost 2 GB)."""
    types, pos = [], 8
    while pos + 12 <= len(data):
        length, kind = int.from_bytes(data[pos : pos + 4]), data[pos + 4 : pos + 8]
        if pos + 12 + length > len(data):
            break
        types.append(kind)
        if kind == b"IEND":
            return types
        pos += 12 + length
    raise CorruptImage(f"PNG chunk at byte {pos} runs past the end of the file")


def _decode_bytes(img: ImageFile.ImageFile, data: bytes, k: int) -> int:
    """Expected peak memory of decoding `img` reduced by k (see DECODE_COST)."""
    w, h = img.size
    if img.format in {"JPEG", "MPO"}:
        per_pixel = _jpeg_coefficient_bytes(img, data)
    else:
        per_pixel = DECODE_COST[cast(str, img.format)]  # a format _open accepts
    out = (w // k) * (h // k)
    return round(w * h * per_pixel + out * OUTPUT_COST + DECODE_OVERHEAD)


def _jpeg_coefficient_bytes(img: ImageFile.ImageFile, data: bytes) -> float:
    """Bytes per pixel libjpeg keeps as DCT coefficients: none when the first scan holds every
    component and the file is not progressive (it decodes a band of rows at a time), else 2 per
    coefficient of every component at its sampling."""
    layers = getattr(img, "layer", [])
    if not img.info.get("progressive") and _first_scan_components(img, data) == len(layers):
        return DECODE_COST["JPEG"]
    if not layers:
        return 2.0 * 4  # unknown sampling: assume four full-size components
    h_max = max(h for _, h, _, _ in layers) or 1
    v_max = max(v for _, _, v, _ in layers) or 1
    return 2.0 * sum(h * v for _, h, v, _ in layers) / (h_max * v_max)


def _first_scan_components(img: ImageFile.ImageFile, data: bytes) -> int:
    """How many components the first scan (SOS) holds; 0 if it can't be told. Pillow stops
    parsing right after the first SOS segment (6 + 2n bytes long, n at its third byte)."""
    end = img.fp.tell() if img.fp else 0
    for n in (1, 2, 3, 4):
        start = end - (6 + 2 * n)
        if start >= 2 and data[start - 2 : start + 3] == b"\xff\xda" + bytes([0, 6 + 2 * n, n]):
            return n
    return 0


def _orientation(img: Image.Image) -> int:
    """EXIF (or XMP) orientation from the header; 1 if missing or unreadable."""
    try:
        # Image.getexif, not PNG's override of it, which decodes the whole image first to look
        # for an EXIF chunk after the pixels.
        value = Image.Image.getexif(img).get(ExifTags.Base.Orientation, 1)
    except Exception:  # a broken EXIF block only costs us the rotation
        return 1
    return value if value in UPRIGHT else 1


def _decode_jpeg(data: bytes, header: ImageHeader) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data), formats=OPEN_FORMATS) as img:
            # Straight to gray in the decoder (no RGB copy), at 1/k of the size in the DCT.
            k = header.reduction
            img.draft("L", (img.size[0] // k, img.size[1] // k) if k > 1 else None)
            img.load()  # a truncated or damaged file fails here
            gray = img if img.mode == "L" else img.convert("L")
            return np.asarray(gray, dtype=np.uint8)
    except DECODER_ERRORS as e:
        raise CorruptImage(f"{type(e).__name__}: {e}") from None


def _decode_with_opencv(data: bytes, header: ImageHeader) -> np.ndarray:
    # OpenCV halves by exact 2x2 averaging but shrinks any further by point sampling, so the
    # rest is done here by area averaging (as the detector's own downscale does).
    flags = cv2.IMREAD_IGNORE_ORIENTATION  # applied from Pillow's reading, as for JPEG
    flags |= cv2.IMREAD_REDUCED_GRAYSCALE_2 if header.reduction > 1 else cv2.IMREAD_GRAYSCALE
    try:
        gray = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error as e:
        raise CorruptImage(f"OpenCV: {e}") from None
    if gray is None:
        raise CorruptImage(f"{header.format} data could not be decoded")
    if header.reduction > 2:
        size = (header.width // header.reduction, header.height // header.reduction)
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    return gray
