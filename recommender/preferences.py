"""What one person has told us, in the form the recommender takes it."""

from __future__ import annotations

from dataclasses import dataclass

from recommender.moods import Strategy


@dataclass(frozen=True, slots=True)
class Preferences:
    """A person's standing choices and feedback; the default is a new user.

    Artists match the main artist, genres match a family ("rock", "k-pop") or any raw genre
    tag ("tango"), all case- and whitespace-insensitive. `language` is a Telegram
    `language_code` ("ko", "pt-br"): songs from its pool become more likely without taking over.
    Disliked artists and tracks are never picked while the catalog has others; liked tracks
    pull picks towards their sound.
    """

    strategy: Strategy | None = None
    language: str | None = None
    liked_artists: frozenset[str] = frozenset()
    disliked_artists: frozenset[str] = frozenset()
    liked_genres: frozenset[str] = frozenset()
    disliked_genres: frozenset[str] = frozenset()
    favourite_genres: frozenset[str] = frozenset()
    liked_tracks: frozenset[str] = frozenset()
    disliked_tracks: frozenset[str] = frozenset()
