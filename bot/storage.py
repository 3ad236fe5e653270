"""The mood diary in SQLite: the only module that talks to the database.

Design notes
------------
* Timestamps are TEXT, UTC, fixed-width ISO-8601 with microseconds and a ``Z`` suffix
  (``2025-03-09T21:30:00.000000Z``). Fixed width makes string order equal time order, so range
  queries use the ``(user_id, created_at)`` index, and the values are readable in the sqlite3
  shell and in exports. Every datetime passed in must be timezone-aware; naive ones are refused
  rather than guessed.
* Every public method takes ``user_id`` and scopes every statement by it, so a forged or stale
  entry id from a button can never reach another person's rows. ``purge_older_than`` is the one
  maintenance exception: it is scoped by time, for everyone.
* One connection, one ``asyncio.Lock``: aiosqlite serialises single statements, but the
  statements of two coroutines' transactions would interleave on the shared connection, so every
  call holds the lock for its whole unit of work and multi-statement writes run in explicit
  ``BEGIN IMMEDIATE`` ... ``COMMIT`` transactions (autocommit mode otherwise).
* No photos and no Telegram file ids are ever stored: only what the model read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiosqlite

from models.emotion import Emotion
from recommender.track import Mood

SOURCES = frozenset({"face", "mood", "manual"})
STRATEGIES = frozenset({"match", "lift"})
BUSY_TIMEOUT_MS = 5000
MAX_TRACK_ID_LEN = 64

_EMOTIONS_SQL = ", ".join(f"'{e.value}'" for e in Emotion)

# Each migration is a tuple of statements run in one transaction; its 1-based position is the
# schema version stored in PRAGMA user_version. Never edit a released migration: append one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the diary.
    (
        """
        CREATE TABLE users (
            user_id    INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            timezone   TEXT NOT NULL DEFAULT 'UTC',
            strategy   TEXT CHECK (strategy IN ('match', 'lift'))
        )
        """,
        # AUTOINCREMENT so ids are never reused after a delete: an old button carrying a deleted
        # entry's id must not land on a newer entry.
        f"""
        CREATE TABLE readings (
            id                INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id           INTEGER NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
            created_at        TEXT NOT NULL,
            emotion           TEXT CHECK (emotion IN ({_EMOTIONS_SQL})),
            confidence        REAL CHECK (confidence BETWEEN 0.0 AND 1.0),
            probabilities     TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(probabilities)),
            corrected_emotion TEXT CHECK (corrected_emotion IN ({_EMOTIONS_SQL})),
            mood              TEXT,
            source            TEXT NOT NULL DEFAULT 'face'
                              CHECK (source IN ('face', 'mood', 'manual'))
        )
        """,
        "CREATE INDEX readings_user_time ON readings(user_id, created_at)",
        # For the retention purge, which is by time across all users.
        "CREATE INDEX readings_time ON readings(created_at)",
        # One row per suggested track, keyed by reading: "tracks suggested to user U since T" is
        # an index range scan on readings_user_time plus a primary-key lookup per reading.
        """
        CREATE TABLE recommendations (
            reading_id INTEGER NOT NULL REFERENCES readings(id) ON DELETE CASCADE,
            position   INTEGER NOT NULL,
            track_id   TEXT NOT NULL,
            PRIMARY KEY (reading_id, position)
        ) WITHOUT ROWID
        """,
    ),
    # 2: thumbs up/down on tracks, for the recommender. One opinion per (user, track): the
    # latest press wins, so a double press cannot count twice.
    (
        """
        CREATE TABLE feedback (
            id         INTEGER PRIMARY KEY,
            user_id    INTEGER NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
            track_id   TEXT NOT NULL,
            artist     TEXT NOT NULL DEFAULT '',
            genre      TEXT NOT NULL DEFAULT '',
            value      INTEGER NOT NULL CHECK (value IN (-1, 1)),
            created_at TEXT NOT NULL,
            UNIQUE (user_id, track_id)
        )
        """,
        "CREATE INDEX feedback_user_time ON feedback(user_id, created_at)",
        "CREATE INDEX feedback_time ON feedback(created_at)",
    ),
    # 3: favourite genres picked with /genres, a JSON list of catalog genre names.
    (
        """
        ALTER TABLE users ADD COLUMN favourite_genres TEXT NOT NULL DEFAULT '[]'
            CHECK (json_valid(favourite_genres))
        """,
    ),
    # 4: opt-in reminders: a daily nudge at a local "HH:MM", and a weekly summary on a weekday
    # (0 = Monday).
    (
        "ALTER TABLE users ADD COLUMN remind_at TEXT"
        " CHECK (remind_at IS NULL OR remind_at GLOB '[0-2][0-9]:[0-5][0-9]')",
        "ALTER TABLE users ADD COLUMN weekly_day INTEGER"
        " CHECK (weekly_day IS NULL OR weekly_day BETWEEN 0 AND 6)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

_RECENT_TRACKS_SQL = """
    SELECT DISTINCT rec.track_id
    FROM readings AS r JOIN recommendations AS rec ON rec.reading_id = r.id
    WHERE r.user_id = ? AND r.created_at >= ?
