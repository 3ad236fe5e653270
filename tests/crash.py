"""Restart mid-burst, as issue 15 measured it: N people send a selfie at once, the bot is killed
(kill -9, or SIGTERM with --term) at a random moment, restarted on the same database; repeated.

    python -m tests.crash [--rounds 5] [--people 60] [--term]

The moment is uniform over the burst (10-90% of the time a first, unkilled round took to answer
everyone), so every kill lands while replies are going out.

Prints per round how many selfies were unanswered before the kill, and after the restart how
many are still unanswered, answered twice, and readings lost or doubled. A script, not a test
(tests/test_restart.py is the test).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

from tests import media
from tests.botproc import BotProcess
from tests.loopback import serving
from tests.telegram_stub import TelegramStub


def answered(stub: TelegramStub, people: range) -> Counter[int]:
    calls = stub.calls("sendMessage", since=0)
    return Counter(c.params["chat_id"] for c in calls if c.ok and c.params["chat_id"] in people)


@contextlib.asynccontextmanager
async def burst(people: range) -> AsyncIterator[tuple[TelegramStub, BotProcess, float]]:
    """A bot on a fresh database, everyone's selfie just sent: the stand-in, the bot and when
    the burst began."""
    with tempfile.TemporaryDirectory() as tmp, serving(TelegramStub()) as stub:
        bot = BotProcess(stub, Path(tmp) / "crash.sqlite3")
        try:
            await bot.start()
            photo = stub.user_photo_sizes(media.selfie_1000x750())
            began = time.monotonic()
            for person in people:
                stub.send_message(person, photo=photo)
            yield stub, bot, began
        finally:
            bot.stop()


async def everyone_answered(stub: TelegramStub, people: range, poll: float) -> None:
    while set(answered(stub, people)) != set(people):
        await asyncio.sleep(poll)


async def burst_seconds(people: range) -> float:
    """How long the bot takes to answer everyone when nothing kills it."""
    async with burst(people) as (stub, _, began):
        await everyone_answered(stub, people, poll=0.01)
        return time.monotonic() - began


async def one_round(
    people: range, term: bool, seed: int, seconds: float
) -> tuple[int, int, int, int]:
    async with burst(people) as (stub, bot, _):
        await asyncio.sleep(random.Random(seed).uniform(0.1, 0.9) * seconds)  # mid-burst
        await asyncio.to_thread(bot.terminate if term else bot.kill)
        before = len(people) - len(answered(stub, people))
        await bot.start()
        async with asyncio.timeout(120):
            await everyone_answered(stub, people, poll=0.1)
        await asyncio.sleep(2.0)  # room for a late duplicate
        counts = answered(stub, people)
        with contextlib.closing(sqlite3.connect(bot.db)) as con:
            kept = Counter(u for (u,) in con.execute("SELECT user_id FROM readings"))
    twice = sum(1 for p in people if counts[p] > 1)
    bad_readings = sum(1 for p in people if kept[p] != 1)
    return before, len(people) - len(counts), twice, bad_readings


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--people", type=int, default=60)
    p.add_argument("--term", action="store_true", help="SIGTERM instead of kill -9")
    args = p.parse_args(argv)
    people = range(20_000, 20_000 + args.people)
    how = "SIGTERM" if args.term else "kill -9"
    totals = Counter[str]()
    seconds = asyncio.run(burst_seconds(people))
    print(f"an unkilled burst of {args.people} is answered in {seconds:.2f} s", flush=True)
    for n in range(args.rounds):
        before, never, twice, bad = asyncio.run(one_round(people, args.term, n, seconds))
        totals.update(before=before, never=never, twice=twice, bad=bad)
        print(
            f"round {n + 1} ({how}): {before} unanswered at the kill; after restart "
            f"{never} unanswered, {twice} answered twice, {bad} readings lost or doubled",
            flush=True,
        )
    print(
        f"total over {args.rounds} rounds: {totals['before']} unanswered at the kill; "
        f"{totals['never']} never answered, {totals['twice']} answered twice, "
        f"{totals['bad']} readings lost or doubled"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
