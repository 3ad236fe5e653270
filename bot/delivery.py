"""Getting updates from Telegram and through the handlers, with nothing lost or done twice.

PTB's Updater confirms a whole fetched batch before it is handled (a crash loses it) and stops
for everyone on an update it cannot parse. So the Application runs without an Updater
(`.updater(None)`, PTB's custom-update pattern, as a webhook would feed it) and this loop owns
getUpdates:

1. fetch raw JSON (only the update types we handle) and write it to the journal;
2. only then move the offset on, which confirms the batch to Telegram;
3. handle each journalled update as its own task through `Application.process_update`, then
   mark it done (its JSON, with the file ids, is blanked).

On start, what the journal still holds (a crash, a kill -9) is handled first. An update that
PTB cannot parse is logged and marked done; one whose handling was started MAX_ATTEMPTS times
(it keeps killing the process) is given up. SIGTERM/SIGINT stop polling and let the updates in
flight finish (up to DRAIN_SECONDS; what is left is handled at the next start).

`handle` (one journalled update through the handlers) is shared with webhook mode, where
Telegram pushes the updates instead (bot/web.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
import warnings
from collections.abc import Sequence
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.warnings import PTBUserWarning

from bot.context import MoodTuneApp
from bot.database import DATABASE_ERRORS
from bot.journal import Journal, Pending

log = logging.getLogger(__name__)
# Bot.get_updates parses the whole batch, so one update PTB cannot read fails them all; raw JSON
# through do_api_request is what we want, and PTB's hint to use get_updates does not apply.
warnings.filterwarnings("ignore", "Please use 'Bot.getUpdates'", PTBUserWarning)

# What the handlers in bot/app.py answer; Telegram sends nothing else (no edits, channel posts,
# polls, member updates...).
ALLOWED_UPDATES = (Update.MESSAGE, Update.CALLBACK_QUERY, Update.INLINE_QUERY)
POLL_SECONDS = 10  # long-poll length
MAX_ATTEMPTS = 3
DRAIN_SECONDS = 30.0
TIDY_EVERY = 3600.0  # seconds between dropping old handled ids from the journal
BACKOFF = (0.5, 1.0, 2.0, 5.0)  # between failed getUpdates calls, last one repeating


class Delivery:
    """Runs the application: start-up, the polling loop, graceful stop, shutdown."""

    def __init__(self, app: MoodTuneApp, drain_seconds: float = DRAIN_SECONDS) -> None:
        self.app = app
        self.drain_seconds = drain_seconds
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._journal: Journal | None = None

    def stop(self) -> None:
        """Stop polling; updates in flight are finished (safe to call from a signal handler)."""
        self._stopping.set()

    async def run(self) -> None:
        app = self.app
        await app.initialize()
        try:
            if app.post_init:
                await app.post_init(app)
            self._journal = app.bot_data.journal
            await self._journal.forget_done()
            try:  # polling and a webhook exclude each other
                await app.bot.delete_webhook()
            except TelegramError as err:  # getUpdates will say so (409) and back off
                log.warning("could not delete the webhook: %s", err)
            await app.start()
            try:
                await self._serve(self._journal)
            finally:
                await self._drain()
                await app.stop()
        finally:
            if app.post_stop:
                await app.post_stop(app)
            await app.shutdown()
            if app.post_shutdown:  # closes the journal and the diary
                await app.post_shutdown(app)

    async def _serve(self, journal: Journal) -> None:
        left = await journal.pending()
        if left:
            log.info("handling %d update(s) left unfinished by the last run", len(left))
        for pending in left:
            self._spawn(pending)
        offset = await journal.next_offset()
        failures, tidied = 0, time.monotonic()
        while not self._stopping.is_set():
            if time.monotonic() - tidied > TIDY_EVERY:
                await journal.forget_done()
                tidied = time.monotonic()
            try:
                batch = await self._fetch(offset)
            except TelegramError as err:
                delay = BACKOFF[min(failures, len(BACKOFF) - 1)]
                failures += 1
                log.warning("getUpdates failed (%s); again in %.1f s", err, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                continue
            failures = 0
            updates = [u for u in batch or () if update_id(u) is not None]
            if len(updates) < len(batch or ()):
                log.warning("skipped %d update(s) without an update_id", len(batch) - len(updates))
            if not updates:
                continue
            try:
                # Kept before the offset confirms them, each with its first attempt counted:
                # handling starts below, before anything else can run.
                new = set(await journal.add(updates, start=True))
            except DATABASE_ERRORS as err:  # not kept, so not confirmed: Telegram keeps them
                log.error("could not journal %d update(s): %s", len(updates), err)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), BACKOFF[-1])
                continue
            offset = max(offset, *(u["update_id"] + 1 for u in updates))
            for raw in updates:
                if raw["update_id"] in new:
                    self._spawn(Pending(raw["update_id"], raw, 1), counted=True)

    async def _fetch(self, offset: int) -> Sequence[Any]:
        """One long poll; [] if we are told to stop meanwhile."""
        poll = asyncio.ensure_future(
            self.app.bot.do_api_request(
                "getUpdates",
                {"offset": offset, "timeout": POLL_SECONDS, "allowed_updates": ALLOWED_UPDATES},
                read_timeout=POLL_SECONDS + 5,
            )
        )
        stop = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait((poll, stop), return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not poll.done():
            poll.cancel()
            # What this poll fetched is not confirmed: Telegram hands it over again next time.
            with contextlib.suppress(asyncio.CancelledError, TelegramError):
                await poll
            return []
        result = poll.result()
        return result if isinstance(result, list) else []

    def _spawn(self, pending: Pending, counted: bool = False) -> None:
        """Handle `pending` as its own task; `counted`: its attempt is counted already."""
        task = asyncio.create_task(
            self._guarded(pending, counted), name=f"update-{pending.update_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, pending: Pending, counted: bool) -> None:
        try:
            await self._handle(pending, counted)
        except Exception:  # the journal failed us: the update stays pending for the next start
            log.exception("update %d: not handled", pending.update_id)

    async def _handle(self, pending: Pending, counted: bool) -> None:
        journal = self._journal
        assert journal is not None
        if not counted:
            pending = Pending(
                pending.update_id, pending.raw, await journal.started(pending.update_id)
            )
        await handle(self.app, journal, pending)

    async def _drain(self) -> None:
        if not self._tasks:
            return
        log.info("finishing %d update(s) in flight", len(self._tasks))
        _, late = await asyncio.wait(set(self._tasks), timeout=self.drain_seconds)
        for task in late:  # still pending in the journal: the next start handles them
            task.cancel()
        if late:
            await asyncio.wait(late)


async def handle(app: MoodTuneApp, journal: Journal, pending: Pending) -> None:
    """Handle one journalled update whose attempt is counted, then mark it done (polling and
    webhook workers alike); give up on it after MAX_ATTEMPTS, skip it if PTB can't parse it."""
    uid = pending.update_id
    if pending.attempts > MAX_ATTEMPTS:
        log.error("update %d: handling started %d times; giving up", uid, MAX_ATTEMPTS)
        await journal.done(uid)
        return
    try:
        update = Update.de_json(pending.raw, app.bot)
    except Exception as err:  # PTB cannot read it: skip it, never block the others
        log.warning("update %d could not be parsed (%s: %s); skipped", uid, type(err).__name__, err)
        await journal.done(uid)
        return
    try:
        await app.process_update(update)  # handler errors go to the error handler
    except Exception:
        log.exception("update %d: processing failed", uid)
    await journal.done(uid)


def update_id(raw: object) -> int | None:
    """The update_id of a raw update, or None if it is no dict with an int update_id."""
    if not isinstance(raw, dict):
        return None
    uid = raw.get("update_id")
    return uid if isinstance(uid, int) and not isinstance(uid, bool) else None


def run(
    app: MoodTuneApp, stop_signals: Sequence[int] | None = (signal.SIGINT, signal.SIGTERM)
) -> None:
    """Serve until a stop signal (or SystemExit/KeyboardInterrupt raised in the loop)."""
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    delivery = Delivery(app)
    for sig in stop_signals or ():
        loop.add_signal_handler(sig, delivery.stop)
    task = loop.create_task(delivery.run())
    try:
        while True:
            try:
                loop.run_until_complete(task)
                break
            except (KeyboardInterrupt, SystemExit):
                delivery.stop()  # then let it finish what is in flight
    finally:
        for sig in stop_signals or ():
            loop.remove_signal_handler(sig)
        loop.close()
