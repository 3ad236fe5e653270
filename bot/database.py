"""The database under storage: one small connection API over SQLite or PostgreSQL, the
versioned migrations for both, and the time format.

* `Database.open(target)`: a path or ``sqlite:///path`` opens SQLite through aiosqlite (the
  default, one file, one process: bot/sqlite_db.py); ``postgresql://...`` opens an asyncpg pool
  (several workers on one server: bot/postgres_db.py). Inside ``async with self._write() as db``
  (one write transaction) or ``self._read()`` (one consistent snapshot) every module speaks the
  same `Connection` API, with SQL written once using ``?`` placeholders.
* Timestamps are TEXT, UTC, fixed-width ISO-8601 with microseconds and a ``Z`` suffix
  (``2025-03-09T21:30:00.000000Z``), on both backends. Fixed width makes string order equal time
  order, so range queries use the ``(user_id, created_at)`` index; one row format means one code
  path (rows.py, exports) and a dump moves between the backends unchanged. With every
  separator at the same place, any collation a PostgreSQL database was made with orders them
  the same. Every datetime passed in must be timezone-aware; naive ones are refused.
* ``await self._in_write(unit)`` / ``self._in_read(unit)`` run ``async def unit(db)`` as one
  such transaction, and on SQLite in ONE trip to the database thread (the unit runs there, on
  the same API), instead of one trip per statement: the event loop's cost of a unit is then one
  hop whatever its statement count. A unit awaits nothing but its connection's methods.
* A read-modify-write is one statement or holds a row lock (`for_update`): with several workers
  on PostgreSQL nothing else serialises them (SQLite's single writer does it there anyway).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, Self, TypeVar

import asyncpg

from models.emotion import Emotion

_EMOTIONS_SQL = ", ".join(f"'{e.value}'" for e in Emotion)

Dialect = Literal["sqlite", "postgres"]
T = TypeVar("T")

# What a database that fails us (locked, down, out of space, connection lost) raises, on either
# backend: callers that can wait and retry catch these and nothing broader.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    sqlite3.Error,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
)


class Row(Protocol):
    """A result row: ``row["col"]``, ``row[0]`` and ``dict(row)`` (aiosqlite.Row, asyncpg.Record)."""

    def __getitem__(self, key: Any, /) -> Any: ...
    def keys(self) -> Any: ...


class Connection(Protocol):
    """What a unit of work sees; SQL uses ``?`` placeholders on both backends."""

    dialect: Dialect

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...
    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...
    async def executemany(self, sql: str, seq_of_params: Sequence[Sequence[Any]]) -> None: ...


class Backend(Protocol):
    """One database engine: transactions, the schema version, housekeeping."""

    dialect: Dialect

    def write(self) -> contextlib.AbstractAsyncContextManager[Connection]: ...
    def read(self) -> contextlib.AbstractAsyncContextManager[Connection]: ...
    def migrating(self) -> contextlib.AbstractAsyncContextManager[Connection]: ...
    def exclusive(self, name: str) -> contextlib.AbstractAsyncContextManager[Connection | None]: ...
    async def run(self, unit: Callable[[Connection], Awaitable[T]], *, write: bool) -> T: ...
    async def version(self, db: Connection) -> int: ...
    async def set_version(self, db: Connection, version: int) -> None: ...
    async def checkpoint(self) -> None: ...
    async def close(self) -> None: ...


def for_update(db: Connection) -> str:
    """Row-lock suffix for a SELECT that a write follows (SQLite's writer lock covers it)."""
    return " FOR UPDATE" if db.dialect == "postgres" else ""


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema version: its statements per engine, run in one transaction."""

    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]

    def statements(self, dialect: Dialect) -> tuple[str, ...]:
        return self.sqlite if dialect == "sqlite" else self.postgres


def portable(*statements: str) -> Migration:
    """A migration whose SQL runs unchanged on both engines (use BIGINT for Telegram ids,
    TEXT for times, INTEGER 0/1 for booleans)."""
    return Migration(statements, statements)


_READINGS = """
        CREATE TABLE readings (
            id                {id},
            user_id           {bigint} NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
            created_at        TEXT NOT NULL,
            emotion           TEXT CHECK (emotion IN ({emotions})),
            confidence        {real} CHECK (confidence BETWEEN 0.0 AND 1.0),
            probabilities     TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(probabilities)),
            corrected_emotion TEXT CHECK (corrected_emotion IN ({emotions})),
            mood              TEXT,
            source            TEXT NOT NULL DEFAULT 'face'
                              CHECK (source IN ('face', 'mood', 'manual'))
        )
        """
_USERS = """
        CREATE TABLE users (
            user_id    {bigint} PRIMARY KEY,
            created_at TEXT NOT NULL,
            timezone   TEXT NOT NULL DEFAULT 'UTC',
            strategy   TEXT CHECK (strategy IN ('match', 'lift'))
        )
        """
_RECOMMENDATIONS = """
        CREATE TABLE recommendations (
            reading_id {bigint} NOT NULL REFERENCES readings(id) ON DELETE CASCADE,
            position   INTEGER NOT NULL,
            track_id   TEXT NOT NULL,
            PRIMARY KEY (reading_id, position)
        ){without_rowid}
        """
_FEEDBACK = """
        CREATE TABLE feedback (
            id         {id},
            user_id    {bigint} NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
            track_id   TEXT NOT NULL,
            artist     TEXT NOT NULL DEFAULT '',
            genre      TEXT NOT NULL DEFAULT '',
            value      INTEGER NOT NULL CHECK (value IN (-1, 1)),
            created_at TEXT NOT NULL,
            UNIQUE (user_id, track_id)
        )
        """
_UPDATES = """
        CREATE TABLE updates (
            update_id   {bigint} PRIMARY KEY,
            received_at TEXT NOT NULL,
            raw         TEXT CHECK (raw IS NULL OR json_valid(raw)),
            attempts    INTEGER NOT NULL DEFAULT 0,
            done_at     TEXT
        )
        """
# SQLite's json_valid() as a PostgreSQL function, so the CHECKs read the same on both.
_PG_JSON_VALID = """
        CREATE FUNCTION json_valid(t text) RETURNS boolean IMMUTABLE LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM t::json;
            RETURN true;
        EXCEPTION WHEN others THEN
            RETURN false;
        END $$
        """
# SQLite: AUTOINCREMENT so ids are never reused after a delete (an old button carrying a
# deleted entry's id must not land on a newer entry); an identity column never reuses either.
# REAL is 8 bytes in SQLite, 4 in PostgreSQL: DOUBLE PRECISION keeps the same values.
_LITE = dict(
    bigint="INTEGER",
    id="INTEGER PRIMARY KEY AUTOINCREMENT",
    real="REAL",
    without_rowid=" WITHOUT ROWID",
)
_PG = dict(
    bigint="BIGINT",
    id="BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    real="DOUBLE PRECISION",
    without_rowid="",
)


def _both(template: str) -> tuple[str, str]:
    return (
        template.format(emotions=_EMOTIONS_SQL, **_LITE),
        template.format(emotions=_EMOTIONS_SQL, **_PG),
    )


def _pair(*templates: str, pg_first: tuple[str, ...] = ()) -> Migration:
    pairs = [_both(t) for t in templates]
    return Migration(tuple(s for s, _ in pairs), pg_first + tuple(p for _, p in pairs))


# Each migration's 1-based position is the schema version (PRAGMA user_version on SQLite, the
# one-row schema_version table on PostgreSQL). Never edit a released migration: append one;
# a portable one is one `portable(...)` entry.
MIGRATIONS: tuple[Migration, ...] = (
    # 1: the diary. One row per suggested track, keyed by reading: "tracks suggested to user U
    # since T" is an index range scan on readings_user_time plus a primary-key lookup each.
    _pair(
        _USERS,
        _READINGS,
        "CREATE INDEX readings_user_time ON readings(user_id, created_at)",
        # For the retention purge, which is by time across all users.
        "CREATE INDEX readings_time ON readings(created_at)",
        _RECOMMENDATIONS,
        pg_first=(_PG_JSON_VALID,),
    ),
    # 2: thumbs up/down on tracks, for the recommender. One opinion per (user, track): the
    # latest press wins, so a double press cannot count twice.
    _pair(
        _FEEDBACK,
        "CREATE INDEX feedback_user_time ON feedback(user_id, created_at)",
        "CREATE INDEX feedback_time ON feedback(created_at)",
    ),
    # 3: favourite genres picked with /genres, a JSON list of catalog genre names.
    portable(
        """
        ALTER TABLE users ADD COLUMN favourite_genres TEXT NOT NULL DEFAULT '[]'
            CHECK (json_valid(favourite_genres))
        """,
    ),
    # 4: opt-in reminders: a daily nudge at a local "HH:MM", and a weekly summary on a weekday
    # (0 = Monday).
    Migration(
        (
            "ALTER TABLE users ADD COLUMN remind_at TEXT"
            " CHECK (remind_at IS NULL OR remind_at GLOB '[0-2][0-9]:[0-5][0-9]')",
            "ALTER TABLE users ADD COLUMN weekly_day INTEGER"
            " CHECK (weekly_day IS NULL OR weekly_day BETWEEN 0 AND 6)",
        ),
        (
            "ALTER TABLE users ADD COLUMN remind_at TEXT"
            " CHECK (remind_at IS NULL OR remind_at ~ '^[0-2][0-9]:[0-5][0-9]$')",
            "ALTER TABLE users ADD COLUMN weekly_day INTEGER"
            " CHECK (weekly_day IS NULL OR weekly_day BETWEEN 0 AND 6)",
        ),
    ),
    # 5 (issue 19, the diary): a reading the bot was unsure of is marked so (its emotion is
    # the guess, never shown as theirs), a note of one's own per entry, and the switch for the
    # read that learns one's face (on by default).
    portable(
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
    _pair(
        _UPDATES,
        "CREATE INDEX updates_pending ON updates(update_id) WHERE done_at IS NULL",
        "ALTER TABLE readings ADD COLUMN update_id {bigint}",
        "CREATE UNIQUE INDEX readings_update ON readings(update_id) WHERE update_id IS NOT NULL",
    ),
    # 7 (issue 18, languages): the language chosen with /language (NULL: their Telegram app's),
    # and 'words' as a reading's source: a mood told in chat. SQLite can't ALTER a CHECK, and
    # rebuilding readings would cascade-delete its recommendations, so the CHECK is widened in
    # the schema text, the documented way for a change every stored row already satisfies
    # (sqlite.org/lang_altertable.html, "other kinds of table schema changes").
    Migration(
        (
            "ALTER TABLE users ADD COLUMN language TEXT"
            " CHECK (language IS NULL OR language IN ('en', 'ko', 'es'))",
            "PRAGMA writable_schema = ON",
            "UPDATE sqlite_schema SET sql = replace(sql, '''manual'')', '''manual'', ''words'')')"
            " WHERE type = 'table' AND name = 'readings'",
            "PRAGMA writable_schema = RESET",
        ),
        (
            "ALTER TABLE users ADD COLUMN language TEXT"
            " CHECK (language IS NULL OR language IN ('en', 'ko', 'es'))",
            "ALTER TABLE readings DROP CONSTRAINT readings_source_check, ADD CONSTRAINT"
            " readings_source_check CHECK (source IN ('face', 'mood', 'manual', 'words'))",
        ),
    ),
    # 8 (issue 16, many workers): who erased their data when, so a selfie still being read by
    # any worker when they did is not written back. Kept a day, then purged with old readings.
    portable(
        """
        CREATE TABLE erasures (
            user_id   BIGINT PRIMARY KEY,
            erased_at TEXT NOT NULL
        )
        """,
    ),
    # 9 (issue 16, webhook workers): the worker handling an update holds it until this time (a
    # lease it renews while it works); another worker handed the same update meanwhile says
    # "busy" and Telegram redelivers it later, and takes over once the lease has run out.
    portable("ALTER TABLE updates ADD COLUMN claimed_until TEXT"),
    # 10 (issue 16): reminders as rows any worker can claim (bot/agenda.py), in SQL both SQLite
    # and PostgreSQL run. due_at NULL: planned on the next scan, which is how the people who
    # opted in before get theirs (a zone-aware time needs Python, so not here).
    portable(
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
    # 11 (issue 16): the entry a person's next text is a note on ("📝 Add a note"), kept in the
    # database, not in one worker's memory: the press and the text may reach different workers.
    portable("ALTER TABLE users ADD COLUMN note_for BIGINT"),
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


def is_postgres(target: str | Path) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def sqlite_path(target: str | Path) -> str | Path:
    """The file behind a path or ``sqlite:///path`` (``sqlite:////abs`` for an absolute one)."""
    if isinstance(target, str) and target.startswith("sqlite://"):
        rest = target.removeprefix("sqlite://")
        if not rest.startswith("/"):
            raise ValueError(f"expected sqlite:///path, got {target!r}")
        return rest[1:] or ":memory:"
    return target


