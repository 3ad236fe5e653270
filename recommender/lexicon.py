"""Moods typed in chat, in English, Spanish and Korean: "I feel sad", "estoy muy cansada",
"오늘 너무 슬퍼", "need to focus", "party!".

A small documented lexicon, not a model: each entry is a word stem that names an emotion
(the seven the face model reads) or an activity mood (the six mood buttons). Text is lowercased
and split into words; a stem matches the start of a word (English and Spanish; short and
ambiguous stems only whole words) or anywhere in a word (Korean, where endings attach to the
stem: 슬퍼, 슬프다, 슬픈); a few entries are short phrases ("feeling down", "corazón roto"). A negation just before a
stem cancels it ("not happy", "no estoy feliz", "안 슬퍼"; Korean also "슬프지 않아"), so
"not happy" gives nothing rather than happy. The answer is the first emotion and the first
mood named, or nothing when the text names none, names several that disagree, or only negated
ones: the bot then shows the mood buttons.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from models.emotion import Emotion
from recommender.track import Mood

E, M = Emotion, Mood

# stem -> what it names. Prefix stems for English and Spanish (so "sadness", "tristeza",
# "cansadísima" match), substrings for Korean.
LEXICON: dict[str, dict[str, Emotion | Mood]] = {
    "en": {
        "happy": E.HAPPY, "glad": E.HAPPY, "joy": E.HAPPY, "cheerful": E.HAPPY,
        "great": E.HAPPY, "awesome": E.HAPPY, "excited": E.HAPPY, "good": E.HAPPY,
        "sad": E.SAD, "unhappy": E.SAD, "feeling down": E.SAD, "feel down": E.SAD, "depress": E.SAD, "blue": E.SAD,
        "lonely": E.SAD, "miserable": E.SAD, "upset": E.SAD, "cry": E.SAD, "gloomy": E.SAD,
        "angry": E.ANGRY, "mad": E.ANGRY, "furious": E.ANGRY, "annoyed": E.ANGRY,
        "irritated": E.ANGRY, "pissed": E.ANGRY, "frustrat": E.ANGRY, "rage": E.ANGRY,
        "scared": E.FEAR, "afraid": E.FEAR, "fear": E.FEAR, "anxious": E.FEAR,
        "nervous": E.FEAR, "worried": E.FEAR, "stress": E.FEAR, "panic": E.FEAR,
        "surprise": E.SURPRISE, "shock": E.SURPRISE, "amazed": E.SURPRISE, "wow": E.SURPRISE,
        "disgust": E.DISGUST, "gross": E.DISGUST, "grossed": E.DISGUST,
        "meh": E.NEUTRAL, "neutral": E.NEUTRAL, "okay": E.NEUTRAL, "fine": E.NEUTRAL,
        "tired": M.RELAXING, "exhausted": M.RELAXING, "sleepy": M.RELAXING, "relax": M.RELAXING,
        "chill": M.RELAXING, "calm": M.RELAXING, "unwind": M.RELAXING, "rest": M.RELAXING,
        "focus": M.FOCUS, "study": M.FOCUS, "studying": M.FOCUS, "concentrat": M.FOCUS,
        "work": M.FOCUS, "working": M.FOCUS, "homework": M.FOCUS, "exam": M.FOCUS,
        "party": M.PARTY, "dance": M.PARTY, "dancing": M.PARTY, "celebrat": M.PARTY,
        "workout": M.EXERCISE, "gym": M.EXERCISE, "run": M.EXERCISE, "running": M.EXERCISE,
        "exercis": M.EXERCISE, "training": M.EXERCISE, "jog": M.EXERCISE,
        "coffee": M.MORNING_COFFEE, "morning": M.MORNING_COFFEE, "breakfast": M.MORNING_COFFEE,
        "heartbroken": M.HEART_TOUCHING, "heartbreak": M.HEART_TOUCHING,
        "love": M.HEART_TOUCHING, "miss": M.HEART_TOUCHING, "missing": M.HEART_TOUCHING, "romantic": M.HEART_TOUCHING,
        "nostalgi": M.HEART_TOUCHING,
    },
    "es": {
        "feliz": E.HAPPY, "content": E.HAPPY, "alegr": E.HAPPY, "genial": E.HAPPY,
        "emocionad": E.HAPPY, "animad": E.HAPPY,
        "triste": E.SAD, "tristeza": E.SAD, "deprimid": E.SAD, "me siento sol": E.SAD,
        "mal": E.SAD, "llor": E.SAD, "bajoneado": E.SAD, "desanimad": E.SAD,
        "enfadad": E.ANGRY, "enojad": E.ANGRY, "furios": E.ANGRY, "molest": E.ANGRY,
        "cabread": E.ANGRY, "rabia": E.ANGRY, "frustrad": E.ANGRY,
        "miedo": E.FEAR, "asustad": E.FEAR, "ansios": E.FEAR, "nervios": E.FEAR,
        "preocupad": E.FEAR, "estresad": E.FEAR, "agobiad": E.FEAR,
        "sorprendid": E.SURPRISE, "sorpresa": E.SURPRISE, "asombrad": E.SURPRISE,
        "asco": E.DISGUST, "asquead": E.DISGUST,
        "normal": E.NEUTRAL, "neutral": E.NEUTRAL,
        "cansad": M.RELAXING, "agotad": M.RELAXING, "sueño": M.RELAXING, "relaj": M.RELAXING,
        "tranquil": M.RELAXING, "descans": M.RELAXING, "calma": M.RELAXING,
        "concentr": M.FOCUS, "estudi": M.FOCUS, "trabaj": M.FOCUS, "enfoc": M.FOCUS,
        "fiesta": M.PARTY, "bailar": M.PARTY, "celebr": M.PARTY, "fiestón": M.PARTY,
        "ejercicio": M.EXERCISE, "gimnasio": M.EXERCISE, "entren": M.EXERCISE,
        "correr": M.EXERCISE, "gym": M.EXERCISE,
        "café": M.MORNING_COFFEE, "cafe": M.MORNING_COFFEE, "por la mañana": M.MORNING_COFFEE,
        "desayun": M.MORNING_COFFEE,
        "enamorad": M.HEART_TOUCHING, "desamor": M.HEART_TOUCHING, "extraño": M.HEART_TOUCHING,
        "nostalgi": M.HEART_TOUCHING, "corazón roto": M.HEART_TOUCHING,
    },
    "ko": {
        "행복": E.HAPPY, "기뻐": E.HAPPY, "기쁘": E.HAPPY, "기쁜": E.HAPPY, "좋아": E.HAPPY,
        "신나": E.HAPPY, "신난": E.HAPPY, "즐거": E.HAPPY,
        "슬퍼": E.SAD, "슬프": E.SAD, "슬픈": E.SAD, "우울": E.SAD, "외로": E.SAD,
        "울고": E.SAD, "눈물": E.SAD, "속상": E.SAD, "힘들": E.SAD,
        "화나": E.ANGRY, "화가": E.ANGRY, "화났": E.ANGRY, "짜증": E.ANGRY, "열받": E.ANGRY,
        "빡치": E.ANGRY, "분노": E.ANGRY,
        "무서": E.FEAR, "무섭": E.FEAR, "두려": E.FEAR, "불안": E.FEAR, "걱정": E.FEAR,
        "긴장": E.FEAR, "스트레스": E.FEAR,
        "놀라": E.SURPRISE, "놀랐": E.SURPRISE, "깜짝": E.SURPRISE,
        "역겨": E.DISGUST, "징그": E.DISGUST, "더러": E.DISGUST,
        "그냥 그래": E.NEUTRAL, "평범": E.NEUTRAL, "무덤덤": E.NEUTRAL,
        "피곤": M.RELAXING, "졸려": M.RELAXING, "졸리": M.RELAXING, "쉬고": M.RELAXING,
        "휴식": M.RELAXING, "편안": M.RELAXING, "힐링": M.RELAXING, "자고 싶": M.RELAXING,
        "집중": M.FOCUS, "공부": M.FOCUS, "일해": M.FOCUS, "업무": M.FOCUS, "시험": M.FOCUS,
        "파티": M.PARTY, "춤": M.PARTY, "클럽": M.PARTY, "축하": M.PARTY,
        "운동": M.EXERCISE, "헬스": M.EXERCISE, "달리기": M.EXERCISE, "러닝": M.EXERCISE,
        "커피": M.MORNING_COFFEE, "아침": M.MORNING_COFFEE,
        "그리워": M.HEART_TOUCHING, "그립": M.HEART_TOUCHING, "사랑": M.HEART_TOUCHING,
        "이별": M.HEART_TOUCHING, "설레": M.HEART_TOUCHING,
    },
}  # fmt: skip

# English and Spanish stems that match whole words only ("miss", not "mission"; "rest", not
# "restaurant"; "work", not "workout"); stems of three letters or fewer always do.
WHOLE_WORDS = {"work", "miss", "blue", "rest", "fine", "good", "great", "love", "okay", "down"}

# Words that cancel the next stem within NEGATION_REACH words ("not very happy").
NEGATIONS = {
    "not", "no", "never", "don't", "dont", "isn't", "aren't", "wasn't", "ain't", "hardly",
    "nada", "nunca", "ni", "tampoco", "sin",
    "안", "못", "별로",
}  # fmt: skip
NEGATION_REACH = 3
# Korean also negates after the stem: 슬프지 않아, 행복하지 않다, 슬프지 마.
KO_AFTER = re.compile(r"지\s*(않|않아|않다|않은|마|못)")
WORD = re.compile(r"[\w'’]+|[,.;:!?]", re.UNICODE)
CLAUSE_ENDS = {",", ".", ";", ":", "!", "?", "but", "pero", "하지만", "그런데"}


@dataclass(frozen=True, slots=True)
class TypedMood:
    """What a message names: an emotion, an activity mood, or both."""

    emotion: Emotion | None = None
    mood: Mood | None = None

    def __bool__(self) -> bool:
        return self.emotion is not None or self.mood is not None


def _words(text: str) -> list[str]:
    text = unicodedata.normalize("NFC", text).lower().replace("’", "'")
    text = re.sub(r"n't\b", " not", text)
    return WORD.findall(text)


def _hits(words: list[str]) -> list[tuple[int, Emotion | Mood, bool]]:
    """(word index, what it names, negated) for every stem in the text."""
    hits = []
    joined = " ".join(words)
    for lang, stems in LEXICON.items():
        for stem, value in stems.items():
            if " " in stem:  # multi-word entries match on the joined text
                if stem in joined:
                    hits.append((len(joined[: joined.index(stem)].split()), value, False))
                continue
            for i, w in enumerate(words):
                if lang == "ko":
                    match = stem in w
                elif len(stem) <= 3 or stem in WHOLE_WORDS:
                    match = w == stem  # "mad", not "made"; "mal", not "maleta"
                else:
                    match = w.startswith(stem)
                if not match:
                    continue
                start = max(0, i - NEGATION_REACH)
                for j in range(start, i):  # a negation reaches no further than its clause
                    if words[j] in CLAUSE_ENDS:
                        start = j + 1
                negated = any(n in NEGATIONS for n in words[start:i])
                if lang == "ko":
                    rest = w[w.index(stem) + len(stem) :] + " " + " ".join(words[i + 1 : i + 2])
                    negated = negated or bool(KO_AFTER.match(rest.strip()))
                hits.append((i, value, negated))
    return sorted(hits, key=lambda h: h[0])


def understand(text: str) -> TypedMood:
    """The emotion and mood a short message names, or an empty TypedMood when unclear."""
    hits = [(v, neg) for _, v, neg in _hits(_words(text))]
    emotions = {v for v, neg in hits if isinstance(v, Emotion) and not neg}
    moods = {v for v, neg in hits if isinstance(v, Mood) and not neg}
    negated_only = not emotions and not moods
    if negated_only:
        return TypedMood()
    # Several different emotions (or moods) in one message: too unclear to pick for the person.
    emotion = next(iter(emotions)) if len(emotions) == 1 else None
    mood = next(iter(moods)) if len(moods) == 1 else None
    return TypedMood(emotion, mood)
