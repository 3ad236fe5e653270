"""Values the recommender passes around."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

SPOTIFY_ID = re.compile(r"^[0-9A-Za-z]{22}$")


@dataclass(frozen=True, slots=True)
class Track:
    """One song from the catalog (or from live Spotify), with the audio features we rank on.

    `genre` is the family (recommender.genres), `subgenre` one raw tag, `genres` every raw tag;
    `language` is the confirmed language pool, if any; `artist` is the main artist.
    """

    id: str
    title: str
    artist: str
    genre: str = ""
    subgenre: str = ""
    popularity: int = 0
    valence: float = 0.5
    energy: float = 0.5
    danceability: float = 0.5
    acousticness: float = 0.5
    instrumentalness: float = 0.0
    speechiness: float = 0.0
    tempo: float = 120.0
    loudness: float = -8.0
    mode: int = 1
    genres: tuple[str, ...] = ()
    language: str = ""
    featuring: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"https://open.spotify.com/track/{self.id}"


class Mood(enum.StrEnum):
    """Follow-up moods offered when a face reads as neutral (or the person is unsure)."""

    MORNING_COFFEE = "morning_coffee"
    RELAXING = "relaxing"
    EXERCISE = "exercise"
    HEART_TOUCHING = "heart_touching"
    FOCUS = "focus"
    PARTY = "party"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @classmethod
    def parse(cls, value: str) -> Mood:
        v = value.strip().lower().replace("-", "_").replace(" ", "_")
        try:
            return cls(v)
        except ValueError:
            names = ", ".join(m.value for m in cls)
            raise ValueError(f"unknown mood {value!r}; expected one of: {names}") from None


_LABELS = {
    Mood.MORNING_COFFEE: "☕ Morning coffee",
    Mood.RELAXING: "🌿 Relaxing",
    Mood.EXERCISE: "🏃 Exercise",
    Mood.HEART_TOUCHING: "💗 Heart-touching",
    Mood.FOCUS: "🎧 Focus",
    Mood.PARTY: "🎉 Party",
}
