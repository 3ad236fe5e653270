"""Fuzz the image path: `python -m models.fuzz [--cases 1000] [--seed 0] [--case N]`.

Mutates small images made here (a face from scikit-image, a dev dependency, in every format and
flavour we accept or refuse, at odd sizes, and with huge dimensions in the header) by bit flips,
byte edits, truncation, header field edits (CRCs fixed so they reach the decoder), length field
edits, splices, and inserted, repeated or dropped runs, then reads each through the analyzer in
this process. Prints how many were read (ok), had no face (no-face), were refused by each kind
of our errors, and raised anything else (unhandled: a bug; expected 0), and how many made the
process grow by more than the decode budget (expected 0: a header may claim any size). Failing
cases are listed by number: `--case N` reruns one with its traceback. Same seed, same cases.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import struct
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from models.errors import AnalysisError, NoFaceFound
from models.image import DECODE_BUDGET
from models.pipeline import Analyzer

INTERESTING = (0, 1, 2, 15, 16, 17, 255, 256, 4095, 16383, 16384, 20000, 20001, 65535)


@dataclass(frozen=True, slots=True)
class Case:
    name: str  # seed image and mutation, e.g. "face.png/header:width=65535"
    data: bytes


def face_rgb(side: int = 256) -> np.ndarray:
    """Eileen Collins' smiling face (shipped inside scikit-image), resized, as RGB."""
    from skimage import data

    return cv2.resize(data.astronaut()[0:300, 100:380], (side, side), interpolation=cv2.INTER_AREA)


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def interlaced_png(rgb: np.ndarray) -> bytes:
    """An Adam7-interlaced RGB PNG (neither Pillow nor OpenCV writes them)."""
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2)]
    rows = [
        b"\x00" + row.tobytes()
        for x0, y0, dx, dy in [*passes, (0, 1, 1, 2)]
        for row in rgb[y0::dy, x0::dx]
        if row.size
    ]
    h, w = rgb.shape[:2]
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    body = _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"".join(rows)))
    return b"\x89PNG\r\n\x1a\n" + body + _chunk(b"IEND", b"")


def seed_images() -> dict[str, bytes]:
    """Small valid (or validly refused) images, named by what they are."""
    rgb = face_rgb()
    face = Image.fromarray(rgb)
    mirrored = face.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated by 90 degrees
    small = face.resize((64, 64))
    translucent = face.copy()
    translucent.putalpha(Image.linear_gradient("L").resize(face.size))
    seeds = {
        "face.jpg": _save(face, "JPEG", quality=90),
        "face-progressive.jpg": _save(face, "JPEG", progressive=True),
        "face-444.jpg": _save(face, "JPEG", subsampling=0),
        "face-gray.jpg": _save(face.convert("L"), "JPEG"),
        "face-cmyk.jpg": _save(face.convert("CMYK"), "JPEG"),
        "face-exif6.jpg": _save(face.rotate(90, expand=True), "JPEG", exif=exif),
        "face.mpo": _save(face, "MPO", save_all=True, append_images=[mirrored]),
        "face.png": _save(face, "PNG"),
        "face-gray.png": _save(face.convert("L"), "PNG"),
        "face-rgba.png": _save(face.convert("RGBA"), "PNG"),
        "face-palette.png": _save(face.convert("P"), "PNG"),
        "face-16bit.png": cv2.imencode(".png", rgb[..., ::-1].astype(np.uint16) * 257)[1].tobytes(),
        "face-interlaced.png": interlaced_png(rgb),
        "face-exif6.png": _save(face.rotate(90, expand=True), "PNG", exif=exif),
        "face-animated.png": _save(face, "PNG", save_all=True, append_images=[mirrored]),
        "face.webp": _save(face, "WEBP", quality=80),
        "face-lossless.webp": _save(face, "WEBP", lossless=True),
        "face-alpha.webp": _save(translucent, "WEBP"),
        "face-animated.webp": _save(face, "WEBP", save_all=True, append_images=[mirrored]),
        "small.gif": _save(small, "GIF"),
        "small.bmp": _save(small, "BMP"),
        "small.tiff": _save(small, "TIFF"),
        "1px.png": _save(Image.new("L", (1, 1)), "PNG"),
        "1px.jpg": _save(Image.new("RGB", (1, 1)), "JPEG"),
        "1px.webp": _save(Image.new("RGB", (1, 1)), "WEBP"),
        "16x16.png": _save(small.resize((16, 16)), "PNG"),
        "20000x16.png": _save(Image.new("L", (20000, 16), 128), "PNG"),
        "16x161.jpg": _save(Image.new("RGB", (16, 161), 90), "JPEG"),
        "2400x240.png": _save(face.resize((2400, 240)), "PNG"),
        "text.txt": b"hello, this is not an image\n" * 4,
        "pdf.pdf": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
    }
    # Huge dimensions in the header, with a few bytes of pixels behind them.
    seeds["bomb.png"] = png_header(seeds["face.png"], width=50_000, height=50_000)
    seeds["bomb.jpg"] = jpeg_size(seeds["face.jpg"], width=65_535, height=65_535)
    seeds["bomb.webp"] = webp_canvas(seeds["face-alpha.webp"], width=16_383, height=16_383)
    seeds["bomb-vp8.webp"] = webp_canvas(seeds["face.webp"], width=16_383, height=16_383)
    seeds["bomb-vp8l.webp"] = webp_canvas(seeds["face-lossless.webp"], 16_384, 16_384)
    seeds["6000x6000.png"] = png_header(seeds["face.png"], width=6000, height=6000)
    return seeds


