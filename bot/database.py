"""The database under storage: one small connection API over SQLite or PostgreSQL, running
the versioned migrations for both (bot/migrations.py), and the time format.

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, Self, TypeVar

import asyncpg

from bot.migrations import MIGRATIONS, SCHEMA_VERSION

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

    def __init__(self, backend: Backend, *, owns: bool = True) -> None:
        self._backend = backend
        self._owns = owns  # False: another Database opened the connection(s) and closes them

    @classmethod
    def beside(cls, other: Database) -> Self:
        """This kind of view on `other`'s open connection(s), already migrated; closing it
        leaves them open (one pool per process, not one per view)."""
        return cls(other._backend, owns=False)

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
        """Close the connection(s) if this object opened them; it is unusable afterwards."""
        if self._owns:
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
