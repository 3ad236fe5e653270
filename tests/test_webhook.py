"""Webhook mode (issue 16): the secret, bad bodies, readiness, one answer per update however
often Telegram delivers it, the claim between workers, and N worker processes on one port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from bot.delivery import MAX_ATTEMPTS
from bot.journal import Claim, Journal
from tests import media
from tests.telegram_stub import Call, TelegramStub
from tests.test_restart import SendGate
from tests.webhook import (
    SECRET,
    ThreadWorker,
    WorkerProcesses,
    healthy,
    listening_sockets,
    set_webhook,
    sockets_of,
    until,
    webhook_settings,
)

ALICE = 1001


def rows(db: Path, sql: str, *args) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(db)) as con:
        return con.execute(sql, args).fetchall()


def replies_to(stub: TelegramStub, chat_id: int) -> list[Call]:
    return [
        c for c in stub.calls("sendMessage", since=0) if c.ok and c.params["chat_id"] == chat_id
    ]


def pushes(stub: TelegramStub, update_id: int) -> list[Call]:
    return [c for c in stub.calls("push", since=0) if c.params["update_id"] == update_id]


@pytest.fixture
async def worker(telegram_stub: TelegramStub, tmp_path, analyzer, recommender):
    w = await ThreadWorker(webhook_settings(telegram_stub, tmp_path), analyzer, recommender).start()
    try:
        yield w
    finally:
        await w.stop()


async def test_without_the_secret_nothing_is_stored_or_sent(
    worker: ThreadWorker, telegram_stub: TelegramStub
):
    update = telegram_stub.send_text(ALICE, "/help")  # queued: no webhook set, nobody polls
    body = json.dumps(update)
    for secret in (None, "", "wrong", SECRET[:-1], SECRET + "x"):
        reply = await worker.post(body, secret=secret)
        assert reply.status_code == 403, secret
    assert rows(worker.settings.database_path, "SELECT count(*) FROM updates") == [(0,)]
    assert not telegram_stub.calls("sendMessage", since=0)
    # The same body with the secret: handled before the answer comes back.
    reply = await worker.post(body)
    assert reply.status_code == 200
    assert len(replies_to(telegram_stub, ALICE)) == 1
    assert reply.headers["X-MoodTune-Worker"].isdigit()


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        b"\xff\xfe",
        "[1, 2]",
        "42",
        "{}",
        '{"update_id": "7"}',
        '{"update_id": true}',
        '{"update_id": 1.5, "message": {}}',
    ],  # fmt: skip
)
async def test_bad_bodies_get_400_and_change_nothing(worker: ThreadWorker, body):
    reply = await worker.post(body)
    assert reply.status_code == 400  # not 5xx: Telegram would retry it forever
    assert rows(worker.settings.database_path, "SELECT count(*) FROM updates") == [(0,)]


async def test_healthz_says_503_until_the_worker_is_ready(
    telegram_stub: TelegramStub, tmp_path, analyzer, recommender
):
    arrived, release = threading.Event(), threading.Event()

    def booting(params) -> None:  # start-up waits here, in post_init's setMyCommands
        arrived.set()
        release.wait(60)

    telegram_stub.add_hook("setMyCommands", booting)
    settings = webhook_settings(telegram_stub, tmp_path)
    worker = await ThreadWorker(settings, analyzer, recommender).start(ready=False)
    try:
        assert await asyncio.to_thread(arrived.wait, 60)
        assert not await healthy(worker.base)
        update = telegram_stub.send_text(ALICE, "/help")
        reply = await worker.post(json.dumps(update))
        assert reply.status_code == 503 and reply.headers["Retry-After"].isdigit()
        release.set()
        await until(lambda: healthy(worker.base), 60)
        assert (await worker.post(json.dumps(update))).status_code == 200
        assert len(replies_to(telegram_stub, ALICE)) == 1
    finally:
        release.set()
        await worker.stop()


async def test_a_worker_that_could_not_start_tries_again(
    telegram_stub: TelegramStub, tmp_path, analyzer, recommender
):
    """Its start-up failed once (here Telegram refused getMe; on a deploy, the database not up
    yet): /healthz says 503, and the next attempt brings it up."""
    telegram_stub.fail("getMe", 400, "Bad Request: try later")
    settings = webhook_settings(telegram_stub, tmp_path)
    worker = await ThreadWorker(settings, analyzer, recommender).start()
    try:
        assert [c.ok for c in telegram_stub.calls("getMe", since=0)][:2] == [False, True]
        update = telegram_stub.send_text(ALICE, "/help")
        assert (await worker.post(json.dumps(update))).status_code == 200
        assert len(replies_to(telegram_stub, ALICE)) == 1
    finally:
        await worker.stop()


async def test_a_redelivered_update_is_answered_200_and_changes_nothing(
    worker: ThreadWorker, telegram_stub: TelegramStub
):
    set_webhook(telegram_stub, worker.url)
    update = telegram_stub.send_photo(ALICE, media.smiling_jpeg())
    await telegram_stub.wait_for("push", lambda c: c.ok, timeout=60)
    assert len(replies_to(telegram_stub, ALICE)) == 1
    mark = telegram_stub.mark()
    telegram_stub.push_update(update)  # the same update_id again
    (again,) = await telegram_stub.wait_for("push", timeout=60)
    assert again.ok and again.result["status"] == 200
    assert not telegram_stub.calls("sendMessage", since=mark)
    db = worker.settings.database_path
    assert rows(db, "SELECT count(*) FROM readings WHERE user_id = ?", ALICE) == [(1,)]
    assert rows(db, "SELECT attempts, raw FROM updates") == [(1, None)]


async def test_an_update_another_worker_holds_is_refused_then_taken_over(
    worker: ThreadWorker, telegram_stub: TelegramStub
):
    """Another worker claimed the selfie (its lease is live): this one answers 503, so
    Telegram keeps it; once that lease has run out (the worker died), a retry is handled."""
    update = telegram_stub.send_photo(ALICE, media.smiling_jpeg())  # queued: no webhook yet
    other = await Journal.open(worker.settings.database_path)
    try:
        claimed = await other.claim(update, lease=timedelta(seconds=1))
    finally:
        await other.close()
    assert claimed.claim is Claim.MINE
    set_webhook(telegram_stub, worker.url)
    await telegram_stub.wait_for("push", lambda c: c.ok, timeout=60)
    statuses = [c.result["status"] for c in pushes(telegram_stub, update["update_id"])]
    assert statuses[0] == 503 and statuses[-1] == 200, statuses
    assert len(replies_to(telegram_stub, ALICE)) == 1
    db = worker.settings.database_path
    assert rows(db, "SELECT count(*) FROM readings WHERE user_id = ?", ALICE) == [(1,)]
    assert rows(db, "SELECT attempts FROM updates") == [(2,)]  # the other's try, and this one


async def test_a_poison_update_or_one_that_keeps_failing_is_answered_200_and_dropped(
    worker: ThreadWorker, telegram_stub: TelegramStub
):
    """One PTB cannot read is skipped (a 5xx would have Telegram send it forever); one whose
    handling was started MAX_ATTEMPTS times already (it kept killing workers) is given up."""
    telegram_stub.add_user(ALICE)
    poison = {"update_id": 900, "message": {"message_id": 1, "date": "yesterday", "text": "/help",
              "chat": {"id": ALICE, "type": "private", "first_name": "A"}}}  # fmt: skip
    assert (await worker.post(json.dumps(poison))).status_code == 200
    killer = telegram_stub.send_text(ALICE, "/help")
    journal = await Journal.open(worker.settings.database_path)
    try:
        for _ in range(MAX_ATTEMPTS):  # three workers died handling it
            await journal.claim(killer, lease=timedelta(0))
    finally:
        await journal.close()
    assert (await worker.post(json.dumps(killer))).status_code == 200
    assert not telegram_stub.calls("sendMessage", since=0)
    db = worker.settings.database_path
    assert rows(db, "SELECT count(*) FROM updates WHERE done_at IS NULL") == [(0,)]
    assert (await worker.post(json.dumps(telegram_stub.send_text(ALICE, "/help")))).is_success
    assert len(replies_to(telegram_stub, ALICE)) == 1  # the next one is answered as ever


async def test_what_polling_left_unfinished_is_handled_after_a_switch_to_webhooks(
    telegram_stub: TelegramStub, tmp_path, analyzer, recommender
):
    """Polling had taken the update from Telegram (confirmed, so never sent again) but not
    handled it when the bot was switched to webhook mode: a worker handles it as it boots."""
    settings = webhook_settings(telegram_stub, tmp_path)
    update = telegram_stub.send_text(ALICE, "/help")
    journal = await Journal.open(settings.database_path)
    try:
        assert await journal.add([update]) == [update["update_id"]]
    finally:
        await journal.close()
    worker = await ThreadWorker(settings, analyzer, recommender).start()
    try:
        await telegram_stub.wait_for("sendMessage", timeout=60)
        assert len(replies_to(telegram_stub, ALICE)) == 1

        async def marked_done() -> bool:  # written once the reply's send has returned
            return rows(settings.database_path, "SELECT done_at IS NOT NULL FROM updates") == [(1,)]

        await until(marked_done, 30)
    finally:
        await worker.stop()


async def test_two_worker_processes_answer_each_selfie_once(
    telegram_stub: TelegramStub, tmp_path, database_url: str
):
    """`moodtune run --webhook --workers 2` on one port and one database: each worker listens
    on a socket of its own (SO_REUSEPORT: the kernel spreads connections over them), and a
    burst of selfies through Telegram's push is answered once each, read once each."""
    people = range(7001, 7021)
    workers = WorkerProcesses(telegram_stub, tmp_path, workers=2, DATABASE_URL=database_url)
    workers.start()
    try:
        # Each worker sets the command menu (3 languages) as it boots; a worker still booting
        # answers 503 and Telegram delivers again.
        await telegram_stub.wait_for("setMyCommands", count=6, timeout=180)
        await until(lambda: healthy(workers.base), 60)
        first, second = workers.worker_pids()
        listening = listening_sockets(workers.port)
        assert len(listening) == 2, "not one listening socket for each worker"
        assert len(sockets_of(first) & listening) == len(sockets_of(second) & listening) == 1
        assert sockets_of(first) & sockets_of(second) & listening == set()
        # Registering the webhook is a deploy step (`moodtune webhook set`), never a worker's.
        assert not telegram_stub.calls("setWebhook", 0) + telegram_stub.calls("deleteWebhook", 0)
        set_webhook(telegram_stub, workers.url, max_connections=20)
        for person in people:
            telegram_stub.send_photo(person, media.smiling_jpeg())
        await telegram_stub.wait_for("push", lambda c: c.ok, count=len(people), timeout=180)
        mark = telegram_stub.mark()
        await telegram_stub.expect_no_call("sendMessage", within=1.0)  # a late duplicate
        assert not telegram_stub.calls("sendMessage", since=mark)
        answered = Counter(c.params["chat_id"] for c in telegram_stub.calls("sendMessage", 0))
        assert answered == Counter(dict.fromkeys(people, 1))
        assert await readings(database_url) == Counter(dict.fromkeys(people, 1))
        assert await asyncio.to_thread(workers.terminate) == 0
    finally:
        workers.stop()
    assert "Traceback" not in workers.stderr(), workers.stderr()


