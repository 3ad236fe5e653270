"""The one set of words and emoji for the seven emotions: replies, history, charts and CLI.

People read "afraid", never the dataset's "fear"; the stored values stay the Emotion values.
The dicts hold the English words (marked for the catalogs); `adjective`, `noun`, `mood_label`
and `family_label` give them in the person's language.
"""

from __future__ import annotations

from bot.i18n import N_, _
from models.emotion import Emotion
from recommender.genres import family_label as _family_label
from recommender.track import Mood

EMOJI: dict[Emotion, str] = {
    Emotion.ANGRY: "😠",
    Emotion.DISGUST: "🤢",
    Emotion.FEAR: "😨",
    Emotion.HAPPY: "😊",
    Emotion.SAD: "😢",
    Emotion.SURPRISE: "😮",
    Emotion.NEUTRAL: "😐",
}
ADJECTIVE: dict[Emotion, str] = {
    Emotion.ANGRY: N_("angry"),
    Emotion.DISGUST: N_("disgusted"),
    Emotion.FEAR: N_("afraid"),
    Emotion.HAPPY: N_("happy"),
    Emotion.SAD: N_("sad"),
    Emotion.SURPRISE: N_("surprised"),
    Emotion.NEUTRAL: N_("neutral"),
}
# "I'm learning how your face shows sadness".
NOUN: dict[Emotion, str] = {
    Emotion.ANGRY: N_("anger"),
    Emotion.DISGUST: N_("disgust"),
    Emotion.FEAR: N_("fear"),
    Emotion.HAPPY: N_("happiness"),
    Emotion.SAD: N_("sadness"),
    Emotion.SURPRISE: N_("surprise"),
    Emotion.NEUTRAL: N_("a calm, neutral look"),
}
# How pleasant each emotion feels, -1 (unpleasant) .. +1 (pleasant): the week's line.
VALENCE: dict[Emotion, float] = {
    Emotion.ANGRY: -1.0,
    Emotion.DISGUST: -0.8,
    Emotion.FEAR: -0.9,
    Emotion.HAPPY: 1.0,
    Emotion.SAD: -1.0,
    Emotion.SURPRISE: 0.4,
    Emotion.NEUTRAL: 0.0,
}
UNSURE = N_("unsure")
MOOD_ONLY = N_("mood only")
UNSURE_EMOJI = "🤔"
MOOD_LABELS: dict[Mood, str] = {
    Mood.MORNING_COFFEE: N_("☕ Morning coffee"),
    Mood.RELAXING: N_("🌿 Relaxing"),
    Mood.EXERCISE: N_("🏃 Exercise"),
    Mood.HEART_TOUCHING: N_("💗 Heart-touching"),
    Mood.FOCUS: N_("🎧 Focus"),
    Mood.PARTY: N_("🎉 Party"),
}
# The genre families' names (recommender/genres.py) as people read them.
FAMILY_NAMES = (
    N_("Pop"), N_("Rock"), N_("Hip-hop"), N_("R&B / soul / funk"), N_("Electronic / dance"),
    N_("Latin"), N_("Brazilian"), N_("K-pop"), N_("J-pop / anime"), N_("C-pop"),
    N_("Jazz / blues"), N_("Classical / piano"), N_("Acoustic / folk"),
    N_("Ambient / chill / lo-fi"), N_("Metal"), N_("Country"), N_("Reggae / dancehall"),
    N_("Soundtracks / musicals"), N_("World"),
)  # fmt: skip


def adjective(emotion: Emotion) -> str:
    """'afraid', in the person's language."""
    return _(ADJECTIVE[emotion])


def noun(emotion: Emotion) -> str:
    """'fear' as in "how your face shows fear", in the person's language."""
    return _(NOUN[emotion])


def mood_label(mood: Mood) -> str:
    """'☕ Morning coffee', in the person's language."""
    return _(MOOD_LABELS[mood])


def family_label(family_id: str) -> str:
    """A genre family's name, in the person's language."""
    return _(_family_label(family_id))


def emotion_text(emotion: Emotion) -> str:
    """'😨 afraid'."""
    return f"{EMOJI[emotion]} {adjective(emotion)}"
