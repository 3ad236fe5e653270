"""Webhook workers for tests: one in this process (uvicorn in a thread), or `moodtune run
--webhook --workers N` as a real process; both against the Bot API stand-in's push mode.

The database comes from the environment as the bot reads it: TEST_DATABASE_URL, if set, is
passed to the workers as DATABASE_URL (PostgreSQL runs); else a fresh SQLite file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import uvicorn

from bot.app import build_application
from bot.settings import Settings
from bot.web import SECRET_HEADER, create_app
from tests.telegram_stub import TelegramStub

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-Secret_0123456789"


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_env(tmp_path: Path) -> dict[str, str]:
    """Where the workers keep their data: TEST_DATABASE_URL, else a SQLite file."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        return {"DATABASE_URL": url}
    return {"DATABASE_PATH": str(tmp_path / "moodtune.sqlite3")}


def webhook_settings(stub: TelegramStub, tmp_path: Path, **more) -> Settings:
    port = free_port()
    return Settings(
        telegram_bot_token=stub.token,
        telegram_api_url=stub.root_url,
        database_path=tmp_path / "moodtune.sqlite3",
        webhook_url=f"http://127.0.0.1:{port}/telegram",
        webhook_secret=SECRET,
        webhook_port=port,
        **more,
    )


def set_webhook(stub: TelegramStub, url: str, secret: str = SECRET, **more) -> None:
    """What `moodtune webhook set` asks of Telegram (its own test runs the command)."""
    params = {"url": url, "secret_token": secret, **more}
    reply = httpx.post(f"{stub.root_url}/bot{stub.token}/setWebhook", data=params)
    assert reply.json()["ok"], reply.text


async def until(condition, timeout: float = 120.0) -> None:
    """Look until `condition()` holds: the workers are other threads or processes."""
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.05)


async def healthy(base: str) -> bool:
    async with httpx.AsyncClient() as client:
        with contextlib.suppress(httpx.TransportError):
            return (await client.get(f"{base}/healthz")).status_code == 200
    return False


class ThreadWorker:
    """One worker (the ASGI app of bot/web.py under uvicorn) in a thread of this process."""

    def __init__(self, settings: Settings, analyzer, recommender, rate: float = 30.0) -> None:
        self.settings = settings
        self.url = settings.webhook_url
        self.base = f"http://127.0.0.1:{settings.webhook_port}"

        def load():
            return build_application(settings, analyzer, recommender, rate=rate), lambda: None

        config = uvicorn.Config(
            create_app(settings, load), host="127.0.0.1", port=settings.webhook_port,
            lifespan="on", log_level="warning",
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="worker", daemon=True)

    async def start(self, ready: bool = True) -> ThreadWorker:
        """Serve; with `ready`, return once /healthz says the worker is up."""
        self.thread.start()

        async def started() -> bool:
            return self.server.started

        await until(started, 30)
        if ready:
            await until(lambda: healthy(self.base), 60)
        return self

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.to_thread(self.thread.join, 60)
        assert not self.thread.is_alive(), "the worker did not stop"

    async def post(self, body: bytes | str, secret: str | None = SECRET) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        async with httpx.AsyncClient(timeout=60) as client:
            return await client.post(self.url, content=body, headers=headers)


class WorkerProcesses:
    """`moodtune run --webhook --workers N` as a real process (bot/workers.py's supervisor)."""

    def __init__(self, stub: TelegramStub, tmp_path: Path, workers: int, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/telegram"
        self.base = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log = tmp_path / "workers.log"
        self.env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": stub.token,
            "TELEGRAM_API_URL": stub.root_url,
            "WEBHOOK_URL": self.url,
            "WEBHOOK_SECRET": SECRET,
            "WEBHOOK_PORT": str(self.port),
            "LOG_LEVEL": "WARNING",
            **database_env(tmp_path),
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run", "--webhook", "--workers",
                 str(self.workers)],
                cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=log,
                start_new_session=True,  # its own group: stop() ends the workers with it
            )  # fmt: skip

    def terminate(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """SIGTERM; if the supervisor is not gone soon, kill -9 its whole process group."""
        if self.proc is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            if self.proc.poll() is None:
                self.terminate(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # what is left of it: workers included
        self.proc.wait(30)

    def stderr(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def worker_pids(self) -> list[int]:
        """The worker processes (with --workers 1, the one process itself)."""
        assert self.proc is not None
        if self.workers == 1:
            return [self.proc.pid]
        spawned = []
        for task in os.listdir(f"/proc/{self.proc.pid}/task"):
            children = Path(f"/proc/{self.proc.pid}/task/{task}/children").read_text().split()
            for pid in map(int, children):
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    spawned.append(pid)  # not multiprocessing's resource tracker
        return sorted(spawned)


def listening_sockets(port: int) -> set[int]:
    """Inodes of the TCP sockets listening on this port (IPv4, from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], int(fields[9])
        if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
            found.add(inode)
    return found


def sockets_of(pid: int) -> set[int]:
    """Inodes of the sockets a process holds open (none once it is gone)."""
    found: set[int] = set()
    if not os.path.isdir(f"/proc/{pid}/fd"):
        return found
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                found.add(int(target[8:-1]))
    return found
