"""Does learning a person's face help? A simulation over FER2013 val, printed as a table.

    python -m training.simulate_personal [--people 200] [--readings 60] [--seed 0]

Simulated people each send `readings` selfies drawn from val. Half have a systematic misread:
one of their moods (say neutral) shows on their face the way another class (say sad) shows in
FER2013, so a share of their neutral moments are drawn from val's sad faces while they mean
neutral. Each reading is served with the person's profile so far (models.personal); when the
served emotion is wrong, the person corrects it with probability --correct-rate, and the
reading joins their profile either way (a correction or a reading left as it was). Accuracy is
reported per window of readings, with and without the profile, for both kinds of people.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from models.classifier import calibrate, load_model
from models.emotion import FER2013_ORDER
from models.personal import DEFAULT_KEPT_WEIGHT, DEFAULT_PRIOR, FaceProfile, Outcome
from models.preprocess import preprocess_batch
from training.data import load_split

WINDOWS = ((0, 10), (10, 20), (20, 40), (40, 60), (60, 100))


def person_stream(rng, labels, n, misread):
    """(val index, the emotion the person means) for n readings; misread = (shows as, means)."""
    by_class = [np.flatnonzero(labels == k) for k in range(len(FER2013_ORDER))]
    # A person's moods follow val's class mix; a biased person means `means` more often.
    mix = np.bincount(labels, minlength=len(by_class)) / len(labels)
    if misread:
        shows, means = misread
        mix = mix.copy()
        mix[means] += 0.25
        mix /= mix.sum()
    out = []
    for _ in range(n):
        mood = int(rng.choice(len(mix), p=mix))
        source = mood
        if misread and mood == misread[1] and rng.random() < 0.7:
            source = misread[0]  # this moment shows on their face as the other class
        out.append((int(rng.choice(by_class[source])), mood))
    return out


def simulate(probs, labels, people, readings, correct_rate, prior, kept, seed):
    # Disgust (56 val faces) is too rare to stand in for a person's habit.
    pairs = [(s, m) for s in range(7) for m in range(7) if s != m and s != 1 and m != 1]
    rows = []
    for p in range(people):
        # The people and their selfies depend on the seed alone, so settings compare paired.
        rng = np.random.default_rng([seed, p])
        misread = pairs[rng.integers(len(pairs))] if p % 2 else None
        stream = person_stream(rng, labels, readings, misread)
        outcomes: list[Outcome] = []
        for t, (i, mood) in enumerate(stream):
            raw = int(np.argmax(probs[i]))
            adapted = int(np.argmax(FaceProfile.learn(outcomes, prior, kept).adjust(probs[i])))
            corrected = adapted != mood and rng.random() < correct_rate
            settled = mood if corrected else adapted
            outcomes.append(Outcome(FER2013_ORDER[raw], FER2013_ORDER[settled]))
            rows.append((bool(misread), t, raw == mood, adapted == mood))
    return rows


def report(rows, readings):
    table = {}
    for kind in (True, False):
        for lo, hi in WINDOWS:
            if lo >= readings:
                continue
            sel = [r for r in rows if r[0] == kind and lo <= r[1] < hi]
            base = float(np.mean([r[2] for r in sel]))
            adapted = float(np.mean([r[3] for r in sel]))
            table[f"{'misread' if kind else 'typical'} {lo + 1}-{min(hi, readings)}"] = {
                "model": round(base, 4), "with_profile": round(adapted, 4),
                "gain": round(adapted - base, 4), "n": len(sel),
            }  # fmt: skip
    return table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="../shared/datasets/fer2013")
    p.add_argument("--bundle", default=None, help="model folder (default: models/weights)")
    p.add_argument("--people", type=int, default=200)
    p.add_argument("--readings", type=int, default=60)
    p.add_argument("--correct-rate", type=float, default=0.6)
    p.add_argument("--prior", type=float, default=DEFAULT_PRIOR)
    p.add_argument("--kept-weight", type=float, default=DEFAULT_KEPT_WEIGHT)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    val = load_split(a.data, "val")
    model = load_model(a.bundle, "litert")
    probs = calibrate(model.predict_many(preprocess_batch(val.images)), 1.0)
    rows = simulate(
        probs, val.labels, a.people, a.readings, a.correct_rate, a.prior, a.kept_weight, a.seed
    )
    table = report(rows, a.readings)
    if a.json:
        print(json.dumps(table, indent=2))
        return 0
    print(f"{'people, readings':<22}{'model':>8}{'profile':>9}{'gain':>8}{'n':>7}")
    for name, r in table.items():
        print(f"{name:<22}{r['model']:>8.1%}{r['with_profile']:>9.1%}{r['gain']:>+8.1%}{r['n']:>7}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
