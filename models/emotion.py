"""The seven FER2013 emotions and the values the pipeline passes between layers."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Emotion(enum.StrEnum):
    """FER2013 emotions, in the dataset's canonical label order (0..6)."""

    ANGRY = "angry"
    DISGUST = "disgust"
    FEAR = "fear"
    HAPPY = "happy"
    SAD = "sad"
    SURPRISE = "surprise"
    NEUTRAL = "neutral"

    @classmethod
    def parse(cls, value: str) -> Emotion:
        """Parse a case-insensitive emotion name; raises ValueError for unknown names."""
        try:
            return cls(value.strip().lower())
        except ValueError:
            names = ", ".join(e.value for e in cls)
            raise ValueError(f"unknown emotion {value!r}; expected one of: {names}") from None


FER2013_ORDER: tuple[Emotion, ...] = tuple(Emotion)


@dataclass(frozen=True, slots=True)
class Box:
    """A face rectangle in the original image's pixel coordinates."""

    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return self.w * self.h


@dataclass(frozen=True, slots=True)
class FaceReading:
    """What the model read from one face."""

    emotion: Emotion
    confidence: float
    probabilities: dict[Emotion, float]
    face: Box
    faces_found: int = 1

    def ranked(self) -> list[tuple[Emotion, float]]:
        """Emotions from most to least likely."""
        return sorted(self.probabilities.items(), key=lambda kv: kv[1], reverse=True)
