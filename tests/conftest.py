"""Shared pytest fixtures."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.loopback import serving
from tests.postgres import MISSING, PostgresServer, find_bindir
from tests.telegram_stub import TelegramStub


@pytest.fixture
def telegram_stub() -> Iterator[TelegramStub]:
    """A running fake Telegram Bot API server (see tests/telegram_stub.py); stopped afterwards.

    Fails the test at teardown if the stub crashed while serving a request or a server
    thread hung.
    """
    with serving(TelegramStub()) as stub:
        yield stub


@pytest.fixture(scope="session")
def analyzer():
    """The committed model, served through LiteRT as in the bot."""
    from models.pipeline import Analyzer

    return Analyzer.load("litert")


@pytest.fixture(scope="session")
def keras_analyzer():
    from models.pipeline import Analyzer

    return Analyzer.load("keras")


@pytest.fixture(scope="session")
def recommender():
    from recommender.catalog import load_catalog
    from recommender.engine import Recommender

    return Recommender(load_catalog())


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the session (tests/postgres.py), stopped at the
    end, also when tests fail. Skips without the server binaries, unless
    MOODTUNE_REQUIRE_POSTGRES=1 (`make test` sets it once it has them): then it fails."""
    bindir = find_bindir()
    if bindir is None:
        if os.environ.get("MOODTUNE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{MISSING} (MOODTUNE_REQUIRE_POSTGRES=1)")
        pytest.skip(MISSING)
    server = PostgresServer(bindir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty PostgreSQL schema (its own search_path) for one test."""
    return postgres_server.fresh_url()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> str:
    """A fresh database on each backend: a SQLite file, or a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite3'}"
    return request.getfixturevalue("postgres_url")


# -- the end-to-end bot on each delivery (tests/e2e.py) --------------------------------------


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that runs the bot runs on each delivery; one marked
    `polling_only(reason=...)`, which is about polling itself, on polling alone."""
    if "delivery" not in metafunc.fixturenames:
        return
    from tests.e2e import DELIVERIES

    deliveries = list(DELIVERIES)
    if marker := metafunc.definition.get_closest_marker("polling_only"):
        if not marker.kwargs.get("reason"):
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: polling_only needs a reason")
        deliveries = [d for d in deliveries if d.startswith("polling")]
    metafunc.parametrize("delivery", deliveries, indirect=True)


@pytest.fixture
def delivery(request) -> str:
    """How updates reach the bot: "polling-sqlite", or "webhook-postgres" (2 workers)."""
    return request.param


@pytest.fixture
def bot_database(delivery: str, tmp_path, request) -> str | Path:
    """Where the bot of this delivery keeps its data: a SQLite file or a PostgreSQL schema."""
    if delivery.endswith("postgres"):
        return request.getfixturevalue("postgres_url")
    return tmp_path / "moodtune.sqlite3"


@pytest.fixture
async def start_bot(delivery: str, bot_database, telegram_stub: TelegramStub, analyzer):
    """Starts the bot on this test's delivery (tests/e2e.py: Launcher); stops it at the end."""
    from tests.e2e import Launcher

    database = bot_database
    async with contextlib.AsyncExitStack() as stack:
        yield Launcher(delivery, telegram_stub, database, analyzer, stack)


@pytest.fixture
async def bot(start_bot, recommender):
    """The bot with the full catalog and a clock from NOW (a Sunday noon), on each delivery."""
    from tests.e2e import NOW, ticking

    return await start_bot(recommender, clock=ticking(NOW))
