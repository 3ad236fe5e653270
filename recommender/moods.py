"""Where each emotion and mood lives in audio-feature space, and how we answer it.

Model
-----
Russell's circumplex model of affect places every feeling on two axes: *valence*
(unpleasant -> pleasant) and *arousal* (calm -> activated). Spotify's audio features give every
song a `valence` (musical positiveness, 0..1) and an `energy` (intensity and activity, 0..1),
which play the same two roles for music, so a face's emotion and a song's character can be
compared in one plane. Moods are about an *activity*, so they also set targets on the features
that activity cares about (tempo for running, danceability for a party, instrumentalness and
low speechiness for focus, acousticness for winding down).

A song's distance to a target is the weighted RMS over the features the target sets
(tempo scaled 50..200 bpm -> 0..1), so distances are comparable across targets and lie in 0..1.

Strategies
----------
* MATCH (iso principle, "meet people where they are"): songs that mirror the emotion.
* LIFT (mood regulation): for unpleasant emotions, songs about halfway from the emotion toward
  the pleasant-calm quadrant. Music therapy's iso principle warns against jumping straight from
  sad to euphoric (it feels dismissive and tends to backfire), so LIFT moves valence up and
  arousal toward moderate, gently: sad gets warmer but still soft, angry gets calmer rather than
  cheerful, fear gets calm and reassuring (acoustic), disgust gets pleasant and mid-energy.
  Pleasant emotions have nothing to lift; for them LIFT equals MATCH.

Default strategy: LIFT for sad, angry, fear and disgust; MATCH for happy, surprise and neutral.

Emotion targets (valence, energy on 0..1; extra features with weights in brackets; valence and
energy always weigh 1.0)
-------------------------------------------------------------------------------------------
========  =====================================  ==============================================
emotion   MATCH                                  LIFT
========  =====================================  ==============================================
happy     V .80  E .70  dance .65 [.3]           = MATCH
surprise  V .65  E .80                           = MATCH
neutral   V .50  E .50                           = MATCH
sad       V .20  E .30  acoustic .50 [.3]        V .50  E .40  acoustic .45 [.3]
angry     V .20  E .85                           V .50  E .45
fear      V .25  E .70                           V .60  E .30  acoustic .60 [.5]
disgust   V .20  E .55                           V .65  E .55
========  =====================================  ==============================================

Why: happy is pleasant and fairly aroused; surprise is the most aroused and mildly pleasant;
neutral is the centre of the plane; sad is unpleasant and low-arousal (softer, often acoustic
songs); angry is unpleasant and highly aroused; fear is unpleasant and aroused but less than
anger; disgust is unpleasant at moderate arousal.

Mood targets
------------
==============  ===========  ==============================================================
mood            V / E        other features [weight]
==============  ===========  ==============================================================
morning_coffee  .65 / .40    acoustic .55 [.6], dance .55 [.2], speech .05 [.2], tempo 100 [.2]
relaxing        .50 / .20    acoustic .75 [.8], dance .45 [.2], tempo 80 [.3]
exercise        .60 / .90    tempo 135 [.8], dance .70 [.5], acoustic .05 [.3]
heart_touching  .30 / .35    acoustic .65 [.6], instrumental .00 [.4], speech .04 [.2],
                             tempo 80 [.2]
focus           .45 / .40    instrumental .80 [1.0], speech .03 [.8], acoustic .50 [.2]
party           .75 / .85    dance .85 [1.0], tempo 124 [.3]
==============  ===========  ==============================================================

Why: morning coffee is unhurried but bright (positive, mid-low energy, acoustic-leaning);
relaxing is low energy and acoustic with slow tempo; exercise wants drive (energy, 120-150 bpm,
danceable, electric); heart-touching is tender and a little melancholic, with vocals (the words
carry the feeling), acoustic and slow; focus needs few words (instrumental, low speechiness)
and steady, not sleepy, energy; party is danceable, loud and happy, around 124 bpm (house/pop).

When both an emotion (other than neutral) and a mood are given, the mood decides the features
and the emotion pulls its valence/energy 25% toward the emotion's own (strategy-adjusted)
target, so a sad person asking for exercise music gets slightly softer workout songs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields, replace

import numpy as np

from models.emotion import Emotion
from recommender.catalog import FEATURES, normalise_tempo
from recommender.track import Mood

# How far a mood's valence/energy is pulled toward the emotion when both are known.
EMOTION_PULL = 0.25


class Strategy(enum.StrEnum):
    """Mirror the emotion, or gently move it toward pleasant and calm."""

    MATCH = "match"
    LIFT = "lift"

    @classmethod
    def parse(cls, value: str) -> Strategy:
        """Parse a case-insensitive strategy name; raises ValueError for unknown names."""
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise ValueError(f"unknown strategy {value!r}; expected match or lift") from None


@dataclass(frozen=True, slots=True)
class Weights:
    """Relative importance of each feature in the distance; 0 means "don't care"."""

    valence: float = 1.0
    energy: float = 1.0
    danceability: float = 0.0
    acousticness: float = 0.0
    instrumentalness: float = 0.0
    speechiness: float = 0.0
    tempo: float = 0.0


@dataclass(frozen=True, slots=True)
class Target:
    """A point in feature space to rank songs against (tempo in bpm), with per-feature weights.

    Features left at None are ignored whatever their weight.
    """

    valence: float
    energy: float
    danceability: float | None = None
    acousticness: float | None = None
    instrumentalness: float | None = None
    speechiness: float | None = None
    tempo: float | None = None
    weights: Weights = Weights()
    name: str = ""

    def vector(self) -> np.ndarray:
        """Target values in `catalog.FEATURES` order on the 0..1 scale (unset -> 0)."""
        values = [getattr(self, f) for f in FEATURES]
        tempo = FEATURES.index("tempo")
        if values[tempo] is not None:
            values[tempo] = float(normalise_tempo(values[tempo]))
        return np.array([0.0 if v is None else v for v in values], dtype=float)

    def weight_vector(self) -> np.ndarray:
        """Weights in `catalog.FEATURES` order, zero for features the target leaves unset."""
        return np.array(
            [0.0 if getattr(self, f) is None else getattr(self.weights, f) for f in FEATURES],
            dtype=float,
        )

    def distance(self, features: np.ndarray) -> np.ndarray:
        """Weighted RMS distance (0..1) of each row of a `feature_matrix` to this target."""
        w = self.weight_vector()
        diff = np.atleast_2d(features) - self.vector()
        return np.sqrt((diff * diff) @ w / w.sum())

    def describe(self) -> str:
        """Compact human-readable form, e.g. for logs and the README."""
        parts = [f"valence {self.valence:.2f}", f"energy {self.energy:.2f}"]
        for f in fields(self):
            if f.name in ("valence", "energy", "weights", "name"):
                continue
            value = getattr(self, f.name)
            if value is not None:
                shown = f"{value:.0f} bpm" if f.name == "tempo" else f"{value:.2f}"
                parts.append(f"{f.name} {shown} (w {getattr(self.weights, f.name):.1f})")
        return ", ".join(parts)


_MATCH: dict[Emotion, Target] = {
    Emotion.HAPPY: Target(0.80, 0.70, danceability=0.65, weights=Weights(danceability=0.3)),
    Emotion.SURPRISE: Target(0.65, 0.80),
    Emotion.NEUTRAL: Target(0.50, 0.50),
    Emotion.SAD: Target(0.20, 0.30, acousticness=0.50, weights=Weights(acousticness=0.3)),
    Emotion.ANGRY: Target(0.20, 0.85),
    Emotion.FEAR: Target(0.25, 0.70),
    Emotion.DISGUST: Target(0.20, 0.55),
}

_LIFT: dict[Emotion, Target] = {
    # Warmer but still gentle: a jump to euphoric pop would feel dismissive.
    Emotion.SAD: Target(0.50, 0.40, acousticness=0.45, weights=Weights(acousticness=0.3)),
    # Calmer first; cheerfulness is secondary.
    Emotion.ANGRY: Target(0.50, 0.45),
    # Calm and reassuring: low energy, friendly, acoustic.
    Emotion.FEAR: Target(0.60, 0.30, acousticness=0.60, weights=Weights(acousticness=0.5)),
    # Pleasant, neither sleepy nor loud.
    Emotion.DISGUST: Target(0.65, 0.55),
}

_MOODS: dict[Mood, Target] = {
    Mood.MORNING_COFFEE: Target(
        0.65,
        0.40,
        acousticness=0.55,
        danceability=0.55,
        speechiness=0.05,
        tempo=100,
        weights=Weights(acousticness=0.6, danceability=0.2, speechiness=0.2, tempo=0.2),
    ),
    Mood.RELAXING: Target(
        0.50,
        0.20,
        acousticness=0.75,
        danceability=0.45,
        tempo=80,
        weights=Weights(acousticness=0.8, danceability=0.2, tempo=0.3),
    ),
    Mood.EXERCISE: Target(
        0.60,
        0.90,
        tempo=135,
        danceability=0.70,
        acousticness=0.05,
        weights=Weights(tempo=0.8, danceability=0.5, acousticness=0.3),
    ),
    Mood.HEART_TOUCHING: Target(
        0.30,
        0.35,
        acousticness=0.65,
        instrumentalness=0.0,
        speechiness=0.04,
        tempo=80,
        weights=Weights(acousticness=0.6, instrumentalness=0.4, speechiness=0.2, tempo=0.2),
    ),
    Mood.FOCUS: Target(
        0.45,
        0.40,
        instrumentalness=0.80,
        speechiness=0.03,
        acousticness=0.50,
        weights=Weights(instrumentalness=1.0, speechiness=0.8, acousticness=0.2),
    ),
    Mood.PARTY: Target(
        0.75,
        0.85,
        danceability=0.85,
        tempo=124,
        weights=Weights(danceability=1.0, tempo=0.3),
    ),
}

# Emotions that LIFT changes; the rest read as pleasant or neutral already.
NEGATIVE_EMOTIONS: frozenset[Emotion] = frozenset(_LIFT)


def default_strategy(emotion: Emotion | None) -> Strategy:
    """LIFT for unpleasant emotions (sad, angry, fear, disgust), MATCH otherwise."""
    return Strategy.LIFT if emotion in NEGATIVE_EMOTIONS else Strategy.MATCH


def emotion_target(emotion: Emotion, strategy: Strategy | None = None) -> Target:
    """The target for an emotion alone."""
    strategy = strategy or default_strategy(emotion)
    target = _LIFT.get(emotion) if strategy is Strategy.LIFT else None
    target = target or _MATCH[emotion]
    return replace(target, name=f"{emotion.value}/{strategy.value}")


def mood_target(mood: Mood) -> Target:
    """The target for a mood alone."""
    return replace(_MOODS[mood], name=mood.value)


def target_for(
    emotion: Emotion | None = None,
    mood: Mood | None = None,
    strategy: Strategy | None = None,
) -> Target:
    """The target for an emotion and/or mood; neither means neutral."""
    if mood is None:
        return emotion_target(emotion or Emotion.NEUTRAL, strategy)
    target = mood_target(mood)
    if emotion is None or emotion is Emotion.NEUTRAL:
        return target
    pull = emotion_target(emotion, strategy)
    return replace(
        target,
        valence=round((1 - EMOTION_PULL) * target.valence + EMOTION_PULL * pull.valence, 4),
        energy=round((1 - EMOTION_PULL) * target.energy + EMOTION_PULL * pull.energy, 4),
        name=f"{mood.value}+{pull.name}",
    )


def table_markdown() -> str:
    """The live target table as Markdown (for the README): `python -m recommender.moods`."""
    lines = ["| input | strategy | target |", "|---|---|---|"]
    for emotion in Emotion:
        for strategy in Strategy:
            target = emotion_target(emotion, strategy)
            lines.append(f"| {emotion.value} | {strategy.value} | {target.describe()} |")
    lines += [f"| {mood.value} | - | {mood_target(mood).describe()} |" for mood in Mood]
    return "\n".join(lines)


if __name__ == "__main__":
    print(table_markdown())