async def test_sigterm_lets_the_workers_finish_what_they_hold(
    telegram_stub: TelegramStub, tmp_path
):
    """SIGTERM to `moodtune run --webhook --workers 2` while a selfie's reply is on its way:
    the supervisor passes it on, the worker finishes the selfie and answers it 200 before it
    exits, and the supervisor exits 0 once both workers have."""
    workers = WorkerProcesses(telegram_stub, tmp_path, workers=2)
    held, release = threading.Event(), threading.Event()
    workers.start()
    try:
        await telegram_stub.wait_for("setMyCommands", count=6, timeout=180)
        set_webhook(telegram_stub, workers.url)
        telegram_stub.add_hook("sendMessage", lambda params: (held.set(), release.wait(60)))
        telegram_stub.send_photo(ALICE, media.smiling_jpeg())
        assert await asyncio.to_thread(held.wait, 60)
        pids, listening = workers.worker_pids(), listening_sockets(workers.port)
        stopping = asyncio.create_task(asyncio.to_thread(workers.terminate))
        # Both workers got the signal: they closed their listening sockets and are draining.
        await until_true(lambda: all(not sockets_of(p) & listening for p in pids), 60)
        release.set()
        assert await stopping == 0
        assert len(replies_to(telegram_stub, ALICE)) == 1
        assert [c.result["status"] for c in telegram_stub.calls("push", since=0)] == [200]
    finally:
        release.set()
        workers.stop()
    assert "Traceback" not in workers.stderr(), workers.stderr()


