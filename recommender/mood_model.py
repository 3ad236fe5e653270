"""A small mood classifier learned from the only human mood labels we have (data_moods.csv).

Multinomial logistic regression in numpy: eight audio features (on the catalog's 0..1 scale,
then standardised) -> P(Calm), P(Energetic), P(Happy), P(Sad). Full-batch gradient descent from
zeros with a fixed step count, so a fit is a pure function of its data (no random start, no
early stopping). The hyperparameters are fixed, not searched: L2 0.01 sat in the middle of a
flat 0.001-0.1 range in a first look. The one number learned beside the weights is how much the
engine trusts the model (`model_weight`, chosen by cross-validation in `recommender.mood_fit`).

Agreement is measured by stratified k-fold cross-validation, repeated over several fold
shuffles: each track is scored by a model that never saw it. The catalog build records the
figure beside the weights (`recommender/data/mood_model.json`); `recommender.bench` measures
the engine's whole score the same way.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recommender.catalog import FEATURES, normalise_features

LABELS: tuple[str, ...] = ("Calm", "Energetic", "Happy", "Sad")
# Mode is not in data_moods.csv, and liveness did not help in a first look.
MODEL_FEATURES: tuple[str, ...] = (
    "valence",
    "energy",
    "danceability",
    "acousticness",
    "instrumentalness",
    "speechiness",
    "tempo",
    "loudness",
)
L2 = 0.01
STEPS = 2000
LEARNING_RATE = 0.5
DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "mood_model.json"
_COLUMNS = [FEATURES.index(f) for f in MODEL_FEATURES]


@dataclass(frozen=True)
class MoodModel:
    """Fitted weights plus the standardisation they expect."""

    mean: np.ndarray  # (features,)
    scale: np.ndarray  # (features,)
    weights: np.ndarray  # (features, labels)
    bias: np.ndarray  # (labels,)
    cv_accuracy: float | None = None
    trained_on: int = 0
    # The model term's weight in the engine's score; the build chooses it (recommender.mood_fit).
    model_weight: float = 0.5

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Rows of a normalised feature matrix (catalog.FEATURES order) -> (n, 4) probabilities."""
        x = (np.atleast_2d(features)[:, _COLUMNS] - self.mean) / self.scale
        return _softmax(x @ self.weights + self.bias)

    def to_json(self) -> str:
        """Deterministic JSON (rounded, sorted keys) so rebuilds are byte-identical."""

        def r(a: np.ndarray) -> list:
            return np.round(a.astype(float), 6).tolist()

        data = {
            "labels": list(LABELS),
            "features": list(MODEL_FEATURES),
            "mean": r(self.mean),
            "scale": r(self.scale),
            "weights": r(self.weights),
            "bias": r(self.bias),
            "l2": L2,
            "steps": STEPS,
            "trained_on": self.trained_on,
            "model_weight": self.model_weight,
            "cv_accuracy": None if self.cv_accuracy is None else round(self.cv_accuracy, 4),
        }
        return json.dumps(data, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> MoodModel:
        data = json.loads(text)
        if tuple(data["labels"]) != LABELS or tuple(data["features"]) != MODEL_FEATURES:
            raise ValueError("mood model was built for other labels or features")
        return cls(
            mean=np.asarray(data["mean"]),
            scale=np.asarray(data["scale"]),
            weights=np.asarray(data["weights"]),
            bias=np.asarray(data["bias"]),
            cv_accuracy=data.get("cv_accuracy"),
            trained_on=int(data.get("trained_on", 0)),
            model_weight=float(data["model_weight"]),
        )


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit(features: np.ndarray, labels: np.ndarray) -> MoodModel:
    """Fit on a normalised feature matrix (catalog.FEATURES order) and label indices."""
    x = np.asarray(features, dtype=float)[:, _COLUMNS]
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    x = (x - mean) / scale
    n, d = x.shape
    onehot = np.eye(len(LABELS))[labels]
    w = np.zeros((d, len(LABELS)))
    b = np.zeros(len(LABELS))
    for _ in range(STEPS):
        grad = (_softmax(x @ w + b) - onehot) / n
        w -= LEARNING_RATE * (x.T @ grad + L2 * w)
        b -= LEARNING_RATE * grad.sum(axis=0)
    return MoodModel(mean, scale, w, b, trained_on=n)


def stratified_folds(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold number per example: each label's examples shuffled, then dealt round-robin."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(labels), dtype=int)
    offset = 0
    for label in range(len(LABELS)):
        idx = rng.permutation(np.flatnonzero(labels == label))
        fold[idx] = (np.arange(len(idx)) + offset) % folds
        offset += len(idx)
    return fold


def held_out_predictions(
    features: np.ndarray, labels: np.ndarray, folds: int = 5, seed: int = 0
) -> list[tuple[np.ndarray, MoodModel]]:
    """For each fold: (indices of its examples, a model fit on all the other folds)."""
    fold = stratified_folds(labels, folds, seed)
    out = []
    for f in range(folds):
        train = fold != f
        out.append((np.flatnonzero(~train), fit(features[train], labels[train])))
    return out


def cross_validate(
    features: np.ndarray, labels: np.ndarray, folds: int = 5, repeats: int = 5
) -> list[float]:
    """Held-out accuracy of the model alone, one figure per repeat (fold shuffle seed 0..)."""
    scores = []
    for seed in range(repeats):
        right = 0
        for idx, model in held_out_predictions(features, labels, folds, seed):
            right += int((model.probabilities(features[idx]).argmax(axis=1) == labels[idx]).sum())
        scores.append(right / len(labels))
    return scores


def read_labelled(path: str | Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """data_moods.csv -> normalised features (mode unknown: 0.5), label indices, track names.

    Rows without a known label or with a non-numeric feature are skipped.
    """
    rows, labels, names = [], [], []
    with Path(path).open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            label = (row.get("mood") or "").strip().capitalize()
            try:
                raw = [0.5 if c == "mode" else float(row[c]) for c in FEATURES]
            except (KeyError, TypeError, ValueError):
                continue
            if label not in LABELS:
                continue
            rows.append(raw)
            labels.append(LABELS.index(label))
            names.append(f"{row.get('name', '')} — {row.get('artist', '')}")
    raw_matrix = np.asarray(rows, dtype=float).reshape(len(rows), len(FEATURES))
    return normalise_features(raw_matrix), np.asarray(labels, dtype=int), names


def load_model(path: str | Path | None = None) -> MoodModel:
    """The packaged (or given) mood model."""
    return MoodModel.from_json(Path(path or DEFAULT_PATH).read_text(encoding="utf-8"))
