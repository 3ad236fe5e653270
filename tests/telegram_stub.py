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

Hooks run before a method (``fail_next``, ``hold``) and may block or raise ApiError: the faults
(``flood``: 429 with retry_after, ``fail``: e.g. 502, ``drop``: the connection closed without an
answer) plug in there, for Bot API methods and for file downloads ("download"). Group chats,
channel posts and edits come from ``send_to_group``, ``channel_post`` and ``edit_message``;
``push_update`` takes any raw JSON (a poison update).

Push mode, as Telegram's webhook: after ``setWebhook`` the queued updates (and those queued
later) are POSTed as JSON to its URL with the secret header, up to ``max_connections`` at once,
instead of waiting for getUpdates (which then answers 409); with ``push_keep_alive`` each of those
connections stays open between updates, as Telegram's do. A non-2xx answer or a dropped
connection is retried with a growing back-off; each attempt is recorded as a "push" call
(params ``update_id``; result ``status`` and the answering ``worker``, from the bot's
X-MoodTune-Worker header; ``ok`` when 2xx), so ``wait_for("push", ...)`` awaits them.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.parser
import email.policy
import http.client
import io
import itertools
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

JSONDict = dict[str, Any]
Hook = Callable[[JSONDict], object]

# PTB JSON-encodes every parameter value except strings; these stay strings even if they look
# like JSON ("42", "true").
_STRING_PARAMS = {"text", "caption", "callback_query_id", "inline_query_id", "file_id"}


class ApiError(Exception):
    """A Bot API error answer."""

    def __init__(
        self, error_code: int, description: str, parameters: JSONDict | None = None
    ) -> None:
        super().__init__(f"{error_code}: {description}")
        self.body = {"ok": False, "error_code": error_code, "description": description}
        if parameters:
            self.body["parameters"] = parameters


class Dropped(Exception):
    """Raised by a hook: the connection is closed without an answer (nothing was done)."""


def _bad(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


@dataclass(frozen=True)
class Upload:
    """A file the bot uploaded; it sits in ``Call.params`` under its parameter name."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Call:
    """One Bot API request: decoded ``params``, and the ``result`` or the ``error`` body."""

    seq: int
    method: str
    params: JSONDict
    result: Any = None
    error: JSONDict | None = None
    at: float = field(default_factory=time.monotonic, compare=False)  # when it was answered

    @property
    def ok(self) -> bool:
        return self.error is None

    def __repr__(self) -> str:
        return f"Call(#{self.seq} {self.method} {self.params} {self.error or 'ok'})"


@dataclass
class _Chat:
    """A user's private chat with the bot; user and bot messages share one id sequence."""

    user: JSONDict
    messages: dict[int, JSONDict] = field(default_factory=dict)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def info(self) -> JSONDict:
        return {"id": self.user["id"], "type": "private", "first_name": self.user["first_name"]}


@dataclass
class _GroupChat(_Chat):
    """A group (or channel) the bot is in; ``user`` holds its id and title."""

    kind: str = "group"

    @property
    def info(self) -> JSONDict:
        return {"id": self.user["id"], "type": self.kind, "title": self.user["first_name"]}


def decode_request(content_type: str, body: bytes) -> JSONDict:
    """Form or multipart parameters with JSON values decoded; uploads become ``Upload``s."""
    if not content_type.startswith("multipart/form-data"):
        raw: dict[str, Any] = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
    else:
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        form = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        raw = {}
        for part in form.iter_parts():
            data, filename = part.get_payload(decode=True), part.get_filename()
            upload = Upload(filename, part.get_content_type(), data) if filename else None
            raw[part.get_param("name", header="content-disposition")] = upload or data.decode()
    return {k: v if k in _STRING_PARAMS else _json_or_str(v) for k, v in raw.items()}


def _json_or_str(value: Any) -> Any:
    try:
        return json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return value


# -- HTML parse_mode --------------------------------------------------------------------------

_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "span": "spoiler", "tg-spoiler": "spoiler", "a": "text_link", "code": "code", "pre": "pre",
    "blockquote": "blockquote",
}  # fmt: skip
_VALUE = r"(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'>]+))"
_TAG = re.compile(rf"<(/?)([a-z-]+)((?:\s+[a-z-]+(?:={_VALUE})?)*)\s*>", re.I)
_ATTR = re.compile(rf"([a-z-]+)(?:={_VALUE})?", re.I)
_CHAR_REF = re.compile(r"&(?:(lt|gt|amp|quot)|#(\d{1,7})|#x([0-9a-f]{1,6}));", re.I)
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_MARKUP = re.compile("[<&]")


