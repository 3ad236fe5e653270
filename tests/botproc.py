"""The bot as a real process (`python -m bot.cli run`) against a stand-in: for kill -9 tests and
the load benchmark."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.telegram_stub import TelegramStub

ROOT = Path(__file__).resolve().parent.parent


class BotProcess:
    """One run of the bot; `start` again after `kill` or `terminate` for a restart."""

    def __init__(self, stub: TelegramStub, db: Path, root: Path = ROOT, **env: str) -> None:
        self.stub, self.db, self.root = stub, db, root
        self.env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": stub.token,
            "TELEGRAM_API_URL": stub.root_url,
            "DATABASE_PATH": str(db),
            "LOG_LEVEL": "WARNING",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = db.with_suffix(".log")

    async def start(self, timeout: float = 120.0) -> None:
        """Start the bot and return once it polls (model and catalog loaded)."""
        mark = self.stub.mark()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run"], cwd=self.root, env=self.env,
                stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip
        await self.stub.wait_for("getUpdates", since=mark, timeout=timeout)

    def kill(self) -> None:
        """kill -9: no clean-up of any kind."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM, then wait for the exit; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def stderr(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
