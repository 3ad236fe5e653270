"""Webhook mode: Telegram POSTs updates to N worker processes behind one URL.

PTB's custom-webhook pattern (the Application without an Updater, fed by a small starlette app)
under uvicorn; several workers share the port through bot/workers.py, each on a socket of its
own, and stop gracefully. Each worker boots in the background (model, catalog, database; `/healthz` says 503 until then), and answers
an update 200 only once it was handled: Telegram keeps redelivering what a dead worker never
finished, and the journal's claim on update_id keeps the effects single (bot/journal.py).
Workers never call setWebhook: `moodtune webhook set` is the deploy step that does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import json
import logging
import math
import os
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import Bot

from bot.context import MoodTuneApp
from bot.delivery import ALLOWED_UPDATES, DRAIN_SECONDS, handle, update_id
from bot.journal import Claim, Journal, Pending
from bot.settings import Settings

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WORKER_HEADER = "X-MoodTune-Worker"  # which worker answered: for the logs and the tests
# A worker holds an update it handles this long, renewing it while it works, so a dead worker's
# update is taken over by the next delivery after at most LEASE.
LEASE = timedelta(seconds=30)
RENEW_EVERY = 10.0
NOT_READY_RETRY = 5  # seconds, in Retry-After while booting
BOOT_RETRY_MAX = 30.0  # seconds between attempts to boot, at most

# Builds the bot (model and catalog loaded; run in a thread) and what to close when it ends.
Loader = Callable[[], tuple[MoodTuneApp, Callable[[], None]]]


class Worker:
    """One worker process's bot: booted in the background, handling claimed updates."""

    def __init__(self, settings: Settings, load: Loader) -> None:
        self.settings = settings
        self._load = load
        self._close_extra: Callable[[], None] = lambda: None
        self.app: MoodTuneApp | None = None
        self.journal: Journal | None = None
        self.ready = False

    async def boot_until_ready(self) -> None:
        """Boot; after a failure (the database or Telegram not reachable yet) close what was
        opened and try again, /healthz saying 503 meanwhile."""
        for failures in itertools.count():
            try:
                await self.boot()
                return
            except Exception as err:
                delay = min(2.0**failures, BOOT_RETRY_MAX)
                log.error(
                    "worker %d could not start (%r); again in %.0f s", os.getpid(), err, delay
                )
            with contextlib.suppress(Exception):
                await self.close()
            self.app, self.journal, self._close_extra = None, None, lambda: None
            await asyncio.sleep(delay)

    async def boot(self) -> None:
        """Load the model and catalog (off the event loop), open the database, start PTB."""
        app, self._close_extra = await asyncio.to_thread(self._load)
        self.app = app
        await app.initialize()
        if app.post_init:
            await app.post_init(app)
        self.journal = app.bot_data.journal
        await self.journal.forget_done()
        await app.start()
        self.ready = True
        log.info("worker %d ready", os.getpid())
        await self._finish_leftovers()

    async def _finish_leftovers(self) -> None:
        """Handle what the journal holds unfinished and nobody holds: updates polling took
        before a switch to webhooks (Telegram will not send those again)."""
        assert self.app is not None and self.journal is not None
        for pending in await self.journal.pending():
            claimed = await self.journal.claim(pending.raw, LEASE)
            if claimed.claim is Claim.MINE and claimed.pending is not None:
                log.info("update %d: left unfinished, handling it now", pending.update_id)
                await self._handle(claimed.pending)

    async def close(self) -> None:
        """Stop PTB and close the database (uvicorn has let the requests in flight finish)."""
        self.ready = False
        app = self.app
        try:
            if app is not None and app.running:
                await app.stop()
                if app.post_stop:
                    await app.post_stop(app)
            if app is not None:
                await app.shutdown()
                if app.post_shutdown:  # closes the journal and the diary
                    await app.post_shutdown(app)
        finally:
            self._close_extra()

    async def take(self, raw: dict[str, Any]) -> Response:
        """Claim the update, handle it if it is ours, and say what Telegram should do next."""
        assert self.app is not None and self.journal is not None
        claimed = await self.journal.claim(raw, LEASE)
        if claimed.claim is Claim.DONE:
            return answer(200)
        if claimed.claim is Claim.BUSY or claimed.pending is None:
            # Not 200: if the worker holding it dies, only a redelivery gets it handled.
            wait = max(1, math.ceil(claimed.busy_for.total_seconds()))
            return answer(503, retry_after=wait)
        await self._handle(claimed.pending)
        return answer(200)

    async def _handle(self, pending: Pending) -> None:
        assert self.app is not None and self.journal is not None
        renewing = asyncio.create_task(self._renew(pending.update_id))
        try:
            await handle(self.app, self.journal, pending)
        finally:
            renewing.cancel()

    async def _renew(self, uid: int) -> None:
        assert self.journal is not None
        while True:
            await asyncio.sleep(RENEW_EVERY)
            with contextlib.suppress(Exception):  # a missed renewal only shortens the lease
                await self.journal.renew(uid, LEASE)


