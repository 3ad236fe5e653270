"""Serve an exported bundle: copy it into models/weights/ after checking it loads and reads.

    python -m training.promote /work/runs/clean/bundle

Export never writes into the tree; this is the one explicit step that changes what the bot
serves (commit the result, with the bundle's val figures in the message).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from models.classifier import DEFAULT_BUNDLE, load_model

FILES = ("emotion.keras", "emotion.tflite", "emotion.json")


def promote(bundle: Path, dest: Path = DEFAULT_BUNDLE) -> dict:
    """Check that `bundle` is complete and serves a reading, then copy it over `dest`."""
    missing = [f for f in FILES if not (bundle / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{bundle} lacks {', '.join(missing)}: export it first")
    model = load_model(bundle, "litert")
    probs = model.predict(np.full((1, model.input_size, model.input_size, 1), 0.5, np.float32))
    if not np.isclose(probs.sum(), 1.0, atol=1e-3):
        raise ValueError(f"{bundle} does not give probabilities (sum {probs.sum():.3f})")
    dest.mkdir(parents=True, exist_ok=True)
    for f in FILES:
        shutil.copyfile(bundle / f, dest / f)
    return json.loads((dest / "emotion.json").read_text())["metrics"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("bundle", help="a folder written by training.export")
    p.add_argument("--to", default=str(DEFAULT_BUNDLE), help="where the bot loads its model")
    a = p.parse_args(argv)
    try:
        metrics = promote(Path(a.bundle), Path(a.to))
    except (OSError, ValueError) as e:
        print(f"not promoted: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"promoted": a.bundle, "to": a.to, **metrics}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
