"""Test images, generated or taken from packages / ../shared (never committed copies)."""

from __future__ import annotations

import io
import struct
import zlib
from functools import cache
from pathlib import Path

import cv2
import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
YALE = SHARED / "yale-faces"


def encode(img: np.ndarray, ext: str = ".jpg") -> bytes:
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


@cache
def astronaut_bgr() -> np.ndarray:
    """A smiling face (Eileen Collins), 512x512, shipped inside scikit-image."""
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def smiling_jpeg() -> bytes:
    return encode(astronaut_bgr(), ".jpg")


def selfie_1000x750() -> bytes:
    """A 1000x750 JPEG framed like a phone selfie: head and shoulders fill the height."""
    head = astronaut_bgr()[0:300, 100:380]
    canvas = np.full((750, 1000, 3), 90, np.uint8)
    canvas[:, 150:850] = cv2.resize(head, (700, 750))
    return encode(canvas, ".jpg")


def yale(emotion: str, subject: int = 1) -> bytes:
    (path,) = (YALE / emotion).glob(f"subject{subject:02d}.*")
    return path.read_bytes()


def two_faces_jpeg() -> bytes:
    """Two people close to the camera, side by side: the larger face is on the right."""
    a = astronaut_bgr()[0:300, 100:380]
    small = cv2.resize(a, (504, 540))
    big = cv2.resize(a, (546, 585))
    canvas = np.full((605, 1080, 3), 200, np.uint8)
    canvas[55:595, 10:514] = small
    canvas[10:595, 524:1070] = big
    return encode(canvas, ".jpg")


def no_face_png() -> bytes:
    """A smooth gradient: nothing face-like."""
    x = np.linspace(0, 255, 400, dtype=np.float32)
    img = (x[None, :] * 0.5 + x[:, None] * 0.5).astype(np.uint8)
    return encode(img, ".png")


def truncated_jpeg() -> bytes:
    data = smiling_jpeg()
    return data[: len(data) // 3]


def webp_face() -> bytes:
    return encode(astronaut_bgr(), ".webp")


def png_face() -> bytes:
    return encode(astronaut_bgr(), ".png")


def gif_bytes() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (64, 64), 128).save(buf, format="GIF")
    return buf.getvalue()


def bomb_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A tiny PNG whose header claims a gigantic canvas (a decompression bomb)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    # Only a few rows of real data: a decoder that trusted the header would allocate 2.5 GB.
    rows = zlib.compress(b"\x00" * (width + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def gray_png(width: int, height: int, value: int = 128) -> bytes:
    """A flat grey PNG of any size (tiny: flat rows compress to almost nothing)."""
    return encode(np.full((height, width), value, np.uint8), ".png")


def pillow_bytes(img, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def face_pil(side: int = 512):
    """The astronaut as a Pillow RGB image, resized to side x side."""
    from PIL import Image

    rgb = cv2.cvtColor(astronaut_bgr(), cv2.COLOR_BGR2RGB)
    return Image.fromarray(cv2.resize(rgb, (side, side), interpolation=cv2.INTER_CUBIC))


def animated(fmt: str) -> bytes:
    """A two-frame animated PNG or WebP of the face."""
    face = face_pil(256)
    return pillow_bytes(face, fmt, save_all=True, append_images=[face.rotate(10)])


def png_with_lying_chunk() -> bytes:
    """The face PNG with its first IDAT chunk claiming ~2 GB (OpenCV allocates what it is told)."""
    data = png_face()
    at = data.index(b"IDAT") - 4
    return data[:at] + (0x7F000000).to_bytes(4, "big") + data[at + 4 :]
