"""The end-to-end harness: the real bot against the Bot API stand-in, delivered two ways.

- "polling-sqlite": one Application polling as `moodtune run` does (bot/delivery.py), on a
  SQLite file.
- "webhook-postgres": two workers on one PostgreSQL schema, fed by the stand-in's push mode
  after `moodtune webhook set` (its real code). Each worker is bot/web.py's ASGI app under its
  own uvicorn.Server in its own thread and event loop, both accepting on one listening socket,
  as uvicorn's worker processes share a port. In-process, so the clock can be injected; real
  worker processes are tests/test_webhook.py's.

Tests take the `bot` fixture (tests/conftest.py), or `start_bot` to choose settings, catalog
or clock; `@pytest.mark.polling_only(reason=...)` keeps a test that is about polling itself
on "polling-sqlite" alone.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import re
import socket
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import uvicorn

from bot.app import build_application, run
from bot.context import MoodTuneApp
from bot.database import is_postgres, sqlite_path
from bot.postgres_db import placeholders
from bot.service import utc_now
from bot.settings import Settings
from bot.web import create_app, webhook_command, worker_rate
from tests.telegram_stub import TelegramStub

DELIVERIES = ("polling-sqlite", "webhook-postgres")
WORKERS = 2  # webhook workers on the one port
SECRET = "e2e-Secret_0123456789"
TRACK_LINK = re.compile(r"https://open\.spotify\.com/track/[0-9A-Za-z]{22}")
ALICE, BOB = 1001, 2002
NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)  # the bot's clock: a Sunday


@dataclass
class Bot:
    stub: TelegramStub
    database: str | Path  # settings.database: a SQLite path or a postgresql:// URL
    app: Any = None  # the (first) worker's Application
    apps: list[Any] = field(default_factory=list)
    delivery: str = "polling-sqlite"

    async def say(self, user_id: int, text: str) -> dict:
        mark = self.stub.mark()
        self.stub.send_text(user_id, text)
        return await self.reply(user_id, since=mark)

    async def reply(self, user_id: int, since: int, method: str = "sendMessage") -> dict:
        (call,) = await self.stub.wait_for(
            method, lambda c: c.params.get("chat_id") == user_id, since=since, timeout=30
        )
        assert call.ok, call
        return call.result

    async def send_photo(self, user_id: int, data: bytes) -> dict:
        mark = self.stub.mark()
        self.stub.send_photo(user_id, data)
        return await self.reply(user_id, since=mark)

    def rows(self, sql: str, *args: Any) -> list[tuple]:
        """The query's rows, on either backend (SQL with ``?`` placeholders)."""
        return db_rows(self.database, sql, *args)

    def env(self) -> dict[str, str]:
        """Where the database is, for a `moodtune` command."""
        if is_postgres(self.database):
            return {"DATABASE_URL": str(self.database)}
        return {"DATABASE_PATH": str(self.database)}

    def stored(self) -> bytes:
        """Everything the database keeps: the SQLite files (write-ahead log included), or
        every row of every table of the PostgreSQL schema as text."""
        if not is_postgres(self.database):
            db = Path(sqlite_path(self.database))
            return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
        tables = self.rows(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        dump = [r[0] for (t,) in tables for r in self.rows(f"SELECT t::text FROM {t} t")]
        return "\n".join(dump).encode()


def db_rows(database: str | Path, sql: str, *args: Any) -> list[tuple]:
    """One query's rows on a SQLite path or a PostgreSQL URL (``?`` placeholders)."""
    if not is_postgres(database):
        with contextlib.closing(sqlite3.connect(sqlite_path(database))) as con:
            return con.execute(sql, args).fetchall()
    return pg_rows(str(database), sql, *args)


def pg_rows(url: str, sql: str, *args: Any) -> list[tuple]:
    """Run one query on PostgreSQL from sync code (a test's event loop may be running)."""

    async def fetch() -> list[tuple]:
        con = await asyncpg.connect(url)
        try:
            return [tuple(r) for r in await con.fetch(placeholders(sql), *args)]
        finally:
            await con.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, fetch()).result()


def ticking(start: datetime) -> Callable[[], datetime]:
    """A clock that starts at `start` and runs at real speed: fixed dates, yet time passes."""
    started = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - started)


@contextlib.asynccontextmanager
async def running(app) -> AsyncIterator[None]:
    """Run the bot as `moodtune run` does (PTB's run_polling with its post_init and
    post_shutdown) in a thread with its own event loop, until polling has started; at the end
    stop it the way SIGTERM does."""
    loop = asyncio.new_event_loop()
    failed: list[BaseException] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            run(app, stop_signals=None)  # signal handlers can only be set in the main thread
        except BaseException as e:
            failed.append(e)

    def sigterm() -> None:
        raise SystemExit  # what PTB's own signal handler does

    thread = threading.Thread(target=serve, name="bot", daemon=True)
    thread.start()
    try:
        yield
    finally:
        with contextlib.suppress(RuntimeError):  # the loop is closed if the bot already ended
            loop.call_soon_threadsafe(sigterm)
        await asyncio.to_thread(thread.join, 30)
        assert not thread.is_alive(), "the bot did not stop"
        if failed:
            raise failed[0]


def listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@contextlib.asynccontextmanager
async def webhook_workers(
    apps: list[MoodTuneApp], settings: Settings, sock: socket.socket
) -> AsyncIterator[None]:
    """Each Application as a worker of bot/web.py, each under its own uvicorn.Server in its
    own thread and event loop, all accepting on `sock` (settings.webhook_port)."""
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                create_app(settings, lambda app=app: (app, lambda: None)),
                lifespan="on",
                log_level="warning",
                timeout_graceful_shutdown=30,
            )
        )
        for app in apps
    ]
    # Each server its own descriptor of the one socket: closing one leaves the others serving.
    threads = [
        threading.Thread(target=s.run, kwargs={"sockets": [sock.dup()]}, daemon=True)
        for s in servers
    ]
    sock.close()
    for thread in threads:
        thread.start()
    try:
        # Serving, and PTB started (a worker is ready just after): an update pushed to a worker
        # still booting gets 503 and comes again, as from Telegram.
        async with asyncio.timeout(60):
            while not all(s.started for s in servers) or not all(a.running for a in apps):
                if not all(t.is_alive() for t in threads):
                    raise RuntimeError("a webhook worker stopped while starting")
                await asyncio.sleep(0.02)
        yield
    finally:
        for server in servers:
            server.should_exit = True
        for thread in threads:
            await asyncio.to_thread(thread.join, 60)
        assert not any(t.is_alive() for t in threads), "a webhook worker did not stop"


class Launcher:
    """Starts the bot for a test on its delivery; everything it started stops at the end."""

    def __init__(
        self, delivery: str, stub: TelegramStub, database: str | Path, analyzer: Any,
        stack: contextlib.AsyncExitStack,
    ) -> None:  # fmt: skip
        self.delivery = delivery
        self.stub = stub
        self.database = database  # where the bot will keep its data: seed it before starting
        self._analyzer = analyzer
        self._stack = stack

    def settings(self, sock: socket.socket | None = None, **more: Any) -> Settings:
        """The bot's settings on this database; webhook ones when given the workers' socket."""
        base: dict[str, Any] = {
            "telegram_bot_token": self.stub.token,
            "telegram_api_url": self.stub.root_url,
        }
        if is_postgres(self.database):
            base |= {"database_url": str(self.database), "database_path": Path("/nonexistent")}
        else:
            base["database_path"] = Path(self.database)
        if sock is not None:
            port = sock.getsockname()[1]
            url = f"http://127.0.0.1:{port}/telegram"
            base |= {"webhook_url": url, "webhook_secret": SECRET, "webhook_port": port}
            base["web_concurrency"] = WORKERS
        return Settings(**(base | more))

    async def __call__(
        self, recommender: Any, clock: Callable[[], datetime] = utc_now, **more: Any
    ) -> Bot:
        mark = self.stub.mark()
        if not self.delivery.startswith("webhook"):
            settings = self.settings(**more)
            app = build_application(settings, self._analyzer, recommender, clock=clock)
            await self._stack.enter_async_context(running(app))
            await self.stub.wait_for("getUpdates", since=mark, timeout=30)
            return Bot(self.stub, settings.database, app, [app], self.delivery)
        sock = listening_socket()
        settings = self.settings(sock, **more)
        rate = worker_rate(settings, WORKERS)
        apps = [
            build_application(settings, self._analyzer, recommender, clock=clock, rate=rate)
            for _ in range(WORKERS)
        ]
        await self._stack.enter_async_context(webhook_workers(apps, settings, sock))
        with contextlib.redirect_stdout(None):  # it prints "webhook set: ..."
            await webhook_command(settings, "set")  # the deploy step
        return Bot(self.stub, settings.database, apps[0], apps, self.delivery)


async def journal_wiped(bot: Bot, timeout: float = 10.0) -> None:
    """Until every journalled update is handled and, on SQLite, the checkpoint after it has
    emptied the write-ahead log (the bot runs elsewhere: there is no event to wait on, so look)."""
    db = None if is_postgres(bot.database) else Path(sqlite_path(bot.database))
    wal = None if db is None else db.with_name(db.name + "-wal")
    async with asyncio.timeout(timeout):
        while True:
            (left,) = bot.rows("SELECT count(*) FROM updates WHERE raw IS NOT NULL")
            if left[0] == 0 and (wal is None or not wal.exists() or wal.stat().st_size == 0):
                return
            await asyncio.sleep(0.05)


def links(message: dict) -> list[str]:
    urls = [e["url"] for e in message.get("entities", []) if e.get("type") == "text_link"]
    return urls or TRACK_LINK.findall(message.get("text", ""))


async def exported_files(bot: Bot, user: int, timeout: float) -> dict[str, bytes]:
    """Send /export as `user`; the documents the bot sends back, by file name."""
    mark = bot.stub.mark()
    bot.stub.send_text(user, "/export")
    docs = await bot.stub.wait_for("sendDocument", since=mark, count=2, timeout=timeout)
    return {
        c.result["document"]["file_name"]: bot.stub.file_bytes(c.result["document"]["file_id"])
        for c in docs
    }
