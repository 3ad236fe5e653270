"""The read that learns a face: a person's own diary adapts how their later selfies are read.

What they settled on, per stored face reading (raw = the model's own top emotion, from the raw
probabilities we store; shown = what the bot said):

* a correction counts as (raw, corrected), whether the bot was sure or not;
* a reading they left as it was counts as (raw, shown): (raw, raw) is weak evidence
  (models.personal weighs it), and a read the learned read had moved and they accepted
  confirms the move. This is the rule `python -m training.simulate_personal` measures;
* an unsure reading they didn't correct says nothing: the bot's guess is not their word.

models.personal turns these into a per-person table (three corrections nudge, thirty decide;
`python -m training.simulate_personal` measures it). Switched off in /settings, or with no
history, the model's reading is used as it is; /delete erases the readings, and so the table.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from bot.diary import FaceOutcome, PersonState
from models.emotion import FER2013_ORDER, Emotion, FaceReading
from models.personal import FaceProfile, Outcome


def outcomes(history: Iterable[FaceOutcome]) -> list[Outcome]:
    """What each stored reading says about how this person's face is read."""
    found = []
    for o in history:
        if o.corrected is not None:
            found.append(Outcome(o.raw, o.corrected))
        elif not o.unsure:
            found.append(Outcome(o.raw, o.shown))
    return found


def personalise(
    reading: FaceReading, person: PersonState
) -> tuple[FaceReading, tuple[Emotion, ...]]:
    """The reading as this person's history adjusts it, and the emotions whose reads their
    corrections now move (to tell them); the reading unchanged when the switch is off."""
    if not person.settings.learn_face or not person.outcomes:
        return reading, ()
    profile = FaceProfile.learn(outcomes(person.outcomes))
    if not profile.corrections:
        return reading, ()
    raw = np.array([reading.probabilities.get(e, 0.0) for e in FER2013_ORDER])
    adjusted = profile.adjust(raw)
    probs = {e: float(p) for e, p in zip(FER2013_ORDER, adjusted, strict=True)}
    top = max(probs, key=probs.__getitem__)
    learning = tuple(read for read, _, _ in profile.learning() if read is reading.emotion)
    return FaceReading(top, probs[top], probs, reading.face, reading.faces_found), learning
