"""Lifecycle shared by the loopback stand-ins for outside services (Telegram, Spotify)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar


class LoopbackStub(Protocol):
    def start(self) -> object: ...
    def stop(self) -> object: ...
    def check_errors(self) -> None: ...


S = TypeVar("S", bound=LoopbackStub)


@contextmanager
def serving(stub: S) -> Iterator[S]:
    """Run a loopback stub; afterwards fail if it crashed or left request threads running."""
    stub.start()
    try:
        yield stub
    finally:
        leftover = stub.stop()
    stub.check_errors()
    assert not leftover, f"{type(stub).__name__} threads still running after stop: {leftover}"
