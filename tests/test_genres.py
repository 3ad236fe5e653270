"""Tests for genre families, language pools and the not-music rules (recommender.genres)."""

from __future__ import annotations

import pytest

from recommender import genres
from recommender.genres import FAMILY_IDS


def test_every_raw_genre_has_a_family() -> None:
    assert set(genres.FAMILY_OF_GENRE.values()) == set(FAMILY_IDS)
    assert genres.family_of(["k-pop", "dance", "pop"]) == "k-pop"  # most specific wins ties
    assert genres.family_of(["edm", "house", "pop"]) == "electronic"  # majority
    assert genres.family_of(["happy"]) == "electronic"  # happy hardcore, not a mood
    assert genres.family_of(["comedy"]) == ""


@pytest.mark.parametrize(
    ("title", "artist", "valence", "dance", "speech", "tags", "reason"),
    [
        ("White Noise Airplane", "White Noise Therapy", 0.02, 0.14, 0.05, ["sleep"], "noise"),
        ("Gentle Rain", "Nature", 0.0, 0.0, 0.05, ["sleep"], "noise"),
        ("Thunderstorm Loop", "X", 0.05, 0.2, 0.05, ["sleep"], "noise"),
        ("Thunder", "Imagine Dragons", 0.29, 0.6, 0.05, ["rock"], None),
        ("Heartbeat", "Childish Gambino", 0.6, 0.7, 0.05, ["hip-hop"], None),
        ("Roosters", "Marc Maron", 0.5, 0.6, 0.9, ["comedy"], "non_music_genre"),
        ("A Poem", "Someone", 0.5, 0.6, 0.9, ["folk"], "spoken_word"),
        ("Bingo", "Super Simple Songs", 0.7, 0.7, 0.05, ["pop"], "children_name"),
        ("Baby Shark", "Pinkfong", 0.7, 0.7, 0.05, ["children"], "non_music_genre"),
    ],
)
def test_not_music_rules(title, artist, valence, dance, speech, tags, reason) -> None:
    assert genres.not_music(tags, title, artist, "", valence, dance, speech) == reason


def test_pool_for_language() -> None:
    assert genres.pool_for_language("ko") == "ko"
    assert genres.pool_for_language("pt-BR") == "pt"
    assert genres.pool_for_language("zh-hans") == "zh"
    assert genres.pool_for_language("ta") == "hi"
    assert genres.pool_for_language("en") is None
    assert genres.pool_for_language(None) is None
