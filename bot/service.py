"""What the bot does, as plain async functions: no Telegram types in or out.

Handlers read an update, call one of these, and format the result; the CLI and the tests call
them directly. Songs are here; notes, the diary, settings, reminders and privacy in
bot/account.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import zlib
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from bot.account import Account
from bot.diary import PersonState, Source
from bot.history import streak
from bot.learned import personalise
from bot.storage import Storage
from bot.taste import preferences
from models.emotion import Emotion, FaceReading
from models.pipeline import Analyzer
from recommender.engine import Recommender
from recommender.lexicon import understand
from recommender.preferences import Preferences
from recommender.track import Mood, Track
from recommender.why import Why, why

log = logging.getLogger(__name__)

SONGS_PER_REPLY = 5
NOVELTY_DAYS = 30
STREAK_DAYS = 90  # a streak is counted this far back at most
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
    streak: int = 1  # days in a row with an entry, today's included
    # Emotions whose reads their own corrections now adjust (the read that learns a face).
    learning: tuple[Emotion, ...] = ()
    why: Why | None = None  # what the songs aim at (None when asking a mood)


@dataclass(frozen=True, slots=True)
class MoodResult:
    entry_id: int
    mood: Mood
    tracks: tuple[Track, ...]
    why: Why | None = None


@dataclass(frozen=True, slots=True)
class TypedResult:
    """Songs for a mood told in words, and the entry that keeps it."""

    entry_id: int
    emotion: Emotion | None
    mood: Mood | None
    tracks: tuple[Track, ...]
    why: Why | None = None


@dataclass(frozen=True, slots=True)
class Songs:
    """Songs for one of the person's entries, and what they aim at."""

    entry_id: int
    tracks: tuple[Track, ...]
    why: Why | None = None


