"""A read that learns one person's face: their own corrections adjust how their selfies are read.

Some faces are read the same wrong way again and again (a resting face that reads as sad).
For each person we estimate P(what they say | what the model read), a 7x7 table whose rows
start as the identity and move with their own history: every correction counts once for
(read, chosen), and every reading they left as it was a quarter for (read, read) (silence is
weak evidence: people don't correct every miss). The same correction made once or twice
moves nothing (the model's ordinary mistakes); a habit does, against `prior` pseudo-counts of
the identity per row, so three corrections nudge and thirty decide (3 move a sad read 17% of
the way to what they meant, 30 move it 85%). The adjusted probabilities are the table applied to
the model's: p'(j) = sum_k T[k, j] p(k). Measured by `python -m training.simulate_personal`.
A person with no history reads exactly as before; the table is theirs alone and goes with
their data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from models.emotion import FER2013_ORDER, Emotion

K = len(FER2013_ORDER)
DEFAULT_PRIOR = 5.0
DEFAULT_KEPT_WEIGHT = 0.25
HABIT = 2  # corrections of one kind that are discounted before any take effect


@dataclass(frozen=True, slots=True)
class Outcome:
    """One past reading: the model's top emotion, and what the person settled on."""

    read: Emotion
    settled: Emotion


@dataclass(frozen=True, slots=True)
class FaceProfile:
    """A person's counts of (model read, person settled) pairs, and how to apply them."""

    counts: tuple[tuple[float, ...], ...]  # K x K, rows: read, columns: settled
    prior: float = DEFAULT_PRIOR

    @classmethod
    def empty(cls, prior: float = DEFAULT_PRIOR) -> FaceProfile:
        return cls(tuple((0.0,) * K for _ in range(K)), prior)

    @classmethod
    def learn(
        cls, outcomes: Iterable[Outcome], prior: float = DEFAULT_PRIOR,
        kept_weight: float = DEFAULT_KEPT_WEIGHT,
    ) -> FaceProfile:  # fmt: skip
        c = np.zeros((K, K))
        for o in outcomes:
            k, j = FER2013_ORDER.index(o.read), FER2013_ORDER.index(o.settled)
            c[k, j] += 1 if k != j else kept_weight
        return cls(tuple(tuple(float(v) for v in row) for row in c), prior)

    def table(self) -> np.ndarray:
        """Row-stochastic K x K: the chance a person says j when the model read k."""
        c = np.asarray(self.counts, float)
        # One or two corrections are noise (the model's ordinary mistakes); a habit repeats.
        off = ~np.eye(K, dtype=bool)
        c[off] = np.maximum(c[off] - HABIT, 0)
        c += self.prior * np.eye(K)
        return c / c.sum(1, keepdims=True)

    def adjust(self, probs: np.ndarray) -> np.ndarray:
        """Model probabilities (K,) or (N, K), in FER2013 order -> this person's."""
        return np.asarray(probs, float) @ self.table()

    @property
    def corrections(self) -> int:
        c = np.asarray(self.counts)
        return int(round(c.sum() - np.trace(c)))

    def learning(self, min_share: float = 0.15) -> list[tuple[Emotion, Emotion, float]]:
        """What the profile has learnt: (read, usually meant, share) where the shift is notable.

        For the person: "I'm learning how your face shows sadness" when a read of sad now moves
        at least `min_share` of its weight to another emotion.
        """
        t = self.table()
        out = []
        for k in range(K):
            j = int(np.argmax(np.where(np.arange(K) == k, -1, t[k])))
            if t[k, j] >= min_share:
                out.append((FER2013_ORDER[k], FER2013_ORDER[j], round(float(t[k, j]), 3)))
        return out
