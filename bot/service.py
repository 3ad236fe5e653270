"""What the bot does, as plain async functions: no Telegram types in or out.

Handlers read an update, call one of these, and format the result; the CLI and the tests call
them directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import logging
import time
import zlib
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from bot.history import HistorySummary, period_bounds, week_summary
from bot.storage import MoodEntry, Storage
from models.emotion import Emotion, FaceReading
from models.pipeline import Analyzer
from recommender.engine import Recommender
from recommender.moods import Strategy
from recommender.preferences import Preferences
from recommender.spotify import LiveRecommender
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
    first: bool = False


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
        recommender: Recommender | LiveRecommender,
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
        first = await self.storage.count_readings(user_id) == 0
        entry = await self.storage.add_reading(
            user_id,
            emotion=reading.emotion,
            confidence=reading.confidence,
            probabilities=reading.probabilities,
            track_ids=[t.id for t in tracks],
            at=self.clock(),
        )
        return SelfieResult(entry, reading, tracks, ask_mood, unsure, first)

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

    async def pick_mood(self, user_id: int, mood: Mood) -> MoodResult:
        """Songs for a mood chosen without a selfie (/mood); kept as a diary entry too."""
        tracks = await self._pick(user_id, mood=mood)
        entry = await self.storage.add_reading(
            user_id,
            emotion=None,
            confidence=None,
            probabilities=None,
            track_ids=[t.id for t in tracks],
            mood=mood.value,
            source="mood",
            at=self.clock(),
        )
        return MoodResult(entry, mood, tracks)

    async def recommend_and_record(
        self,
        user_id: int,
        emotion: Emotion | None,
        mood: Mood | None,
        n: int = SONGS_PER_REPLY,
        language: str | None = None,
    ) -> tuple[Track, ...]:
        """Songs for this person as the bot would pick them, recorded so they don't repeat."""
        tracks = await self._pick(user_id, emotion=emotion, mood=mood, n=n, language=language)
        await self.storage.add_reading(
            user_id,
            emotion=emotion,
            confidence=None,
            probabilities=None,
            track_ids=[t.id for t in tracks],
            mood=mood.value if mood else None,
            source="manual",
            at=self.clock(),
        )
        return tracks

    async def history(self, user_id: int, days: int = 7, pages_back: int = 0) -> HistorySummary:
        """`days` local days ending today (or `pages_back` periods earlier), compared with the
        period before, in the person's time zone."""
        now = self.clock() - timedelta(days=days * max(0, pages_back))
        tz = (await self.storage.get_user_settings(user_id)).tzinfo
        start, end = period_bounds(now, tz, days)
        entries = await self.storage.entries_between(user_id, start - timedelta(days=days), end)
        return week_summary(entries, now=now, tz=tz, days=days, previous=entries)

    async def set_timezone(self, user_id: int, name: str) -> bool:
        try:
            await self.storage.set_timezone(user_id, name)
        except ValueError:
            return False
        return True

    async def inline_songs(self, user_id: int, query: str) -> tuple[Track, ...]:
        """Songs to offer in inline mode: for a named emotion or mood, else the latest picks."""
        word = query.strip().lower()
        emotion = mood = None
        with contextlib.suppress(ValueError):
            emotion = Emotion.parse(word) if word else None
        if emotion is None and word:
            with contextlib.suppress(ValueError):
                mood = Mood.parse(word)
        if emotion or mood:
            # Same songs while the person types and within a day, so results don't flicker.
            seed = zlib.crc32(f"{user_id}:{word}:{self.clock().date()}".encode())
            return tuple(
                await asyncio.to_thread(
                    self.recommender.recommend, emotion=emotion, mood=mood, n=10, seed=seed
                )
            )
        now = self.clock()
        entries = await self.storage.entries_between(user_id, now - timedelta(days=30), now)
        recent: list[Track] = []
        for entry in reversed(entries):
            for track_id in entry.track_ids:
                track = self.recommender.catalog.get(track_id)
                if track and track not in recent:
                    recent.append(track)
            if len(recent) >= 10:
                break
        return tuple(recent[:20])

    async def erase(self, user_id: int) -> int:
        """Delete every row about this person; returns how many rows went."""
        self._erased_at[user_id] = time.monotonic()
        return await self.storage.delete_user(user_id)

    async def _pick(
        self,
        user_id: int,
        emotion: Emotion | None = None,
        mood: Mood | None = None,
        exclude: Collection[str] = (),
        n: int = SONGS_PER_REPLY,
        language: str | None = None,
    ) -> tuple[Track, ...]:
        recent = await self.storage.recent_track_ids(
            user_id, self.clock() - timedelta(days=NOVELTY_DAYS)
        )
        prefs = replace(await self.preferences(user_id), language=language)
        tracks = await asyncio.to_thread(
            self.recommender.recommend,
            emotion=emotion,
            mood=mood,
            n=n,
            exclude=recent | set(exclude),
            prefs=prefs,
        )
        return tuple(tracks)

    async def preferences(self, user_id: int) -> Preferences:
        """What this person told us: match/lift, and artists/genres from their 👍/👎."""
        settings = await self.storage.get_user_settings(user_id)
        artists: Counter[str] = Counter()
        genres: Counter[str] = Counter()
        for f in await self.storage.feedback_for(user_id):
            if f.artist:
                artists[f.artist] += f.value
            if f.genre:
                genres[f.genre] += f.value
        return Preferences(
            strategy=Strategy(settings.strategy) if settings.strategy else None,
            liked_artists=frozenset(a for a, v in artists.items() if v > 0),
            disliked_artists=frozenset(a for a, v in artists.items() if v < 0),
            # A genre needs more than one vote either way: one song is weak evidence.
            liked_genres=frozenset(g for g, v in genres.items() if v >= 2),
            disliked_genres=frozenset(g for g, v in genres.items() if v <= -2),
            favourite_genres=frozenset(settings.favourite_genres),
        )

    async def feedback(self, user_id: int, entry_id: int, value: int) -> bool:
        """👍 (+1) or 👎 (-1) on the songs of one of this person's replies."""
        entry = await self.storage.get_entry(user_id, entry_id)
        if entry is None or not entry.track_ids or value not in (1, -1):
            return False
        for track_id in entry.track_ids:
            track = self.recommender.catalog.get(track_id)
            await self.storage.add_feedback(
                user_id,
                track_id,
                value,
                artist=track.artist if track else "",
                genre=track.genre if track else "",
                at=self.clock(),
            )
        return True

    async def more_songs(self, user_id: int, entry_id: int) -> tuple[Track, ...] | None:
        """Five other songs for the same reading; they join the entry's list (so never repeat)."""
        entry = await self.storage.get_entry(user_id, entry_id)
        if entry is None or (entry.effective_emotion is None and entry.mood is None):
            return None
        mood = Mood(entry.mood) if entry.mood else None
        emotion = None if mood else entry.effective_emotion
        tracks = await self._pick(user_id, emotion=emotion, mood=mood, exclude=entry.track_ids)
        await self.storage.set_recommendations(
            user_id, entry_id, [*entry.track_ids, *(t.id for t in tracks)]
        )
        return tracks

    async def correct(
        self, user_id: int, entry_id: int, emotion: Emotion
    ) -> tuple[Track, ...] | None:
        """The person says the reading was wrong: keep both, and pick songs for their emotion."""
        if not await self.storage.correct_emotion(user_id, entry_id, emotion):
            return None
        if emotion is Emotion.NEUTRAL:
            return ()  # the caller asks the mood question, as for a neutral face
        tracks = await self._pick(user_id, emotion=emotion)
        await self.storage.set_recommendations(user_id, entry_id, [t.id for t in tracks])
        return tracks

    async def export(self, user_id: int) -> tuple[bytes, bytes]:
        """Everything stored about this person as (CSV, JSON) bytes."""
        data = await self.storage.export_user(user_id)
        return export_csv(data), json.dumps(data, indent=2, ensure_ascii=False).encode()

    async def purge(self, retention_days: int) -> int:
        return await self.storage.purge_older_than(self.clock() - timedelta(days=retention_days))

    def genres(self) -> list[str]:
        return self.recommender.catalog.genres()

    async def toggle_genre(self, user_id: int, genre: str) -> tuple[str, ...] | None:
        """Add or remove a favourite genre; None for a genre the catalog doesn't have."""
        if genre not in self.genres():
            return None
        current = set((await self.storage.get_user_settings(user_id)).favourite_genres)
        current ^= {genre}
        await self.storage.set_favourite_genres(user_id, sorted(current))
        return tuple(sorted(current))

    async def favourite_genres(self, user_id: int) -> tuple[str, ...]:
        return (await self.storage.get_user_settings(user_id)).favourite_genres

    async def set_strategy(self, user_id: int, strategy: Strategy | None) -> None:
        await self.storage.set_strategy(user_id, strategy.value if strategy else None)


EXPORT_COLUMNS = (
    "id", "created_at", "source", "emotion", "confidence", "corrected_emotion", "mood",
    "track_ids", "probabilities",
)  # fmt: skip


def export_csv(data: dict) -> bytes:
    """One row per reading; lists and dicts as JSON inside their cell."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(EXPORT_COLUMNS)
    for r in data["readings"]:
        writer.writerow(
            [
                json.dumps(r.get(c)) if isinstance(r.get(c), (list, dict)) else r.get(c, "")
                for c in EXPORT_COLUMNS
            ]
        )
    return buf.getvalue().encode()