def png_header(data: bytes, **fields: int) -> bytes:
    """`data` with IHDR fields (width, height, depth, color, interlace) replaced, CRC fixed."""
    if data[12:16] != b"IHDR" or len(data) < 33:
        return data
    names = ("width", "height", "depth", "color", "compression", "filter", "interlace")
    values = dict(zip(names, struct.unpack(">IIBBBBB", data[16:29]), strict=True))
    values.update({k: v % (2**32 if k in ("width", "height") else 256) for k, v in fields.items()})
    ihdr = struct.pack(">IIBBBBB", *(values[n] for n in names))
    return data[:8] + _chunk(b"IHDR", ihdr) + data[33:]


def png_chunks(data: bytes) -> list[tuple[int, int]]:
    """(start, length of payload) of each chunk, as far as they parse."""
    chunks, pos = [], 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if pos + 12 + length > len(data):
            break
        chunks.append((pos, length))
        pos += 12 + length
    return chunks


def jpeg_size(data: bytes, width: int | None = None, height: int | None = None) -> bytes:
    """`data` with the frame header's (SOF: FFC0-FFCF but C4, C8, CC) width and height set."""
    sofs = [
        p
        for p in _jpeg_segments(data)
        if 0xC0 <= data[p + 1] <= 0xCF and data[p + 1] not in (0xC4, 0xC8, 0xCC)
    ]
    if not sofs or sofs[0] + 9 > len(data):
        return data
    out, pos = bytearray(data), sofs[0]
    if height is not None:
        out[pos + 5 : pos + 7] = struct.pack(">H", height % 65536)
    if width is not None:
        out[pos + 7 : pos + 9] = struct.pack(">H", width % 65536)
    return bytes(out)


def webp_canvas(data: bytes, width: int, height: int) -> bytes:
    """`data` with its size replaced where the WebP keeps it: the extended header's (VP8X)
    canvas, else the lossy (VP8) or lossless (VP8L) bitstream's header."""
    kind = data[12:16]
    if kind == b"VP8X" and len(data) >= 30:
        size = (width - 1) % 2**24, (height - 1) % 2**24
        return data[:24] + b"".join(v.to_bytes(3, "little") for v in size) + data[30:]
    if kind == b"VP8 " and len(data) >= 30:
        size = width % 2**14, height % 2**14  # the top two bits of each are a scale
        return data[:26] + b"".join(v.to_bytes(2, "little") for v in size) + data[30:]
    if kind == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little") & ~(2**28 - 1)
        bits |= (width - 1) % 2**14 | ((height - 1) % 2**14) << 14
        return data[:21] + bits.to_bytes(4, "little") + data[25:]
    return data


# Mutations: (rng, data, seeds) -> (label, mutated data).
Mutation = Callable[[random.Random, bytes, dict[str, bytes]], tuple[str, bytes]]


def flip_bits(rng: random.Random, data: bytes, _seeds: dict[str, bytes]) -> tuple[str, bytes]:
    out = bytearray(data)
    n = rng.choice((1, 2, 4, 8, 32))
    for _ in range(n):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return f"flip:{n}", bytes(out)


