"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.loopback import serving
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
