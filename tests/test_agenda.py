"""Reminders as database rows (bot/agenda.py): next occurrences across daylight saving, and
claims shared out between workers on one database, each due reminder taken exactly once."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import closing
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.account import REMINDER_LATE
from bot.agenda import Claim, Kind, claim_sql, next_due
from bot.database import MIGRATIONS
from bot.diary import UserSettings
from bot.service import MoodTune
from bot.storage import Storage

LEASE = timedelta(minutes=10)
T = datetime(2026, 3, 15, 9, 0, tzinfo=UTC)  # a Sunday
BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")


def daily(zone: str, hh: int, mm: int = 0) -> UserSettings:
    return UserSettings(1, timezone=zone, remind_at=time(hh, mm))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def occurrences(person: UserSettings, kind: Kind, after: datetime, n: int) -> list[datetime]:
    """The next `n` occurrences, each found from the one before as a worker does."""
    found: list[datetime] = []
    for _ in range(n):
        nxt = next_due(person, kind, after)
        assert nxt is not None
        found.append(nxt)
        after = nxt
    return found


# -- next occurrence ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "start", "expected_utc"),
    [
        # Berlin springs forward on 29 Mar 2026, 02:00 CET -> 03:00 CEST: 08:00 stays 08:00.
        ("Europe/Berlin", utc(2026, 3, 27, 12), [utc(2026, 3, 28, 7), utc(2026, 3, 29, 6)]),
        # ...and falls back on 25 Oct 2026.
        ("Europe/Berlin", utc(2026, 10, 23, 12), [utc(2026, 10, 24, 6), utc(2026, 10, 25, 7)]),
        # New York: 8 Mar 2026 (EST -> EDT) and 1 Nov 2026 (EDT -> EST).
        ("America/New_York", utc(2026, 3, 6, 18), [utc(2026, 3, 7, 13), utc(2026, 3, 8, 12)]),
        ("America/New_York", utc(2026, 10, 30, 18), [utc(2026, 10, 31, 12), utc(2026, 11, 1, 13)]),
    ],
)
def test_a_daily_nudge_keeps_its_local_time_across_a_change(zone, start, expected_utc):
    person = daily(zone, 8)
    found = occurrences(person, Kind.DAILY, start, 2)
    assert found == expected_utc
    assert [f.astimezone(ZoneInfo(zone)).strftime("%H:%M") for f in found] == ["08:00", "08:00"]


@pytest.mark.parametrize(
    ("zone", "hh", "mm", "start", "change_day"),
    [
        ("Europe/Berlin", 2, 30, utc(2026, 3, 26), 29),  # 02:00 -> 03:00
        ("America/New_York", 2, 30, utc(2026, 3, 5), 8),  # 02:00 -> 03:00
        ("America/New_York", 2, 0, utc(2026, 3, 5), 8),  # the first skipped minute itself
    ],
)
def test_a_time_skipped_by_spring_forward_is_sent_at_the_first_valid_time_after(
    zone, hh, mm, start, change_day
):
    tz = ZoneInfo(zone)
    found = occurrences(daily(zone, hh, mm), Kind.DAILY, start, 6)
    local = [f.astimezone(tz) for f in found]
    assert [d.day for d in local] == list(range(change_day - 3, change_day + 3))  # each day once
    for when in local:
        expected = "03:00" if when.day == change_day else f"{hh:02d}:{mm:02d}"
        assert when.strftime("%H:%M") == expected, when


@pytest.mark.parametrize(
    ("zone", "hh", "start", "change_day", "first_utc"),
    [
        # 02:30 happens twice in Berlin on 25 Oct 2026 (CEST, then CET): sent at the first.
        ("Europe/Berlin", 2, utc(2026, 10, 22), 25, utc(2026, 10, 25, 0, 30)),
        # 01:30 twice in New York on 1 Nov 2026 (EDT, then EST).
        ("America/New_York", 1, utc(2026, 10, 29), 1, utc(2026, 11, 1, 5, 30)),
    ],
)
def test_a_time_repeated_by_fall_back_is_sent_once(zone, hh, start, change_day, first_utc):
    tz = ZoneInfo(zone)
    found = occurrences(daily(zone, hh, 30), Kind.DAILY, start, 6)
    days = [f.astimezone(tz).day for f in found]
    assert len(set(days)) == len(days) == 6  # one a day, the change day included
    assert first_utc in found and first_utc + timedelta(hours=1) not in found
    assert {f.astimezone(tz).strftime("%H:%M") for f in found} == {f"{hh:02d}:30"}
    assert change_day in days


def test_the_weekly_summary_is_sunday_at_seven_local_across_a_change():
    person = UserSettings(1, timezone="America/New_York", weekly_day=6)
    found = occurrences(person, Kind.WEEKLY, utc(2026, 2, 25), 3)
    assert found == [utc(2026, 3, 2, 0), utc(2026, 3, 8, 23), utc(2026, 3, 15, 23)]
    assert {f.astimezone(NEW_YORK).strftime("%a %H:%M") for f in found} == {"Sun 19:00"}
    # Due now is not "next": strictly after.
    assert next_due(person, Kind.WEEKLY, utc(2026, 3, 8, 23)) == utc(2026, 3, 15, 23)


def test_no_occurrence_without_the_setting():
    assert next_due(UserSettings(1), Kind.DAILY, T) is None
    assert next_due(UserSettings(1, remind_at=time(8)), Kind.WEEKLY, T) is None


def test_the_claim_differs_between_databases_by_the_lock_clause_only():
    sqlite, postgres = claim_sql(skip_locked=False), claim_sql(skip_locked=True)
    assert "FOR UPDATE SKIP LOCKED" in postgres and "FOR UPDATE" not in sqlite
    assert postgres.replace(" FOR UPDATE SKIP LOCKED", "") == sqlite


# -- rows, claims, workers ---------------------------------------------------------------------

Opener = Callable[[], Awaitable[Storage]]


@pytest.fixture
async def open_storage(database_url) -> AsyncIterator[Opener]:
    """Opens workers' Storage objects on ONE database (each its own connection), closed at the
    end; on SQLite and on PostgreSQL."""
    opened: list[Storage] = []

    async def opener() -> Storage:
        storage = await Storage.open(database_url)
        opened.append(storage)
        return storage

    yield opener
    for storage in opened:
        await storage.close()


async def test_setting_a_reminder_writes_its_row_and_a_new_zone_moves_it(open_storage):
    storage = await open_storage()
    before = T - timedelta(hours=2)  # 07:00 UTC
    await storage.set_reminder(1, time(8, 30), now=before)
    assert await storage.reminders_of(1) == {Kind.DAILY: utc(2026, 3, 15, 8, 30)}
    await storage.set_weekly_day(1, 6, now=before)
    assert (await storage.reminders_of(1))[Kind.WEEKLY] == utc(2026, 3, 15, 19)
    # They move to Seoul (UTC+9), where it is 16:00: 08:30 there is 23:30 UTC, and Sunday
    # 19:00 is 10:00 UTC, today still.
    await storage.set_timezone(1, "Asia/Seoul", now=before)
    assert await storage.reminders_of(1) == {
        Kind.DAILY: utc(2026, 3, 15, 23, 30),
        Kind.WEEKLY: utc(2026, 3, 15, 10),
    }
    await storage.set_reminder(1, None, now=before)
    assert set(await storage.reminders_of(1)) == {Kind.WEEKLY}
    await storage.delete_user(1)
    assert await storage.reminders_of(1) == {}


async def test_a_claim_sends_once_and_then_waits_for_the_next_occurrence(open_storage):
    storage = await open_storage()
    await storage.set_reminder(1, time(9, 0), now=T - timedelta(minutes=5))
    assert await storage.claim_due(T - timedelta(seconds=1), LEASE, 10) == []  # not yet
    [claim] = await storage.claim_due(T, LEASE, 10)
    assert (claim.user_id, claim.kind, claim.due_at) == (1, Kind.DAILY, T)
    assert await storage.claim_due(T, LEASE, 10) == []  # leased
    assert await storage.finish(claim, T + timedelta(seconds=3))
    assert await storage.reminders_of(1) == {Kind.DAILY: T + timedelta(days=1)}
    assert await storage.claim_due(T + timedelta(hours=23), LEASE, 10) == []


async def test_a_lease_left_by_a_crashed_worker_runs_out_and_another_sends_it(open_storage):
    crashed, other = await open_storage(), await open_storage()
    await crashed.set_reminder(1, time(9, 0), now=T - timedelta(minutes=5))
    [lost] = await crashed.claim_due(T, LEASE, 10)  # ...and the worker dies before sending
    assert await other.claim_due(T + LEASE - timedelta(seconds=1), LEASE, 10) == []
    [retry] = await other.claim_due(T + LEASE, LEASE, 10)
    assert retry.due_at == T and retry.lease != lost.lease
    # Had the first worker only been slow, its late finish changes nothing: the lease moved on.
    assert not await crashed.finish(lost, T + LEASE + timedelta(seconds=1))
    assert await other.finish(retry, T + LEASE + timedelta(seconds=2))
    assert await other.reminders_of(1) == {Kind.DAILY: T + timedelta(days=1)}


async def test_changing_the_setting_while_it_is_being_sent_keeps_the_new_one(open_storage):
    storage = await open_storage()
    await storage.set_reminder(1, time(9, 0), now=T - timedelta(minutes=5))
    [claim] = await storage.claim_due(T, LEASE, 10)
    await storage.set_reminder(1, time(21, 0), now=T)
    assert not await storage.finish(claim, T)
    assert await storage.reminders_of(1) == {Kind.DAILY: utc(2026, 3, 15, 21)}
    [claim] = await storage.claim_due(utc(2026, 3, 15, 21), LEASE, 10)
    await storage.set_reminder(1, None, now=T)  # off while in flight: stays off
    assert not await storage.finish(claim, T)
    assert await storage.reminders_of(1) == {}


async def test_two_workers_claiming_at_once_take_each_due_reminder_exactly_once(open_storage):
    first, second = await open_storage(), await open_storage()
    people = range(1, 61)
    for user in people:
        await first.set_reminder(user, time(9, 0), now=T - timedelta(minutes=5))
        if user % 3 == 0:
            await first.set_weekly_day(user, 6, now=T - timedelta(hours=12))
    await first.set_reminder(99, time(9, 1), now=T - timedelta(minutes=5))  # not due yet

    now = T + timedelta(seconds=30)
    # Rounds in step, so the two claims of each round race for the write lock (without it,
    # SQLite's busy wait can leave one worker out altogether); 15 rounds of 2 x 3 is plenty.
    start = asyncio.Barrier(2)

    async def worker(storage: Storage) -> list[Claim]:
        taken: list[Claim] = []
        for _ in range(15):
            await start.wait()
            claims = await storage.claim_due(now, LEASE, 3)
            taken += claims
            for claim in claims:
                assert await storage.finish(claim, now)
        return taken

    a, b = await asyncio.gather(worker(first), worker(second))
    taken = [(c.user_id, c.kind) for c in a + b]
    due = [(u, Kind.DAILY) for u in people]
    assert sorted(taken) == sorted(due)  # each exactly once, none missed, none early
    assert a and b, "both workers should have claimed some"
    assert await first.claim_due(now, LEASE, 100) == []
    for user in (1, 3):
        assert (await first.reminders_of(user))[Kind.DAILY] == T + timedelta(days=1)
    assert (await first.reminders_of(3))[Kind.WEEKLY] == utc(2026, 3, 15, 19)


async def test_people_who_opted_in_before_the_rows_existed_get_theirs(tmp_path):
    path = tmp_path / "v9.sqlite3"
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        for version, migration in enumerate(MIGRATIONS[:9], start=1):
            for statement in migration.sqlite:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {version}")
        for user, remind_at, weekly_day in ((1, "08:00", None), (2, None, 0), (3, None, None)):
            db.execute(
                "INSERT INTO users (user_id, created_at, timezone, remind_at, weekly_day)"
                " VALUES (?, '2026-01-01T00:00:00.000000Z', 'Europe/Berlin', ?, ?)",
                (user, remind_at, weekly_day),
            )
    async with await Storage.open(path) as storage:
        assert await storage.reminders_of(1) == {Kind.DAILY: None}  # planned on the next scan
        assert await storage.plan_unscheduled(T) == 2
        assert await storage.plan_unscheduled(T) == 0
        assert await storage.reminders_of(1) == {Kind.DAILY: utc(2026, 3, 16, 7)}  # 08:00 CET
        assert await storage.reminders_of(2) == {Kind.WEEKLY: utc(2026, 3, 16, 18)}  # Mon 19:00
        assert await storage.reminders_of(3) == {}


async def test_a_reminder_overdue_by_more_than_an_hour_is_skipped_not_sent(
    open_storage, recommender
):
    storage = await open_storage()
    clock = Clock(T - timedelta(minutes=5))
    service = MoodTune(None, recommender, storage, clock)  # these paths read no photo
    await service.remind_daily(1, time(9, 0))
    await service.remind_daily(2, time(9, 30))
    clock.now = T + REMINDER_LATE + timedelta(minutes=1)  # the workers were down until now
    [claim] = await service.due_reminders(10)
    assert claim.user_id == 2  # 31 minutes late: still sent
    assert await storage.reminders_of(1) == {Kind.DAILY: T + timedelta(days=1)}  # skipped
    await service.reminder_sent(claim)
    assert await service.due_reminders(10) == []


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
