"""Why a reply's songs, as data: the sound its target asks for and what it answers.

The bot turns a `Why` into a few words ("calm, acoustic, slow — to help you unwind"); the
words live with the bot's other texts, so this module only names qualities. They are read off
the same target the recommender ranks against (`recommender.moods.target_for`), so the line
says what the ranking actually aimed at, not a story told beside it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from models.emotion import Emotion
from recommender.moods import NEGATIVE_EMOTIONS, Strategy, Target, default_strategy, target_for
from recommender.track import Mood

MAX_QUALITIES = 3


class Sound(enum.StrEnum):
    """A quality of sound a target asks for, as a listener would name it."""

    CALM = "calm"
    MELLOW = "mellow"
    EASY = "easy-going"
    LIVELY = "lively"
    ENERGETIC = "high-energy"
    UPBEAT = "upbeat"
    WARM = "warm"
    MELANCHOLIC = "melancholic"
    DARK = "dark"
    ACOUSTIC = "acoustic"
    INSTRUMENTAL = "instrumental"
    DANCEABLE = "danceable"
    SLOW = "slow"
    FAST = "fast"
    SOFT = "soft"
    LOUD = "loud"


@dataclass(frozen=True, slots=True)
class Why:
    """What a reply aimed at: `mood` if one was asked for (it decides the sound), else the
    `emotion` with the `strategy` that changed the target (MATCH where LIFT has nothing to
    lift); `sound` lists the target's most telling qualities, most important first."""

    sound: tuple[Sound, ...]
    emotion: Emotion | None
    mood: Mood | None
    strategy: Strategy


def why(
    emotion: Emotion | None = None, mood: Mood | None = None, strategy: Strategy | None = None
) -> Why:
    """Why the songs for this request (same arguments as `target_for`)."""
    emotion = emotion or (None if mood else Emotion.NEUTRAL)
    applied = strategy or default_strategy(emotion)
    if emotion not in NEGATIVE_EMOTIONS:
        applied = Strategy.MATCH  # LIFT leaves pleasant and neutral emotions as they are
    sound = qualities(target_for(emotion, mood, strategy))
    return Why(sound, None if mood else emotion, mood, applied)


def qualities(target: Target) -> tuple[Sound, ...]:
    """The target's most telling qualities: energy, then texture, pace, colour and volume."""
    e, v = target.energy, target.valence
    found = [
        Sound.CALM if e <= 0.3 else Sound.MELLOW if e <= 0.45 else Sound.EASY if e < 0.6
        else Sound.LIVELY if e < 0.8 else Sound.ENERGETIC
    ]  # fmt: skip
    if (target.instrumentalness or 0.0) >= 0.5:
        found.append(Sound.INSTRUMENTAL)
    elif (target.acousticness or 0.0) >= 0.45:
        found.append(Sound.ACOUSTIC)
    if target.danceability is not None and target.danceability >= 0.7:
        found.append(Sound.DANCEABLE)
    if target.tempo is not None and target.tempo <= 90:
        found.append(Sound.SLOW)
    elif target.tempo is not None and target.tempo >= 120:
        found.append(Sound.FAST)
    if v >= 0.7:
        found.append(Sound.UPBEAT)
    elif v >= 0.55:
        found.append(Sound.WARM)
    elif v <= 0.3:
        found.append(Sound.DARK if e >= 0.6 else Sound.MELANCHOLIC)
    if target.loudness is not None and target.loudness >= -6:
        found.append(Sound.LOUD)
    elif target.loudness is not None and target.loudness <= -14:
        found.append(Sound.SOFT)
    return tuple(found[:MAX_QUALITIES])
