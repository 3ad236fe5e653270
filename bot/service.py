"""What the bot does, as plain async functions: no Telegram types in or out.

Handlers read an update, call one of these, and format the result; the CLI and the tests call
them directly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.history import HistorySummary, period_bounds, week_summary
from bot.storage import MoodEntry, Storage
from models.emotion import Emotion, FaceReading
from models.pipeline import Analyzer
from recommender.engine import Recommender
from recommender.track import Mood, Track

log = logging.getLogger(__name__)

SONGS_PER_REPLY = 5
NOVELTY_DAYS = 30
# Below this top-class probability the reading is a guess; we say so and ask instead.
UNSURE_BELOW = 0.40


@dataclass(frozen=True, slots=True)
class SelfieResult:
    """A stored reading and what to answer: songs, or a mood question (songs empty)."""

    entry: MoodEntry
    reading: FaceReading
    tracks: tuple[Track, ...]
    ask_mood: bool
    unsure: bool


@dataclass(frozen=True, slots=True)
class MoodResult:
    entry: MoodEntry
    mood: Mood
    tracks: tuple[Track, ...]


class MoodTune:
    """The product's core: reads selfies, picks songs, keeps the diary."""

    def __init__(
        self,
        analyzer: Analyzer,
        recommender: Recommender,
        storage: Storage,
        clock=lambda: datetime.now(UTC),
    ) -> None:
        self.analyzer = analyzer
        self.recommender = recommender
        self.storage = storage
        self.clock = clock
        # user id -> monotonic time of their last /delete, so a reading that was in flight
        # while they deleted their data is not written back afterwards.
        self._erased_at: dict[int, float] = {}

    async def read_selfie(self, user_id: int, data: bytes) -> SelfieResult | None:
        """Analyse a photo, store the reading, pick songs (or ask a mood). None if the user
        erased their data while it was being read."""
        started = time.monotonic()
        # CPU-bound: decode, detect, classify off the event loop so other chats keep flowing.
        reading = await asyncio.to_thread(self.analyzer.analyze, data)
        unsure = reading.confidence < UNSURE_BELOW
        ask_mood = unsure or reading.emotion is Emotion.NEUTRAL
        tracks: tuple[Track, ...] = ()
        if not ask_mood:
            tracks = await self._pick(user_id, emotion=reading.emotion)
        if self._erased_at.get(user_id, -1.0) >= started:
            return None
        entry = await self.storage.add_reading(
            user_id,
            emotion=reading.emotion,
            confidence=reading.confidence,
            probabilities=reading.probabilities,
            track_ids=[t.id for t in tracks],
            at=self.clock(),
        )
        return SelfieResult(entry, reading, tracks, ask_mood, unsure)

    async def choose_mood(self, user_id: int, entry_id: int, mood: Mood) -> MoodResult | None:
        """Answer the follow-up question once; None if the entry isn't this user's or already
        answered (a double press, a stale or forged button)."""
        entry = await self.storage.get_entry(user_id, entry_id)
        if entry is None or entry.mood is not None:
            return None
        tracks = await self._pick(user_id, mood=mood)
        if not await self.storage.set_mood(user_id, entry_id, mood.value, [t.id for t in tracks]):
            return None
        entry = await self.storage.get_entry(user_id, entry_id)
        assert entry is not None
        return MoodResult(entry, mood, tracks)

    async def songs_for(
        self, user_id: int, emotion: Emotion | None = None, mood: Mood | None = None
    ) -> tuple[Track, ...]:
        return await self._pick(user_id, emotion=emotion, mood=mood)

    async def history(self, user_id: int, days: int = 7) -> HistorySummary:
        """The last `days` local days, compared with the `days` before, in the person's zone."""
        now = self.clock()
        tz = (await self.storage.get_user_settings(user_id)).tzinfo
        start, end = period_bounds(now, tz, days)
        entries = await self.storage.entries_between(user_id, start - timedelta(days=days), end)
        return week_summary(entries, now=now, tz=tz, days=days, previous=entries)

    async def erase(self, user_id: int) -> int:
        """Delete every row about this person; returns how many rows went."""
        self._erased_at[user_id] = time.monotonic()
        return await self.storage.delete_user(user_id)

    async def _pick(
        self, user_id: int, emotion: Emotion | None = None, mood: Mood | None = None
    ) -> tuple[Track, ...]:
        recent = await self.storage.recent_track_ids(
            user_id, self.clock() - timedelta(days=NOVELTY_DAYS)
        )
        tracks = await asyncio.to_thread(
            self.recommender.recommend,
            emotion=emotion,
            mood=mood,
            n=SONGS_PER_REPLY,
            exclude=recent,
        )
        return tuple(tracks)
