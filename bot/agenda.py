"""Daily nudges and weekly summaries as rows with their next due time, claimed by any worker.

* One row per (person, kind) in ``reminders`` while they opted in; ``due_at`` is the next
  occurrence (UTC, bot/database.to_db_time), NULL for "plan on the next scan" (the migration's
  backfill). Their settings (users.remind_at, weekly_day, timezone) stay the truth: every setter
  of those rewrites the rows in the same transaction (`_plan`).
* Delivery is a lease, so at least once: `claim_due` marks due rows ``leased_until`` a lease
  ahead in ONE statement (two workers can't both take a row: ``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), the worker sends, then `finish` moves ``due_at``
  to the next occurrence if it still holds the lease. Without crashes each is sent exactly once
  (a send finishes well within the lease). A worker killed after claiming leaves its rows
  leased: another sends them once the lease runs out, a few minutes late rather than never;
  only a kill between Telegram's answer and `finish` sends one twice. Claim-advances-first
  (at most once) would silently drop every unsent row of a claimed batch on each deploy.
* Next occurrence in the person's zone (`next_due`): a local time skipped by a spring-forward
  change is sent at the first valid time after it; one repeated by a fall-back change, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bot.database import Connection, Database, from_db_time, to_db_time
from bot.diary import UserSettings

WEEKLY_AT = time(19, 0)  # local time of the weekly summary


class Kind(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"


@dataclass(frozen=True, slots=True)
class Claim:
    """A due reminder this worker holds until `lease` (as stored: the claim's token)."""

    user_id: int
    kind: Kind
    due_at: datetime  # the occurrence being sent
    lease: str


def next_due(person: UserSettings, kind: Kind, after: datetime) -> datetime | None:
    """The first occurrence of this reminder strictly after `after` (aware, UTC), or None
    when they haven't opted into it."""
    at = person.remind_at if kind is Kind.DAILY else WEEKLY_AT
    if at is None or (kind is Kind.WEEKLY and person.weekly_day is None):
        return None
    tz = person.tzinfo
    start = after.astimezone(tz).date()
    for days in range(9):  # a week, plus a day either side of a date-line change
        day = start + timedelta(days=days)
        if kind is Kind.WEEKLY and day.weekday() != person.weekly_day:
            continue
        when = local_instant(day, at, tz)
        if when > after:
            return when
    raise AssertionError("no occurrence within 9 days")  # pragma: no cover


def local_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """`day` at local `at` as a UTC instant: the earlier one when the clock shows it twice
    (fall back), the end of the gap when it skips it (spring forward)."""
    wall = datetime.combine(day, at)
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    # In a gap, fold=1 reads the wall time with the offset after the change: an instant just
    # before it. The change itself, the first minute the clock shows after the gap, is ahead.
    moment = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    before = moment.astimezone(tz).utcoffset()
    while moment.astimezone(tz).utcoffset() == before:
        moment += timedelta(minutes=1)
    return moment.replace(second=0, microsecond=0)


def claim_sql(skip_locked: bool) -> str:
    """Lease up to `limit` due rows, earliest first, in one statement; the only difference
    between the databases is the lock clause (PostgreSQL skips rows another worker holds)."""
    lock = " FOR UPDATE SKIP LOCKED" if skip_locked else ""
    return (
        "UPDATE reminders SET leased_until = ?"
        " WHERE (user_id, kind) IN ("
        "SELECT user_id, kind FROM reminders"
        " WHERE due_at <= ? AND (leased_until IS NULL OR leased_until <= ?)"
        f" ORDER BY due_at LIMIT ?{lock})"
        " RETURNING user_id, kind, due_at, leased_until"
    )


_PLAN_SQL = (
    "INSERT INTO reminders (user_id, kind, due_at) VALUES (?, ?, ?)"
    " ON CONFLICT (user_id, kind) DO UPDATE SET due_at = excluded.due_at, leased_until = NULL"
)
_DROP_SQL = "DELETE FROM reminders WHERE user_id = ? AND kind = ?"
_SETTINGS_SQL = "SELECT user_id, timezone, remind_at, weekly_day FROM users WHERE user_id = ?"


class Agenda(Database):
    """The reminder rows; bot/storage.Storage inherits them (one storage interface)."""

    async def _plan(self, db: Connection, person: UserSettings, now: datetime) -> None:
        """Inside a write: this person's rows as their settings say, due next after `now`."""
        for kind in Kind:
            due = next_due(person, kind, now)
            if due is None:
                await db.execute(_DROP_SQL, (person.user_id, kind.value))
            else:
                await db.execute(_PLAN_SQL, (person.user_id, kind.value, to_db_time(due)))

    async def plan_unscheduled(self, now: datetime, limit: int = 500) -> int:
        """Give rows without a due time (the migration's backfill) their next occurrence."""
        async with self._write() as db:
            rows = await db.fetch(
                "SELECT r.kind, u.user_id, u.timezone, u.remind_at, u.weekly_day"
                " FROM reminders AS r JOIN users AS u ON u.user_id = r.user_id"
                " WHERE r.due_at IS NULL LIMIT ?",
                (limit,),
            )
            for row in rows:
                due = next_due(_settings(row), Kind(row["kind"]), now)
                if due is None:
                    await db.execute(_DROP_SQL, (row["user_id"], row["kind"]))
                else:
                    await db.execute(
                        "UPDATE reminders SET due_at = ?"
                        " WHERE user_id = ? AND kind = ? AND due_at IS NULL",
                        (to_db_time(due), row["user_id"], row["kind"]),
                    )
        return len(rows)

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> list[Claim]:
        """Lease up to `limit` reminders due by `now`, earliest first; each row goes to one
        caller, across processes."""
        stamp = to_db_time(now)
        async with self._write() as db:
            rows = await db.fetch(
                claim_sql(db.dialect == "postgres"),
                (to_db_time(now + lease), stamp, stamp, limit),
            )
        return sorted(
            (
                Claim(r["user_id"], Kind(r["kind"]), from_db_time(r["due_at"]), r["leased_until"])
                for r in rows
            ),
            key=lambda c: (c.due_at, c.user_id, c.kind),
        )

    async def finish(self, claim: Claim, now: datetime) -> bool:
        """Sent (or given up): due next after this occurrence and `now`, if this claim still
        holds the lease (False: the lease ran out and another worker took it, or their
        settings changed meanwhile and already planned it anew)."""
        async with self._write() as db:
            row = await db.fetchone(_SETTINGS_SQL, (claim.user_id,))
            after = max(now, claim.due_at)
            due = next_due(_settings(row), claim.kind, after) if row is not None else None
            key = (claim.user_id, claim.kind.value, claim.lease)
            if due is None:
                return await db.execute(f"{_DROP_SQL} AND leased_until = ?", key) == 1
            return (
                await db.execute(
                    "UPDATE reminders SET due_at = ?, leased_until = NULL"
                    " WHERE user_id = ? AND kind = ? AND leased_until = ?",
                    (to_db_time(due), *key),
                )
                == 1
            )

    async def reminders_of(self, user_id: int) -> dict[Kind, datetime | None]:
        """This person's reminder rows: kind -> next due time (None: not planned yet)."""
        async with self._read() as db:
            rows = await db.fetch(
                "SELECT kind, due_at FROM reminders WHERE user_id = ?", (user_id,)
            )
        return {Kind(r["kind"]): from_db_time(r["due_at"]) if r["due_at"] else None for r in rows}


def _settings(row: Any) -> UserSettings:
    remind_at = row["remind_at"]
    return UserSettings(
        user_id=row["user_id"],
        timezone=row["timezone"],
        remind_at=time.fromisoformat(remind_at) if remind_at else None,
        weekly_day=row["weekly_day"],
    )
