"""Peak memory of reading heavy images: `python -m models.stress [--image png] [--count 1 30]`.

`--image png` (the default) is a valid RGB PNG of 6324 x 6324 pixels (`--side`; just under the
40 MP limit) that compresses to ~170 KB: cheap to send, expensive to decode. `webp` (4400 x 4400)
and `jpeg` (progressive, 4:4:4, 3800 x 3800) are the costliest of their formats that the decode
budget in models/image.py still admits. For each count a fresh process loads the analyzer, reads
one small photo (so lazily allocated buffers are in the baseline), then hands the same image to
`count` threads at once, as `count` people sending it together would. Printed per count: RSS
after loading (VmRSS), the process's peak RSS (VmHWM, from start to end, which is what the issue
measured), the outcome of each reading and the wall time.
"""

from __future__ import annotations

import argparse
import io
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator

import numpy as np
from PIL import Image

from models.errors import AnalysisError
from models.pipeline import Analyzer


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_from_rows(width: int, height: int, rows: Iterator[bytes], color: bool = True) -> bytes:
    """An 8-bit PNG (RGB or gray) compressed row by row, so it never exists in full in memory."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2 if color else 0, 0, 0, 0)
    z = zlib.compressobj(9)
    idat = [z.compress(b"\x00" + row) for row in rows]  # filter type 0 (none) on each row
    idat.append(z.flush())
    body = b"".join(idat)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")
    )


def heavy_png(side: int = 6324) -> bytes:
    """A side x side RGB PNG: flat grey with one gradient band, ~170 KB at 6324 x 6324."""
    flat = np.full((side, 3), 128, np.uint8)

    def rows() -> Iterator[bytes]:
        for y in range(side):
            if 512 <= y < 900:  # a band with a horizontal gradient, so it isn't all flat
                row = flat.copy()
                row[:, 0] = (np.arange(side) * 255 // side).astype(np.uint8)
                yield row.tobytes()
            else:
                yield flat.tobytes()

    return png_from_rows(side, side, rows())


def heavy_image(kind: str, side: int | None = None) -> bytes:
    """The test image for --image `kind` (png, webp or jpeg), optionally of another side."""
    if kind == "png":
        return heavy_png(side or 6324)
    side = side or {"webp": 4400, "jpeg": 3800}[kind]
    rgb = np.full((side, side, 3), 128, np.uint8)
    rgb[512:900, :, 0] = (np.arange(side) * 255 // side).astype(np.uint8)
    buf = io.BytesIO()
    if kind == "webp":
        Image.fromarray(rgb).save(buf, format="WEBP", quality=80)
    else:
        Image.fromarray(rgb).save(buf, format="JPEG", progressive=True, subsampling=0)
    return buf.getvalue()


def small_photo() -> bytes:
    """A plain 640x480 grey PNG, only to warm the pipeline up."""
    return png_from_rows(640, 480, (bytes([90]) * 640 for _ in range(480)), color=False)


def status_kb(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in kB (e.g. VmRSS, VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def run(count: int, data: bytes) -> None:
    """Read `data` `count` times at once in this process; print one result line."""
    with Image.open(io.BytesIO(data)) as img:
        what = f"{img.size[0]}x{img.size[1]} {img.format}"
    analyzer = Analyzer.load("litert")
    _outcome(analyzer, small_photo())
    loaded = status_kb("VmRSS")
    start = threading.Barrier(count)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def one() -> None:
        start.wait()
        result = _outcome(analyzer, data)
        with lock:
            outcomes[result] += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=one) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    peak = status_kb("VmHWM")
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(outcomes.items()))
    print(
        f"{count:>5} x {what} {len(data) / 1024:6.0f} KB | loaded {loaded / 1024:5.0f} MB"
        f" | peak {peak / 1024:5.0f} MB | {wall:5.1f} s | {kinds}",
        flush=True,
    )


def _outcome(analyzer: Analyzer, data: bytes) -> str:
    try:
        analyzer.analyze(data)
    except AnalysisError as e:
        return type(e).__name__
    return "ok"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", choices=["png", "webp", "jpeg"], default="png")
    p.add_argument("--side", type=int, help="the image's width and height (default: per kind)")
    p.add_argument("--count", type=int, nargs="+", default=[1, 30], help="readings at once")
    p.add_argument("--in-process", action="store_true", help="one count, image bytes on stdin")
    args = p.parse_args(argv)
    if args.in_process:
        (count,) = args.count
        run(count, sys.stdin.buffer.read())
        return 0
    # Made here, handed over on stdin: the child's peak RSS is the reading's alone. A fresh
    # child for each count, since peak RSS only ever grows.
    data = heavy_image(args.image, args.side)
    for count in args.count:
        cmd = [sys.executable, "-m", "models.stress", "--in-process", "--count", str(count)]
        subprocess.run(cmd, input=data, check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