class MoodTune(Account):
    """The product's core: reads selfies, picks songs, keeps the diary (bot/account.py)."""

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
        self._analysis = ThreadPoolExecutor(ANALYSIS_WAITERS, thread_name_prefix="analysis")
        self._songs = ThreadPoolExecutor(SONG_THREADS, thread_name_prefix="songs")

    async def close(self) -> None:
        """Close the diary; the service is unusable afterwards."""
        await self._storage.close()
        self._analysis.shutdown(wait=False, cancel_futures=True)
        self._songs.shutdown(wait=False, cancel_futures=True)

    # -- songs -------------------------------------------------------------------------------

    async def read_selfie(
        self,
        user_id: int,
        data: bytes,
        language: str | None = None,
        update_id: int | None = None,
    ) -> SelfieResult | None:
        """Analyse a photo, store the reading, pick songs (or ask a mood). None if the user
        erased their data while it was being read. `language` is the person's Telegram
        language code, here and below: music from its region becomes more likely. With the
        `update_id` it came in, a photo handled again (after a crash) gives the reading and
        songs stored the first time."""
        return await self._read(user_id, self._analyzer.analyze, data, language, update_id)

    async def read_video(
        self,
        user_id: int,
        data: bytes,
        language: str | None = None,
        update_id: int | None = None,
    ) -> SelfieResult | None:
        """As `read_selfie`, for a round video message or a short video: a few frames decoded
        in memory, the faces read and combined. Nothing of the video is kept."""
        return await self._read(user_id, self._analyzer.analyze_video, data, language, update_id)

    async def _read(
        self,
        user_id: int,
        analyze: Callable[[bytes], FaceReading],
        data: bytes,
        language: str | None,
        update_id: int | None,
    ) -> SelfieResult | None:
        # Wall-clock, not self._clock (a test's fixed time): compared with /delete's tombstone,
        # which any worker may have written.
        started = datetime.now(UTC)
        # CPU-bound: decode, detect, classify off the event loop so other chats keep flowing.
        raw = await asyncio.get_running_loop().run_in_executor(self._analysis, analyze, data)
        person = await self._person(user_id)
        # Their own corrections adjust the read (bot/learned.py); the raw one is what we store.
        reading, learning = personalise(raw, person)
        unsure = reading.confidence < UNSURE_BELOW
        ask_mood = unsure or reading.emotion is Emotion.NEUTRAL
        tracks, reason = (
            ((), None)
            if ask_mood
            else await self._pick(person, emotion=reading.emotion, language=language)
        )
        entry = await self._storage.add_reading(
            user_id,
            emotion=reading.emotion,
            confidence=reading.confidence,
            probabilities=raw.probabilities,
            track_ids=[t.id for t in tracks],
            at=self._clock(),
            unsure=unsure,
            update_id=update_id,
            not_erased_since=started,
        )
        if entry is None:  # they erased their data while it was being read
            return None
        if entry.again:  # handled before (a crash, a redelivery): answer what was stored
            catalog = self._recommender.catalog
            kept = tuple(t for i in entry.track_ids if (t := catalog.get(i)) is not None)
            return SelfieResult(entry.id, reading, kept, ask_mood and not kept, unsure)
        now = self._clock()
        days = streak([*person.active_times, now], now, person.settings.tzinfo)
        return SelfieResult(
            entry.id, reading, tracks, ask_mood, unsure, entry.first, days, learning, reason
        )

    async def choose_mood(
        self, user_id: int, mood: Mood, entry_id: int | None = None, language: str | None = None
    ) -> MoodResult | None:
        """Songs for a mood: the answer to entry `entry_id`'s question, given once (None if
        the entry isn't this user's or is already answered: a double press, a stale or forged
        button); without an entry (/mood), a new diary entry."""
        if entry_id is None:
            person = await self._person(user_id)
            tracks, reason = await self._pick(person, mood=mood, language=language)
            entry = await self._storage.add_reading(
                user_id, emotion=None, confidence=None, probabilities=None,
                track_ids=[t.id for t in tracks], mood=mood, source=Source.MOOD, at=self._clock(),
            )  # fmt: skip
            return MoodResult(entry.id, mood, tracks, reason)
        answered = await self._storage.get_entry(user_id, entry_id)
        if answered is None or answered.mood is not None:
            return None
        person = await self._person(user_id)
        tracks, reason = await self._pick(person, mood=mood, language=language)
        if not await self._storage.set_mood(user_id, entry_id, mood, [t.id for t in tracks]):
            return None
        return MoodResult(entry_id, mood, tracks, reason)

    async def tell_mood(
        self, user_id: int, text: str, language: str | None = None
    ) -> TypedResult | None:
        """Songs for a mood told in words ("I'm so tired", "오늘 너무 슬퍼"), kept as a reading
        from words; None when the text names no clear emotion or mood."""
        typed = understand(text)
        if not typed:
            return None
        person = await self._person(user_id)
        tracks, reason = await self._pick(
            person, emotion=typed.emotion, mood=typed.mood, language=language
        )
        entry = await self._storage.add_reading(
            user_id, emotion=typed.emotion, confidence=None, probabilities=None,
            track_ids=[t.id for t in tracks], mood=typed.mood, source=Source.WORDS,
            at=self._clock(),
        )  # fmt: skip
        return TypedResult(entry.id, typed.emotion, typed.mood, tracks, reason)

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
        tracks, _ = await self._pick(person, emotion=emotion, mood=mood, n=n, language=language)
        await self._storage.add_reading(
            user_id, emotion=emotion, confidence=None, probabilities=None,
            track_ids=[t.id for t in tracks], mood=mood, source=Source.MANUAL, at=self._clock(),
        )  # fmt: skip
        return tracks

    async def has_entry(self, user_id: int, entry_id: int) -> bool:
        """Whether this entry exists and is this person's (a button may be stale or forged)."""
        return await self._storage.get_entry(user_id, entry_id) is not None

    async def correct(
        self, user_id: int, entry_id: int, emotion: Emotion, language: str | None = None
    ) -> Songs | None:
        """The person says the reading was wrong: keep both, and pick songs for their emotion.
        None if the entry isn't theirs; no tracks for neutral, where the caller asks for a mood.
        The new songs join the entry's (so the earlier ones can still be rated, never repeat)."""
        entry = await self._storage.get_entry(user_id, entry_id)
        if entry is None or not await self._storage.correct_emotion(user_id, entry_id, emotion):
            return None
        if emotion is Emotion.NEUTRAL:
            return Songs(entry_id, ())
        person = await self._person(user_id)
        tracks, reason = await self._pick(
            person, emotion=emotion, exclude=entry.track_ids, language=language
        )
        await self._storage.add_recommendations(user_id, entry_id, [t.id for t in tracks])
        return Songs(entry_id, tracks, reason)

    async def feedback(self, user_id: int, entry_id: int, value: int) -> bool:
        """👍 (+1) or 👎 (-1) on all the songs of one of this person's replies: what the
        per-reply buttons already in people's chats do (new replies rate each song)."""
        entry = await self._storage.get_entry(user_id, entry_id)
        if entry is None or not entry.track_ids or value not in (1, -1):
            return False
        for track_id in entry.track_ids:
            await self._record_opinion(user_id, track_id, value)
        return True

    async def rate(self, user_id: int, entry_id: int, track_id: str, value: int) -> bool:
        """👍 (+1), 👎 (-1) or take it back (0) on one song of one of this person's replies;
        False (nothing changes) if the entry isn't theirs or never had that song. The
        opinion is set, not toggled, so a repeated press leaves the same result."""
        entry = await self._storage.get_entry(user_id, entry_id)
        if entry is None or track_id not in entry.track_ids or value not in (1, 0, -1):
            return False
        if value == 0:
            await self._storage.remove_feedback(user_id, track_id)
            return True
        await self._record_opinion(user_id, track_id, value)
        return True

    async def _record_opinion(self, user_id: int, track_id: str, value: int) -> None:
        track = self._recommender.catalog.get(track_id)
        await self._storage.add_feedback(
            user_id,
            track_id,
            value,
            artist=track.artist if track else "",
            genre=track.genre if track else "",  # the family: feedback moves whole families
            at=self._clock(),
        )

    async def more_songs(
        self, user_id: int, entry_id: int, language: str | None = None
    ) -> Songs | None:
        """Five other songs for the same reading; they join the entry's list (so never repeat)."""
        entry = await self._storage.get_entry(user_id, entry_id)
        if entry is None or (entry.effective_emotion is None and entry.mood is None):
            return None
        mood = Mood(entry.mood) if entry.mood else None
        emotion = None if mood else entry.effective_emotion
        person = await self._person(user_id)
        tracks, reason = await self._pick(
            person, emotion=emotion, mood=mood, exclude=entry.track_ids, language=language
        )
        await self._storage.add_recommendations(user_id, entry_id, [t.id for t in tracks])
        return Songs(entry_id, tracks, reason)

    async def inline_songs(
        self, user_id: int, query: str, language: str | None = None
    ) -> tuple[Track, ...]:
        """Songs to offer in inline mode: for a named emotion or mood, else the latest picks."""
        word = query.strip().lower()
        emotion = mood = None
        with contextlib.suppress(ValueError):
            emotion = Emotion.parse(word) if word else None
        if emotion is None and word:
            with contextlib.suppress(ValueError):
                mood = Mood.parse(word)
        if emotion is None and mood is None and word:
            typed = understand(word)  # the same lexicon as moods typed in chat
            emotion, mood = typed.emotion, typed.mood
        if emotion or mood:
            # Same songs while the person types and within a day, so results don't flicker.
            seed = zlib.crc32(f"{user_id}:{word}:{self._clock().date()}".encode())
            pick = functools.partial(
                self._recommender.recommend,
                emotion=emotion,
                mood=mood,
                n=10,
                prefs=Preferences(language=language),
                seed=seed,
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
        now = self._clock()
        since, active = now - timedelta(days=NOVELTY_DAYS), now - timedelta(days=STREAK_DAYS)
        return await self._storage.person(user_id, since, active_since=active)

    async def _pick(
        self,
        person: PersonState,
        emotion: Emotion | None = None,
        mood: Mood | None = None,
        exclude: Collection[str] = (),
        n: int = SONGS_PER_REPLY,
        language: str | None = None,
    ) -> tuple[tuple[Track, ...], Why]:
        """Songs for this person, and what they aim at."""
        prefs = replace(preferences(person), language=language)
        pick = functools.partial(
            self._recommender.recommend,
            emotion=emotion,
            mood=mood,
            n=n,
            exclude=person.recent_track_ids | set(exclude),
            prefs=prefs,
        )
        tracks = await asyncio.get_running_loop().run_in_executor(self._songs, pick)
        return tuple(tracks), why(emotion, mood, prefs.strategy)
