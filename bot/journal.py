"""The update journal: every update Telegram hands us, kept until it has been handled.

Telegram forgets an update once the next getUpdates confirms it (a higher offset), so the
poller writes each fetched update here first and confirms only then; a crash after that loses
nothing, as a restart handles what is still pending. A row's JSON (which carries file ids) is
blanked as soon as the update is handled; the bare update_id stays a while so a redelivered
update is recognised and skipped.

In webhook mode Telegram holds each update until a worker answers it, so a worker `claim`s the
update (kept here if new) with a lease, handles it, marks it done and only then answers 200: a
worker that dies never answers, and the redelivery is taken over once its lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from bot.database import Connection, Database, Row, from_db_time, to_db_time

# How long a handled update's id is kept: Telegram redelivers only what was not yet confirmed,
# which is seconds; a day leaves a wide margin and keeps the table small.
KEEP_DONE = timedelta(days=1)
# Blanked JSON still sits in the write-ahead log until a checkpoint copies it over; one
# checkpoint a second after a handled update wipes it from the disk. Not sooner: a checkpoint
# holds the journal while it syncs, and every reply's "done" mark waits behind it, which widens
# the moment where a kill -9 means a reply sent but not marked (sent again after a restart).
CHECKPOINT_AFTER = 1.0


@dataclass(frozen=True, slots=True)
class Pending:
    """An update not yet handled: its id, its JSON, and how often handling was started."""

    update_id: int
    raw: dict[str, Any]
    attempts: int


class Claim(Enum):
    """What a webhook worker handed an update may do with it."""

    MINE = "mine"  # new, or its last holder's lease ran out: handle it now
    DONE = "done"  # handled already: answer at once, do nothing
    BUSY = "busy"  # another worker is handling it: let Telegram deliver it again later


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claim's outcome: the update to handle if MINE, the time left on the lease if BUSY."""

    claim: Claim
    pending: Pending | None = None
    busy_for: timedelta = timedelta(0)


class Journal(Database):
    """The `updates` table: `Journal.beside(storage)` in the bot (one pool per process), or
    `await Journal.open(target)` on its own."""

    _wipe: asyncio.Task[None] | None = None

    async def add(self, updates: Iterable[dict[str, Any]], *, start: bool = False) -> list[int]:
        """Keep these raw updates (one transaction); returns the ids that were new. `start`:
        the caller starts handling each new one at once, so its first attempt is counted
        here (no `started` write for it)."""
        now = to_db_time(datetime.now(UTC))
        rows = [(raw["update_id"], now, json.dumps(raw, ensure_ascii=False)) for raw in updates]

        async def unit(db: Connection) -> list[int]:
            new: list[int] = []
            for row in rows:
                affected = await db.execute(
                    "INSERT INTO updates (update_id, received_at, raw, attempts)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (update_id) DO NOTHING",
                    (*row, int(start)),
                )
                if affected > 0:
                    new.append(row[0])
            return new

        return await self._in_write(unit)

    async def claim(self, raw: dict[str, Any], lease: timedelta) -> Claimed:
        """Keep this update if new and take it for `lease` unless it is handled or held; a
        taken update counts one more attempt (one transaction, so one worker wins)."""
        now = datetime.now(UTC)
        uid = raw["update_id"]

        async def unit(db: Connection) -> tuple[Row | None, Row | None]:
            await db.execute(
                "INSERT INTO updates (update_id, received_at, raw) VALUES (?, ?, ?)"
                " ON CONFLICT (update_id) DO NOTHING",
                (uid, to_db_time(now), json.dumps(raw, ensure_ascii=False)),
            )
            taken = await db.fetchone(
                "UPDATE updates SET claimed_until = ?, attempts = attempts + 1"
                " WHERE update_id = ? AND done_at IS NULL"
                " AND (claimed_until IS NULL OR claimed_until < ?)"
                " RETURNING raw, attempts",
                (to_db_time(now + lease), uid, to_db_time(now)),
            )
            if taken is not None:
                return taken, None
            return None, await db.fetchone(
                "SELECT done_at, claimed_until FROM updates WHERE update_id = ?", (uid,)
            )

        taken, held = await self._in_write(unit)
        if taken is not None:
            raw_json, attempts = taken["raw"], int(taken["attempts"])
            return Claimed(Claim.MINE, Pending(uid, json.loads(raw_json), attempts))
        assert held is not None  # the row exists: it was inserted above if it was new
        if held["done_at"] is not None:
            return Claimed(Claim.DONE)
        return Claimed(Claim.BUSY, busy_for=from_db_time(held["claimed_until"]) - now)

    async def renew(self, update_id: int, lease: timedelta) -> None:
        """Hold a claimed update `lease` longer (its handling is still going)."""
        until = to_db_time(datetime.now(UTC) + lease)

        async def unit(db: Connection) -> None:
            await db.execute(
                "UPDATE updates SET claimed_until = ? WHERE update_id = ? AND done_at IS NULL",
                (until, update_id),
            )

        await self._in_write(unit)

    async def pending(self) -> list[Pending]:
        """Updates not yet handled, oldest first."""
        async with self._read() as db:
            rows = await db.fetch(
                "SELECT update_id, raw, attempts FROM updates WHERE done_at IS NULL"
                " ORDER BY update_id"
            )
        return [Pending(r["update_id"], json.loads(r["raw"]), r["attempts"]) for r in rows]

    async def started(self, update_id: int) -> int:
        """Count one more attempt at handling this update; returns the count."""

        async def unit(db: Connection) -> int:
            row = await db.fetchone(
                "UPDATE updates SET attempts = attempts + 1 WHERE update_id = ? RETURNING attempts",
                (update_id,),
            )
            return int(row["attempts"]) if row is not None else 0

        return await self._in_write(unit)

    async def done(self, update_id: int) -> None:
        """Handled (or given up on): blank its JSON, keep the id for dedupe."""
        now = to_db_time(datetime.now(UTC))

        async def unit(db: Connection) -> None:
            await db.execute(
                "UPDATE updates SET raw = NULL, done_at = ? WHERE update_id = ?", (now, update_id)
            )

        await self._in_write(unit)
        if self._wipe is None or self._wipe.done():
            self._wipe = asyncio.create_task(self._wipe_soon())

    async def _wipe_soon(self) -> None:
        await asyncio.sleep(CHECKPOINT_AFTER)
        await self._checkpoint()

    async def close(self) -> None:
        if self._wipe is not None:
            self._wipe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._wipe
        with contextlib.suppress(Exception):  # best effort, as in Database._checkpoint
            await self._checkpoint()
        await super().close()

    async def forget_done(self, before: datetime | None = None) -> int:
        """Drop handled ids older than KEEP_DONE (or `before`); returns how many went."""
        cutoff = to_db_time(before or datetime.now(UTC) - KEEP_DONE)
        async with self._write() as db:
            return await db.execute(
                "DELETE FROM updates WHERE done_at IS NOT NULL AND done_at < ?", (cutoff,)
            )

    async def next_offset(self) -> int:
        """One past the highest update id ever kept (0 when empty): where polling resumes."""
        async with self._read() as db:
            row = await db.fetchone("SELECT max(update_id) AS top FROM updates")
        top = None if row is None else row["top"]
        return 0 if top is None else int(top) + 1
