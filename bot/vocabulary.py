"""The one set of words and emoji for the seven emotions: replies, history, charts and CLI.

People read "afraid", never the dataset's "fear"; the stored values stay the Emotion values.
"""

from __future__ import annotations

from models.emotion import Emotion

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
    Emotion.ANGRY: "angry",
    Emotion.DISGUST: "disgusted",
    Emotion.FEAR: "afraid",
    Emotion.HAPPY: "happy",
    Emotion.SAD: "sad",
    Emotion.SURPRISE: "surprised",
    Emotion.NEUTRAL: "neutral",
}
# "I'm learning how your face shows sadness".
NOUN: dict[Emotion, str] = {
    Emotion.ANGRY: "anger",
    Emotion.DISGUST: "disgust",
    Emotion.FEAR: "fear",
    Emotion.HAPPY: "happiness",
    Emotion.SAD: "sadness",
    Emotion.SURPRISE: "surprise",
    Emotion.NEUTRAL: "a calm, neutral look",
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
UNSURE = "unsure"
UNSURE_EMOJI = "🤔"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def emotion_text(emotion: Emotion) -> str:
    """'😨 afraid'."""
    return f"{EMOJI[emotion]} {ADJECTIVE[emotion]}"
