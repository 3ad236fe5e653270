"""Time training steps per precision on this CPU, to choose `train --precision`.

    python -m training.speed [--widths 32,64,128,256] [--batch-size 64] [--steps 40]

Prints seconds per FER2013-sized epoch (28,709 images) for float32 and mixed bfloat16, each in a
fresh process so one policy's compiled graphs don't favour the other. Augmentation is excluded,
so real epochs are ~20-30% longer.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

TRAIN_IMAGES = 28_709


def _time_policy(policy: str, widths: tuple[int, ...], batch: int, steps: int) -> float:
    import keras
    import numpy as np

    from training.model import build_model

    keras.mixed_precision.set_global_policy(policy)
    model = build_model(widths=widths)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.random((batch * steps, 48, 48, 1), dtype=np.float32)
    y = np.eye(7, dtype=np.float32)[rng.integers(0, 7, batch * steps)]
    model.fit(x[: batch * 4], y[: batch * 4], batch_size=batch, verbose=0)  # trace + warm up
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=batch, verbose=0)
    return (time.perf_counter() - t0) / (batch * steps) * TRAIN_IMAGES


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--widths", default="32,64,128,256")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--policy", help=argparse.SUPPRESS)  # the child process's job
    a = p.parse_args(argv)
    widths = tuple(int(w) for w in a.widths.split(","))
    if a.policy:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        print(json.dumps(_time_policy(a.policy, widths, a.batch_size, a.steps)))
        return 0
    from training.train import resolve_precision

    print(f"auto picks: {resolve_precision('auto')}")
    for policy in ("float32", "mixed_bfloat16"):
        cmd = [sys.executable, "-m", "training.speed", "--policy", policy, "--widths", a.widths,
               "--batch-size", str(a.batch_size), "--steps", str(a.steps)]  # fmt: skip
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
        print(f"{policy:<16}{float(out.strip().splitlines()[-1]):8.1f} s/epoch (no augmentation)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
