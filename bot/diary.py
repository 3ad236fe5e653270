"""The mood diary's values: what storage returns and the service and formatters pass around."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo

from models.emotion import Emotion
from recommender.moods import Strategy


class Source(enum.StrEnum):
    """How an entry came about."""

    FACE = "face"  # a selfie the model read
    MOOD = "mood"  # a mood picked with /mood, no selfie
    MANUAL = "manual"  # songs asked for on the command line (`moodtune recommend --user`)
    WORDS = "words"  # a mood told in chat ("I'm so tired"), no selfie


@dataclass(frozen=True, slots=True)
class MoodEntry:
    """One diary entry: what the model read (or the mood picked) and the songs suggested."""

    id: int
    user_id: int
    created_at: datetime  # aware, UTC
    emotion: Emotion | None
    confidence: float | None
    # Left out of the hash (dicts are unhashable); still compared for equality.
    probabilities: dict[Emotion, float] = field(hash=False)
    # A Mood value as stored; kept as text so a mood since retired from the menu still loads.
    mood: str | None
    corrected_emotion: Emotion | None
    track_ids: tuple[str, ...]
    source: Source
    # The bot said it couldn't tell: `emotion` is only its guess, never shown as theirs.
    unsure: bool = False
    note: str | None = None  # a line of their own about the day
    # Only on the entry `Storage.add_reading` just made: it is the person's first (decided in
    # the same transaction, so two workers can't both say so). Not part of the entry's value.
    first: bool = field(default=False, compare=False, hash=False)
    # Only from `Storage.add_reading`: its update had made this entry already (a redelivery).
    again: bool = field(default=False, compare=False, hash=False)

    @property
    def effective_emotion(self) -> Emotion | None:
        """The person's correction if they made one, else the model's reading (None for an
        unsure reading they didn't correct: the guess is not theirs)."""
        if self.corrected_emotion is not None:
            return self.corrected_emotion
        return None if self.unsure else self.emotion


@dataclass(frozen=True, slots=True)
class UserSettings:
    """Per-person preferences; defaults for someone we have never stored."""

    user_id: int
    timezone: str = "UTC"
    strategy: Strategy | None = None  # None: the recommender's default per emotion
    created_at: datetime | None = None
    favourite_genres: tuple[str, ...] = ()
    remind_at: time | None = None  # daily nudge, local time
    weekly_day: int | None = None  # weekly summary, 0 = Monday
    learn_face: bool = True  # adapt how their selfies are read to their own corrections
    language: str | None = None  # chosen with /language; None: their Telegram app's

    @property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class Feedback:
    """A person's latest thumbs up (+1) or down (-1) on a track."""

    track_id: str
    artist: str
    genre: str
    value: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FaceOutcome:
    """One stored face reading as the learned read sees it."""

    raw: Emotion  # the model's own top emotion (from the stored raw probabilities)
    shown: Emotion  # what the bot told them
    corrected: Emotion | None
    unsure: bool


@dataclass(frozen=True, slots=True)
class PersonState:
    """Everything the service needs about a person to answer them, read in one trip."""

    settings: UserSettings
    recent_track_ids: frozenset[str]  # suggested within the novelty window, not to repeat
    feedback: tuple[Feedback, ...]  # oldest first
    # Their face readings, newest first (bounded): what the read that learns their face uses.
    outcomes: tuple[FaceOutcome, ...] = ()
    active_times: tuple[datetime, ...] = ()  # when their recent entries were made (the streak)

    @property
    def user_id(self) -> int:
        return self.settings.user_id
