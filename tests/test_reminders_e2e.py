"""Reminders end to end: real Applications (workers) on one database, SQLite or PostgreSQL, the
Bot API stand-in, and a clock the test moves, so nothing waits for a real minute to pass."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, time, timedelta

import pytest

from bot import i18n, reminders, replies
from bot.app import build_application
from bot.settings import Settings
from bot.storage import Storage
from tests.e2e import Bot, db_rows, running
from tests.telegram_stub import ApiError, TelegramStub

DUE = datetime(2026, 3, 15, 19, 0, tzinfo=UTC)  # a Sunday, 19:00: also the weekly summary's hour
PEOPLE = range(3001, 3021)
WEEKLY = PEOPLE[:3]  # these also asked for the Sunday summary
BLOCKED = 3999  # blocked the bot since opting in
LANGUAGES = ("en", "ko", "es")


class Clock:
    """The workers' clock: stands still until the test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(autouse=True)
def fast_scans(monkeypatch):
    # Workers scan every 20 ms rather than 20 s, two reminders a claim, so the two workers
    # below interleave many times within the minute the clock shows.
    monkeypatch.setattr(reminders, "TICK", 0.02)
    monkeypatch.setattr(reminders, "BATCH", 2)


def settings_for(stub: TelegramStub, db: str) -> Settings:
    return Settings(telegram_bot_token=stub.token, telegram_api_url=stub.root_url, database_url=db)


@contextlib.asynccontextmanager
async def workers(n: int, settings: Settings, clock: Clock, analyzer, recommender, stub):
    """`n` bot Applications on the one database, each running until the block ends."""
    async with contextlib.AsyncExitStack() as stack:
        mark = stub.mark()
        for _ in range(n):
            app = build_application(settings, analyzer, recommender, clock=clock)
            await stack.enter_async_context(running(app))
        # Each worker sets its command menu (3 languages) just before its scans start.
        await stub.wait_for("setMyCommands", count=3 * n, since=mark, timeout=60)
        yield


def in_their_language(user: int) -> tuple[str, str]:
    """(the nudge, the weekly summary's heading) as `user` reads them."""
    i18n.use(LANGUAGES[user % 3])
    try:
        return replies.NUDGE, i18n._("📅 Your week")
    finally:
        i18n.use("en")


async def opted_in(db: str, clock: Clock, stub: TelegramStub) -> None:
    async with await Storage.open(db) as storage:
        for user in [*PEOPLE, BLOCKED]:
            stub.add_user(user)
            await storage.set_language(user, LANGUAGES[user % 3])
            await storage.set_reminder(user, time(19, 0), now=clock.now)
        for user in WEEKLY:
            await storage.set_weekly_day(user, 6, now=clock.now)


async def until(check, timeout: float = 10.0) -> None:
    """Until `check()` holds: the bot runs in other threads, there is no event to wait on."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


def rows(db: str, sql: str) -> list[tuple]:
    return db_rows(db, sql)


async def test_twenty_people_due_the_same_minute_on_two_workers_get_one_each(
    telegram_stub: TelegramStub, database_url, analyzer, recommender
):
    db = database_url
    clock = Clock(DUE - timedelta(minutes=5))
    await opted_in(db, clock, telegram_stub)

    def blocked(params: dict) -> None:
        if params.get("chat_id") == BLOCKED:
            raise ApiError(403, "Forbidden: bot was blocked by the user")

    telegram_stub.add_hook("sendMessage", blocked)
    settings = settings_for(telegram_stub, db)
    async with workers(2, settings, clock, analyzer, recommender, telegram_stub):
        mark = telegram_stub.mark()
        await telegram_stub.expect_no_call("sendMessage", within=0.3, since=mark)  # not yet
        clock.now = DUE + timedelta(seconds=1)
        expected = len(PEOPLE) + len(WEEKLY) + 1  # the blocked one is tried once
        calls = await telegram_stub.wait_for("sendMessage", count=expected, since=mark)
        # Many more scans by both workers: nothing is sent twice.
        await telegram_stub.expect_no_call("sendMessage", within=1.0, since=calls[-1].seq)
        sent: dict[int, list[str]] = {}
        for call in telegram_stub.calls("sendMessage", since=mark):
            sent.setdefault(call.params["chat_id"], []).append(call.params["text"])
        assert set(sent) == {*PEOPLE, BLOCKED}
        for user in PEOPLE:
            nudge, heading = in_their_language(user)
            nudges = [t for t in sent[user] if t == nudge]
            summaries = [t for t in sent[user] if t.startswith(heading)]
            assert len(nudges) == 1, (user, sent[user])  # exactly one, in their language
            assert len(summaries) == (user in WEEKLY), (user, sent[user])
            assert len(sent[user]) == len(nudges) + len(summaries)
        # Blocked: their reminders are switched off, for good.
        await until(lambda: rows(db, f"SELECT * FROM reminders WHERE user_id = {BLOCKED}") == [])
        assert rows(db, f"SELECT remind_at, weekly_day FROM users WHERE user_id = {BLOCKED}") == [
            (None, None)
        ]

        # The next day at the same time: one each again (no summary, that is weekly).
        mark = telegram_stub.mark()
        clock.now = DUE + timedelta(days=1) - timedelta(seconds=1)
        await telegram_stub.expect_no_call("sendMessage", within=0.3, since=mark)
        clock.now = DUE + timedelta(days=1)
        calls = await telegram_stub.wait_for("sendMessage", count=len(PEOPLE), since=mark)
        await telegram_stub.expect_no_call("sendMessage", within=0.5, since=calls[-1].seq)
        assert sorted(c.params["chat_id"] for c in calls) == list(PEOPLE)


async def test_a_reminder_set_with_remind_is_sent_after_a_restart(
    telegram_stub: TelegramStub, database_url, analyzer, recommender
):
    db = database_url
    alice = 1001
    clock = Clock(datetime(2026, 3, 15, 8, 0, tzinfo=UTC))
    settings = settings_for(telegram_stub, db)
    async with workers(1, settings, clock, analyzer, recommender, telegram_stub):
        harness = Bot(telegram_stub, db)
        assert "08:30" in (await harness.say(alice, "/remind 8:30"))["text"]
        assert "Berlin" in (await harness.say(alice, "/settings Berlin"))["text"]
    # 08:30 in Berlin is 07:30 UTC: planned for tomorrow (it's 09:00 there already).
    assert rows(db, "SELECT kind, due_at FROM reminders") == [
        ("daily", "2026-03-16T07:30:00.000000Z")
    ]
    clock.now = datetime(2026, 3, 16, 7, 30, 5, tzinfo=UTC)
    mark = telegram_stub.mark()
    async with workers(1, settings, clock, analyzer, recommender, telegram_stub):
        (nudge,) = await telegram_stub.wait_for(
            "sendMessage", lambda c: c.params["chat_id"] == alice, since=mark
        )
        assert nudge.params["text"] == replies.NUDGE
        await until(lambda: rows(db, "SELECT due_at FROM reminders")[0][0] > "2026-03-16T08")
        harness = Bot(telegram_stub, db)
        mark = telegram_stub.mark()
        await harness.say(alice, "/remind off")
    assert rows(db, "SELECT * FROM reminders") == []
    assert rows(db, "SELECT remind_at, weekly_day FROM users") == [(None, None)]