def _u16(text: str) -> int:
    """Length in UTF-16 code units: the unit of entity offsets and of Telegram's limits."""
    return len(text.encode("utf-16-le")) // 2


def _unescape(text: str) -> str:
    def char(m: re.Match[str]) -> str:
        return _NAMED[m[1].lower()] if m[1] else chr(int(m[2]) if m[2] else int(m[3], 16))

    return _CHAR_REF.sub(char, text)


def parse_html(text: str) -> tuple[str, list[JSONDict]]:
    """Telegram's HTML to (plain text, entities), or ApiError "can't parse entities" as Telegram.

    Stricter than Telegram in one way: it keeps a bare ``&``, the stub refuses it, as it shows
    text went out unescaped (and the next such text may hold a ``<``).
    """
    plain, entities, open_tags = [], [], []  # open_tags: (name, utf-16 offset, attributes)
    size = i = 0
    while m := _MARKUP.search(text, i):
        plain.append(text[i : m.start()])
        size += _u16(plain[-1])
        at = f"at byte offset {len(text[: m.start()].encode())}"
        if m[0] == "&":
            if not (ref := _CHAR_REF.match(text, m.start())):
                raise _bad(f'can\'t parse entities: unescaped "&" {at}')
            plain.append(_unescape(ref[0]))
            size, i = size + _u16(plain[-1]), ref.end()
            continue
        tag = _TAG.match(text, m.start())
        name = tag[2].lower() if tag else re.match(r"</?([^\s>]*)", text[m.start() :])[1]
        if name not in _TAGS:
            raise _bad(f'can\'t parse entities: Unsupported start tag "{name}" {at}')
        if not tag:
            raise _bad(f"can't parse entities: Unclosed start tag {at}")
        if not tag[1]:
            attrs = {
                a[1].lower(): _unescape(a[2] or a[3] or a[4] or "") for a in _ATTR.finditer(tag[3])
            }
            open_tags.append((name, size, attrs))
        elif not open_tags or open_tags[-1][0] != name:
            expected = f'expected "</{open_tags[-1][0]}>", ' if open_tags else ""
            raise _bad(
                f'can\'t parse entities: Unmatched end tag {at}, {expected}found "</{name}>"'
            )
        else:
            _, start, attrs = open_tags.pop()
            url = {"url": attrs.get("href", "")} if name == "a" else {}
            if size > start:
                entities.append(
                    {"type": _TAGS[name], "offset": start, "length": size - start, **url}
                )
        i = tag.end()
    if open_tags:
        raise _bad(
            f"can't parse entities: Can't find end tag corresponding to start tag \"{open_tags[-1][0]}\""
        )
    return "".join(plain) + text[i:], sorted(entities, key=lambda e: (e["offset"], -e["length"]))


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