def answer(status: int, retry_after: int | None = None) -> Response:
    headers = {WORKER_HEADER: str(os.getpid())}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return Response(status_code=status, headers=headers)


def create_app(settings: Settings, load: Loader) -> Starlette:
    """The ASGI app of one worker: the webhook at WEBHOOK_URL's path, and /healthz."""
    worker = Worker(settings, load)
    secret = settings.webhook_secret.encode()

    async def webhook(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not secret or not hmac.compare_digest(given, secret):
            return answer(403)
        try:
            raw = json.loads(await request.body())
        except ValueError:  # not JSON (or not UTF-8): a retry would not mend it
            return answer(400)
        if update_id(raw) is None:
            return answer(400)
        if not worker.ready:
            return answer(503, retry_after=NOT_READY_RETRY)
        try:
            return await worker.take(raw)
        except Exception:  # the database failed us: not handled, so let Telegram retry
            log.exception("update %s: not handled", raw.get("update_id"))
            return answer(503, retry_after=NOT_READY_RETRY)

    async def healthz(request: Request) -> Response:
        return answer(200 if worker.ready else 503)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        booting = asyncio.create_task(worker.boot_until_ready())
        try:
            yield
        finally:
            booting.cancel()
            with contextlib.suppress(BaseException):
                await booting
            await worker.close()

    return Starlette(
        routes=[
            Route(settings.webhook_path, webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


# Each worker spaces its sends evenly, but N workers' sends are not in step and reach Telegram
# with network jitter, so an exact share can put one or two over the limit in some second
# (measured: 31-32 at 30); a tenth of headroom keeps the whole bot under it.
RATE_HEADROOM = 0.9


def worker_rate(settings: Settings, workers: int) -> float:
    """Messages a second one of `workers` workers may send: its share of the bot's limit."""
    return RATE_HEADROOM * settings.message_rate / workers


def worker_app() -> Starlette:
    """uvicorn's app factory, run in each worker process: settings from the environment."""
    from bot.cli import load_bot, setup_logging

    settings = Settings.from_env()
    setup_logging(settings.log_level)
    rate = worker_rate(settings, settings.web_concurrency)
    return create_app(settings, lambda: load_bot(settings, rate=rate))


def serve(settings: Settings, workers: int) -> int:
    """Run `workers` worker processes on WEBHOOK_LISTEN:WEBHOOK_PORT until SIGINT/SIGTERM: one
    is uvicorn in this process; more, each on a socket of its own (bot/workers.py)."""
    import uvicorn

    from bot.workers import Supervisor

    # The workers read their count (their share of the rate limit) from the environment.
    os.environ["WEB_CONCURRENCY"] = str(workers)
    config = uvicorn.Config(
        "bot.web:worker_app",
        factory=True,
        host=settings.webhook_listen,
        port=settings.webhook_port,
        workers=workers,
        timeout_graceful_shutdown=int(DRAIN_SECONDS),
        log_level=settings.log_level.lower(),
        access_log=False,  # an access line per update adds nothing to the worker's own log
    )
    if workers == 1:
        server = uvicorn.Server(config)
        server.run()
        return 0 if server.started else 1
    return Supervisor(config).run()


async def webhook_command(settings: Settings, action: str) -> int:
    """`moodtune webhook set|info|delete`: Telegram's side of webhook mode."""
    options: dict[str, Any] = {}
    if root := settings.telegram_api_url:
        options = {"base_url": f"{root}/bot", "base_file_url": f"{root}/file/bot"}
    async with Bot(settings.telegram_bot_token, **options) as bot:
        if action == "set":
            await bot.set_webhook(
                url=settings.webhook_url,
                secret_token=settings.webhook_secret,
                allowed_updates=list(ALLOWED_UPDATES),
                max_connections=settings.webhook_max_connections,
                drop_pending_updates=False,
            )
            print(f"webhook set: {settings.webhook_url}")
        elif action == "delete":
            await bot.delete_webhook(drop_pending_updates=False)
            print("webhook deleted")
        else:
            info = await bot.get_webhook_info()
            shown = {
                "url": info.url,
                "pending_update_count": info.pending_update_count,
                "last_error_message": info.last_error_message,
                "max_connections": info.max_connections,
                "allowed_updates": list(info.allowed_updates or ()),
            }
            print(json.dumps(shown, indent=2, ensure_ascii=False))
    return 0