def set_bytes(rng: random.Random, data: bytes, _seeds: dict[str, bytes]) -> tuple[str, bytes]:
    out = bytearray(data)
    # Mostly in the first 512 bytes, where the headers are.
    end = len(out) if rng.random() < 0.3 else min(len(out), 512)
    n = rng.randint(1, 4)
    for _ in range(n):
        out[rng.randrange(end)] = rng.choice((0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)))
    return f"bytes:{n}", bytes(out)


def truncate(rng: random.Random, data: bytes, _: dict[str, bytes]) -> tuple[str, bytes]:
    cut = rng.choice((rng.randrange(len(data)), rng.randrange(min(len(data), 64))))
    return f"truncate:{cut}", data[:cut]


def edit_header(rng: random.Random, data: bytes, _: dict[str, bytes]) -> tuple[str, bytes]:
    """A header field set to an interesting value, in a way the format's checksums accept."""
    value = rng.choice((*INTERESTING, rng.randrange(2**16), 2**31 - 1, 2**32 - 1))
    if data.startswith(b"\x89PNG"):
        field = rng.choice(("width", "height", "depth", "color", "interlace", "filter"))
        return f"header:{field}={value}", png_header(data, **{field: value})
    if data.startswith(b"\xff\xd8"):
        field = rng.choice(("width", "height"))
        return f"header:{field}={value}", jpeg_size(data, **{field: value})
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        w, h = rng.choice(((value, 16), (16, value), (value, value)))
        return f"header:{data[12:16].decode('latin-1')}={w}x{h}", webp_canvas(data, w, h)
    return set_bytes(rng, data, {})


def edit_length(rng: random.Random, data: bytes, _seeds: dict[str, bytes]) -> tuple[str, bytes]:
    """A length field (PNG chunk, RIFF or WebP chunk, JPEG segment) set to an interesting value:
    what a decoder that allocates as it is told would trip on."""
    value = rng.choice((*INTERESTING, 2**31 - 1, 2**32 - 1, len(data), len(data) * 1000))
    out = bytearray(data)
    if data.startswith(b"\x89PNG") and (chunks := png_chunks(data)):
        start, _ = rng.choice(chunks)
        out[start : start + 4] = (value % 2**32).to_bytes(4, "big")
        return f"length:{data[start + 4 : start + 8].decode('latin-1')}={value}", bytes(out)
    if data.startswith(b"RIFF") and len(data) >= 20:
        at = rng.choice((4, 16))
        out[at : at + 4] = (value % 2**32).to_bytes(4, "little")
        return f"length:riff@{at}={value}", bytes(out)
    if data.startswith(b"\xff\xd8") and (segments := _jpeg_segments(data)):
        at = rng.choice(segments)
        out[at + 2 : at + 4] = (value % 2**16).to_bytes(2, "big")
        return f"length:jpeg@{at}={value % 2**16}", bytes(out)
    return set_bytes(rng, data, {})


def _jpeg_segments(data: bytes) -> list[int]:
    """Offsets of the marker segments before the first scan's data."""
    found, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        found.append(pos)
        if data[pos + 1] == 0xDA:
            break
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4])
    return found


def flip_in_chunk(rng: random.Random, data: bytes, _seeds: dict[str, bytes]) -> tuple[str, bytes]:
    """PNG: bits flipped in one chunk's payload, CRC fixed, so the flip reaches the decoder."""
    chunks = [(s, n) for s, n in png_chunks(data) if n] if data.startswith(b"\x89PNG") else []
    if not chunks:
        return flip_bits(rng, data, {})
    start, length = rng.choice(chunks)
    payload = bytearray(data[start + 8 : start + 8 + length])
    for _ in range(rng.randint(1, 8)):
        payload[rng.randrange(length)] ^= 1 << rng.randrange(8)
    kind = data[start + 4 : start + 8]
    fixed = data[:start] + _chunk(kind, bytes(payload)) + data[start + 12 + length :]
    return f"chunk:{kind.decode('latin-1')}", fixed


def splice(rng: random.Random, data: bytes, seeds: dict[str, bytes]) -> tuple[str, bytes]:
    name, other = rng.choice(sorted(seeds.items()))
    cut = rng.randrange(len(data))
    return f"splice:{name}@{cut}", data[:cut] + other[rng.randrange(len(other)) :]


