"""PostgreSQL under `bot.database.Database`: an asyncpg pool shared by a worker's tasks.

* Writes: a pool connection in a READ COMMITTED transaction. Statements that decide and change
  at once (``UPDATE ... WHERE mood IS NULL``) are atomic as they stand; a unit that reads and
  then writes takes a row lock first (`bot.database.for_update`).
* Reads: REPEATABLE READ READ ONLY, one consistent snapshot across the unit's queries.
* Migrations and the retention purge run under advisory locks, so workers that boot together
  migrate once and the purge runs on one worker at a time.
"""

from __future__ import annotations

import contextlib
import functools
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Self, TypeVar

import asyncpg

from bot.database import Connection, Dialect, Row

POOL_MIN = 1
POOL_MAX = 10


def _lock_key(name: str) -> int:
    """A stable 32-bit advisory lock key for a name (advisory locks are per database)."""
    return zlib.crc32(f"moodtune:{name}".encode())


MIGRATE_LOCK = _lock_key("migrate")
T = TypeVar("T")


@functools.lru_cache(maxsize=512)
def placeholders(sql: str) -> str:
    """``?`` placeholders -> ``$1..$n``, leaving quoted strings and identifiers alone."""
    out: list[str] = []
    quote: str | None = None
    n = 0
    for ch in sql:
        if quote is not None:
            if ch == quote:
                quote = None  # a doubled quote ('') closes and reopens: same result
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "?":
            n += 1
            out.append(f"${n}")
            continue
        out.append(ch)
    if quote is not None:
        raise ValueError(f"unterminated quote in SQL: {sql!r}")
    return "".join(out)


def _affected(status: str) -> int:
    # asyncpg returns the command tag: "UPDATE 3", "DELETE 0", "INSERT 0 1".
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresConnection:
    """The `bot.database.Connection` API on an asyncpg connection."""

    dialect: Dialect = "postgres"

    def __init__(self, con: asyncpg.Connection) -> None:
        self._con = con

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(await self._con.fetch(placeholders(sql), *params))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = await self._con.fetchrow(placeholders(sql), *params)
        return row

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        if not params:  # the simple protocol: also runs several statements (migrations)
            return _affected(await self._con.execute(sql))
        return _affected(await self._con.execute(placeholders(sql), *params))

    async def executemany(self, sql: str, seq_of_params: Sequence[Sequence[Any]]) -> None:
        if seq_of_params:
            await self._con.executemany(placeholders(sql), seq_of_params)


class PostgresBackend:
    """A connection pool; every unit of work takes one connection for one transaction."""

    dialect: Dialect = "postgres"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def connect(cls, url: str) -> Self:
        pool = await asyncpg.create_pool(url, min_size=POOL_MIN, max_size=POOL_MAX)
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    @contextlib.asynccontextmanager
    async def _transaction(self, **options: Any) -> AsyncIterator[PostgresConnection]:
        async with self._pool.acquire() as con, con.transaction(**options):
            yield PostgresConnection(con)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[Connection]:
        async with self._transaction() as db:
            yield db

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        async with self._transaction(isolation="repeatable_read", readonly=True) as db:
            yield db

    async def run(self, unit: Callable[[Connection], Awaitable[T]], *, write: bool) -> T:
        # Every statement is a round trip to the server anyway: the unit just runs here.
        async with self.write() if write else self.read() as db:
            return await unit(db)

    @contextlib.asynccontextmanager
    async def migrating(self) -> AsyncIterator[Connection]:
        # Held to the end of the transaction: a second worker waits here, then reads the
        # version the first one committed and finds nothing left to do.
        async with self._transaction() as db:
            await db.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATE_LOCK,))
            await db.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),"
                " version INTEGER NOT NULL)"
            )
            yield db

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[Connection | None]:
        async with self._transaction() as db:
            row = await db.fetchone(
                "SELECT pg_try_advisory_xact_lock(?) AS got", (_lock_key(name),)
            )
            yield db if row is not None and row["got"] else None

    async def version(self, db: Connection) -> int:
        # Before the first migration the table may not exist yet (a read outside migrating).
        exists = await db.fetchone("SELECT to_regclass('schema_version') IS NOT NULL AS ok")
        if exists is None or not exists["ok"]:
            return 0
        row = await db.fetchone("SELECT version FROM schema_version")
        return 0 if row is None else int(row["version"])

    async def set_version(self, db: Connection, version: int) -> None:
        await db.execute(
            "INSERT INTO schema_version (singleton, version) VALUES (TRUE, ?)"
            " ON CONFLICT (singleton) DO UPDATE SET version = excluded.version",
            (version,),
        )

    async def checkpoint(self) -> None:
        """Nothing to do: PostgreSQL's vacuum reclaims deleted rows."""