"""


class SchemaTooNew(RuntimeError):
    """The database was written by a newer version of MoodTune than this one."""


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
    mood: str | None
    corrected_emotion: Emotion | None
    track_ids: tuple[str, ...]
    source: str

    @property
    def effective_emotion(self) -> Emotion | None:
        """The person's correction if they made one, else the model's reading."""
        return self.corrected_emotion or self.emotion


@dataclass(frozen=True, slots=True)
class UserSettings:
    """Per-person preferences; defaults for someone we have never stored."""

    user_id: int
    timezone: str = "UTC"
    strategy: str | None = None
    created_at: datetime | None = None
    favourite_genres: tuple[str, ...] = ()
    remind_at: str | None = None
    weekly_day: int | None = None

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


def to_db_time(when: datetime) -> str:
    """Aware datetime -> fixed-width UTC text, so string order is time order."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"naive datetime {when!r}; pass a timezone-aware one")
    u = when.astimezone(UTC)
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T"
        f"{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}Z"
    )


def from_db_time(text: str) -> datetime:
    """Inverse of `to_db_time`: an aware UTC datetime."""
    return datetime.fromisoformat(text).astimezone(UTC)


class Storage:
    """Async access to the diary; open with `await Storage.open(path)`."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._lock = asyncio.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    async def open(cls, path: str | Path) -> Storage:
        """Open (creating if needed) the database at `path` and bring its schema up to date."""
        target = str(path)
        if target != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit; we issue BEGIN/COMMIT ourselves.
        db = await aiosqlite.connect(target, isolation_level=None)
        try:
            db.row_factory = aiosqlite.Row
            await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA foreign_keys = ON")
            # WAL makes NORMAL durable enough (a power cut may lose the last commit, never
            # corrupt) and much cheaper on small writes.
            await db.execute("PRAGMA synchronous = NORMAL")
            # Deleted rows are zeroed on disk, so /delete really erases.
            await db.execute("PRAGMA secure_delete = ON")
            storage = cls(db)
            await storage._migrate()
        except BaseException:
            await db.close()
            raise
        return storage

    async def close(self) -> None:
        """Close the connection; the object is unusable afterwards."""
        await self._db.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def schema_version(self) -> int:
        """The schema version recorded in the database file."""
        async with self._lock:
            return await self._user_version()

    async def _user_version(self) -> int:
        async with self._db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0])

    async def _migrate(self, target: int = SCHEMA_VERSION) -> None:
        """Apply migrations up to `target`, each in its own transaction."""
        async with self._lock:
            current = await self._user_version()
            if current > SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"database schema v{current} is newer than this code (v{SCHEMA_VERSION})"
                )
            for version in range(current + 1, target + 1):
                async with self._transaction():
                    # Re-read under the write lock: another process may have migrated meanwhile.
                    if await self._user_version() >= version:
                        continue
                    for statement in MIGRATIONS[version - 1]:
                        await self._db.execute(statement)
                    await self._db.execute(f"PRAGMA user_version = {version:d}")

    # -- transactions ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction (caller holds the lock): commit on success, else roll back."""
        try:
            await self._db.execute("BEGIN IMMEDIATE")
            yield self._db
            await self._db.execute("COMMIT")
        except BaseException:
            # Also on cancellation: BEGIN may already be queued on the connection's thread, and
            # a transaction left open would break every later call.
            await self._quietly("ROLLBACK")
            raise

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """Hold the lock and a write transaction."""
        async with self._lock, self._transaction() as db:
            yield db

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[aiosqlite.Connection]:
        """Hold the lock and a read transaction: one consistent snapshot for several queries."""
        async with self._lock:
            try:
                await self._db.execute("BEGIN")
                yield self._db
            finally:
                await self._quietly("COMMIT")

    async def _quietly(self, statement: str) -> None:
        # Ends a transaction that may never have started (BEGIN failed or was cancelled).
        with contextlib.suppress(sqlite3.OperationalError):
            await self._db.execute(statement)

    # -- readings ----------------------------------------------------------------------------

    async def add_reading(
        self,
        user_id: int,
        *,
        emotion: Emotion | str | None,
        confidence: float | None,
        probabilities: Mapping[Emotion | str, float] | None,
        track_ids: Sequence[str] = (),
        mood: Mood | str | None = None,
        source: str = "face",
        at: datetime | None = None,
    ) -> MoodEntry:
        """Store one reading (and the songs suggested with it); returns the stored entry."""
        user_id = _check_user(user_id)
        emo = Emotion.parse(emotion) if emotion is not None else None
        conf = _check_confidence(confidence)
        probs = _check_probabilities(probabilities)
        tracks = _check_tracks(track_ids)
        mood_value = Mood.parse(mood).value if mood is not None else None
        if source not in SOURCES:
            raise ValueError(f"source must be one of {sorted(SOURCES)}, got {source!r}")
        if emo is None and mood_value is None:
            raise ValueError("a reading needs an emotion or a mood")
        if source == "face" and emo is None:
            raise ValueError("a face reading needs an emotion")
        created = to_db_time(at if at is not None else datetime.now(UTC))
        async with self._write() as db:
            await _ensure_user(db, user_id, created)
            cur = await db.execute(
                "INSERT INTO readings (user_id, created_at, emotion, confidence, probabilities,"
                " mood, source) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    user_id,
                    created,
                    emo.value if emo else None,
                    conf,
                    json.dumps({e.value: p for e, p in probs.items()}),
                    mood_value,
                    source,
                ),
            )
            entry_id = cur.lastrowid
            await cur.close()
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
        )

    async def get_entry(self, user_id: int, entry_id: int) -> MoodEntry | None:
        """One of this user's entries, or None (also when the id is someone else's)."""
        entries = await self._load("r.user_id = ? AND r.id = ?", (user_id, entry_id))
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
        return [_entry(row, tracks.get(row["id"], ())) for row in rows]

    async def set_mood(
        self, user_id: int, entry_id: int, mood: Mood | str, track_ids: Sequence[str]
    ) -> bool:
        """Record the follow-up mood and its songs, once: False if the entry is missing, not
        this user's, or already has a mood (a double press or forged button changes nothing)."""
        mood_value = Mood.parse(mood).value
        tracks = _check_tracks(track_ids)
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
        tracks = _check_tracks(track_ids)
        async with self._write() as db:
            if not await _owns(db, user_id, entry_id):
                return False
            await db.execute("DELETE FROM recommendations WHERE reading_id = ?", (entry_id,))
            await _insert_tracks(db, entry_id, tracks)
        return True

    async def correct_emotion(self, user_id: int, entry_id: int, emotion: Emotion | str) -> bool:
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

    async def recent_track_ids(self, user_id: int, since: datetime) -> set[str]:
        """Ids of every track suggested to this user at or after `since`."""
        async with self._lock:
            rows = await self._db.execute_fetchall(_RECENT_TRACKS_SQL, (user_id, to_db_time(since)))
        return {row[0] for row in rows}

    async def count_readings(self, user_id: int) -> int:
        """How many entries this user has."""
        async with self._lock:
            rows = await self._db.execute_fetchall(
                "SELECT count(*) FROM readings WHERE user_id = ?", (user_id,)
            )
        return int(rows[0][0])

    async def corrections(self) -> tuple[int, list[dict[str, Any]]]:
        """(face readings in total, every corrected face reading) across all users, without
        user ids: how often the model is wrong in real use, for evaluation."""
        async with self._read() as db:
            total = await db.execute_fetchall("SELECT count(*) FROM readings WHERE source = 'face'")
            rows = await db.execute_fetchall(
                "SELECT created_at, emotion, confidence, corrected_emotion, probabilities"
                " FROM readings WHERE source = 'face' AND corrected_emotion IS NOT NULL"
                " ORDER BY created_at"
            )
        return int(total[0][0]), [
            {**dict(r), "probabilities": json.loads(r["probabilities"])} for r in rows
        ]

    # -- feedback ----------------------------------------------------------------------------

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
        user_id = _check_user(user_id)
        (track_id,) = _check_tracks([track_id])
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

    async def feedback_for(self, user_id: int) -> list[Feedback]:
        """This user's opinions on tracks, oldest first."""
        async with self._lock:
            rows = await self._db.execute_fetchall(
                "SELECT track_id, artist, genre, value, created_at FROM feedback"
                " WHERE user_id = ? ORDER BY created_at, id",
                (user_id,),
            )
        return [
            Feedback(r["track_id"], r["artist"], r["genre"], r["value"], from_db_time(r[4]))
            for r in rows
        ]

    # -- settings ----------------------------------------------------------------------------

    async def get_user_settings(self, user_id: int) -> UserSettings:
        """This user's settings, or the defaults if we have none stored."""
        async with self._lock:
            rows = await self._db.execute_fetchall(
                "SELECT timezone, strategy, created_at, favourite_genres, remind_at, weekly_day"
                " FROM users"
                " WHERE user_id = ?",
                (user_id,),
            )
        if not rows:
            return UserSettings(user_id)
        row = rows[0]
        return UserSettings(
            user_id,
            row["timezone"],
            row["strategy"],
            from_db_time(row["created_at"]),
            tuple(json.loads(row["favourite_genres"])),
            row["remind_at"],
            row["weekly_day"],
        )

    async def set_reminder(self, user_id: int, remind_at: str | None) -> None:
        """Daily nudge at local 'HH:MM', or None to stop."""
        if remind_at is not None and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", remind_at):
            raise ValueError(f"reminder time must be HH:MM, got {remind_at!r}")
        await self._set_user_column(user_id, "remind_at", remind_at)

    async def set_weekly_day(self, user_id: int, day: int | None) -> None:
        """Weekly summary on this weekday (0 = Monday), or None to stop."""
        if day is not None and day not in range(7):
            raise ValueError(f"weekday must be 0..6, got {day!r}")
        await self._set_user_column(user_id, "weekly_day", day)

    async def users_with_reminders(self) -> list[UserSettings]:
        """Everyone who opted into a daily nudge or a weekly summary (to rebuild jobs)."""
        async with self._lock:
            rows = await self._db.execute_fetchall(
                "SELECT user_id FROM users WHERE remind_at IS NOT NULL OR weekly_day IS NOT NULL"
            )
        return [await self.get_user_settings(r["user_id"]) for r in rows]

    async def set_favourite_genres(self, user_id: int, genres: Sequence[str]) -> None:
        """Replace this user's favourite genres (names as in the catalog)."""
        names = sorted({str(g).strip().lower() for g in genres if str(g).strip()})
        await self._set_user_column(user_id, "favourite_genres", json.dumps(names))

    async def set_timezone(self, user_id: int, timezone: str) -> None:
        """Set the IANA time zone (e.g. 'Europe/Berlin') used for days in the history."""
        name = timezone.strip()
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {timezone!r}") from None
        await self._set_user_column(user_id, "timezone", name)

    async def set_strategy(self, user_id: int, strategy: str | None) -> None:
        """Set 'match' (songs that fit the mood) or 'lift' (songs to lift it); None = default."""
        if strategy is not None and strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {sorted(STRATEGIES)} or None")
        await self._set_user_column(user_id, "strategy", strategy)

    async def _set_user_column(self, user_id: int, column: str, value: str | None) -> None:
        user_id = _check_user(user_id)
        async with self._write() as db:
            await _ensure_user(db, user_id, to_db_time(datetime.now(UTC)))
            # `column` is one of our literals, never user input.
            await db.execute(f"UPDATE users SET {column} = ? WHERE user_id = ?", (value, user_id))

    # -- privacy -----------------------------------------------------------------------------

    async def export_user(self, user_id: int) -> dict[str, Any]:
        """Everything stored about this user, as JSON-serialisable data."""
        async with self._read() as db:
            version = await self._user_version()
            users = await db.execute_fetchall("SELECT * FROM users WHERE user_id = ?", (user_id,))
            readings = await db.execute_fetchall(
                "SELECT * FROM readings WHERE user_id = ? ORDER BY created_at, id", (user_id,)
            )
            recs = await db.execute_fetchall(
                "SELECT rec.* FROM recommendations AS rec JOIN readings AS r"
                " ON r.id = rec.reading_id WHERE r.user_id = ?"
                " ORDER BY rec.reading_id, rec.position",
                (user_id,),
            )
            feedback = await db.execute_fetchall(
                "SELECT * FROM feedback WHERE user_id = ? ORDER BY created_at, id", (user_id,)
            )
        tracks: dict[int, list[str]] = {}
        for rec in recs:
            tracks.setdefault(rec["reading_id"], []).append(rec["track_id"])
        # SELECT * so that columns added by later migrations are exported without edits here.
        exported_readings = []
        for row in readings:
            item = dict(row)
            item["probabilities"] = json.loads(item["probabilities"])
            item["track_ids"] = tracks.get(row["id"], [])
            exported_readings.append(item)
        return {
            "user_id": user_id,
            "exported_at": to_db_time(datetime.now(UTC)),
            "schema_version": version,
            "user": dict(users[0]) if users else None,
            "readings": exported_readings,
            "feedback": [dict(row) for row in feedback],
        }

    async def delete_user(self, user_id: int) -> int:
        """Erase every row about this user, in one transaction; returns rows deleted."""
        deleted = 0
        async with self._write() as db:
            # Explicit deletes, children first, so the count includes what cascades would hide.
            for sql in (
                "DELETE FROM recommendations WHERE reading_id IN"
                " (SELECT id FROM readings WHERE user_id = ?)",
                "DELETE FROM readings WHERE user_id = ?",
                "DELETE FROM feedback WHERE user_id = ?",
                "DELETE FROM users WHERE user_id = ?",
            ):
                cur = await db.execute(sql, (user_id,))
                deleted += max(cur.rowcount, 0)
                await cur.close()
        await self._checkpoint()
        return deleted

    async def purge_older_than(self, cutoff: datetime) -> int:
        """Delete every user's readings (with their songs) and feedback older than `cutoff`;
        settings stay. Returns rows deleted."""
        limit = to_db_time(cutoff)
        deleted = 0
        async with self._write() as db:
            for sql in (
                "DELETE FROM recommendations WHERE reading_id IN"
                " (SELECT id FROM readings WHERE created_at < ?)",
                "DELETE FROM readings WHERE created_at < ?",
                "DELETE FROM feedback WHERE created_at < ?",
            ):
                cur = await db.execute(sql, (limit,))
                deleted += max(cur.rowcount, 0)
                await cur.close()
        if deleted:
            await self._checkpoint()
        return deleted

    async def _checkpoint(self) -> None:
        # Copy the WAL (which still holds the deleted rows' old pages) into the main file and
        # truncate it, so erased data leaves the disk now rather than at some later checkpoint.
        # Best effort: with readers in other processes it may not finish, which is harmless.
        async with self._lock:
            await self._db.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")


