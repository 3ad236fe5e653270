"""Restarts mid-burst (issue 15): kill -9 and SIGTERM of a real bot process, then a restart on
the same database. Every selfie is answered once, and every reading is kept once."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections import Counter
from pathlib import Path

from tests import media
from tests.botproc import BotProcess
from tests.telegram_stub import Dropped, JSONDict, TelegramStub

PEOPLE = range(5001, 5041)  # 40 people, one selfie each


class SendGate:
    """While closed, holds every sendMessage in the stub; opening it drops the held ones
    unanswered (the bot was killed meanwhile: Telegram never saw them)."""

    def __init__(self, stub: TelegramStub) -> None:
        self.closed = False
        self.held = 0
        self.passed = 0  # let through while open
        self._stub = stub
        self._open = threading.Event()
        self._lock = threading.Lock()
        stub.add_hook("sendMessage", self._hook)

    def _hook(self, params: JSONDict) -> None:
        with self._lock:
            if not self.closed:
                self.passed += 1
                return
            self.held += 1
        self._open.wait()
        raise Dropped

    def close(self) -> None:
        with self._lock:
            self.closed = True

    def landed(self) -> bool:
        """Closed, and every reply let through before has been recorded: none is still on its
        way past the gate (a kill then would race one Telegram accepts)."""
        with self._lock:
            passed = self.passed
        return self.closed and len(self._stub.calls("sendMessage", since=0)) >= passed

    def open(self) -> None:
        self.closed = False
        self._open.set()


def answers(stub: TelegramStub) -> Counter[int]:
    """Selfie replies that reached each person (songs or a mood question)."""
    return Counter(
        c.params["chat_id"]
        for c in stub.calls("sendMessage", since=0)
        if c.ok and c.params["chat_id"] in PEOPLE
    )


def done(db: Path) -> int:
    """Updates the bot has marked handled in its journal."""
    with contextlib.closing(sqlite3.connect(db)) as con:
        return con.execute("SELECT count(*) FROM updates WHERE done_at IS NOT NULL").fetchone()[0]


def readings(db: Path) -> Counter[int]:
    with contextlib.closing(sqlite3.connect(db)) as con:
        return Counter(u for (u,) in con.execute("SELECT user_id FROM readings"))


async def until(condition, timeout: float = 120.0) -> None:
    """Look until `condition()` holds: the bot is another process, the stub another thread."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


async def all_answered_once(stub: TelegramStub, db: Path) -> None:
    await until(lambda: set(answers(stub)) == set(PEOPLE))
    mark = stub.mark()
    await stub.expect_no_call("sendMessage", within=1.0)  # a late duplicate would show here
    assert not stub.calls("sendMessage", since=mark)
    assert answers(stub) == Counter(dict.fromkeys(PEOPLE, 1)), "answered twice"
    assert readings(db) == Counter(dict.fromkeys(PEOPLE, 1)), "a reading lost or doubled"


async def test_kill_9_mid_burst_loses_nothing_and_doubles_nothing(
    telegram_stub: TelegramStub, tmp_path
):
    """Some answered, some read and stored but their reply not out, some not read yet: then
    kill -9. After the restart each of them has one reply and one reading."""
    bot = BotProcess(telegram_stub, tmp_path / "db.sqlite3")
    gate = SendGate(telegram_stub)
    try:
        for round_ in range(2):
            await bot.start()
            if round_ == 0:
                for person in PEOPLE:
                    telegram_stub.send_photo(person, media.smiling_jpeg())
                await until(lambda: sum(answers(telegram_stub).values()) >= 8)
                gate.close()
                await until(lambda: gate.held >= 3)  # replies stuck on their way out
                # Kill once every reply that got through is marked done: one Telegram accepted
                # but not yet marked is sent again after a restart, the Bot API's one unavoidable
                # duplicate (python -m tests.crash counts it), which this test is not about.
                await until(gate.landed)
                await until(lambda: done(bot.db) >= len(answers(telegram_stub)))
                bot.kill()
                assert sum(answers(telegram_stub).values()) < len(PEOPLE)
                gate.open()
        await all_answered_once(telegram_stub, bot.db)
    finally:
        gate.open()
        bot.stop()
    assert "Traceback" not in bot.stderr()


async def test_sigterm_finishes_what_is_in_flight(telegram_stub: TelegramStub, tmp_path):
    bot = BotProcess(telegram_stub, tmp_path / "db.sqlite3")
    try:
        await bot.start()
        for person in PEOPLE:
            telegram_stub.send_photo(person, media.smiling_jpeg())
        await until(lambda: sum(answers(telegram_stub).values()) >= 5)
        assert await asyncio.to_thread(bot.terminate) == 0
        # Everything the bot had taken from Telegram was answered before it exited.
        with contextlib.closing(sqlite3.connect(bot.db)) as con:
            left = con.execute("SELECT count(*) FROM updates WHERE done_at IS NULL").fetchone()
        assert left == (0,)
        await bot.start()  # the rest (never confirmed) is fetched again
        await all_answered_once(telegram_stub, bot.db)
    finally:
        bot.stop()
    assert "Traceback" not in bot.stderr()
