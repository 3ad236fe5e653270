"""The SQLite connection under storage: schema migrations, transactions, the time format.

* Timestamps are TEXT, UTC, fixed-width ISO-8601 with microseconds and a ``Z`` suffix
  (``2025-03-09T21:30:00.000000Z``). Fixed width makes string order equal time order, so range
  queries use the ``(user_id, created_at)`` index, and the values are readable in the sqlite3
  shell and in exports. Every datetime passed in must be timezone-aware; naive ones are refused
  rather than guessed.
* One connection, one ``asyncio.Lock``: aiosqlite serialises single statements, but the
  statements of two coroutines' transactions would interleave on the shared connection, so every
  call holds the lock for its whole unit of work and multi-statement writes run in explicit
  ``BEGIN IMMEDIATE`` ... ``COMMIT`` transactions (autocommit mode otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

import aiosqlite

from models.emotion import Emotion

BUSY_TIMEOUT_MS = 5000

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
    # 5 (issue 19, the diary): a reading the bot was unsure of is marked so (its emotion is
    # the guess, never shown as theirs), a note of one's own per entry, and the switch for the
    # read that learns one's face (on by default).
    (
        "ALTER TABLE readings ADD COLUMN unsure INTEGER NOT NULL DEFAULT 0"
        " CHECK (unsure IN (0, 1))",
        "ALTER TABLE readings ADD COLUMN note TEXT CHECK (note IS NULL OR length(note) <= 500)",
        "ALTER TABLE users ADD COLUMN learn_face INTEGER NOT NULL DEFAULT 1"
        " CHECK (learn_face IN (0, 1))",
    ),
    # 6 (issue 15): the update journal, and the update each face reading came from. An update
    # is written here before Telegram is told it arrived, and handled from here, so a crash
    # loses none; its JSON (which holds file ids) is blanked once handled. A reading's
    # update_id makes a redelivered selfie land on the reading it already made.
    (
        """
        CREATE TABLE updates (
            update_id   INTEGER PRIMARY KEY,
            received_at TEXT NOT NULL,
            raw         TEXT CHECK (raw IS NULL OR json_valid(raw)),
            attempts    INTEGER NOT NULL DEFAULT 0,
            done_at     TEXT
        )
        """,
        "CREATE INDEX updates_pending ON updates(update_id) WHERE done_at IS NULL",
        "ALTER TABLE readings ADD COLUMN update_id INTEGER",
        "CREATE UNIQUE INDEX readings_update ON readings(update_id) WHERE update_id IS NOT NULL",
    ),
    # 7 (issue 18, languages): the language chosen with /language (NULL: their Telegram app's),
    # and 'words' as a reading's source: a mood told in chat. SQLite can't ALTER a CHECK, and
    # rebuilding readings would cascade-delete its recommendations, so the CHECK is widened in
    # the schema text, the documented way for a change every stored row already satisfies
    # (sqlite.org/lang_altertable.html, "other kinds of table schema changes").
    (
        "ALTER TABLE users ADD COLUMN language TEXT"
        " CHECK (language IS NULL OR language IN ('en', 'ko', 'es'))",
        "PRAGMA writable_schema = ON",
        "UPDATE sqlite_schema SET sql = replace(sql, '''manual'')', '''manual'', ''words'')')"
        " WHERE type = 'table' AND name = 'readings'",
        "PRAGMA writable_schema = RESET",
    ),
    # 8 (issue 16): reminders as rows any worker can claim (bot/agenda.py), in SQL both SQLite
    # and PostgreSQL run. due_at NULL: planned on the next scan, which is how the people who
    # opted in before get theirs (a zone-aware time needs Python, so not here).
    (
        """
        CREATE TABLE reminders (
            user_id      BIGINT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
            kind         TEXT NOT NULL CHECK (kind IN ('daily', 'weekly')),
            due_at       TEXT,
            leased_until TEXT,
            PRIMARY KEY (user_id, kind)
        )
        """,
        "CREATE INDEX reminders_due ON reminders(due_at)",
        "INSERT INTO reminders (user_id, kind)"
        " SELECT user_id, 'daily' FROM users WHERE remind_at IS NOT NULL",
        "INSERT INTO reminders (user_id, kind)"
        " SELECT user_id, 'weekly' FROM users WHERE weekly_day IS NOT NULL",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNew(RuntimeError):
    """The database was written by a newer version of MoodTune than this one."""


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


class Database:
    """One aiosqlite connection with its lock; open with `await <class>.open(path)`."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> Self:
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
            database = cls(db)
            await database._migrate()
        except BaseException:
            await db.close()
            raise
        return database

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
        assert row is not None
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

    async def _checkpoint(self) -> None:
        # Copy the WAL (which still holds the deleted rows' old pages) into the main file and
        # truncate it, so erased data leaves the disk now rather than at some later checkpoint.
        # Best effort: with readers in other processes it may not finish, which is harmless.
        async with self._lock:
            await self._db.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
