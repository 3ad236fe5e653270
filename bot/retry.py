"""Bot API calls that survive Telegram's brief faults: flood limits, 5xx, dropped connections.

Plugged into PTB as its rate limiter (`ApplicationBuilder.rate_limiter`), the hook PTB gives for
wrapping every request. PTB's own AIORateLimiter also throttles every request to 30 a second,
getFile and chat actions included, which would stretch a burst of 120 selfies to ~12 s; Telegram
tells us when we go too fast (429 with retry_after), and that is what we honour here.

Webhook workers share Telegram's overall limit of about 30 messages a second, so each one is
also held to its share (`rate`): messages only, never getFile, chat actions or answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

import httpx
from aiolimiter import AsyncLimiter
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

# A read timeout on these leaves us not knowing whether Telegram acted: retrying could post the
# message twice, so they are retried only when the request surely never arrived.
NOT_IDEMPOTENT = ("send", "copyMessage", "forwardMessage")
# What counts towards Telegram's messages-per-second limit.
MESSAGES = ("send", "copyMessage", "forwardMessage", "editMessage")


def retry_seconds(err: RetryAfter) -> float:
    """retry_after as seconds (PTB gives an int or a timedelta, by version and setting)."""
    value = err.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def never_arrived(err: TimedOut) -> bool:
    """A timeout before the request was sent (connecting, waiting for a pool slot)."""
    return isinstance(err.__cause__, httpx.ConnectTimeout | httpx.PoolTimeout)


class RetryingLimiter(BaseRateLimiter[None]):
    """Retry a call on 429 (after retry_after) and on transient faults (growing back-off),
    within `max_wait` seconds of waiting in all; then the error goes to the caller. With a
    `rate`, messages go out at most that many a second, each attempt counted."""

    def __init__(
        self,
        max_wait: float = 30.0,
        attempts: int = 6,
        first_delay: float = 0.25,
        rate: float | None = None,
    ):
        self.max_wait = max_wait
        self.attempts = attempts
        self.first_delay = first_delay
        self.rate = rate
        # A bucket of one, leaking `rate` a second: messages at least 1/rate s apart, so no
        # second ever holds more than `rate` (a bigger bucket lets a burst double up on it).
        self._limiter = AsyncLimiter(1, 1 / rate) if rate else None

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        if endpoint == "getUpdates":  # the poller has its own back-off
            return await callback(*args, **kwargs)
        waited = 0.0
        counted = endpoint.startswith(MESSAGES) and endpoint != "sendChatAction"
        limiter = self._limiter if counted else None
        for attempt in range(1, self.attempts + 1):
            try:
                if limiter is not None:
                    await limiter.acquire()
                return await callback(*args, **kwargs)
            except RetryAfter as err:
                delay = retry_seconds(err)
                if attempt == self.attempts or waited + delay > self.max_wait:
                    raise
            except BadRequest:
                raise  # our request is wrong: sending it again changes nothing
            except NetworkError as err:  # 5xx, dropped or refused connections, timeouts
                if attempt == self.attempts or not _may_retry(endpoint, err):
                    raise
                delay = min(self.first_delay * 2 ** (attempt - 1), self.max_wait - waited)
                if delay <= 0:
                    raise
            log.info("%s failed (attempt %d); retrying in %.2f s", endpoint, attempt, delay)
            await asyncio.sleep(delay)
            waited += delay
        raise AssertionError("unreachable")  # the last attempt returned or raised


def _may_retry(endpoint: str, err: NetworkError) -> bool:
    if isinstance(err, TimedOut) and endpoint.startswith(NOT_IDEMPOTENT):
        return never_arrived(err)
    return True
