"""The Bot API's wire format for tests.telegram_stub: errors, the recorded ``Call``, request
decoding, HTML parse_mode and the JSON answer, all without state."""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
