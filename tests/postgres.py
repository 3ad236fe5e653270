"""A throwaway PostgreSQL server on 127.0.0.1 for the tests, and the `make test` helper.

`PostgresServer` runs initdb and pg_ctl from the server binaries (`pg_config --bindir`,
/usr/lib/postgresql/*/bin, or PATH) in a temporary directory, as the `postgres` user when we
are root (initdb refuses root), on a free port, with durability off (a test server). Each test
gets a fresh schema of its own from `fresh_url()`.

`python -m tests.postgres install`: install the server with apt-get when the binaries are
missing and we are root (CI); `python -m tests.postgres found`: print 1 if they are there.
"""

from __future__ import annotations

import asyncio
import glob
import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg

MISSING = "PostgreSQL server binaries not found: apt-get install postgresql"
# Test-only settings: nothing here needs to survive a power cut.
SERVER_CONF = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
"""


def find_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl, or None."""
    candidates: list[str] = []
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidates.append(out.stdout.strip())
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(versions, key=lambda p: int(Path(p).parent.name), reverse=True)
    if initdb := shutil.which("initdb"):
        candidates.append(str(Path(initdb).parent))
    for path in candidates:
        if path and all((Path(path) / tool).is_file() for tool in ("initdb", "pg_ctl")):
            return Path(path)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One server for the session; `stop()` (idempotent) removes it and its files."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="moodtune-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._names = itertools.count(1)
        self._running = False

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stdout}\n{done.stderr}")

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "--locale=C.UTF-8", "--encoding=UTF8")  # fmt: skip
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(SERVER_CONF.format(port=self.port))
        self._running = True
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "start")

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def fresh_url(self) -> str:
        """A URL to a fresh, empty schema of its own (search_path), for one test: a tenth of
        the time of CREATE DATABASE, which copies a template. Advisory locks are per database,
        so tests that run one after another never see each other's."""
        name = f"t{next(self._names)}"

        async def create() -> None:
            con = await asyncpg.connect(self.url())
            try:
                await con.execute(f"CREATE SCHEMA {name}")
            finally:
                await con.close()

        asyncio.run(create())
        return f"{self.url()}?search_path={name}"


def _install() -> int:
    if find_bindir() is not None:
        return 0
    if os.geteuid() != 0:
        print(f"{MISSING} (not root: the PostgreSQL tests will skip)", file=sys.stderr)
        return 0
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], check=True, env=env)
    return 0


if __name__ == "__main__":
    action = sys.argv[1] if len(sys.argv) > 1 else "found"
    if action == "install":
        sys.exit(_install())
    print(1 if find_bindir() is not None else 0)