def repeat_or_drop(rng: random.Random, data: bytes, _: dict[str, bytes]) -> tuple[str, bytes]:
    a = rng.randrange(len(data))
    b = min(len(data), a + rng.randint(1, 4096))
    if rng.random() < 0.5:
        return f"repeat:{a}-{b}", data[:b] + data[a:b] * rng.randint(1, 8) + data[b:]
    return f"drop:{a}-{b}", data[:a] + data[b:]


def insert_junk(rng: random.Random, data: bytes, _: dict[str, bytes]) -> tuple[str, bytes]:
    at = rng.choice((rng.randrange(len(data) + 1), len(data)))
    junk = rng.randbytes(rng.randint(1, 256))
    return f"insert:{at}+{len(junk)}", data[:at] + junk + data[at:]


MUTATIONS: tuple[Mutation, ...] = (
    flip_bits,
    set_bytes,
    truncate,
    edit_header,
    edit_length,
    flip_in_chunk,
    splice,
    repeat_or_drop,
    insert_junk,
)


def mutants(seeds: dict[str, bytes], count: int, seed: int = 0) -> Iterator[Case]:
    """`count` mutated images, the same for the same seed; one to three mutations each."""
    rng = random.Random(seed)
    names = sorted(seeds)
    for _ in range(count):
        name = rng.choice(names)
        data, steps = seeds[name], []
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            if not data:
                break
            label, data = rng.choice(MUTATIONS)(rng, data, seeds)
            steps.append(label)
        yield Case(f"{name}/{'+'.join(steps)}", data)


def outcome(analyzer: Analyzer, data: bytes) -> str:
    """ok, no-face, refused:<our error>, or unhandled:<anything else> (a bug)."""
    try:
        analyzer.analyze(data)
    except NoFaceFound:
        return "no-face"
    except AnalysisError as e:
        return f"refused:{type(e).__name__}"
    except Exception as e:  # what the fuzzer is here to find
        return f"unhandled:{type(e).__name__}"
    return "ok"


def memory_kb(field: str) -> int:
    """VmRSS (now) or VmHWM (peak since start or the last reset_peak) of this process, in kB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def reset_peak() -> bool:
    """Restart VmHWM from the current RSS (Linux); False where that isn't allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--case", type=int, help="run only case number CASE, with its traceback")
    p.add_argument("--show", type=int, default=10, help="failing cases to list")
    args = p.parse_args(argv)
    analyzer = Analyzer.load("litert")
    seeds = seed_images()
    counts: Counter[str] = Counter()
    failures: list[str] = []  # unhandled, or memory beyond the decode budget
    times: list[tuple[float, str]] = []
    peak = memory_kb("VmHWM")
    t0 = time.perf_counter()
    for i, case in enumerate(mutants(seeds, args.cases, args.seed)):
        if args.case is not None and i != args.case:
            continue
        name = f"#{i} {case.name} ({len(case.data)} bytes)"
        if args.case is not None:
            print(name)
            with contextlib.suppress(AnalysisError):
                analyzer.analyze(case.data)
        rss, tracked = memory_kb("VmRSS"), reset_peak()
        started = time.perf_counter()
        result = outcome(analyzer, case.data)
        times.append((time.perf_counter() - started, name))
        peak = max(peak, memory_kb("VmHWM"))
        grew = (memory_kb("VmHWM") - rss) * 1024 if tracked else 0
        counts[result] += 1
        if result.startswith("unhandled"):
            failures.append(f"{result}: {name}")
        if grew > DECODE_BUDGET:
            counts["over-budget"] += 1
            failures.append(f"memory +{grew / 2**20:.0f} MB: {name}")
    wall = time.perf_counter() - t0
    print(f"{len(times)} cases from {len(seeds)} seed images, seed {args.seed}, {wall:.1f} s")
    for result in ("ok", "no-face"):
        print(f"  {result:<28} {counts.pop(result, 0):5d}")
    for result, n in sorted(counts.items()):
        if result.startswith("refused"):
            print(f"  {result:<28} {n:5d}")
    unhandled = sum(n for r, n in counts.items() if r.startswith("unhandled"))
    print(f"  {'unhandled':<28} {unhandled:5d}")
    print(f"  {'over the decode budget':<28} {counts['over-budget']:5d}")
    for line in failures[: args.show]:
        print(f"    {line}")
    print("slowest:", "; ".join(f"{t:.2f} s {name}" for t, name in sorted(times)[-3:][::-1]))
    print(f"peak RSS {peak / 1024:.0f} MB")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