class Database:
    """The diary's database; open with `await <class>.open(target)` (path or URL)."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    @classmethod
    async def open(cls, target: str | Path) -> Self:
        """Connect to `target` (a SQLite path, ``sqlite:///path`` or ``postgresql://...``)
        and bring its schema up to date."""
        backend: Backend
        if is_postgres(target):
            from bot.postgres_db import PostgresBackend

            backend = await PostgresBackend.connect(str(target))
        else:
            from bot.sqlite_db import SqliteBackend

            backend = await SqliteBackend.connect(sqlite_path(target))
        database = cls(backend)
        try:
            await database._migrate()
        except BaseException:
            await backend.close()
            raise
        return database

    @property
    def dialect(self) -> Dialect:
        return self._backend.dialect

    async def close(self) -> None:
        """Close the connection(s); the object is unusable afterwards."""
        await self._backend.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def schema_version(self) -> int:
        """The schema version recorded in the database."""
        async with self._read() as db:
            return await self._backend.version(db)

    async def _migrate(self, target: int = SCHEMA_VERSION) -> None:
        """Apply migrations up to `target`, each in its own transaction under the engine's
        migration lock, so workers booting together apply each one once."""
        version = 0
        while version < target:
            async with self._backend.migrating() as db:
                version = await self._backend.version(db)
                if version > SCHEMA_VERSION:
                    raise SchemaTooNew(
                        f"database schema v{version} is newer than this code (v{SCHEMA_VERSION})"
                    )
                if version >= target:
                    return
                version += 1
                for statement in MIGRATIONS[version - 1].statements(self.dialect):
                    await db.execute(statement)
                await self._backend.set_version(db, version)

    def _write(self) -> contextlib.AbstractAsyncContextManager[Connection]:
        """One write transaction: committed on success, else rolled back."""
        return self._backend.write()

    def _read(self) -> contextlib.AbstractAsyncContextManager[Connection]:
        """One read-only transaction: a consistent snapshot for several queries."""
        return self._backend.read()

    async def _in_write(self, unit: Callable[[Connection], Awaitable[T]]) -> T:
        """`unit` in one write transaction (as `_write()`), in one trip to SQLite's thread."""
        return await self._backend.run(unit, write=True)

    async def _in_read(self, unit: Callable[[Connection], Awaitable[T]]) -> T:
        """`unit` in one read-only transaction (as `_read()`), in one trip to SQLite's thread."""
        return await self._backend.run(unit, write=False)

    def _exclusive(self, name: str) -> contextlib.AbstractAsyncContextManager[Connection | None]:
        """A write transaction only one worker runs at a time: yields None to the others."""
        return self._backend.exclusive(name)

    async def _checkpoint(self) -> None:
        # SQLite: copy the WAL (which still holds deleted rows' old pages) into the main file
        # and truncate it, so erased data leaves the disk now. PostgreSQL: vacuum handles it.
        await self._backend.checkpoint()
