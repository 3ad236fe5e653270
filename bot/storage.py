"""The mood diary in SQLite: the only module that queries the database.

* Every public method takes ``user_id`` and scopes every statement by it, so a forged or stale
  entry id from a button can never reach another person's rows. ``purge_older_than`` and
  ``corrections`` are the maintenance exceptions: scoped by time, for everyone.
* One unit of work per call, under the lock and in one transaction (see bot/database.py), so
  what the service needs about a person is one read and a reading with its songs one write.
* No photos and no Telegram file ids are ever stored: only what the model read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiosqlite

from bot.agenda import Agenda
from bot.database import from_db_time, to_db_time
from bot.diary import MoodEntry, PersonState, Source, UserSettings
from bot.maintenance import Maintenance
from bot.rows import (
    check_confidence,
    check_probabilities,
    check_tracks,
    check_user,
    entry_from_row,
    feedback_from_row,
    outcome_from_row,
    settings_from_row,
)
from models.emotion import Emotion
from recommender.moods import Strategy
from recommender.track import Mood

_RECENT_TRACKS_SQL = """
    SELECT DISTINCT rec.track_id
    FROM readings AS r JOIN recommendations AS rec ON rec.reading_id = r.id
    WHERE r.user_id = ? AND r.created_at >= ?
"""
_USER_COLUMNS = (
    "user_id, timezone, strategy, created_at, favourite_genres, remind_at, weekly_day, learn_face"
    ", language"
)
# The learned read looks at this many of a person's latest face readings at most.
OUTCOMES_LIMIT = 500
NOTE_MAX_CHARS = 500
_USERS_SQL = f"SELECT {_USER_COLUMNS} FROM users"


class Storage(Agenda, Maintenance):
    """Async access to the diary; open with `await Storage.open(path)`."""

    # -- readings ----------------------------------------------------------------------------

    async def add_reading(
        self,
        user_id: int,
        *,
        emotion: Emotion | None,
        confidence: float | None,
        probabilities: Mapping[Emotion, float] | None,
        track_ids: Sequence[str] = (),
        mood: Mood | None = None,
        source: Source = Source.FACE,
        at: datetime | None = None,
        unsure: bool = False,
        update_id: int | None = None,
    ) -> MoodEntry:
        """Store one reading and the songs suggested with it, in one transaction. `unsure`:
        the bot couldn't tell, so `emotion` is only its guess; `update_id`: the Telegram update
        it came from, one reading per update."""
        user_id = check_user(user_id)
        emo = Emotion.parse(emotion) if emotion is not None else None
        conf = check_confidence(confidence)
        probs = check_probabilities(probabilities)
        tracks = check_tracks(track_ids)
        mood_value = Mood.parse(mood).value if mood is not None else None
        source = Source(source)
        if emo is None and mood_value is None:
            raise ValueError("a reading needs an emotion or a mood")
        if source is Source.FACE and emo is None:
            raise ValueError("a face reading needs an emotion")
        created = to_db_time(at if at is not None else datetime.now(UTC))
        async with self._write() as db:
            await _ensure_user(db, user_id, created)
            cur = await db.execute(
                "INSERT INTO readings (user_id, created_at, emotion, confidence, probabilities,"
                " mood, source, unsure, update_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    user_id,
                    created,
                    emo.value if emo else None,
                    conf,
                    json.dumps({e.value: p for e, p in probs.items()}),
                    mood_value,
                    source.value,
                    int(bool(unsure)),
                    update_id,
                ),
            )
            entry_id = cur.lastrowid
            await cur.close()
            assert entry_id is not None
            await _insert_tracks(db, entry_id, tracks)
        return MoodEntry(
            id=entry_id,
            user_id=user_id,
            created_at=from_db_time(created),
            emotion=emo,
            confidence=conf,
            probabilities=probs,
            mood=mood_value,
            corrected_emotion=None,
            track_ids=tracks,
            source=source,
            unsure=bool(unsure),
        )

    async def get_entry(self, user_id: int, entry_id: int) -> MoodEntry | None:
        """One of this user's entries, or None (also when the id is someone else's)."""
        entries = await self._load("r.user_id = ? AND r.id = ?", (user_id, entry_id))
        return entries[0] if entries else None

    async def reading_for_update(self, user_id: int, update_id: int) -> MoodEntry | None:
        """The reading this user's Telegram update already made, if any."""
        entries = await self._load("r.user_id = ? AND r.update_id = ?", (user_id, update_id))
        return entries[0] if entries else None

    async def entries_between(
        self, user_id: int, start: datetime, end: datetime
    ) -> list[MoodEntry]:
        """This user's entries with start <= created_at < end, oldest first."""
        return await self._load(
            "r.user_id = ? AND r.created_at >= ? AND r.created_at < ?",
            (user_id, to_db_time(start), to_db_time(end)),
        )

    async def _load(self, where: str, params: tuple[Any, ...]) -> list[MoodEntry]:
        # `where` is always one of our literals above; values go through parameters.
        async with self._read() as db:
            rows = await db.execute_fetchall(
                f"SELECT r.* FROM readings AS r WHERE {where} ORDER BY r.created_at, r.id", params
            )
            recs = await db.execute_fetchall(
                "SELECT rec.reading_id, rec.track_id FROM readings AS r"
                " JOIN recommendations AS rec ON rec.reading_id = r.id"
                f" WHERE {where} ORDER BY rec.reading_id, rec.position",
                params,
            )
        tracks: dict[int, list[str]] = {}
        for rec in recs:
            tracks.setdefault(rec["reading_id"], []).append(rec["track_id"])
        return [entry_from_row(row, tracks.get(row["id"], ())) for row in rows]

    async def set_mood(
        self, user_id: int, entry_id: int, mood: Mood, track_ids: Sequence[str]
    ) -> bool:
        """Record the follow-up mood and its songs, once: False if the entry is missing, not
        this user's, or already has a mood (a double press or forged button changes nothing)."""
        mood_value = Mood.parse(mood).value
        tracks = check_tracks(track_ids)
        async with self._write() as db:
            cur = await db.execute(
                "UPDATE readings SET mood = ? WHERE id = ? AND user_id = ? AND mood IS NULL",
                (mood_value, entry_id, user_id),
            )
            changed = cur.rowcount == 1
            await cur.close()
            if changed:
                await db.execute("DELETE FROM recommendations WHERE reading_id = ?", (entry_id,))
                await _insert_tracks(db, entry_id, tracks)
        return changed

    async def set_recommendations(
        self, user_id: int, entry_id: int, track_ids: Sequence[str]
    ) -> bool:
        """Replace the songs suggested for one of this user's entries; False if not theirs."""
        tracks = check_tracks(track_ids)
        async with self._write() as db:
            if not await _owns(db, user_id, entry_id):
                return False
            await db.execute("DELETE FROM recommendations WHERE reading_id = ?", (entry_id,))
            await _insert_tracks(db, entry_id, tracks)
        return True

    async def correct_emotion(self, user_id: int, entry_id: int, emotion: Emotion) -> bool:
        """Record the person's own emotion for an entry (may be changed again); False if not
        this user's entry."""
        emo = Emotion.parse(emotion)
        async with self._write() as db:
            cur = await db.execute(
                "UPDATE readings SET corrected_emotion = ? WHERE id = ? AND user_id = ?",
                (emo.value, entry_id, user_id),
            )
            changed = cur.rowcount == 1
            await cur.close()
        return changed

    async def set_note(self, user_id: int, entry_id: int, note: str | None) -> bool:
        """A line of the person's own on one of their entries (None removes it); False if the
        entry isn't theirs."""
        text = " ".join(note.split())[:NOTE_MAX_CHARS] if note else None
        async with self._write() as db:
            cur = await db.execute(
                "UPDATE readings SET note = ? WHERE id = ? AND user_id = ?",
                (text or None, entry_id, user_id),
            )
            changed = cur.rowcount == 1
            await cur.close()
        return changed

    async def count_readings(self, user_id: int) -> int:
        """How many entries this user has."""
        async with self._lock:
            rows = list(
                await self._db.execute_fetchall(
                    "SELECT count(*) FROM readings WHERE user_id = ?", (user_id,)
                )
            )
        return int(rows[0][0])

    # -- the person --------------------------------------------------------------------------

    async def person(
        self, user_id: int, since: datetime, active_since: datetime | None = None
    ) -> PersonState:
        """What the service needs about this person, in one read: their settings, the tracks
        suggested to them since `since`, their feedback, whether they have any entry, their
        latest face readings (for the learned read) and when their entries since
        `active_since` (default `since`) were made (for the streak)."""
        active_from = to_db_time(active_since or since)
        async with self._read() as db:
            outcomes = await db.execute_fetchall(
                "SELECT emotion, probabilities, corrected_emotion, unsure FROM readings"
                " WHERE user_id = ? AND source = 'face' AND emotion IS NOT NULL"
                " ORDER BY created_at DESC, id DESC LIMIT ?",
                (user_id, OUTCOMES_LIMIT),
            )
            times = await db.execute_fetchall(
                "SELECT created_at FROM readings WHERE user_id = ? AND created_at >= ?"
                " ORDER BY created_at",
                (user_id, active_from),
            )
            users = await db.execute_fetchall(f"{_USERS_SQL} WHERE user_id = ?", (user_id,))
            recent = await db.execute_fetchall(_RECENT_TRACKS_SQL, (user_id, to_db_time(since)))
            feedback = await db.execute_fetchall(
                "SELECT track_id, artist, genre, value, created_at FROM feedback"
                " WHERE user_id = ? ORDER BY created_at, id",
                (user_id,),
            )
            any_entry = list(
                await db.execute_fetchall(
                    "SELECT EXISTS (SELECT 1 FROM readings WHERE user_id = ?)", (user_id,)
                )
            )
        return PersonState(
            settings=next((settings_from_row(row) for row in users), UserSettings(user_id)),
            recent_track_ids=frozenset(row[0] for row in recent),
            feedback=tuple(feedback_from_row(row) for row in feedback),
            has_readings=bool(any_entry[0][0]),
            outcomes=tuple(outcome_from_row(row) for row in outcomes),
            active_times=tuple(from_db_time(row[0]) for row in times),
        )

    async def add_feedback(
        self,
        user_id: int,
        track_id: str,
        value: int,
        *,
        artist: str = "",
        genre: str = "",
        at: datetime | None = None,
    ) -> None:
        """Record a thumbs up (+1) or down (-1) on a track; replaces any earlier opinion."""
        user_id = check_user(user_id)
        (track_id,) = check_tracks([track_id])
        if isinstance(value, bool) or value not in (1, -1):
            raise ValueError(f"feedback value must be +1 or -1, got {value!r}")
        created = to_db_time(at if at is not None else datetime.now(UTC))
        async with self._write() as db:
            await _ensure_user(db, user_id, created)
            await db.execute(
                "INSERT INTO feedback (user_id, track_id, artist, genre, value, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (user_id, track_id) DO UPDATE SET artist = excluded.artist,"
                " genre = excluded.genre, value = excluded.value,"
                " created_at = excluded.created_at",
                (user_id, track_id, str(artist), str(genre), int(value), created),
            )

    async def remove_feedback(self, user_id: int, track_id: str) -> bool:
        """Forget this user's opinion of a track (an undone 👍/👎); False if there was none."""
        async with self._write() as db:
            cur = await db.execute(
                "DELETE FROM feedback WHERE user_id = ? AND track_id = ?", (user_id, track_id)
            )
            removed = cur.rowcount == 1
            await cur.close()
        return removed

    async def get_user_settings(self, user_id: int) -> UserSettings:
        """This user's settings, or the defaults if we have none stored."""
        async with self._lock:
            rows = await self._db.execute_fetchall(f"{_USERS_SQL} WHERE user_id = ?", (user_id,))
        return next((settings_from_row(row) for row in rows), UserSettings(user_id))

    # Each setter returns the settings as stored afterwards. The reminder settings and the
    # time zone also (re)plan the reminder rows (bot/agenda.py) in the same transaction, due
    # next after `now` (default: the real clock).

    async def set_reminder(
        self, user_id: int, remind_at: time | None, now: datetime | None = None
    ) -> UserSettings:
        """Daily nudge at this local time (to the minute), or None to stop."""
        value = None if remind_at is None else f"{remind_at:%H:%M}"
        return await self._set_user_column(user_id, "remind_at", value, now)

    async def set_weekly_day(
        self, user_id: int, day: int | None, now: datetime | None = None
    ) -> UserSettings:
        """Weekly summary on this weekday (0 = Monday), or None to stop."""
        if day is not None and day not in range(7):
            raise ValueError(f"weekday must be 0..6, got {day!r}")
        return await self._set_user_column(user_id, "weekly_day", day, now)

    async def set_favourite_genres(self, user_id: int, genres: Sequence[str]) -> UserSettings:
        """Replace this user's favourite genres (names as in the catalog)."""
        names = sorted({str(g).strip().lower() for g in genres if str(g).strip()})
        return await self._set_user_column(user_id, "favourite_genres", json.dumps(names))

    async def set_timezone(
        self, user_id: int, timezone: str, now: datetime | None = None
    ) -> UserSettings:
        """Set the IANA time zone (e.g. 'Europe/Berlin') used for days in the history."""
        name = timezone.strip()
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {timezone!r}") from None
        return await self._set_user_column(user_id, "timezone", name, now)

    async def set_language(self, user_id: int, language: str | None) -> UserSettings:
        """The language to speak with them ('en', 'ko', 'es'); None: their Telegram app's."""
        if language is not None and language not in ("en", "ko", "es"):
            raise ValueError(f"unsupported language {language!r}")
        return await self._set_user_column(user_id, "language", language)

    async def set_learn_face(self, user_id: int, on: bool) -> UserSettings:
        """Whether their own corrections adapt how their selfies are read."""
        return await self._set_user_column(user_id, "learn_face", int(bool(on)))

    async def set_strategy(self, user_id: int, strategy: Strategy | None) -> UserSettings:
        """Set match (songs that fit the mood) or lift (songs to lift it); None = default."""
        value = None if strategy is None else Strategy.parse(strategy).value
        return await self._set_user_column(user_id, "strategy", value)

    async def _set_user_column(
        self, user_id: int, column: str, value: str | int | None, now: datetime | None = None
    ) -> UserSettings:
        user_id = check_user(user_id)
        async with self._write() as db:
            await _ensure_user(db, user_id, to_db_time(datetime.now(UTC)))
            # `column` is one of our literals, never user input.
            rows = await db.execute_fetchall(
                f"UPDATE users SET {column} = ? WHERE user_id = ? RETURNING {_USER_COLUMNS}",
                (value, user_id),
            )
            person = settings_from_row(next(iter(rows)))
            if column in ("remind_at", "weekly_day", "timezone"):
                await self._plan(db, person, now or datetime.now(UTC))
        return person


# -- helpers -------------------------------------------------------------------------


async def _ensure_user(db: aiosqlite.Connection, user_id: int, created: str) -> None:
    await db.execute(
        "INSERT INTO users (user_id, created_at) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING",
        (user_id, created),
    )


async def _owns(db: aiosqlite.Connection, user_id: int, entry_id: int) -> bool:
    rows = await db.execute_fetchall(
        "SELECT 1 FROM readings WHERE id = ? AND user_id = ?", (entry_id, user_id)
    )
    return bool(list(rows))


async def _insert_tracks(db: aiosqlite.Connection, entry_id: int, tracks: Iterable[str]) -> None:
    await db.executemany(
        "INSERT INTO recommendations (reading_id, position, track_id) VALUES (?, ?, ?)",
        [(entry_id, i, t) for i, t in enumerate(tracks)],
    )
