"""A real HTTP server on 127.0.0.1 standing in for Telegram's Bot API, as big as MoodTune's use.

Same URL layout as Telegram, so a real python-telegram-bot Application runs against it::

    POST {root_url}/bot{token}/{method}        form or multipart parameters, as PTB sends them
    GET  {root_url}/file/bot{token}/{path}     file downloads (the path getFile returned)

Tests act as users (``send_text``, ``send_photo``, ``press_button`` ...), the bot fetches the
updates with getUpdates, and every call it makes is recorded (``wait_for``). Only the methods in
``TelegramStub._methods`` exist; any other answers 404, so a new call in bot/ fails loudly until
it is added here. Replies are refused where Telegram refuses them: HTML parse_mode (tags and
escaping), lengths, button data, unknown chats and messages, edits that change nothing, queries
answered twice.

Group chats, channel posts and edits come from ``send_to_group``, ``channel_post`` and
``edit_message``; ``push_update`` takes any raw JSON (a poison update).

The parts, one module each: the wire format (tests/telegram_api.py: ``ApiError``, ``Call``,
``parse_html``), users acting (tests/telegram_users.py), hooks and faults such as ``flood``,
``fail`` and ``drop`` (tests/telegram_faults.py), and push mode, Telegram's webhook
(tests/telegram_push.py); this module holds the server, what the bot did, and the Bot API
methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.telegram_api import (
    ApiError,
    Call,
    Dropped,
    Hook,
    JSONDict,
    Upload,
    _answer,
    _bad,
    _copy,
    _markup,
    _u16,
    decode_request,
    parse_html,
)
from tests.telegram_faults import _Faults
from tests.telegram_push import _PushMode
from tests.telegram_users import _Chat, _Users

__all__ = ["ApiError", "Call", "Dropped", "JSONDict", "TelegramStub", "Upload", "parse_html"]


# -- HTTP -------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stub: TelegramStub


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: no idle keep-alive threads
    # Headers and body go out as two writes; on a kept-alive connection Nagle's algorithm would
    # hold the body until the client's delayed ACK (~40 ms a call), which Telegram doesn't do.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        if self.server.stub.keep_alive:  # as Telegram: a client's connections are reused
            self.protocol_version = "HTTP/1.1"

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError):  # a kept-alive client went away
            super().handle()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        status, payload = self.server.stub._serve(path, self.headers.get("Content-Type", ""), body)
        if status == 0:  # a dropped connection: close without a word
            self.close_connection = True
            return
        with contextlib.suppress(ConnectionError):  # the client gave up (a cancelled long poll)
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    do_GET = do_POST


class TelegramStub(_Users, _Faults, _PushMode):
    """The fake Bot API; ``tests.loopback.serving`` runs one for a test."""

    def __init__(
        self,
        token: str = "123456:TEST-token",
        *,
        max_poll_wait: float = 0.25,
        push_backoff: tuple[float, float] = (0.05, 2.0),
        keep_alive: bool = False,
        push_keep_alive: bool = False,
    ) -> None:
        self.token = token
        # HTTP/1.1 keep-alive, as the real Bot API: the bot's HTTP clients reuse connections
        # instead of opening one per call (the load benchmark's --keep-alive).
        self.keep_alive = keep_alive
        # Push mode: the first retry's delay, doubling up to the second (Telegram's is longer).
        self.push_backoff = push_backoff
        self.push_keep_alive = push_keep_alive  # connections kept open between pushes
        self._webhook: JSONDict | None = None
        self._pushers: list[threading.Thread] = []
        self._pushing: set[int] = set()  # update ids being POSTed now
        self._retry: dict[int, tuple[float, int]] = {}  # update id: (next try, failures)
        self._push_error: tuple[int, str] | None = None  # (date, message) of the last failure
        # A long poll lasts at most this (not the bot's 10 s), so a fresh bot is seen polling
        # soon after it starts; a pushed update still ends the poll at once.
        self.max_poll_wait = max_poll_wait
        bot_id = int(token.split(":")[0])
        self.bot_user = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "MoodTune",
            "username": "moodtune_test_bot",
        }
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)  # a new update, request end or stop
        self._ids = itertools.count(1)
        self._calls: list[Call] = []
        self._mark = 0
        self._errors: list[BaseException] = []
        self._listeners: list[Callable[[], None]] = []  # wake_ups of running wait_for()s
        self._hooks: dict[str, list[Hook]] = {}
        self._gates: list[threading.Event] = []
        self._updates: list[JSONDict] = []
        self._chats: dict[int, _Chat] = {}
        self._files: dict[str, bytes] = {}
        self._sizes_hidden: set[str] = set()
        self._open_queries: set[str] = set()
        self._commands: dict[str | None, list[JSONDict]] = {}  # by language_code
        self._in_flight = 0
        self._stopping = False
        self._server: _Server | None = None
        self._methods: dict[str, Callable[[JSONDict], Any]] = {
            "getMe": lambda p: self.bot_user,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._webhook_info,
            "deleteWebhook": self._delete_webhook,
            "getUpdates": self._get_updates,
            "setMyCommands": self._set_my_commands,
            "sendChatAction": lambda p: bool(self._chat(p)),
            "sendMessage": lambda p: self._bot_message(p, **self._text(p, "text")),
            "sendPhoto": lambda p: self._bot_message(p, **self._media(p, "photo")),
            "sendDocument": lambda p: self._bot_message(p, **self._media(p, "document")),
            "editMessageText": lambda p: self._edit(p, **self._text(p, "text")),
            "editMessageReplyMarkup": lambda p: self._edit(p),
            "answerCallbackQuery": lambda p: self._answer(p["callback_query_id"]),
            "answerInlineQuery": lambda p: self._answer(p["inline_query_id"]),
            "getFile": self._get_file,
        }

    # -- lifecycle

    def start(self) -> TelegramStub:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stub = self
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self, timeout: float = 5.0) -> int:
        """Stop serving, end long polls and held calls; returns how many requests still run."""
        with self._lock:
            self._stopping = True
            self._changed.notify_all()
            for gate in self._gates:
                gate.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._lock:
            self._changed.wait_for(lambda: not self._in_flight, timeout)
            left = self._in_flight
        for pusher in self._pushers:
            pusher.join(timeout)
        return left + sum(p.is_alive() for p in self._pushers)

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT``: the bot's TELEGRAM_API_URL."""
        assert self._server is not None, "stub not started"
        return "http://{}:{}".format(*self._server.server_address[:2])

    def check_errors(self) -> None:
        """Fail if the stub itself crashed while serving (it answered 500)."""
        with self._lock:
            if self._errors:
                raise AssertionError(f"telegram stub crashed: {self._errors}") from self._errors[0]

    def allowed_updates(self) -> list[str] | None:
        """The ``allowed_updates`` of the latest getUpdates or setWebhook that sent one."""
        calls = sorted(self.calls("getUpdates", since=0) + self.calls("setWebhook", since=0),
                       key=lambda c: c.seq)  # fmt: skip
        asked = [c.params["allowed_updates"] for c in calls if "allowed_updates" in c.params]
        return asked[-1] if asked else None

    # -- what the bot did

    def mark(self) -> int:
        """Remember "now": ``wait_for`` and ``expect_no_call`` then see only later calls."""
        with self._lock:
            self._mark = len(self._calls)
            return self._mark

    def calls(self, method: str, since: int | None = None) -> list[Call]:
        """Calls of ``method`` after the mark (or after ``since``, a ``mark()``)."""
        with self._lock:
            start = self._mark if since is None else since
            return [c for c in self._calls[start:] if c.method == method]

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] = lambda call: True,
        *,
        timeout: float = 10.0,
        count: int = 1,
        since: int | None = None,
    ) -> list[Call]:
        """The first ``count`` calls of ``method`` after the mark (or ``since``) that match."""
        loop, recorded = asyncio.get_running_loop(), asyncio.Event()

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
                loop.call_soon_threadsafe(recorded.set)

        with self._lock:
            self._listeners.append(wake)
        try:
            async with asyncio.timeout(timeout):
                while len(found := [c for c in self.calls(method, since) if predicate(c)]) < count:
                    self.check_errors()
                    await recorded.wait()
                    recorded.clear()
                return found[:count]
        except TimeoutError:
            recent = "\n  ".join(
                map(repr, [c for c in self._calls if c.method != "getUpdates"][-15:])
            )
            raise AssertionError(f"no {count} {method} call(s); recent:\n  {recent}") from None
        finally:
            with self._lock:
                self._listeners.remove(wake)

    async def expect_no_call(
        self, method: str, *, within: float = 0.5, since: int | None = None
    ) -> None:
        """Nothing calls ``method`` (after the mark, or ``since``) for ``within`` seconds.

        Waits on the calls as they are recorded (as ``wait_for``): a call fails it at once.
        """
        try:
            found = await self.wait_for(method, timeout=within, since=since)
        except AssertionError:
            self.check_errors()  # timed out (no such call), unless the stub itself failed
            return
        raise AssertionError(f"unexpected {method}: {found}")

    def commands(self, language_code: str | None = None) -> list[JSONDict]:
        """The command menu set with setMyCommands for this language_code (None: everyone's)."""
        with self._lock:
            return list(self._commands.get(language_code, []))

    def file_bytes(self, file_id: str) -> bytes:
        with self._lock:
            return self._files[file_id]

    # -- serving

    def _serve(self, path: str, content_type: str, body: bytes) -> tuple[int, bytes]:
        """Answer one HTTP request: (status, JSON body), or file bytes for a download."""
        if path.startswith(files := f"/file/bot{self.token}/"):
            with self._lock:
                data = self._files.get(file_id := path.removeprefix(files))
                hooks = list(self._hooks.get("download", []))
            try:
                for hook in hooks:
                    hook({"file_id": file_id})
            except ApiError as exc:
                self._record("download", {"file_id": file_id}, error=exc.body)
                return _answer(exc)
            except Dropped:
                self._record("download", {"file_id": file_id}, error={"dropped": True})
                return 0, b""
            self._record("download", {"file_id": file_id}, result=data is not None)
            return (200, data) if data is not None else _answer(ApiError(404, "Not Found"))
        method, params = path.removeprefix(f"/bot{self.token}/"), {}
        with self._lock:
            self._in_flight += 1
            hooks = list(self._hooks.get(method, []))
        try:
            if not path.startswith(f"/bot{self.token}/") or method not in self._methods:
                raise ApiError(404, "Not Found")
            params = decode_request(content_type, body)
            for hook in hooks:
                hook(params)
            with self._lock:
                result = _copy(self._methods[method](params))
            self._record(method, params, result=result)
            return _answer(result)
        except ApiError as exc:
            self._record(method, params, error=exc.body)
            return _answer(exc)
        except Dropped:
            self._record(method, params, error={"dropped": True})
            return 0, b""
        except Exception as exc:  # a stub bug: answer 500; check_errors (and wait_for) fail
            with self._lock:
                self._errors.append(exc)
            error = ApiError(500, f"Internal Server Error: {exc!r}")
            self._record(method, params, error=error.body)
            return _answer(error)
        finally:
            with self._lock:
                self._in_flight -= 1
                self._changed.notify_all()

    def _record(self, method: str, params: JSONDict, **outcome: Any) -> None:
        with self._lock:
            self._calls.append(Call(len(self._calls) + 1, method, params, **outcome))
            for wake in self._listeners:
                wake()

    # -- Bot API methods, each run holding the lock

    def _get_updates(self, p: JSONDict) -> list[JSONDict]:
        """Updates from ``offset`` on (those below it are confirmed: dropped); long-polls."""
        if self._webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active;"
                           " use deleteWebhook to delete the webhook first")  # fmt: skip
        deadline = time.monotonic() + min(float(p.get("timeout", 0)), self.max_poll_wait)
        self._updates = [u for u in self._updates if u["update_id"] >= int(p.get("offset", 0))]
        while not self._updates and not self._stopping and time.monotonic() < deadline:
            self._changed.wait(deadline - time.monotonic())
        return self._updates

    def _set_my_commands(self, p: JSONDict) -> bool:
        self._commands[p.get("language_code")] = p["commands"]
        return True

    def _chat(self, p: JSONDict) -> _Chat:
        if (chat := self._chats.get(p.get("chat_id"))) is None:
            raise _bad("chat not found")
        return chat

    def _text(self, p: JSONDict, key: str) -> JSONDict:
        """``p[key]`` through parse_mode: ``{key: plain text, entities: [...]}``; length-checked."""
        text, entities, mode = p.get(key, ""), [], str(p.get("parse_mode", "")).lower()
        if mode == "html":
            text, entities = parse_html(text)
        elif mode:
            raise _bad(f"unsupported parse_mode {mode!r} (the stub speaks HTML only)")
        if key == "text" and not text.strip():
            raise _bad("message text is empty")
        if _u16(text) > (4096 if key == "text" else 1024):
            raise _bad(f"message {'' if key == 'text' else 'caption '}is too long")
        return {key: text, "entities" if key == "text" else "caption_entities": entities}

    def _media(self, p: JSONDict, kind: str) -> JSONDict:
        """A photo or document the bot uploaded, with its caption."""
        if not isinstance(upload := p.get(kind), Upload):
            raise _bad(f"there is no {kind} in the request")
        if kind == "photo":
            return {"photo": self._photo_sizes(upload.data), **self._text(p, "caption")}
        document = {**self._store(upload.data), "file_name": upload.filename}
        return {
            "document": document | {"mime_type": upload.content_type},
            **self._text(p, "caption"),
        }

    def _bot_message(self, p: JSONDict, **content: Any) -> JSONDict:
        chat = self._chat(p)
        message = {"message_id": next(chat.ids), "from": self.bot_user, "chat": chat.info}
        message |= {"date": int(time.time())} | {k: v for k, v in content.items() if v} | _markup(p)
        chat.messages[message["message_id"]] = message
        return message

    def _edit(self, p: JSONDict, **changes: Any) -> JSONDict:
        chat = self._chat(p)
        message = chat.messages.get(p.get("message_id"))
        if message is None or message["from"] != self.bot_user:
            raise _bad("message to edit not found")
        edited = {k: v for k, v in (message | changes).items() if v and k != "reply_markup"}
        if (edited := edited | _markup(p)) == message:
            raise _bad("message is not modified: specified new message content and reply markup "
                       "are exactly the same as a current content and reply markup of the message")  # fmt: skip
        chat.messages[message["message_id"]] = edited | {"edit_date": int(time.time())}
        return chat.messages[message["message_id"]]

    def _answer(self, query_id: str) -> bool:
        if query_id not in self._open_queries:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        self._open_queries.remove(query_id)
        return True

    def _get_file(self, p: JSONDict) -> JSONDict:
        if (data := self._files.get(file_id := p.get("file_id"))) is None:
            raise _bad("invalid file_id")
        size = {} if file_id in self._sizes_hidden else {"file_size": len(data)}
        return {"file_id": file_id, "file_unique_id": f"{file_id}-u", "file_path": file_id} | size
