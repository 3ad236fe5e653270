"""SQLite under `bot.database.Database`: one aiosqlite connection and its lock.

aiosqlite serialises single statements, but the statements of two coroutines' transactions
would interleave on the shared connection, so every unit of work holds the lock throughout and
writes run in ``BEGIN IMMEDIATE`` ... ``COMMIT`` (autocommit mode otherwise). Other processes on
the same file wait for SQLite's writer lock (busy_timeout), so a read-modify-write inside one
write transaction is atomic across processes too.

`SqliteBackend.run` takes a whole unit of work to aiosqlite's thread in one hop (its
``_execute``, what aiosqlite's own methods queue through) and runs it there on the plain
sqlite3 connection: each statement costs the event loop nothing, where through aiosqlite each
is a hop there and a wake-up back.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, Self, TypeVar

import aiosqlite

from bot.database import Connection, Dialect, Row

BUSY_TIMEOUT_MS = 5000
T = TypeVar("T")


class SqliteConnection:
    """The `bot.database.Connection` API on an aiosqlite connection."""

    dialect: Dialect = "sqlite"

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(await self._db.execute_fetchall(sql, tuple(params)))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        async with self._db.execute(sql, tuple(params)) as cur:
            row: Row | None = await cur.fetchone()
            return row

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._db.execute(sql, tuple(params)) as cur:
            return max(cur.rowcount, 0)

    async def executemany(self, sql: str, seq_of_params: Sequence[Sequence[Any]]) -> None:
        await self._db.executemany(sql, [tuple(p) for p in seq_of_params])


class ThreadConnection:
    """The `bot.database.Connection` API on the sqlite3 connection itself, for a unit of work
    running on aiosqlite's thread: every method completes without suspending."""

    dialect: Dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cur = self._conn.execute(sql, tuple(params))
        try:
            return list(cur.fetchall())
        finally:
            cur.close()

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        cur = self._conn.execute(sql, tuple(params))
        try:
            row: Row | None = cur.fetchone()
            return row
        finally:
            cur.close()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cur = self._conn.execute(sql, tuple(params))
        try:
            return max(cur.rowcount, 0)
        finally:
            cur.close()

    async def executemany(self, sql: str, seq_of_params: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(sql, [tuple(p) for p in seq_of_params]).close()


def _finish(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (a unit of work on a `ThreadConnection`)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("a unit of work awaited something besides its database connection")


def _unit_on_thread(
    db: aiosqlite.Connection, unit: Callable[[Connection], Awaitable[T]], write: bool
) -> T:
    """On aiosqlite's thread: BEGIN, the unit, COMMIT (ROLLBACK if it raised)."""
    conn = db._conn  # noqa: SLF001 (aiosqlite's sqlite3 connection, on its own thread)
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        coro = unit(ThreadConnection(conn))
        assert isinstance(coro, Coroutine)
        result = _finish(coro)
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    return result


class SqliteBackend:
    """One file, one connection, one `asyncio.Lock` for every unit of work."""

    dialect: Dialect = "sqlite"

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._conn = SqliteConnection(db)
        self.lock = asyncio.Lock()

    @classmethod
    async def connect(cls, path: str | Path) -> Self:
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
        except BaseException:
            await db.close()
            raise
        return cls(db)

    async def close(self) -> None:
        await self._db.close()

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        """A write transaction (caller holds the lock): commit on success, else roll back."""
        try:
            await self._db.execute("BEGIN IMMEDIATE")
            yield self._conn
            await self._db.execute("COMMIT")
        except BaseException:
            # Also on cancellation: BEGIN may already be queued on the connection's thread, and
            # a transaction left open would break every later call.
            await self._quietly("ROLLBACK")
            raise

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[Connection]:
        async with self.lock, self._transaction() as db:
            yield db

    # Migrations take SQLite's writer lock like any write: another process waits for it and
    # then sees the version it left.
    migrating = write

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[Connection | None]:
        # One writer at a time is SQLite's nature; a second process runs after the first.
        async with self.write() as db:
            yield db

    async def run(self, unit: Callable[[Connection], Awaitable[T]], *, write: bool) -> T:
        # The lock: a unit in the context-manager form holds its transaction open across hops,
        # and this one must not land inside it. Cancelled while queued or running, the unit
        # still finishes (or rolls back) as a whole on the thread.
        async with self.lock:
            result: T = await self._db._execute(_unit_on_thread, self._db, unit, write)  # noqa: SLF001
            return result

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        async with self.lock:
            try:
                await self._db.execute("BEGIN")
                yield self._conn
            finally:
                await self._quietly("COMMIT")

    async def version(self, db: Connection) -> int:
        row = await db.fetchone("PRAGMA user_version")
        assert row is not None
        return int(row[0])

    async def set_version(self, db: Connection, version: int) -> None:
        await db.execute(f"PRAGMA user_version = {version:d}")

    async def _quietly(self, statement: str) -> None:
        # Ends a transaction that may never have started (BEGIN failed or was cancelled).
        with contextlib.suppress(sqlite3.OperationalError):
            await self._db.execute(statement)

    async def checkpoint(self) -> None:
        # Best effort: with readers in other processes it may not finish, which is harmless.
        async with self.lock:
            await self._db.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
