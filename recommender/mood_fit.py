"""How much the engine trusts the mood model against the feature distance, chosen from the labels.

The engine's score for a target is feature distance + w x (1 - profile . P(label)) + gates
(`recommender.moods`). The weight w is the one number of that score learned from data_moods.csv:
each candidate in WEIGHT_GRID is scored by stratified 5-fold cross-validation repeated
INNER_REPEATS times on the examples it is given, and the smallest weight whose agreement is within
one standard error of the best one wins (the one-standard-error rule: the inner figures are flat
over a wide range, so the rule prefers leaning less on a model fit on 686 tracks).

The catalog build runs `choose_weight` on every labelled track and writes the result into
mood_model.json; `recommender.bench` runs it inside each outer training fold only (nested
cross-validation), so the agreement it reports is measured on tracks that chose nothing.

Each human label is judged against the one target that means the same thing (LABEL_REGIONS),
fixed before any result was measured. Energetic -> exercise rather than angry: the labels are
about drive, not hostility.
"""

from __future__ import annotations

import numpy as np

from models.emotion import Emotion
from recommender.mood_model import LABELS, MoodModel, fit, stratified_folds
from recommender.moods import Strategy, Target, target_for
from recommender.track import Mood

LABEL_REGIONS: dict[str, Target] = {
    "Calm": target_for(None, Mood.RELAXING),
    "Energetic": target_for(None, Mood.EXERCISE),
    "Happy": target_for(Emotion.HAPPY, None, Strategy.MATCH),
    "Sad": target_for(Emotion.SAD, None, Strategy.MATCH),
}
WEIGHT_GRID: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
INNER_FOLDS = 5
INNER_REPEATS = 3


def regions() -> list[Target]:
    """The targets of mood_model.LABELS, in label order."""
    return [LABEL_REGIONS[label] for label in LABELS]


def classify(
    features: np.ndarray, probs: np.ndarray | None, weight: float, gates: bool = True
) -> np.ndarray:
    """Label index per row: the region whose engine score is lowest (`probs` None: no model
    term; `gates` False: the score without its gates)."""
    scores = []
    for target in regions():
        score = target.audio_score(features, probs, weight)
        if not gates:
            score = score - target.gate_penalty(weight) * target.gate_violations(features)
        scores.append(score)
    return np.stack(scores, axis=1).argmin(axis=1)


def inner_agreement(features: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    """(INNER_REPEATS x INNER_FOLDS, len(WEIGHT_GRID)) held-out agreement of each weight."""
    rows = []
    for r in range(INNER_REPEATS):
        fold = stratified_folds(labels, INNER_FOLDS, seed * INNER_REPEATS + r)
        for f in range(INNER_FOLDS):
            test = fold == f
            model = fit(features[~test], labels[~test])
            x, probs = features[test], model.probabilities(features[test])
            rows.append([(classify(x, probs, w) == labels[test]).mean() for w in WEIGHT_GRID])
    return np.asarray(rows)


def choose_weight(features: np.ndarray, labels: np.ndarray, seed: int = 0) -> float:
    """The model weight for these examples by inner cross-validation (module doc)."""
    scores = inner_agreement(features, labels, seed)
    mean = scores.mean(axis=0)
    best = int(mean.argmax())
    se = scores[:, best].std(ddof=1) / np.sqrt(len(scores))
    return WEIGHT_GRID[int(np.flatnonzero(mean >= mean[best] - se)[0])]


def outer_folds(
    features: np.ndarray, labels: np.ndarray, folds: int = 5, seed: int = 0
) -> list[tuple[np.ndarray, MoodModel, float]]:
    """For each outer fold: its examples, a model fit on the other folds and the weight those
    other folds chose for themselves (their own inner cross-validation)."""
    fold = stratified_folds(labels, folds, seed)
    out = []
    for f in range(folds):
        train = fold != f
        x, y = features[train], labels[train]
        out.append((np.flatnonzero(~train), fit(x, y), choose_weight(x, y, seed * folds + f + 1)))
    return out
