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
import zlib
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time

from bot import zones
from bot.agenda import Claim
from bot.diary import PersonState, Source, UserSettings
from bot.history import HistorySummary, period_bounds, streak, week_summary
from bot.learned import personalise
from bot.storage import NOTE_MAX_CHARS, Storage
from bot.taste import families_of, preferences
from models.emotion import Emotion, FaceReading
from models.pipeline import Analyzer
from recommender.engine import Recommender
from recommender.lexicon import understand
from recommender.moods import Strategy
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
# A claimed reminder is this worker's for this long (a send takes seconds; after a crash
# another worker sends it once the lease runs out), and one overdue by more than
# REMINDER_LATE (the bot was down) is skipped rather than sent at an odd hour.
REMINDER_LEASE = timedelta(minutes=10)
REMINDER_LATE = timedelta(hours=1)


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

    async def expect_note(self, user_id: int, entry_id: int) -> bool:
        """Their next text becomes a note on this entry, if it is theirs (else False)."""
        if not await self.has_entry(user_id, entry_id):
            return False
        await self._storage.set_note_for(user_id, entry_id)
        return True

    async def take_note_for(self, user_id: int) -> int | None:
        """The entry their text is a note on, if one was awaited (and is no longer)."""
        return await self._storage.take_note_for(user_id)

    async def add_note(self, user_id: int, entry_id: int, text: str) -> str | None:
        """A line of their own on one of their entries; the note as kept, or None if the entry
        isn't theirs (or the text is blank)."""
        note = " ".join(text.split())[:NOTE_MAX_CHARS]
        if not note or not await self._storage.set_note(user_id, entry_id, note):
            return None
        return note

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
            return await self._storage.set_timezone(user_id, key, self._clock())
        except ValueError:
            return None

    async def language(self, user_id: int) -> str | None:
        """The language they chose with /language, or None (then their Telegram app's)."""
        return (await self._storage.get_user_settings(user_id)).language

    async def set_language(self, user_id: int, language: str) -> UserSettings:
        return await self._storage.set_language(user_id, language)

    async def keep_language(self, user_id: int, language: str) -> None:
        """Keep the language they are spoken to in, unless they chose one: reminders are sent
        without an update to read their Telegram app's language from."""
        if await self.language(user_id) is None:
            await self._storage.set_language(user_id, language)

    async def learns_face(self, user_id: int) -> bool:
        """Whether their corrections adapt how their selfies are read (the /settings switch)."""
        return (await self._storage.get_user_settings(user_id)).learn_face

    async def set_learn_face(self, user_id: int, on: bool) -> UserSettings:
        return await self._storage.set_learn_face(user_id, on)

    async def set_strategy(self, user_id: int, strategy: Strategy | None) -> None:
        await self._storage.set_strategy(user_id, strategy)

    async def genres(self, user_id: int) -> Genres:
        """The catalog's genres and this person's favourites among them."""
        settings = await self._storage.get_user_settings(user_id)
        offered = tuple(self._recommender.catalog.genres())
        return Genres(offered, families_of(settings.favourite_genres))

    async def toggle_genre(self, user_id: int, genre: str) -> Genres | None:
        """Add or remove a favourite genre family; None for one the catalog doesn't have."""
        offered = tuple(self._recommender.catalog.genres())
        if genre not in offered:
            return None
        settings = await self._storage.toggle_favourite_genre(user_id, genre, families_of)
        return Genres(offered, settings.favourite_genres)

    async def set_reminders(
        self, user_id: int, weekday: int | None, at: clock_time | None, language: str
    ) -> UserSettings:
        """/remind: off (neither given), a weekly summary on `weekday`, or a daily nudge `at`;
        the language they are spoken to in is kept for the nudges (see keep_language)."""
        if weekday is not None:
            person = await self.remind_weekly(user_id, weekday)
        elif at is not None:
            person = await self.remind_daily(user_id, at)
        else:
            person = await self.reminders_off(user_id)
        await self.keep_language(user_id, language)
        return person

    async def remind_daily(self, user_id: int, at: clock_time) -> UserSettings:
        return await self._storage.set_reminder(user_id, at, self._clock())

    async def remind_weekly(self, user_id: int, weekday: int) -> UserSettings:
        return await self._storage.set_weekly_day(user_id, weekday, self._clock())

    async def reminders_off(self, user_id: int) -> UserSettings:
        await self._storage.set_reminder(user_id, None, self._clock())
        return await self._storage.set_weekly_day(user_id, None, self._clock())

    async def due_reminders(self, limit: int) -> list[Claim]:
        """Claim up to `limit` reminders due now, for this worker alone (bot/agenda.py); any
        more than REMINDER_LATE overdue (the bot was down) are skipped, not sent at an odd
        hour."""
        now = self._clock()
        await self._storage.plan_unscheduled(now)
        claims = await self._storage.claim_due(now, REMINDER_LEASE, limit)
        for claim in claims:
            if now - claim.due_at > REMINDER_LATE:
                await self._storage.finish(claim, now)
        return [c for c in claims if now - c.due_at <= REMINDER_LATE]

    async def reminder_sent(self, claim: Claim) -> None:
        """Sent (or failed for good): due again at its next occurrence."""
        await self._storage.finish(claim, self._clock())

    # -- privacy -----------------------------------------------------------------------------

    async def export(
        self, user_id: int, headers: Sequence[str] | None = None
    ) -> tuple[bytes, bytes] | None:
        """Everything stored about this person as (CSV, JSON) bytes; None if we hold nothing
        (never asked, or after /delete): no empty files. `headers`: the CSV's column names as
        the person reads them (EXPORT_COLUMNS' order); the JSON keeps the stored names."""
        data = await self._storage.export_user(user_id)
        if data["user"] is None and not data["readings"] and not data["feedback"]:
            return None
        csv_bytes = export_csv(data, headers)
        return csv_bytes, json.dumps(data, indent=2, ensure_ascii=False).encode()

    async def erase(self, user_id: int) -> int:
        """Delete every row about this person; returns how many rows went."""
        return await self._storage.delete_user(user_id)

    async def purge(self, retention_days: int) -> int:
        return await self._storage.purge_older_than(self._clock() - timedelta(days=retention_days))


EXPORT_COLUMNS = (
    "id", "created_at", "source", "emotion", "confidence", "corrected_emotion", "mood",
    "track_ids", "probabilities", "unsure", "note",
)  # fmt: skip


def export_csv(data: dict, headers: Sequence[str] | None = None) -> bytes:
    """One row per reading; lists and dicts as JSON inside their cell."""
    if headers is not None and len(headers) != len(EXPORT_COLUMNS):
        raise ValueError(f"{len(EXPORT_COLUMNS)} headers expected, got {len(headers)}")
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(headers or EXPORT_COLUMNS)
    for r in data["readings"]:
        writer.writerow(
            [
                json.dumps(r.get(c)) if isinstance(r.get(c), (list, dict)) else r.get(c, "")
                for c in EXPORT_COLUMNS
            ]
        )
    return buf.getvalue().encode()
