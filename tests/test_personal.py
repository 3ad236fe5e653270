"""The per-person read: corrections adjust only their own person, habits only, and gradually."""

from __future__ import annotations

import numpy as np
import pytest

from models.emotion import FER2013_ORDER, Emotion
from models.personal import FaceProfile, Outcome

SAD, NEUTRAL, HAPPY = (
    FER2013_ORDER.index(e) for e in (Emotion.SAD, Emotion.NEUTRAL, Emotion.HAPPY)
)


def read(sad: float, neutral: float) -> np.ndarray:
    p = np.full(7, (1 - sad - neutral) / 5)
    p[SAD], p[NEUTRAL] = sad, neutral
    return p


def test_no_history_reads_exactly_as_the_model():
    p = np.random.default_rng(0).dirichlet(np.ones(7), 5)
    np.testing.assert_allclose(FaceProfile.empty().adjust(p), p)
    np.testing.assert_allclose(FaceProfile.learn([]).adjust(p), p)


def test_three_corrections_nudge_and_thirty_decide():
    habit = Outcome(Emotion.SAD, Emotion.NEUTRAL)
    p = read(sad=0.6, neutral=0.25)
    nudged = FaceProfile.learn([habit] * 3).adjust(p)
    assert nudged[NEUTRAL] > p[NEUTRAL] and nudged.argmax() == SAD  # moved, not flipped
    decided = FaceProfile.learn([habit] * 30).adjust(p)
    assert decided.argmax() == NEUTRAL
    assert decided.sum() == pytest.approx(1.0)
    # Only the habit's row moves: a happy read stays happy.
    happy = np.eye(7)[HAPPY] * 0.9 + 0.1 / 7
    assert FaceProfile.learn([habit] * 30).adjust(happy).argmax() == HAPPY


def test_one_off_corrections_and_kept_readings_move_nothing_off_the_diagonal():
    noise = [Outcome(r, s) for r in Emotion for s in Emotion if r != s]  # each mistake once
    kept = [Outcome(e, e) for e in Emotion] * 5
    t = FaceProfile.learn(noise + noise + kept).table()  # every mistake twice still is noise
    np.testing.assert_allclose(t, np.eye(7))


def test_what_was_learnt_can_be_told_to_the_person():
    profile = FaceProfile.learn([Outcome(Emotion.SAD, Emotion.NEUTRAL)] * 12)
    ((read_as, meant, share),) = profile.learning()
    assert (read_as, meant) == (Emotion.SAD, Emotion.NEUTRAL) and 0.5 < share < 1
    assert profile.corrections == 12
    assert FaceProfile.empty().learning() == []


def test_the_simulation_gains_for_misread_people_and_costs_typical_ones_nothing():
    from training.simulate_personal import report, simulate

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 700)
    # A model that reads the true class 65% of the time, else a random one.
    probs = rng.dirichlet(np.ones(7) * 0.5, len(labels))
    hit = rng.random(len(labels)) < 0.65
    probs[hit, labels[hit]] += 2
    probs /= probs.sum(1, keepdims=True)
    table = report(simulate(probs, labels, 40, 100, 0.6, 5.0, 0.25, seed=1), 100)
    assert table["misread 61-100"]["gain"] > 0.02
    assert table["typical 61-100"]["gain"] >= -0.005
