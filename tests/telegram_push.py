"""Push mode for tests.telegram_stub, as Telegram's webhook.

After ``setWebhook`` the queued updates (and those queued later) are POSTed as JSON to its URL
with the secret header, up to ``max_connections`` at once, instead of waiting for getUpdates
(which then answers 409); with ``push_keep_alive`` each of those connections stays open between
updates, as Telegram's do. A non-2xx answer or a dropped connection is retried with a growing
back-off; each attempt is recorded as a "push" call (params ``update_id``; result ``status`` and
the answering ``worker``, from the bot's X-MoodTune-Worker header; ``ok`` when 2xx), so
``wait_for("push", ...)`` awaits them.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Callable

from tests.telegram_api import JSONDict, _bad


class _PushMode:
    """TelegramStub's setWebhook, getWebhookInfo, deleteWebhook and its pushers; the state is
    the stub's own (each Bot API method runs holding its lock)."""

    _lock: threading.RLock
    _changed: threading.Condition
    _stopping: bool
    _in_flight: int
    _updates: list[JSONDict]
    _webhook: JSONDict | None
    _pushers: list[threading.Thread]
    _pushing: set[int]
    _retry: dict[int, tuple[float, int]]
    _push_error: tuple[int, str] | None
    push_backoff: tuple[float, float]
    push_keep_alive: bool
    _record: Callable[..., None]

    def _set_webhook(self, p: JSONDict) -> bool:
        if not str(p.get("url", "")).startswith(("https://", "http://127.0.0.1:")):
            raise _bad("bad webhook: an HTTPS URL must be provided for webhook")
        self._webhook = {
            "url": p["url"],
            "secret": p.get("secret_token", ""),
            "max_connections": int(p.get("max_connections", 40)),
            "allowed_updates": p.get("allowed_updates"),
        }
        if p.get("drop_pending_updates"):
            self._updates.clear()
        while len(self._pushers) < self._webhook["max_connections"]:
            self._pushers.append(threading.Thread(target=self._push_loop, daemon=True))
            self._pushers[-1].start()
        self._changed.notify_all()
        return True

    def _delete_webhook(self, p: JSONDict) -> bool:
        self._webhook = None
        if p.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _webhook_info(self, p: JSONDict) -> JSONDict:
        info = {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        if (hook := self._webhook) is None:
            return info | {"pending_update_count": len(self._updates)}
        info |= {"url": hook["url"], "pending_update_count": len(self._updates)}
        info |= {"max_connections": hook["max_connections"]}
        if hook["allowed_updates"] is not None:
            info["allowed_updates"] = hook["allowed_updates"]
        if self._push_error:
            info["last_error_date"], info["last_error_message"] = self._push_error
        return info

    def _next_push(self) -> tuple[JSONDict, JSONDict] | None:
        """(webhook, update) for a free pusher once one is due; None when the stub stops."""
        while not self._stopping:
            hook, wait = self._webhook, 0.5
            if hook is not None and len(self._pushing) < hook["max_connections"]:
                allowed = hook["allowed_updates"]
                if allowed:  # Telegram never sends the other kinds
                    self._updates = [u for u in self._updates if not set(allowed).isdisjoint(u)]
                now = time.monotonic()
                for update in self._updates:
                    uid = update["update_id"]
                    due = self._retry.get(uid, (now, 0))[0]
                    if uid not in self._pushing and due <= now:
                        self._pushing.add(uid)
                        self._in_flight += 1
                        return dict(hook), update
                    if uid not in self._pushing:
                        wait = min(wait, due - now)
            self._changed.wait(max(wait, 0.001))
        return None

    def _push_loop(self) -> None:
        pusher = _Pusher(self.push_keep_alive)
        while True:
            with self._lock:
                if (job := self._next_push()) is None:
                    pusher.close()
                    return
            hook, update = job
            status, worker = pusher.post(hook, update)
            uid = update["update_id"]
            with self._lock:
                self._pushing.discard(uid)
                self._in_flight -= 1
                if 200 <= status < 300:
                    self._updates = [u for u in self._updates if u["update_id"] != uid]
                    self._retry.pop(uid, None)
                else:
                    failures = self._retry.get(uid, (0.0, 0))[1] + 1
                    first, most = self.push_backoff
                    delay = min(first * 2 ** (failures - 1), most)
                    self._retry[uid] = (time.monotonic() + delay, failures)
                    reason = f"Wrong response from the webhook: {status}" if status else (
                        "Connection reset by peer")  # fmt: skip
                    self._push_error = (int(time.time()), reason)
                self._changed.notify_all()
            outcome = {"result": {"status": status, "worker": worker}}
            if not 200 <= status < 300:
                outcome["error"] = {"status": status}
            self._record("push", {"update_id": uid}, **outcome)


class _Pusher:
    """One push connection to the webhook: a fresh one per update, or with ``keep_alive`` kept
    open between updates as Telegram keeps its own (until idle for KEEP_IDLE seconds, so
    uvicorn's 5 s keep-alive never closes it under a request)."""

    KEEP_IDLE = 2.0

    def __init__(self, keep_alive: bool) -> None:
        self.keep_alive = keep_alive
        self.conn: http.client.HTTPConnection | None = None
        self.target: tuple[str, int] = ("", 0)
        self.used = 0.0

    def post(self, hook: JSONDict, update: JSONDict) -> tuple[int, str | None]:
        """POST one update: (HTTP status, or 0 if the connection failed; answering worker)."""
        url = urllib.parse.urlsplit(hook["url"])
        target = (url.hostname or "", url.port or 80)
        if self.target != target or time.monotonic() - self.used > self.KEEP_IDLE:
            self.close()
        if self.conn is None:
            self.conn, self.target = http.client.HTTPConnection(*target, timeout=60.0), target
        headers = {"Content-Type": "application/json"}
        if hook["secret"]:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret"]
        try:
            self.conn.request("POST", url.path or "/", json.dumps(update).encode(), headers)
            response = self.conn.getresponse()
            response.read()
            if response.will_close or not self.keep_alive:
                self.close()
            return response.status, response.getheader("X-MoodTune-Worker")
        except (OSError, http.client.HTTPException):  # refused, reset, timed out
            self.close()
            return 0, None
        finally:
            self.used = time.monotonic()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None