class TelegramStub:
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

    # -- hooks

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

    # -- users acting

    def add_user(self, user_id: int) -> JSONDict:
        """Register a user and their private chat with the bot (once); returns the User."""
        user = {
            "id": user_id,
            "is_bot": False,
            "first_name": f"User{user_id}",
            "language_code": "en",
        }
        with self._lock:
            return dict(self._chats.setdefault(user_id, _Chat(user)).user)

    def set_language(self, user_id: int, code: str | None) -> None:
        """The user's app language (``language_code`` on their later updates; None: unset)."""
        with self._lock:
            self.add_user(user_id)
            user = self._chats[user_id].user
            user.pop("language_code", None)
            if code is not None:
                user["language_code"] = code

    def push_update(self, update: JSONDict) -> JSONDict:
        """Queue an update for getUpdates, ``update_id`` assigned; returns it."""
        with self._lock:
            self._updates.append(_copy({"update_id": next(self._ids), **update}))
            self._changed.notify_all()
            return _copy(self._updates[-1])

    def send_text(self, user_id: int, text: str) -> JSONDict:
        """The user types ``text``; a leading ``/command`` gets its entity, as in Telegram."""
        if not text.startswith("/"):
            return self._user_message(user_id, text=text)
        command = {"type": "bot_command", "offset": 0, "length": _u16(text.split()[0])}
        return self._user_message(user_id, text=text, entities=[command])

    def send_photo(self, user_id: int, data: bytes) -> JSONDict:
        return self._user_message(user_id, photo=self._photo_sizes(data))

    def send_document(
        self, user_id: int, data: bytes, file_name: str, mime_type: str = "application/pdf"
    ) -> JSONDict:
        document = {**self._store(data), "file_name": file_name, "mime_type": mime_type}
        return self._user_message(user_id, document=document)

    def send_sticker(self, user_id: int) -> JSONDict:
        flags = {"is_animated": False, "is_video": False, "emoji": "😀"}
        sticker = {"type": "regular", "width": 512, "height": 512, **flags}
        return self._user_message(user_id, sticker={**self._store(b"RIFF0000WEBP"), **sticker})

    def send_video_note(
        self, user_id: int, data: bytes, duration: int, length: int = 240
    ) -> JSONDict:
        """A round video message, with the duration and size Telegram reports for it."""
        video_note = {**self._store(data), "length": length, "duration": duration}
        return self._user_message(user_id, video_note=video_note)

    def send_video(
        self, user_id: int, data: bytes, duration: int, width: int = 240, height: int = 240
    ) -> JSONDict:
        video = {**self._store(data), "width": width, "height": height, "duration": duration}
        return self._user_message(user_id, video=video | {"mime_type": "video/mp4"})

    def send_voice(self, user_id: int) -> JSONDict:
        return self._user_message(user_id, voice={**self._store(b"OggS"), "duration": 3})

    def send_location(self, user_id: int, latitude: float, longitude: float) -> JSONDict:
        return self._user_message(user_id, location={"latitude": latitude, "longitude": longitude})

    def press_button(self, user_id: int, message: JSONDict, data: str) -> JSONDict:
        """The user presses the button with ``data`` on ``message`` as it is now in their chat.

        ValueError if they see no such button: a real user could not press it.
        """
        with self._lock:
            current = self._current(message)
            rows = (current.get("reply_markup") or {}).get("inline_keyboard", [])
            buttons = [b.get("callback_data") for row in rows for b in row]
            if current["chat"]["id"] != user_id or data not in buttons:
                raise ValueError(f"user {user_id} sees no button {data!r} on {current}")
            return self._callback_query(user_id, current, data)

    def send_callback_data(self, user_id: int, message: JSONDict, data: str) -> JSONDict:
        """The user sends any ``data`` from ``message`` in their own chat, as a tampering client
        can: stale, malformed, over-long or naming another user's entry.

        ValueError if the message is not in their chat (that is ``forge_button_press``).
        """
        with self._lock:
            current = self._current(message)
            if current["chat"]["id"] != user_id or user_id not in self._chats:
                raise ValueError(f"message {current['message_id']} is not in user {user_id}'s chat")
            return self._callback_query(user_id, current, data)

    def forge_button_press(self, user_id: int, message: JSONDict, data: str) -> JSONDict:
        """What a tampering client can send: any ``data``, on any message, by any user."""
        with self._lock:
            return self._callback_query(user_id, self._current(message), data)

    def inline_query(self, user_id: int, query: str) -> JSONDict:
        """The user types ``@bot query`` in some chat."""
        with self._lock:
            inline = {"id": self._open_query(), "from": self.add_user(user_id), "query": query}
            return self.push_update({"inline_query": {**inline, "offset": ""}})

    def send_to_group(
        self,
        user_id: int | None,
        group_id: int,
        *,
        sender_chat: JSONDict | None = None,
        kind: str = "supergroup",
        **content: Any,
    ) -> JSONDict:
        """A message in a group the bot is in: from ``user_id``, or (None) from no person, sent
        on behalf of ``sender_chat``. ``content`` as a message's fields (text, photo...)."""
        with self._lock:
            title = {"id": group_id, "is_bot": False, "first_name": f"Group{group_id}"}
            chat = self._chats.setdefault(group_id, _GroupChat(title, kind=kind))
            message = {"message_id": next(chat.ids), "chat": chat.info, "date": int(time.time())}
            if user_id is not None:
                message["from"] = self.add_user(user_id)
            if sender_chat is not None:
                message["sender_chat"] = sender_chat
            if (text := content.get("text")) and text.startswith("/"):
                size = _u16(text.split()[0])
                content["entities"] = [{"type": "bot_command", "offset": 0, "length": size}]
            chat.messages[message["message_id"]] = message | content
            return self.push_update({"message": chat.messages[message["message_id"]]})

    def group_photo(self, user_id: int | None, group_id: int, data: bytes, **more: Any) -> JSONDict:
        return self.send_to_group(user_id, group_id, photo=self._photo_sizes(data), **more)

    def channel_post(self, channel_id: int, **content: Any) -> JSONDict:
        """A post in a channel the bot administers: no sender, chat type "channel"."""
        with self._lock:
            title = {"id": channel_id, "is_bot": False, "first_name": f"Channel{channel_id}"}
            chat = self._chats.setdefault(channel_id, _GroupChat(title, kind="channel"))
            post = {"message_id": next(chat.ids), "chat": chat.info, "date": int(time.time())}
            post |= {"sender_chat": chat.info, **content}
            chat.messages[post["message_id"]] = post
            return self.push_update({"channel_post": post})

    def edit_message(self, user_id: int, message: JSONDict, **changes: Any) -> JSONDict:
        """The user edits one of their messages (a caption, or the photo itself)."""
        with self._lock:
            chat = self._chats[user_id]
            edited = chat.messages[message["message_id"]] | changes
            chat.messages[message["message_id"]] = edited | {"edit_date": int(time.time())}
            return self.push_update({"edited_message": chat.messages[message["message_id"]]})

    def send_message(self, user_id: int, **content: Any) -> JSONDict:
        """A message from the user with these fields (e.g. ``photo=user_photo_sizes(...)``
        made once, so a benchmark sends the same photo without re-encoding it each time)."""
        return self._user_message(user_id, **content)

    def user_photo_sizes(self, data: bytes) -> list[JSONDict]:
        """PhotoSizes for ``data``, for an edit or a hand-made update."""
        return self._photo_sizes(data)

    def _user_message(self, user_id: int, **content: Any) -> JSONDict:
        with self._lock:
            user, chat = self.add_user(user_id), self._chats[user_id]
            message = {"message_id": next(chat.ids), "from": user, "chat": chat.info}
            chat.messages[message["message_id"]] = message | {"date": int(time.time())} | content
            return self.push_update({"message": chat.messages[message["message_id"]]})

    def _current(self, message: JSONDict) -> JSONDict:
        chat = self._chats.get(message["chat"]["id"])
        return _copy(chat.messages.get(message["message_id"], message) if chat else message)

    def _callback_query(self, user_id: int, message: JSONDict, data: str) -> JSONDict:
        query = {"id": self._open_query(), "from": self.add_user(user_id), "message": message}
        query |= {"chat_instance": str(message["chat"]["id"]), "data": data}
        return self.push_update({"callback_query": query})

    def _open_query(self) -> str:
        """A new callback or inline query id, open until the bot answers it."""
        self._open_queries.add(query_id := str(next(self._ids)))
        return query_id

    def _store(self, data: bytes) -> JSONDict:
        with self._lock:
            self._files[file_id := f"stub-file-{next(self._ids):06d}"] = data
        return {"file_id": file_id, "file_unique_id": f"{file_id}-u", "file_size": len(data)}

    def _photo_sizes(self, data: bytes) -> list[JSONDict]:
        """PhotoSizes as Telegram makes them, smallest first; the last one serves ``data``."""
        sizes, width, height = [], 640, 480
        # A damaged or hostile image gets no thumbnail (nor its size, if unreadable).
        with contextlib.suppress(Exception), Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            image.thumbnail((90, 90))
            thumb = io.BytesIO()
            image.convert("RGB").save(thumb, "JPEG")
            sizes.append(
                {**self._store(thumb.getvalue()), "width": image.width, "height": image.height}
            )
        return [*sizes, {**self._store(data), "width": width, "height": height}]

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

    # -- push mode (webhook)

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


def _markup(p: JSONDict) -> JSONDict:
    """``{"reply_markup": ...}`` as Telegram echoes it (inline keyboards only), or ``{}``."""
    keyboard = (p.get("reply_markup") or {}).get("inline_keyboard")
    if any(len(b.get("callback_data", "").encode()) > 64 for row in keyboard or [] for b in row):
        raise _bad("BUTTON_DATA_INVALID")
    return {"reply_markup": {"inline_keyboard": keyboard}} if keyboard else {}


def _copy(value: Any) -> Any:
    """A deep copy through JSON: detaches results from the stub's state, and checks they encode."""
    return json.loads(json.dumps(value))


def _answer(result: Any) -> tuple[int, bytes]:
    if isinstance(result, ApiError):
        return result.body["error_code"], json.dumps(result.body).encode()
    return 200, json.dumps({"ok": True, "result": result}).encode()
