"""Hooks and faults for tests.telegram_stub.

Hooks run before a method (``fail_next``, ``hold``) and may block or raise ApiError: the faults
(``flood``: 429 with retry_after, ``fail``: e.g. 502, ``drop``: the connection closed without an
answer) plug in there, for Bot API methods and for file downloads ("download").
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from tests.telegram_api import ApiError, Dropped, Hook, JSONDict


class _Faults:
    """TelegramStub's hooks and faults; the state is the stub's own."""

    _lock: threading.RLock
    _hooks: dict[str, list[Hook]]
    _gates: list[threading.Event]
    _sizes_hidden: set[str]

    def fail_next(self, method: str, error_code: int = 400, description: str = "") -> None:
        """Answer the next call of ``method`` with this error (403: the user blocked the bot)."""
        default = "Forbidden: bot was blocked by the user" if error_code == 403 else "Bad Request"
        errors = iter([ApiError(error_code, description or default)])

        def fail(params: JSONDict) -> None:
            if error := next(errors, None):
                raise error

        self.add_hook(method, fail)

    def hold(self, method: str) -> threading.Event:
        """Hold every call of ``method`` until the returned event is set (or the stub stops)."""
        gate = threading.Event()
        with self._lock:
            self._gates.append(gate)
        self.add_hook(method, lambda params: gate.wait())
        return gate

    def add_hook(self, method: str, hook: Hook) -> None:
        """Run ``hook(params)`` before each call of ``method``; it may block, or raise ApiError
        or Dropped. ``method`` "download" runs before each file download."""
        with self._lock:
            self._hooks.setdefault(method, []).append(hook)

    # -- faults, each for the next ``times`` calls of ``method`` (then it clears)

    def fail(
        self, method: str, error_code: int, description: str, times: int = 1, **parameters: Any
    ) -> None:
        """Answer with this error, e.g. ``fail("sendMessage", 502, "Bad Gateway", times=3)``."""
        left = itertools.count(times, -1)

        def hook(params: JSONDict) -> None:
            if next(left) > 0:
                raise ApiError(error_code, description, parameters or None)

        self.add_hook(method, hook)

    def flood(self, method: str, retry_after: int, times: int = 1) -> None:
        """429 Too Many Requests with ``retry_after`` seconds, as Telegram's flood control."""
        self.fail(
            method, 429, f"Too Many Requests: retry after {retry_after}", times,
            retry_after=retry_after,
        )  # fmt: skip

    def drop(self, method: str, times: int = 1) -> None:
        """Close the connection without answering (before doing anything)."""
        left = itertools.count(times, -1)

        def hook(params: JSONDict) -> None:
            if next(left) > 0:
                raise Dropped

        self.add_hook(method, hook)

    def hide_file_size(self, file_id: str) -> None:
        """getFile leaves out this file's size (Telegram may), so only the body tells."""
        with self._lock:
            self._sizes_hidden.add(file_id)
