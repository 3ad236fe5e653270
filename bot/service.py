"""What the bot does, as plain async functions: no Telegram types in or out.

Handlers read an update, call one of these, and format the result; the CLI and the tests call
them directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import functools
import io
import json
import logging
import time
import zlib
from collections import Counter
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time

from bot import zones
from bot.diary import PersonState, Source, UserSettings
from bot.history import HistorySummary, period_bounds, week_summary
from bot.storage import Storage
from models.emotion import Emotion, FaceReading
from models.pipeline import Analyzer
from recommender.engine import Recommender
from recommender.moods import Strategy
from recommender.preferences import Preferences
from recommender.track import Mood, Track

log = logging.getLogger(__name__)

SONGS_PER_REPLY = 5
NOVELTY_DAYS = 30
# Threads that wait on the analyzer (which decodes on its own threads, in arrival order) and
# threads that pick songs: separate from each other and from asyncio's default pool, so a
# burst of photos never queues a song pick (or a chart, or anything else) behind it.
ANALYSIS_WAITERS = 4
SONG_THREADS = 2
# Below this top-class probability the reading is a guess; we say so and ask instead.
UNSURE_BELOW = 0.40


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SelfieResult:
    """A stored reading and what to answer: songs, or a mood question (songs empty)."""

    entry_id: int
    reading: FaceReading
    tracks: tuple[Track, ...]
    ask_mood: bool
    unsure: bool
    first: bool = False  # the person's first diary entry


@dataclass(frozen=True, slots=True)
class MoodResult:
    entry_id: int
    mood: Mood
    tracks: tuple[Track, ...]


@dataclass(frozen=True, slots=True)
class Genres:
    offered: tuple[str, ...]  # every genre in the catalog
    chosen: tuple[str, ...]  # this person's favourites


class MoodTune:
    """The product's core: reads selfies, picks songs, keeps the diary."""

    def __init__(
        self,
        analyzer: Analyzer,
        recommender: Recommender,
        storage: Storage,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._analyzer = analyzer
        self._recommender = recommender
        self._storage = storage
        self._clock = clock
        # user id -> monotonic time of their last /delete, so a reading that was in flight
        # while they deleted their data is not written back afterwards.
        self._erased_at: dict[int, float] = {}
        self._analysis = ThreadPoolExecutor(ANALYSIS_WAITERS, thread_name_prefix="analysis")
        self._songs = ThreadPoolExecutor(SONG_THREADS, thread_name_prefix="songs")

    async def close(self) -> None:
        """Close the diary; the service is unusable afterwards."""
        await self._storage.close()
        self._analysis.shutdown(wait=False, cancel_futures=True)
        self._songs.shutdown(wait=False, cancel_futures=True)

    # -- songs -------------------------------------------------------------------------------

    async def read_selfie(
        self, user_id: int, data: bytes, update_id: int | None = None
    ) -> SelfieResult | None:
        """Analyse a photo, store the reading, pick songs (or ask a mood). None if the user
        erased their data while it was being read. With the `update_id` it came in, a photo
        handled again (after a crash) gives the reading and songs stored the first time."""
        started = time.monotonic()
        # CPU-bound: decode, detect, classify off the event loop so other chats keep flowing.
        loop = asyncio.get_running_loop()
        reading = await loop.run_in_executor(self._analysis, self._analyzer.analyze, data)
        unsure = reading.confidence < UNSURE_BELOW
        ask_mood = unsure or reading.emotion is Emotion.NEUTRAL
        if update_id is not None and (
            done := await self._storage.reading_for_update(user_id, update_id)
        ):
            catalog = self._recommender.catalog
            kept = tuple(t for i in done.track_ids if (t := catalog.get(i)) is not None)
            return SelfieResult(done.id, reading, kept, ask_mood and not kept, unsure)
        person = await self._person(user_id)
        tracks = () if ask_mood else await self._pick(person, emotion=reading.emotion)
        if self._erased_at.get(user_id, -1.0) >= started:
            return None
        entry = await self._storage.add_reading(
            user_id,
            emotion=reading.emotion,
            confidence=reading.confidence,
            probabilities=reading.probabilities,
            track_ids=[t.id for t in tracks],
            at=self._clock(),
            update_id=update_id,
        )
        first = not person.has_readings
        return SelfieResult(entry.id, reading, tracks, ask_mood, unsure, first)

    async def choose_mood(
        self, user_id: int, mood: Mood, entry_id: int | None = None
    ) -> MoodResult | None:
        """Songs for a mood: the answer to entry `entry_id`'s question, given once (None if
        the entry isn't this user's or is already answered: a double press, a stale or forged
        button); without an entry (/mood), a new diary entry."""
        if entry_id is None:
            tracks = await self._pick(await self._person(user_id), mood=mood)
            entry = await self._storage.add_reading(
                user_id, emotion=None, confidence=None, probabilities=None,
                track_ids=[t.id for t in tracks], mood=mood, source=Source.MOOD, at=self._clock(),
            )  # fmt: skip
            return MoodResult(entry.id, mood, tracks)
        answered = await self._storage.get_entry(user_id, entry_id)
        if answered is None or answered.mood is not None:
            return None
        tracks = await self._pick(await self._person(user_id), mood=mood)
        if not await self._storage.set_mood(user_id, entry_id, mood, [t.id for t in tracks]):
            return None
        return MoodResult(entry_id, mood, tracks)

    async def recommend_and_record(
        self,
        user_id: int,
        emotion: Emotion | None,
        mood: Mood | None,
        n: int = SONGS_PER_REPLY,
        language: str | None = None,
    ) -> tuple[Track, ...]:
        """Songs for this person as the bot would pick them, recorded so they don't repeat."""
        person = await self._person(user_id)
        tracks = await self._pick(person, emotion=emotion, mood=mood, n=n, language=language)
        await self._storage.add_reading(
            user_id, emotion=emotion, confidence=None, probabilities=None,
            track_ids=[t.id for t in tracks], mood=mood, source=Source.MANUAL, at=self._clock(),
        )  # fmt: skip
        return tracks

    async def has_entry(self, user_id: int, entry_id: int) -> bool:
        """Whether this entry exists and is this person's (a button may be stale or forged)."""
        return await self._storage.get_entry(user_id, entry_id) is not None

    async def correct(
        self, user_id: int, entry_id: int, emotion: Emotion
    ) -> tuple[Track, ...] | None:
        """The person says the reading was wrong: keep both, and pick songs for their emotion.
        None if the entry isn't theirs; () for neutral, where the caller asks for a mood."""
        if not await self._storage.correct_emotion(user_id, entry_id, emotion):
            return None
        if emotion is Emotion.NEUTRAL:
            return ()
        tracks = await self._pick(await self._person(user_id), emotion=emotion)
        await self._storage.set_recommendations(user_id, entry_id, [t.id for t in tracks])
        return tracks

    async def feedback(self, user_id: int, entry_id: int, value: int) -> bool:
        """👍 (+1) or 👎 (-1) on the songs of one of this person's replies."""
        entry = await self._storage.get_entry(user_id, entry_id)
        if entry is None or not entry.track_ids or value not in (1, -1):
            return False
        for track_id in entry.track_ids:
            track = self._recommender.catalog.get(track_id)
            await self._storage.add_feedback(
                user_id,
                track_id,
                value,
                artist=track.artist if track else "",
                genre=track.genre if track else "",
                at=self._clock(),
            )
        return True

    async def more_songs(self, user_id: int, entry_id: int) -> tuple[Track, ...] | None:
        """Five other songs for the same reading; they join the entry's list (so never repeat)."""
        entry = await self._storage.get_entry(user_id, entry_id)
        if entry is None or (entry.effective_emotion is None and entry.mood is None):
            return None
        mood = Mood(entry.mood) if entry.mood else None
        emotion = None if mood else entry.effective_emotion
        person = await self._person(user_id)
        tracks = await self._pick(person, emotion=emotion, mood=mood, exclude=entry.track_ids)
        await self._storage.set_recommendations(
            user_id, entry_id, [*entry.track_ids, *(t.id for t in tracks)]
        )
        return tracks

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
            seed = zlib.crc32(f"{user_id}:{word}:{self._clock().date()}".encode())
            pick = functools.partial(
                self._recommender.recommend, emotion=emotion, mood=mood, n=10, seed=seed
            )
            return tuple(await asyncio.get_running_loop().run_in_executor(self._songs, pick))
        now = self._clock()
        entries = await self._storage.entries_between(user_id, now - timedelta(days=30), now)
        recent: list[Track] = []
        for entry in reversed(entries):
            for track_id in entry.track_ids:
                track = self._recommender.catalog.get(track_id)
                if track and track not in recent:
                    recent.append(track)
            if len(recent) >= 10:
                break
        return tuple(recent[:20])

    async def _person(self, user_id: int) -> PersonState:
        since = self._clock() - timedelta(days=NOVELTY_DAYS)
        return await self._storage.person(user_id, since)

    async def _pick(
        self,
        person: PersonState,
        emotion: Emotion | None = None,
        mood: Mood | None = None,
        exclude: Collection[str] = (),
        n: int = SONGS_PER_REPLY,
        language: str | None = None,
    ) -> tuple[Track, ...]:
        prefs = replace(preferences(person), language=language)
        pick = functools.partial(
            self._recommender.recommend,
            emotion=emotion,
            mood=mood,
            n=n,
            exclude=person.recent_track_ids | set(exclude),
            prefs=prefs,
        )
        return tuple(await asyncio.get_running_loop().run_in_executor(self._songs, pick))

    # -- the diary and settings --------------------------------------------------------------

    async def history(self, user_id: int, days: int = 7, pages_back: int = 0) -> HistorySummary:
        """`days` local days ending today (or `pages_back` periods earlier), compared with the
        period before, in the person's time zone."""
        now = self._clock() - timedelta(days=days * max(0, pages_back))
        tz = (await self._storage.get_user_settings(user_id)).tzinfo
        start, end = period_bounds(now, tz, days)
        entries = await self._storage.entries_between(user_id, start - timedelta(days=days), end)
        return week_summary(entries, now=now, tz=tz, days=days, previous=entries)

    async def timezone(self, user_id: int) -> str:
        return (await self._storage.get_user_settings(user_id)).timezone

    async def set_timezone(self, user_id: int, name: str) -> UserSettings | None:
        """Their settings with the zone `name` resolves to (a city, an offset, an IANA name:
        bot/zones.py); None for one we don't know (also "Europe", a folder of the database)."""
        if (key := zones.resolve(name)) is None:
            return None
        try:
            return await self._storage.set_timezone(user_id, key)
        except ValueError:
            return None

    async def set_strategy(self, user_id: int, strategy: Strategy | None) -> None:
        await self._storage.set_strategy(user_id, strategy)

    async def genres(self, user_id: int) -> Genres:
        """The catalog's genres and this person's favourites among them."""
        settings = await self._storage.get_user_settings(user_id)
        return Genres(tuple(self._recommender.catalog.genres()), settings.favourite_genres)

    async def toggle_genre(self, user_id: int, genre: str) -> Genres | None:
        """Add or remove a favourite genre; None for a genre the catalog doesn't have."""
        offered = tuple(self._recommender.catalog.genres())
        if genre not in offered:
            return None
        current = set((await self._storage.get_user_settings(user_id)).favourite_genres)
        settings = await self._storage.set_favourite_genres(user_id, sorted(current ^ {genre}))
        return Genres(offered, settings.favourite_genres)

    async def remind_daily(self, user_id: int, at: clock_time) -> UserSettings:
        return await self._storage.set_reminder(user_id, at)

    async def remind_weekly(self, user_id: int, weekday: int) -> UserSettings:
        return await self._storage.set_weekly_day(user_id, weekday)

    async def reminders_off(self, user_id: int) -> UserSettings:
        await self._storage.set_reminder(user_id, None)
        return await self._storage.set_weekly_day(user_id, None)

    async def people_with_reminders(self) -> list[UserSettings]:
        return await self._storage.users_with_reminders()

    # -- privacy -----------------------------------------------------------------------------

    async def export(self, user_id: int) -> tuple[bytes, bytes]:
        """Everything stored about this person as (CSV, JSON) bytes."""
        data = await self._storage.export_user(user_id)
        return export_csv(data), json.dumps(data, indent=2, ensure_ascii=False).encode()

    async def erase(self, user_id: int) -> int:
        """Delete every row about this person; returns how many rows went."""
        self._erased_at[user_id] = time.monotonic()
        return await self._storage.delete_user(user_id)

    async def purge(self, retention_days: int) -> int:
        return await self._storage.purge_older_than(self._clock() - timedelta(days=retention_days))


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


def preferences(person: PersonState) -> Preferences:
    """What this person told us: match/lift, and artists/genres from their 👍/👎."""
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
        # A genre needs more than one vote either way: one song is weak evidence.
        liked_genres=frozenset(g for g, v in genres.items() if v >= 2),
        disliked_genres=frozenset(g for g, v in genres.items() if v <= -2),
        favourite_genres=frozenset(person.settings.favourite_genres),
    )
