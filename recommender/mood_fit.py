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

Exercise's tempo floor (90 bpm, `recommender.moods`) was set by looking at the confusion matrix
of all 686 labels, so the fixed-floor figure saw its held-out tracks. `choose` measures that
choice too: the same inner folds also score each floor of TEMPO_FLOORS, and each floor's
weight is chosen by the rule above; the floor whose inner agreement is highest wins. The bench
reports the outer agreement of that procedure beside the fixed-floor one. The served floor
stays a product decision in `recommender.moods`; the weight is chosen at it.

Each human label is judged against the one target that means the same thing (LABEL_REGIONS),
fixed before any result was measured. Energetic -> exercise rather than angry: the labels are
about drive, not hostility.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
# Exercise's tempo floors in bpm (None: no floor), fixed in advance, before any nested result
# was measured: the old 110, the served 90, and steps of 10 bpm around them.
TEMPO_FLOORS: tuple[float | None, ...] = (None, 80.0, 90.0, 100.0, 110.0, 120.0)
INNER_FOLDS = 5
INNER_REPEATS = 3


@dataclass(frozen=True, slots=True)
class Choice:
    """What inner cross-validation chose: the weight at the served floor, and the floor and
    weight chosen together."""

    weight: float
    floor: float | None
    floor_weight: float


@dataclass(frozen=True, slots=True)
class OuterFold:
    """One outer fold: its held-out rows, a model fit on the others and their own choice."""

    held_out: np.ndarray
    model: MoodModel
    choice: Choice


def served_floor() -> float | None:
    """Exercise's tempo floor in bpm as `recommender.moods` serves it (None: no floor)."""
    lows = [low for f, low, _ in LABEL_REGIONS["Energetic"].gates if f == "tempo"]
    return lows[0] if lows else None


def with_tempo_floor(target: Target, floor: float | None) -> Target:
    """The target with its tempo floor set to `floor` bpm (None: removed)."""
    gates = [g for g in target.gates if g[0] != "tempo"]
    if floor is not None:
        gates.append(("tempo", floor, None))
    return replace(target, gates=tuple(gates))


def regions(floor: float | None = None, served: bool = True) -> list[Target]:
    """The targets of mood_model.LABELS, in label order; with `served` False, Energetic's tempo
    floor is `floor` bpm (None: no floor) instead of the served one."""
    targets = [LABEL_REGIONS[label] for label in LABELS]
    if not served:
        energetic = LABELS.index("Energetic")
        targets[energetic] = with_tempo_floor(targets[energetic], floor)
    return targets


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


def classify_grid(
    features: np.ndarray,
    probs: np.ndarray,
    floors: tuple[float | None, ...] = TEMPO_FLOORS,
    weights: tuple[float, ...] = WEIGHT_GRID,
) -> np.ndarray:
    """(floors, weights, rows) label indices, as `classify` gives them with Energetic's tempo
    floor and the weight set to each pair: the score's parts are computed once per floor."""
    out = []
    w = np.asarray(weights)[:, None, None]
    for floor in floors:
        targets = regions(floor, served=False)
        distance = np.stack([t.distance(features) for t in targets])
        model = np.stack([1.0 - probs @ np.asarray(t.profile) for t in targets])
        violations = np.stack([t.gate_violations(features) for t in targets])
        # The same sums in the same order as Target.audio_score (so ties break the same way).
        out.append((distance + w * model + (1.0 + w) * violations).argmin(axis=1))
    return np.asarray(out)


def inner_agreement(features: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    """(INNER_REPEATS x INNER_FOLDS, len(TEMPO_FLOORS), len(WEIGHT_GRID)) held-out agreement
    of each tempo floor and weight."""
    rows = []
    for r in range(INNER_REPEATS):
        fold = stratified_folds(labels, INNER_FOLDS, seed * INNER_REPEATS + r)
        for f in range(INNER_FOLDS):
            test = fold == f
            model = fit(features[~test], labels[~test])
            ours = classify_grid(features[test], model.probabilities(features[test]))
            rows.append((ours == labels[test]).mean(axis=2))
    return np.asarray(rows)


def _one_se_weight(scores: np.ndarray) -> tuple[float, float]:
    """(weight, its mean agreement) from (folds, weights) scores: the smallest weight within
    one standard error of the best one."""
    mean = scores.mean(axis=0)
    best = int(mean.argmax())
    se = scores[:, best].std(ddof=1) / np.sqrt(len(scores))
    chosen = int(np.flatnonzero(mean >= mean[best] - se)[0])
    return WEIGHT_GRID[chosen], float(mean[chosen])


def choose(features: np.ndarray, labels: np.ndarray, seed: int = 0) -> Choice:
    """The weight at the served floor, and the tempo floor with its weight, by one inner
    cross-validation of these examples (module doc). Floors whose agreement ties go to the
    higher floor: the gate is there to keep ballads out."""
    served = served_floor()
    if served not in TEMPO_FLOORS:
        raise ValueError(f"served tempo floor {served} is not in TEMPO_FLOORS")
    scores = inner_agreement(features, labels, seed)
    weight, _ = _one_se_weight(scores[:, TEMPO_FLOORS.index(served)])
    per_floor = [_one_se_weight(scores[:, i]) for i in range(len(TEMPO_FLOORS))]
    means = np.array([mean for _, mean in per_floor])
    best = int(np.flatnonzero(means >= means.max() - 1e-12)[-1])
    return Choice(weight, TEMPO_FLOORS[best], per_floor[best][0])


def choose_weight(features: np.ndarray, labels: np.ndarray, seed: int = 0) -> float:
    """The model weight at the served tempo floor for these examples (module doc)."""
    return choose(features, labels, seed).weight


def outer_folds(
    features: np.ndarray, labels: np.ndarray, folds: int = 5, seed: int = 0
) -> list[OuterFold]:
    """For each outer fold: its examples, a model fit on the other folds and what those other
    folds chose for themselves (their own inner cross-validation)."""
    fold = stratified_folds(labels, folds, seed)
    out = []
    for f in range(folds):
        train = fold != f
        x, y = features[train], labels[train]
        choice = choose(x, y, seed * folds + f + 1)
        out.append(OuterFold(np.flatnonzero(~train), fit(x, y), choice))
    return out