async def test_kill_9_of_one_worker_mid_burst_loses_nothing_and_doubles_nothing(
    telegram_stub: TelegramStub, tmp_path, database_url: str
):
    """Two workers, a burst of selfies, then kill -9 of the busier worker while replies are on
    their way out (held, then dropped: Telegram never saw them). What it had not finished was
    never answered 200, so Telegram redelivers it, and once its lease runs out the other
    worker (or the one the supervisor starts in its place) takes it: each selfie is answered
    once and read once, on either database."""
    people = range(5001, 5041)
    workers = WorkerProcesses(telegram_stub, tmp_path, workers=2, DATABASE_URL=database_url)
    gate = SendGate(telegram_stub)

    def acknowledged() -> set[int]:
        return {c.params["update_id"] for c in telegram_stub.calls("push", since=0) if c.ok}

    workers.start()
    try:
        await telegram_stub.wait_for("setMyCommands", count=6, timeout=180)
        set_webhook(telegram_stub, workers.url)
        for person in people:
            telegram_stub.send_photo(person, media.smiling_jpeg())
        await until_true(lambda: sum(answers(telegram_stub, people).values()) >= 8)
        gate.close()
        await until_true(lambda: gate.held >= 3)
        await until_true(gate.landed)  # no reply still on its way past the gate
        # Kill only once every reply that got through is marked done (its push answered 200):
        # one Telegram accepted but the worker had not yet marked would be sent again after
        # the kill, the Bot API's one unavoidable duplicate (python -m tests.crash counts it),
        # which is not what this test is about. With the gate closed no new reply gets through.
        await until_true(lambda: len(answers(telegram_stub, people)) == len(acknowledged()))
        busiest = Counter(
            c.result["worker"] for c in telegram_stub.calls("push", since=0) if c.ok
        ).most_common(1)[0][0]
        os.kill(int(busiest), signal.SIGKILL)
        gate.open()
        assert sum(answers(telegram_stub, people).values()) < len(people)
        await until_true(lambda: set(answers(telegram_stub, people)) == set(people), 240)
        mark = telegram_stub.mark()
        await telegram_stub.expect_no_call("sendMessage", within=1.0)  # a late duplicate
        assert not telegram_stub.calls("sendMessage", since=mark)
        assert answers(telegram_stub, people) == Counter(dict.fromkeys(people, 1))
        got = await readings(database_url)
        assert got == Counter(dict.fromkeys(people, 1)), "a reading lost or doubled"
        # The kill cut deliveries off (status 0), and they were delivered again.
        pushed = telegram_stub.calls("push", since=0)
        cut = {c.params["update_id"] for c in pushed if c.result["status"] == 0}
        assert cut and cut <= {c.params["update_id"] for c in pushed if c.ok}
        # The supervisor started a worker in place of the dead one.
        await until_true(lambda: len(workers.worker_pids()) == 2 and
                         int(busiest) not in workers.worker_pids(), 60)  # fmt: skip
    finally:
        gate.open()
        workers.stop()


async def readings(url: str) -> Counter[int]:
    """Readings stored per person, from the database itself (SQLite file or PostgreSQL)."""
    if url.startswith("sqlite:///"):
        found = rows(Path(url.removeprefix("sqlite:///")), "SELECT user_id FROM readings")
    else:
        con = await asyncpg.connect(url)
        try:
            found = [tuple(r) for r in await con.fetch("SELECT user_id FROM readings")]
        finally:
            await con.close()
    return Counter(u for (u,) in found)


def answers(stub: TelegramStub, people: range) -> Counter[int]:
    """Replies that reached each of these people."""
    calls = stub.calls("sendMessage", since=0)
    return Counter(c.params["chat_id"] for c in calls if c.ok and c.params["chat_id"] in people)


async def until_true(condition, timeout: float = 120.0) -> None:
    async def check() -> bool:
        return condition()

    await until(check, timeout)