# -- helpers ---------------------------------------------------------------------------------


async def _ensure_user(db: aiosqlite.Connection, user_id: int, created: str) -> None:
    await db.execute(
        "INSERT INTO users (user_id, created_at) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING",
        (user_id, created),
    )


async def _owns(db: aiosqlite.Connection, user_id: int, entry_id: int) -> bool:
    rows = await db.execute_fetchall(
        "SELECT 1 FROM readings WHERE id = ? AND user_id = ?", (entry_id, user_id)
    )
    return bool(rows)


async def _insert_tracks(db: aiosqlite.Connection, entry_id: int, tracks: Iterable[str]) -> None:
    await db.executemany(
        "INSERT INTO recommendations (reading_id, position, track_id) VALUES (?, ?, ?)",
        [(entry_id, i, t) for i, t in enumerate(tracks)],
    )


def _entry(row: aiosqlite.Row, track_ids: Iterable[str]) -> MoodEntry:
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
        source=row["source"],
    )


def _check_user(user_id: int) -> int:
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        raise TypeError(f"user_id must be an int, got {type(user_id).__name__}")
    return user_id


def _check_probability(value: float, what: str) -> float:
    # float() also turns numpy scalars from the model into plain floats json can write.
    p = float(value)
    # Softmax in float32 can land a hair outside [0, 1].
    if not (math.isfinite(p) and -1e-6 <= p <= 1 + 1e-6):
        raise ValueError(f"{what} must be between 0 and 1, got {value!r}")
    return min(max(p, 0.0), 1.0)


def _check_confidence(confidence: float | None) -> float | None:
    return None if confidence is None else _check_probability(confidence, "confidence")


def _check_probabilities(
    probabilities: Mapping[Emotion | str, float] | None,
) -> dict[Emotion, float]:
    if not probabilities:
        return {}
    return {
        Emotion.parse(k): _check_probability(v, f"probability of {k}")
        for k, v in probabilities.items()
    }


def _check_tracks(track_ids: Sequence[str] | Iterable[str]) -> tuple[str, ...]:
    if isinstance(track_ids, str):
        raise TypeError("track_ids must be a sequence of ids, not one string")
    tracks = tuple(track_ids)
    for t in tracks:
        if not isinstance(t, str) or not t or len(t) > MAX_TRACK_ID_LEN:
            raise ValueError(f"bad track id {t!r}")
    return tracks
