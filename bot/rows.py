"""Between database rows and diary values: checks on the way in, values on the way out."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import time

from bot.database import Row, from_db_time
from bot.diary import FaceOutcome, Feedback, MoodEntry, Source, UserSettings
from models.emotion import Emotion
from recommender.moods import Strategy

MAX_TRACK_ID_LEN = 64


def entry_from_row(row: Row, track_ids: Iterable[str]) -> MoodEntry:
    probs = json.loads(row["probabilities"] or "{}")
    return MoodEntry(
        id=row["id"],
        user_id=row["user_id"],
        created_at=from_db_time(row["created_at"]),
        emotion=Emotion(row["emotion"]) if row["emotion"] else None,
        confidence=row["confidence"],
        probabilities={Emotion(k): float(v) for k, v in probs.items()},
        mood=row["mood"],
        corrected_emotion=Emotion(row["corrected_emotion"]) if row["corrected_emotion"] else None,
        track_ids=tuple(track_ids),
        source=Source(row["source"]),
        unsure=bool(row["unsure"]),
        note=row["note"],
    )


def outcome_from_row(row: Row) -> FaceOutcome:
    """The model's raw top emotion comes from the stored raw probabilities: `emotion` is what
    the bot showed, which the learned read may have moved."""
    shown = Emotion(row["emotion"])
    probs = json.loads(row["probabilities"] or "{}")
    raw = Emotion(max(probs, key=probs.__getitem__)) if probs else shown
    corrected = Emotion(row["corrected_emotion"]) if row["corrected_emotion"] else None
    return FaceOutcome(raw, shown, corrected, bool(row["unsure"]))


def settings_from_row(row: Row) -> UserSettings:
    return UserSettings(
        user_id=row["user_id"],
        timezone=row["timezone"],
        strategy=Strategy(row["strategy"]) if row["strategy"] else None,
        created_at=from_db_time(row["created_at"]),
        favourite_genres=tuple(json.loads(row["favourite_genres"])),
        remind_at=time.fromisoformat(row["remind_at"]) if row["remind_at"] else None,
        weekly_day=row["weekly_day"],
        learn_face=bool(row["learn_face"]),
        language=row["language"],
    )


def feedback_from_row(row: Row) -> Feedback:
    return Feedback(
        row["track_id"], row["artist"], row["genre"], row["value"], from_db_time(row["created_at"])
    )


def check_user(user_id: int) -> int:
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        raise TypeError(f"user_id must be an int, got {type(user_id).__name__}")
    return user_id


def check_probability(value: float, what: str) -> float:
    # float() also turns numpy scalars from the model into plain floats json can write.
    p = float(value)
    # Softmax in float32 can land a hair outside [0, 1].
    if not (math.isfinite(p) and -1e-6 <= p <= 1 + 1e-6):
        raise ValueError(f"{what} must be between 0 and 1, got {value!r}")
    return min(max(p, 0.0), 1.0)


def check_confidence(confidence: float | None) -> float | None:
    return None if confidence is None else check_probability(confidence, "confidence")


def check_probabilities(probabilities: Mapping[Emotion, float] | None) -> dict[Emotion, float]:
    if not probabilities:
        return {}
    return {
        Emotion.parse(k): check_probability(v, f"probability of {k}")
        for k, v in probabilities.items()
    }


def check_tracks(track_ids: Iterable[str]) -> tuple[str, ...]:
    if isinstance(track_ids, str):
        raise TypeError("track_ids must be a sequence of ids, not one string")
    tracks = tuple(track_ids)
    for t in tracks:
        if not isinstance(t, str) or not t or len(t) > MAX_TRACK_ID_LEN:
            raise ValueError(f"bad track id {t!r}")
    return tracks
