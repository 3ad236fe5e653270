"""Shared pytest fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator

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
