"""What a person has told us, as the recommender's `Preferences`: settings and 👍/👎."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection

from bot.diary import PersonState
from recommender.genres import FAMILY_IDS, FAMILY_OF_GENRE
from recommender.preferences import Preferences

# A family needs more than one vote either way: one song is weak evidence.
FAMILY_VOTES = 2


def families_of(genres: Collection[str]) -> tuple[str, ...]:
    """Favourite genres as families: raw genres chosen before /genres offered families
    (e.g. "edm") become theirs ("electronic"); names that map to none are dropped."""
    found = {g if g in FAMILY_IDS else FAMILY_OF_GENRE.get(g, "") for g in genres}
    return tuple(f for f in FAMILY_IDS if f in found)


def preferences(person: PersonState) -> Preferences:
    """What this person told us: match/lift, favourite genres, and from their 👍/👎 the
    songs themselves, their artists and (with two votes or more) their genre families."""
    artists: Counter[str] = Counter()
    genres: Counter[str] = Counter()
    for f in person.feedback:
        if f.artist:
            artists[f.artist] += f.value
        if f.genre:
            genres[f.genre] += f.value
    return Preferences(
        strategy=person.settings.strategy,
        liked_artists=frozenset(a for a, v in artists.items() if v > 0),
        disliked_artists=frozenset(a for a, v in artists.items() if v < 0),
        liked_genres=frozenset(g for g, v in genres.items() if v >= FAMILY_VOTES),
        disliked_genres=frozenset(g for g, v in genres.items() if v <= -FAMILY_VOTES),
        favourite_genres=frozenset(person.settings.favourite_genres),
        liked_tracks=frozenset(f.track_id for f in person.feedback if f.value > 0),
        disliked_tracks=frozenset(f.track_id for f in person.feedback if f.value < 0),
    )
