"""Evaluate the emotion model on a folder of emotion folders (or fer2013.csv).

    moodtune evaluate ../shared/datasets/fer2013/val [--json] [--backend keras] [--cm cm.png]

48x48 crops are classified directly; larger photos go through the full serving pipeline
(decode -> detect -> crop -> classify), and the report also says how many faces were found.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from models.emotion import FER2013_ORDER, Emotion


def confusion(y_true: np.ndarray, y_pred: np.ndarray, k: int = 7) -> np.ndarray:
    cm = np.zeros((k, k), np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def metrics(y_true: np.ndarray, y_pred: np.ndarray, labels=FER2013_ORDER) -> dict:
    """Accuracy, macro-F1 (over classes present in y_true) and per-class precision/recall."""
    cm = confusion(y_true, y_pred, len(labels))
    tp = np.diag(cm).astype(float)
    support = cm.sum(1)
    predicted = cm.sum(0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    f1 = np.divide(
        2 * precision * recall, precision + recall,
        out=np.zeros_like(tp), where=(precision + recall) > 0,
    )  # fmt: skip
    present = support > 0
    return {
        "n": int(len(y_true)),
        "accuracy": round(float((y_true == y_pred).mean()), 4) if len(y_true) else 0.0,
        "macro_f1": round(float(f1[present].mean()), 4) if present.any() else 0.0,
        "recall": {e.value: round(float(recall[i]), 4) for i, e in enumerate(labels) if present[i]},
        "precision": {
            e.value: round(float(precision[i]), 4) for i, e in enumerate(labels) if present[i]
        },
        "support": {e.value: int(support[i]) for i, e in enumerate(labels) if present[i]},
        "confusion": cm.tolist(),
    }


def plot_confusion(cm: np.ndarray, path: Path, title: str, labels=FER2013_ORDER) -> None:
    """Row-normalised confusion matrix as a PNG."""
    from matplotlib.figure import Figure

    rows = cm.sum(1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    fig = Figure(figsize=(6.4, 5.6), dpi=120)
    ax = fig.add_subplot()
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    names = [e.value for e in labels]
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(names)):
        for j in range(len(names)):
            if cm[i].sum():
                color = "white" if norm[i, j] > 0.5 else "black"
                ax.text(
                    j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=7, color=color
                )
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path)


def evaluate_dir(source: str | Path, backend: str = "litert", bundle: str | None = None) -> dict:
    from models.errors import AnalysisError
    from models.pipeline import Analyzer
    from models.preprocess import preprocess_batch
    from training.data import list_folder, load_split

    analyzer = Analyzer.load(backend, bundle)
    source = Path(source)
    items = [] if source.suffix.lower() == ".csv" else list_folder(source)
    sample = None
    if items:
        import cv2

        sample = cv2.imread(str(items[0][0]), cv2.IMREAD_GRAYSCALE)
    crops = source.suffix.lower() == ".csv" or (sample is not None and sample.shape == (48, 48))
    if crops:
        split = load_split(source, "test" if source.suffix == ".csv" else "")
        x = preprocess_batch(split.images, analyzer.model.input_size)
        probs = analyzer.model.predict_many(x)
        y_true, y_pred = split.labels, probs.argmax(1)
        result = metrics(y_true, y_pred)
        result.update(mode="crops", faces_found=int(len(y_true)))
    else:
        y_true_l, y_pred_l, found = [], [], 0
        for path, label in items:
            try:
                r = analyzer.analyze(path.read_bytes())
            except AnalysisError:
                continue
            found += 1
            y_true_l.append(label)
            y_pred_l.append(FER2013_ORDER.index(r.emotion))
        y_true, y_pred = np.array(y_true_l, int), np.array(y_pred_l, int)
        result = metrics(y_true, y_pred)
        result.update(mode="photos", images=len(items), faces_found=found)
    result["backend"] = backend
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="moodtune evaluate", description=__doc__.split("\n")[0])
    p.add_argument("source", help="folder of emotion folders, or fer2013.csv (PrivateTest)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--backend", default="litert", choices=["litert", "keras"])
    p.add_argument("--bundle", default=None, help="model folder (default: models/weights)")
    p.add_argument("--cm", default=None, help="also draw the confusion matrix to this PNG")
    a = p.parse_args(argv)
    result = evaluate_dir(a.source, a.backend, a.bundle)
    if a.cm:
        plot_confusion(
            np.array(result["confusion"]), Path(a.cm),
            f"{Path(a.source).name}: accuracy {result['accuracy']:.1%}",
        )  # fmt: skip
        result["confusion_png"] = a.cm
    if a.json:
        json.dump(result, sys.stdout, indent=2)
        print()
        return 0
    print(f"{a.source}: n={result['n']} ({result['mode']}, faces found {result['faces_found']})")
    print(f"accuracy {result['accuracy']:.2%}  macro-F1 {result['macro_f1']:.3f}")
    print(f"{'emotion':<10}{'precision':>10}{'recall':>8}{'n':>6}")
    for e in Emotion:
        if e.value in result["recall"]:
            print(f"{e.value:<10}{result['precision'][e.value]:>10.2f}"
                  f"{result['recall'][e.value]:>8.2f}{result['support'][e.value]:>6}")  # fmt: skip
    if a.cm:
        print(f"confusion matrix: {a.cm}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
