"""Moods typed in chat: a phrase table per language, negations, and phrases that name nothing."""

from __future__ import annotations

import pytest

from models.emotion import Emotion as E
from recommender.lexicon import LEXICON, TypedMood, understand
from recommender.track import Mood as M

CASES = [
    # English
    ("I feel sad", E.SAD, None),
    ("I feel really sad today", E.SAD, None),
    ("so happy!!", E.HAPPY, None),
    ("not happy", None, None),
    ("I'm not very happy", None, None),
    ("I don't feel happy at all", None, None),
    ("I'm not sad, I'm happy", E.HAPPY, None),
    ("need to focus", None, M.FOCUS),
    ("party!", None, M.PARTY),
    ("going to the gym", None, M.EXERCISE),
    ("workout time", None, M.EXERCISE),
    ("so tired", None, M.RELAXING),
    ("angry and need a workout", E.ANGRY, M.EXERCISE),
    ("feeling down", E.SAD, None),
    ("I miss her", None, M.HEART_TOUCHING),
    ("what a mission", None, None),
    ("the restaurant was made of wood", None, None),
    ("hello", None, None),
    ("happy and sad", None, None),  # two emotions: unclear, ask
    # Spanish
    ("estoy muy cansada", None, M.RELAXING),
    ("estoy triste", E.SAD, None),
    ("me siento feliz", E.HAPPY, None),
    ("no estoy feliz", None, None),
    ("quiero fiesta", None, M.PARTY),
    ("tengo que estudiar", None, M.FOCUS),
    ("estoy enfadada", E.ANGRY, None),
    ("tengo miedo", E.FEAR, None),
    ("solo quiero bailar", None, M.PARTY),
    ("hola", None, None),
    ("voy a la maleta", None, None),
    # Korean
    ("오늘 너무 슬퍼", E.SAD, None),
    ("행복해요", E.HAPPY, None),
    ("안 슬퍼", None, None),
    ("슬프지 않아", None, None),
    ("기분이 안 좋아", None, None),
    ("너무 피곤해", None, M.RELAXING),
    ("공부해야 돼", None, M.FOCUS),
    ("운동하러 가", None, M.EXERCISE),
    ("짜증나", E.ANGRY, None),
    ("안녕하세요", None, None),
]


@pytest.mark.parametrize(("text", "emotion", "mood"), CASES)
def test_each_phrase_names_what_a_person_would_hear_in_it(text, emotion, mood):
    assert understand(text) == TypedMood(emotion, mood)


def test_an_empty_reading_is_falsy_so_the_bot_asks_instead():
    assert not understand("hmm")
    assert understand("sad")


def test_every_emotion_and_mood_can_be_named_in_each_language():
    for lang, stems in LEXICON.items():
        named = set(stems.values())
        missing = (set(E) | set(M)) - named
        assert not missing, (lang, missing)
