"""A small, real HTTP server standing in for Telegram's Bot API, for end-to-end tests.

The server listens on 127.0.0.1 (a free port) in a daemon thread and speaks the same URL
layout as Telegram's own ``telegram-bot-api`` server::

    POST {root_url}/bot{token}/{method}           (JSON, urlencoded or multipart parameters)
    GET  {root_url}/file/bot{token}/{file_path}   (file downloads)

so a real python-telegram-bot ``Application`` can run against it::

    app = (
        Application.builder()
        .token(stub.token)
        .base_url(stub.base_url)            # f"{stub.root_url}/bot"
        .base_file_url(stub.base_file_url)  # f"{stub.root_url}/file/bot"
        .build()
    )

Tests push updates (``send_text``, ``send_photo``, ``press_button`` ...), the bot fetches them
with ``getUpdates``, and every API call it makes is recorded (``calls``, ``wait_for``). The stub
keeps chat state (messages, edits, deletions, uploaded files) and fails the way Telegram does
(unknown message, "message is not modified", unescaped MarkdownV2, ...).

Only the standard library is needed; Pillow is used when present to read image sizes and make
photo thumbnails.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import io
import itertools
import json
import logging
import re
import socket
import sys
import threading
import time
import urllib.parse
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "ApiError",
    "Call",
    "StoredFile",
    "StubTimeout",
    "TelegramStub",
    "UploadedFile",
]

_log = logging.getLogger(__name__)

JSONDict = dict[str, Any]

MAX_TEXT_LENGTH = 4096  # UTF-16 code units, after entity parsing
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # getFile refuses bigger files, as Telegram does
MAX_BODY_BYTES = 64 * 1024 * 1024
_THUMBNAIL_BOXES = (("s", 90), ("m", 320))
_THUMBNAIL_MAX_PIXELS = 25_000_000  # never decode more than this to make a thumbnail

# Parameters that are strings in the Bot API even when they look like numbers or JSON.
# Every other form/multipart value is JSON-decoded when it looks like JSON (objects, arrays,
# numbers, booleans), as Telegram does for reply_markup, entities, media, chat_id, ...
_STRING_PARAMS = frozenset(
    """text caption query data parse_mode action file_id callback_query_id inline_query_id
    next_offset url description short_description title emoji switch_pm_text switch_pm_parameter
    name language_code message_effect_id business_connection_id inline_message_id ip_address
    secret_token custom_title sticker_set_name photo document video audio voice animation
    sticker video_note thumbnail file_name address foursquare_id first_name last_name
    phone_number vcard question payload currency provider_token start_parameter
    shipping_query_id pre_checkout_query_id error_message""".split()  # noqa: SIM905
)
_JSONISH = re.compile(r"\s*(?:[\[{]|true\s*$|false\s*$|null\s*$|-?\d+(?:\.\d+)?\s*$)")


class ApiError(Exception):
    """A Bot API error response; raise it from a custom method handler (see ``on``)."""

    def __init__(
        self, error_code: int, description: str, parameters: JSONDict | None = None
    ) -> None:
        super().__init__(f"{error_code}: {description}")
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def to_json(self) -> JSONDict:
        body: JSONDict = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


class StubTimeout(AssertionError):
    """``wait_for`` gave up: the expected calls did not arrive in time."""


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """One file part of a multipart request, as the bot sent it."""

    field: str
    filename: str | None
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Call:
    """One Bot API request the stub answered.

    ``params`` holds the decoded non-file parameters (JSON strings inside form fields are
    decoded: ``reply_markup`` is a dict, ``chat_id`` an int), ``files`` the uploaded parts by
    multipart field name. ``result`` is the ``result`` of a successful response, ``error`` the
    whole error body otherwise.
    """

    seq: int
    method: str
    params: JSONDict
    files: dict[str, UploadedFile]
    result: Any = None
    error: JSONDict | None = None
    time: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    def __repr__(self) -> str:
        outcome = "ok" if self.ok else f"error={self.error}"
        files = f", files={sorted(self.files)}" if self.files else ""
        return f"Call(#{self.seq} {self.method} {self.params!r}{files} {outcome})"


@dataclass(slots=True)
class StoredFile:
    """A file the stub can serve: registered by a test or uploaded by the bot."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    kind: str  # photo, document, sticker, voice, ...
    mime_type: str | None = None
    file_name: str | None = None
    width: int | None = None
    height: int | None = None
    source_url: str | None = None  # sent by URL: never fetched, ``data`` is empty

    @property
    def file_size(self) -> int:
        return len(self.data)

    def as_file(self) -> JSONDict:
        """The ``File`` object ``getFile`` returns."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.file_size,
            "file_path": self.file_path,
        }


@dataclass(slots=True)
class _Chat:
    info: JSONDict
    next_message_id: int = 1
    messages: dict[int, JSONDict] = field(default_factory=dict)
    deleted: dict[int, JSONDict] = field(default_factory=dict)


@dataclass(slots=True)
class _Request:
    """Decoded parameters and uploaded files of one API call."""

    params: JSONDict
    files: dict[str, UploadedFile]

    def get(self, name: str, default: Any = None) -> Any:
        value = self.params.get(name)
        return default if value is None else value

    def get_int(self, name: str, default: int | None = None) -> int | None:
        value = self.params.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise _bad_request(f'field "{name}" must be a valid Number') from None

    def get_float(self, name: str, default: float) -> float:
        value = self.params.get(name)
        if value is None or value == "":
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise _bad_request(f'field "{name}" must be a valid Number') from None

    def get_bool(self, name: str) -> bool:
        value = self.params.get(name)
        if isinstance(value, str):
            return value.lower() in {"true", "1"}
        return bool(value)

    def get_json(self, name: str, expected: type) -> Any:
        value = self.params.get(name)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise _bad_request(f"can't parse {name} JSON object") from None
        if value is not None and not isinstance(value, expected):
            raise _bad_request(f'field "{name}" must be of type {expected.__name__}')
        return value


# --------------------------------------------------------------------------------------------
# Request decoding
# --------------------------------------------------------------------------------------------


def _decode_value(name: str, value: Any) -> Any:
    """Decode a string parameter the way Telegram does (JSON-looking values of typed fields)."""
    if not isinstance(value, str) or name in _STRING_PARAMS or not _JSONISH.match(value):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


_PARAM_RE = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def _header_params(value: str) -> tuple[str, dict[str, str]]:
    """Split ``form-data; name="x"; filename="y"`` into ("form-data", {...})."""
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for key, raw in _PARAM_RE.findall(";" + rest):
        raw = raw.strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        key = key.lower()
        is_extended = key.endswith("*")
        if is_extended:  # RFC 5987: filename*=UTF-8''na%C3%AFve.png
            charset, _, encoded = raw.partition("''")
            key = key[:-1]
            raw = urllib.parse.unquote(encoded, encoding=charset or "utf-8", errors="replace")
        if key not in params or is_extended:
            params[key] = raw
    return main.strip().lower(), params


def parse_multipart(body: bytes, boundary: str) -> tuple[JSONDict, dict[str, UploadedFile]]:
    """Parse a multipart/form-data body into (fields, files). Binary-safe."""
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    chunks = (b"\r\n" + body).split(delimiter)
    fields: JSONDict = {}
    files: dict[str, UploadedFile] = {}
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break  # closing delimiter
        line_end = chunk.find(b"\r\n")
        if line_end < 0:
            raise _bad_request("can't parse multipart/form-data request")
        head, sep, content = chunk[line_end + 2 :].partition(b"\r\n\r\n")
        if not sep:
            raise _bad_request("can't parse multipart/form-data request")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        _, disposition = _header_params(headers.get("content-disposition", ""))
        name = disposition.get("name")
        if name is None:
            continue
        if "filename" in disposition:
            files[name] = UploadedFile(
                field=name,
                filename=disposition["filename"],
                content_type=headers.get("content-type", "application/octet-stream"),
                data=content,
            )
        else:
            fields[name] = content.decode("utf-8", "replace")
    return fields, files


def decode_request(
    content_type: str, body: bytes, query: str = ""
) -> tuple[JSONDict, dict[str, UploadedFile]]:
    """Turn an HTTP request into (params, files), like the Bot API server does."""
    params: JSONDict = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    files: dict[str, UploadedFile] = {}
    kind, ct_params = _header_params(content_type or "")
    if kind == "application/json" and body.strip():
        try:
            loaded = json.loads(body)
        except ValueError:
            raise _bad_request("can't parse JSON object") from None
        if not isinstance(loaded, dict):
            raise _bad_request("JSON object expected")
        params.update(loaded)
    elif kind == "application/x-www-form-urlencoded":
        try:
            text = body.decode(ct_params.get("charset", "utf-8"), "replace")
        except LookupError:
            raise _bad_request("unsupported charset") from None
        params.update(urllib.parse.parse_qsl(text, keep_blank_values=True))
    elif kind == "multipart/form-data":
        boundary = ct_params.get("boundary")
        if not boundary:
            raise _bad_request("multipart/form-data without boundary")
        fields, files = parse_multipart(body, boundary)
        params.update(fields)
    return {k: _decode_value(k, v) for k, v in params.items()}, files


# --------------------------------------------------------------------------------------------
# Formatting: parse_mode HTML / MarkdownV2 / Markdown, like tdlib
# --------------------------------------------------------------------------------------------


def _u16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


class _Out:
    """Accumulates plain text and tracks its UTF-16 length (entity offsets use UTF-16)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0

    def add(self, chunk: str) -> None:
        self.parts.append(chunk)
        self.length += _u16(chunk)

    def text(self) -> str:
        return "".join(self.parts)


def _entity_error(detail: str) -> ApiError:
    return _bad_request(f"can't parse entities: {detail}")


_HTML_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_ENTITY_RE = re.compile(r"&(lt|gt|amp|quot|#\d{1,7}|#x[0-9a-fA-F]{1,6});")
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_END_TAG_RE = re.compile(r"</([a-zA-Z0-9-]*)\s*>")
_HTML_TAG_NAME_RE = re.compile(r"<([a-zA-Z0-9-]*)")
_HTML_ATTR_RE = re.compile(
    r"\s*([a-zA-Z0-9_-]+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>\"']+))?", re.ASCII
)


def _html_unescape(value: str) -> str:
    def repl(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _HTML_NAMED:
            return _HTML_NAMED[name]
        code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
        return chr(code) if 0 < code < 0x110000 else match.group(0)

    return _HTML_ENTITY_RE.sub(repl, value)


def parse_html(text: str) -> tuple[str, list[JSONDict]]:
    """Parse Telegram-flavoured HTML into (plain text, entities); errors like Telegram."""
    out = _Out()
    entities: list[JSONDict] = []
    stack: list[tuple[str, int, dict[str, str]]] = []  # tag, utf-16 start, attrs
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "&":
            match = _HTML_ENTITY_RE.match(text, i)
            if match:
                out.add(_html_unescape(match.group(0)))
                i = match.end()
                continue
            out.add(char)
            i += 1
            continue
        if char != "<":
            j = i
            while j < n and text[j] not in "<&":
                j += 1
            out.add(text[i:j])
            i = j
            continue
        offset = _byte_offset(text, i)
        if text.startswith("</", i):
            match = _HTML_END_TAG_RE.match(text, i)
            if not match:
                raise _entity_error(f"Unclosed end tag at byte offset {offset}")
            name = match.group(1).lower()
            if not stack:
                raise _entity_error(f"Unexpected end tag at byte offset {offset}")
            tag, start, attrs = stack.pop()
            if name != tag:
                raise _entity_error(
                    f'Unmatched end tag at byte offset {offset}, expected "</{tag}>", '
                    f'found "</{name}>"'
                )
            length = out.length - start
            if tag == "code" and stack and stack[-1][0] == "pre":
                language = attrs.get("class", "")
                if language.startswith("language-") and stack[-1][1] == start:
                    stack[-1][2]["language"] = language[len("language-") :]
                    i = match.end()
                    continue
            if length > 0:
                entity: JSONDict = {"type": _HTML_TYPES[tag], "offset": start, "length": length}
                if tag == "a":
                    href = attrs.get("href", "")
                    if not href:
                        entity = {}
                    else:
                        entity["url"] = href
                elif tag == "pre" and attrs.get("language"):
                    entity["language"] = attrs["language"]
                elif tag == "blockquote" and "expandable" in attrs:
                    entity["type"] = "expandable_blockquote"
                elif tag == "tg-emoji":
                    entity["custom_emoji_id"] = attrs.get("emoji-id", "")
                if entity:
                    entities.append(entity)
            i = match.end()
            continue
        match = _HTML_TAG_NAME_RE.match(text, i)
        name = match.group(1).lower() if match else ""
        if name not in _HTML_TYPES:
            raise _entity_error(f'Unsupported start tag "{name}" at byte offset {offset}')
        j = match.end() if match else i + 1
        attrs: dict[str, str] = {}
        while True:
            while j < n and text[j].isspace():
                j += 1
            if j >= n:
                raise _entity_error(f"Unclosed start tag at byte offset {offset}")
            if text[j] == ">":
                j += 1
                break
            attr = _HTML_ATTR_RE.match(text, j)
            if not attr or attr.end() == j:
                raise _entity_error(
                    f'Empty attribute name in the tag "{name}" at byte offset {offset}'
                )
            value = attr.group(2) or ""
            if value[:1] in {'"', "'"}:
                value = value[1:-1]
            attrs[attr.group(1).lower()] = _html_unescape(value)
            j = attr.end()
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise _entity_error(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
        stack.append((name, out.length, attrs))
        i = j
    if stack:
        raise _entity_error(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.text(), entities


_MDV2_RESERVED = "_*[]()~`>#+-=|{}.!"


def parse_markdown_v2(text: str) -> tuple[str, list[JSONDict]]:
    """Parse MarkdownV2 into (plain text, entities); a port of tdlib's parse_markdown_v2."""
    out = _Out()
    entities: list[JSONDict] = []
    # type, argument, utf-16 start, byte offset of the opening marker
    stack: list[list[Any]] = []
    i, n = 0, len(text)

    def at(k: int) -> str:
        return text[k] if k < n else ""

    def reserved(char: str) -> ApiError:
        return _entity_error(
            f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
        )

    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.add(text[i + 1])
            i += 2
            continue
        top = stack[-1][0] if stack else None
        reserved_chars = "`" if top in {"code", "pre"} else _MDV2_RESERVED
        if char not in reserved_chars:
            out.add(char)
            i += 1
            continue
        if char == ">" and (i == 0 or text[i - 1] == "\n") and top is None:
            # blockquote: consecutive lines starting with '>'
            start = out.length
            while i < n and text[i] == ">":
                end = text.find("\n", i)
                end = n if end < 0 else end + 1
                line_text, line_entities = parse_markdown_v2(text[i + 1 : end])
                for entity in line_entities:
                    entity["offset"] += out.length
                entities.extend(line_entities)
                out.add(line_text)
                i = end
            length = out.length - start
            if out.text().endswith("\n"):
                length -= 1
            if length > 0:
                entities.append({"type": "blockquote", "offset": start, "length": length})
            continue
        ends = False
        if top is not None:
            ends = {
                "bold": char == "*",
                "italic": char == "_" and at(i + 1) != "_",
                "code": char == "`",
                "pre": char == "`" and at(i + 1) == "`" and at(i + 2) == "`",
                "text_link": char == "]",
                "underline": char == "_" and at(i + 1) == "_",
                "strikethrough": char == "~",
                "spoiler": char == "|" and at(i + 1) == "|",
                "custom_emoji": char == "]",
            }[top]
        if not ends:
            byte_offset = _byte_offset(text, i)
            argument = ""
            if char == "_":
                kind = "italic"
                if at(i + 1) == "_":
                    kind = "underline"
                    i += 1
            elif char == "*":
                kind = "bold"
            elif char == "~":
                kind = "strikethrough"
            elif char == "|":
                if at(i + 1) != "|":
                    raise reserved(char)
                kind = "spoiler"
                i += 1
            elif char == "[":
                kind = "text_link"
            elif char == "`":
                if at(i + 1) == "`" and at(i + 2) == "`":
                    kind = "pre"
                    i += 3
                    lang_end = i
                    while lang_end < n and not text[lang_end].isspace() and text[lang_end] != "`":
                        lang_end += 1
                    if i != lang_end and lang_end < n and text[lang_end] != "`":
                        argument = text[i:lang_end]
                        i = lang_end
                    if at(i) in {"\n", "\r"}:
                        pair = at(i + 1) in {"\n", "\r"} and at(i) != at(i + 1)
                        i += 2 if pair else 1
                    i -= 1
                else:
                    kind = "code"
            elif char == "!" and at(i + 1) == "[":
                kind = "custom_emoji"
                i += 1
            else:
                raise reserved(char)
            stack.append([kind, argument, out.length, byte_offset])
            i += 1
            continue
        kind, argument, start, _ = stack.pop()
        entity: JSONDict = {"type": kind, "offset": start, "length": out.length - start}
        if kind in {"underline", "spoiler"}:
            i += 1
        elif kind == "pre":
            i += 2
            if argument:
                entity["language"] = argument
        elif kind in {"text_link", "custom_emoji"}:
            url = ""
            if at(i + 1) != "(":
                url = out.text()[-(entity["length"]) :] if entity["length"] else ""
            else:
                i += 2
                url_begin = _byte_offset(text, i)
                chars: list[str] = []
                while i < n and text[i] != ")":
                    if text[i] == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
                        chars.append(text[i + 1])
                        i += 2
                        continue
                    chars.append(text[i])
                    i += 1
                if at(i) != ")":
                    raise _entity_error(f"Can't find end of a URL at byte offset {url_begin}")
                url = "".join(chars)
            if kind == "text_link":
                entity["url"] = url
            else:
                entity["custom_emoji_id"] = url.rpartition("id=")[2]
        if entity["length"] > 0 and (kind not in {"text_link"} or entity.get("url")):
            entities.append(entity)
        i += 1
    if stack:
        kind, _, _, byte_offset = stack[-1]
        name = {"text_link": "TextUrl", "pre": "Pre", "code": "Code"}.get(kind, kind.title())
        raise _entity_error(f"Can't find end of {name} entity at byte offset {byte_offset}")
    return out.text(), entities


def parse_markdown_legacy(text: str) -> tuple[str, list[JSONDict]]:
    """Parse legacy ``Markdown`` into (plain text, entities), like tdlib's parse_markdown."""
    out = _Out()
    entities: list[JSONDict] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.add(text[i + 1])
            i += 2
            continue
        if char not in "_*`[":
            out.add(char)
            i += 1
            continue
        begin = _byte_offset(text, i)
        end_char = "]" if char == "[" else char
        is_pre = char == "`" and text.startswith("```", i)
        i += 3 if is_pre else 1
        language = ""
        if is_pre:
            lang_end = i
            while lang_end < n and not text[lang_end].isspace() and text[lang_end] != "`":
                lang_end += 1
            if i != lang_end and lang_end < n and text[lang_end] != "`":
                language = text[i:lang_end]
                i = lang_end + 1
        start = out.length
        while i < n and (text[i] != end_char or (is_pre and not text.startswith("```", i))):
            out.add(text[i])
            i += 1
        if i >= n:
            raise _entity_error(f"Can't find end of the entity starting at byte offset {begin}")
        length = out.length - start
        entity: JSONDict = {
            "type": {"_": "italic", "*": "bold", "`": "pre" if is_pre else "code"}.get(
                char, "text_link"
            ),
            "offset": start,
            "length": length,
        }
        if is_pre:
            i += 3
            if language:
                entity["language"] = language
        else:
            i += 1
        if char == "[":
            url = ""
            if i < n and text[i] == "(":
                close = text.find(")", i)
                if close >= 0:
                    url = text[i + 1 : close]
                    i = close + 1
            entity["url"] = url
            if not url:
                continue
        if length > 0:
            entities.append(entity)
    return out.text(), entities


def format_text(text: str, parse_mode: str | None) -> tuple[str, list[JSONDict]]:
    """Apply ``parse_mode`` to ``text``: (plain text, entities), raising ApiError like Telegram."""
    mode = (parse_mode or "").lower()
    if not mode:
        return text, []
    if mode == "html":
        plain, entities = parse_html(text)
    elif mode == "markdownv2":
        plain, entities = parse_markdown_v2(text)
    elif mode == "markdown":
        plain, entities = parse_markdown_legacy(text)
    else:
        raise _bad_request(f'unsupported parse_mode "{parse_mode}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return plain, entities


_COMMAND_RE = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")
_URL_RE = re.compile(r"https?://[^\s<>\"]+")


def auto_entities(text: str) -> list[JSONDict]:
    """Entities Telegram adds to a user's message: bot commands and URLs."""
    entities = []
    for regex, kind in ((_COMMAND_RE, "bot_command"), (_URL_RE, "url")):
        for match in regex.finditer(text):
            entities.append(
                {"type": kind, "offset": _u16(text[: match.start()]), "length": _u16(match[0])}
            )
    entities.sort(key=lambda e: e["offset"])
    return entities


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------


def _image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from the image header with Pillow, or None."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a project dependency
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                return image.size
    except Exception:
        return None


def _thumbnail(data: bytes, box: int) -> tuple[bytes, int, int] | None:
    """A JPEG fitting in box x box, or None when the image can't (or shouldn't) be decoded."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > _THUMBNAIL_MAX_PIXELS:
                    return None
                image.draft("RGB", (box, box))
                small = image.convert("RGB")
                small.thumbnail((box, box))
                buffer = io.BytesIO()
                small.save(buffer, "JPEG", quality=80)
                return buffer.getvalue(), small.width, small.height
    except Exception:
        return None


# --------------------------------------------------------------------------------------------
# HTTP server
# --------------------------------------------------------------------------------------------


def _shutdown_socket(conn: socket.socket) -> None:
    """Shut a socket down both ways (wakes a thread blocked reading it); ignore errors."""
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # TelegramStub.stop() closes connections and joins threads itself
    request_queue_size = 128  # PTB opens many connections at once with concurrent_updates

    def __init__(self, stub: TelegramStub, host: str) -> None:
        self.stub = stub
        self._thread_ids = itertools.count(1)
        super().__init__((host, 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"telegram-stub-conn-{next(self._thread_ids)}",
            daemon=True,
        )
        self.stub._track_thread(thread)
        thread.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError | OSError):
            return  # client went away (e.g. a cancelled long poll)
        _log.exception("telegram stub: error while serving %s", client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "telegram-stub/1.0"
    timeout = 60  # idle keep-alive connections
    server: _Server

    def setup(self) -> None:
        super().setup()
        if not self.server.stub._register_connection(self.connection):
            self.close_connection = True

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.stub._unregister_connection(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        _log.debug("telegram stub: " + format, *args)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    raise ApiError(413, "Request Entity Too Large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise ApiError(413, "Request Entity Too Large")
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ApiError as exc:
            self.close_connection = True
            self._send(exc.error_code, "application/json", json.dumps(exc.to_json()).encode())
            return
        except ValueError:
            self.close_connection = True
            self._send(
                400,
                "application/json",
                b'{"ok":false,"error_code":400,"description":"Bad Request: malformed body"}',
            )
            return
        response = self.server.stub._handle_http(
            self.command, self.path, self.headers.get("Content-Type", ""), body
        )
        if response is None:  # disconnect_next(): drop the connection without answering
            self.close_connection = True
            _shutdown_socket(self.connection)
            return
        status, content_type, payload = response
        self._send(status, content_type, payload)

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)


# --------------------------------------------------------------------------------------------
# The stub
# --------------------------------------------------------------------------------------------

_NOT_FOUND = ApiError(404, "Not Found")
_METHOD_NOT_FOUND = ApiError(404, "Not Found: method not found")
_CONFLICT = ApiError(
    409,
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running",
)
_QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: stub failure",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_BOT_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")

Handler = Callable[[JSONDict, dict[str, UploadedFile]], Any]


class TelegramStub:
    """A fake Telegram Bot API server on 127.0.0.1. Thread-safe; use as a context manager."""

    def __init__(
        self,
        token: str = "123456:TEST-token",
        *,
        bot_username: str = "moodtune_test_bot",
        bot_first_name: str = "MoodTune Test",
        max_poll_wait: float = 1.0,
        host: str = "127.0.0.1",
    ) -> None:
        self.token = token
        bot_id = token.partition(":")[0]
        self.bot_user: JSONDict = {
            "id": int(bot_id) if bot_id.isdigit() else 123456,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.max_poll_wait = max_poll_wait
        self._host = host
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._stop_event = threading.Event()
        self._server: _Server | None = None
        self._serve_thread: threading.Thread | None = None
        self._threads: set[threading.Thread] = set()
        self._connections: set[socket.socket] = set()
        self._stopping = False
        self._started = False
        self._ids = itertools.count(1)
        self._methods: dict[str, tuple[str, Callable[[_Request], Any]]] = {}
        self._install_methods()
        self._init_state()

    # ---------------------------------------------------------------- state

    def _init_state(self) -> None:
        self._calls: list[Call] = []
        self._seq = itertools.count(1)
        self._mark = 0
        self._errors: list[BaseException] = []
        self._updates: list[JSONDict] = []
        self._next_update_id = 100_000_001
        self._poll_generation = 0
        self._users: dict[int, JSONDict] = {}
        self._chats: dict[int | str, _Chat] = {}
        self._files: dict[str, StoredFile] = {}
        self._photo_sets: dict[str, list[JSONDict]] = {}  # any size's file_id -> all sizes
        self._callback_queries: dict[str, JSONDict] = {}
        self._inline_queries: dict[str, JSONDict] = {}
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        self._bot_settings: dict[str, Any] = {}
        self._webhook_url = ""
        self._failures: dict[str, list[ApiError | None]] = {}
        self._delays: dict[str, float] = {}
        self._gates: dict[str, threading.Event] = {}

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> TelegramStub:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        if self._started:
            raise RuntimeError("TelegramStub already started")
        self._server = _Server(self, self._host)
        self._serve_thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="telegram-stub-server",
            daemon=True,
        )
        self._started = True
        self._serve_thread.start()
        _log.debug("telegram stub listening on %s", self.root_url)
        return self

    def stop(self, timeout: float = 5.0) -> list[str]:
        """Stop serving, wake long polls, close every connection and join all threads.

        Returns the names of threads that did not finish within ``timeout`` (normally none).
        """
        if not self._started or self._server is None:
            return []
        with self._cond:
            if self._stopping:
                return []
            self._stopping = True
            self._stop_event.set()
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            _shutdown_socket(conn)
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = [self._serve_thread, *self._threads]
        for thread in threads:
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in threads if t is not None and t.is_alive()]
        if alive:
            _log.warning("telegram stub: threads still alive after stop(): %s", alive)
        return alive

    def __enter__(self) -> TelegramStub:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._started and not self._stopping

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT``: the value for TELEGRAM_API_URL."""
        if self._server is None:
            raise RuntimeError("TelegramStub not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder.base_url``."""
        return f"{self.root_url}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``ApplicationBuilder.base_file_url``."""
        return f"{self.root_url}/file/bot"

    def env(self) -> dict[str, str]:
        """Environment variables pointing the bot at this stub."""
        return {"TELEGRAM_API_URL": self.root_url, "TELEGRAM_BOT_TOKEN": self.token}

    def _track_thread(self, thread: threading.Thread) -> None:
        with self._lock:
            self._threads = {t for t in self._threads if t.is_alive()}
            self._threads.add(thread)

    def _register_connection(self, conn: socket.socket) -> bool:
        with self._lock:
            if self._stopping:
                _shutdown_socket(conn)
                return False
            self._connections.add(conn)
            return True

    def _unregister_connection(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    # ---------------------------------------------------------------- knobs

    def fail_next(
        self,
        method: str,
        error_code: int = 400,
        description: str | None = None,
        *,
        times: int = 1,
        retry_after: int | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail with this Bot API error.

        ``description`` defaults to Telegram's wording for the code (403: "Forbidden: bot was
        blocked by the user", 429: "Too Many Requests: retry after N" with ``retry_after``).
        """
        if retry_after is None and error_code == 429:
            retry_after = 1
        if description is None:
            default = _DEFAULT_DESCRIPTIONS.get(error_code, f"Error {error_code}")
            description = default.format(retry_after=retry_after)
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        error = ApiError(error_code, description, parameters)
        with self._lock:
            self._failures.setdefault(self._canonical(method), []).extend([error] * times)

    def disconnect_next(self, method: str, *, times: int = 1) -> None:
        """Drop the connection instead of answering the next ``times`` calls of ``method``."""
        with self._lock:
            self._failures.setdefault(self._canonical(method), []).extend([None] * times)

    def hold(self, method: str) -> threading.Event:
        """Hold every call of ``method`` until the returned event is set (or the stub stops):
        ordering tests without relying on how long anything takes."""
        gate = threading.Event()
        with self._lock:
            self._gates[self._canonical(method)] = gate
        return gate

    def delay(self, method: str, seconds: float) -> None:
        """Answer every call of ``method`` only after ``seconds`` (0 removes the delay)."""
        with self._lock:
            if seconds > 0:
                self._delays[self._canonical(method)] = seconds
            else:
                self._delays.pop(self._canonical(method), None)

    def on(self, method: str, handler: Handler) -> None:
        """Serve ``method`` with ``handler(params, files) -> result`` (raise ApiError to fail).

        Overrides a built-in method or adds one the stub doesn't know.
        """

        def call(request: _Request) -> Any:
            return handler(request.params, request.files)

        with self._lock:
            canonical = self._methods.get(method.lower(), (method, None))[0]
            self._methods[method.lower()] = (canonical, call)

    # ---------------------------------------------------------------- recording

    @property
    def calls(self) -> list[Call]:
        """Every recorded call (a copy), oldest first."""
        with self._lock:
            return list(self._calls)

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised inside the stub while serving (stub bugs; answered with 500)."""
        with self._lock:
            return list(self._errors)

    def check_errors(self) -> None:
        """Raise if the stub itself crashed while serving a request."""
        errors = self.errors
        if errors:
            raise AssertionError(f"telegram stub crashed while serving: {errors!r}") from errors[0]

    def calls_for(self, method: str, *, since: int | None = None) -> list[Call]:
        """Recorded calls of ``method`` (case-insensitive), from ``since`` (a ``mark()``) on."""
        canonical = self._canonical(method)
        start = self._mark if since is None else since
        with self._lock:
            return [c for c in self._calls if c.method == canonical and c.seq > start]

    def mark(self) -> int:
        """Remember "now": ``wait_for``/``calls_for`` then only see later calls. Returns it."""
        with self._lock:
            self._mark = self._calls[-1].seq if self._calls else self._mark
            return self._mark

    def reset(self) -> None:
        """Forget recorded calls, failure/delay knobs and stub errors (chat state is kept)."""
        with self._lock:
            self._mark = self._calls[-1].seq if self._calls else self._mark
            self._calls.clear()
            self._failures.clear()
            self._delays.clear()
            for gate in self._gates.values():
                gate.set()
            self._gates.clear()
            self._errors.clear()

    def _matching(
        self, method: str, predicate: Callable[[Call], bool] | None, since: int | None
    ) -> list[Call]:
        return [c for c in self.calls_for(method, since=since) if predicate is None or predicate(c)]

    def _timeout_message(self, method: str, count: int, found: int, since: int | None) -> str:
        start = self._mark if since is None else since
        with self._lock:
            recent = [c for c in self._calls if c.seq > start and c.method != "getUpdates"]
        lines = "\n  ".join(repr(c) for c in recent[-15:]) or "(none)"
        return (
            f"waited for {count} {method} call(s), {found} matched. "
            f"Calls since mark (getUpdates omitted):\n  {lines}"
        )

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        *,
        timeout: float = 10.0,
        count: int = 1,
        since: int | None = None,
    ) -> list[Call]:
        """Wait until ``count`` calls of ``method`` matching ``predicate`` were made since the
        mark (or ``since``); return the first ``count`` of them. Raises StubTimeout."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_errors()
            found = self._matching(method, predicate, since)
            if len(found) >= count:
                return found[:count]
            if time.monotonic() >= deadline:
                raise StubTimeout(self._timeout_message(method, count, len(found), since))
            await asyncio.sleep(0.01)

    def wait_for_sync(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        *,
        timeout: float = 10.0,
        count: int = 1,
        since: int | None = None,
    ) -> list[Call]:
        """Blocking twin of ``wait_for`` for code that runs outside the event loop."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_errors()
            found = self._matching(method, predicate, since)
            if len(found) >= count:
                return found[:count]
            if time.monotonic() >= deadline:
                raise StubTimeout(self._timeout_message(method, count, len(found), since))
            time.sleep(0.01)

    async def expect_no_call(
        self, method: str, *, within: float = 0.5, since: int | None = None
    ) -> None:
        """Assert that ``method`` is not called (after the mark) during the next ``within`` s."""
        await asyncio.sleep(within)
        self.check_errors()
        found = self.calls_for(method, since=since)
        if found:
            raise AssertionError(f"unexpected {method} call(s): {found!r}")

    # ---------------------------------------------------------------- state inspection

    def sent_messages(self, chat_id: int | str, *, include_deleted: bool = False) -> list[JSONDict]:
        """Messages the bot sent to ``chat_id`` in their current (edited) state, oldest first."""
        with self._lock:
            chat = self._chats.get(self._chat_key(chat_id))
            if chat is None:
                return []
            pool = dict(chat.messages)
            if include_deleted:
                pool.update(chat.deleted)
            bot_id = self.bot_user["id"]
            found = [m for _, m in sorted(pool.items()) if m["from"]["id"] == bot_id]
            return copy.deepcopy(found)

    def messages(self, chat_id: int | str) -> list[JSONDict]:
        """All live messages of the chat (user's and bot's), oldest first."""
        with self._lock:
            chat = self._chats.get(self._chat_key(chat_id))
            return copy.deepcopy([m for _, m in sorted(chat.messages.items())]) if chat else []

    def message(self, chat_id: int | str, message_id: int) -> JSONDict | None:
        """The current state of one message, or None if unknown/deleted."""
        with self._lock:
            chat = self._chats.get(self._chat_key(chat_id))
            found = chat.messages.get(message_id) if chat else None
            return copy.deepcopy(found)

    def file(self, file_id: str) -> StoredFile:
        """A stored file (uploaded by the bot or registered by the test)."""
        with self._lock:
            try:
                return self._files[file_id]
            except KeyError:
                raise KeyError(f"unknown file_id {file_id!r}") from None

    def file_bytes(self, file_id: str) -> bytes:
        """The bytes of a stored file."""
        return self.file(file_id).data

    def commands(self, scope: Mapping[str, Any] | None = None, language_code: str = "") -> list:
        """The command list set with setMyCommands for this scope/language."""
        with self._lock:
            return copy.deepcopy(self._commands.get(self._scope_key(scope, language_code), []))

    def callback_answer(self, callback_query_id: str) -> JSONDict | None:
        """The answerCallbackQuery parameters for a pressed button, or None if unanswered."""
        with self._lock:
            query = self._callback_queries.get(str(callback_query_id))
            return copy.deepcopy(query.get("answer")) if query else None

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed by the bot (via getUpdates offset)."""
        with self._lock:
            return copy.deepcopy(self._updates)

    # ---------------------------------------------------------------- files & users

    def _new_file(
        self,
        data: bytes,
        kind: str,
        *,
        suffix: str = "",
        mime_type: str | None = None,
        file_name: str | None = None,
        width: int | None = None,
        height: int | None = None,
        source_url: str | None = None,
    ) -> StoredFile:
        with self._lock:
            n = next(self._ids)
            folder = {"photo": "photos", "document": "documents", "sticker": "stickers"}.get(
                kind, f"{kind}s"
            )
            stored = StoredFile(
                file_id=f"stub-{kind}-{n:06d}-{self.bot_user['id']}",
                file_unique_id=f"u{kind[:3]}{n:06d}",
                file_path=f"{folder}/file_{n}{suffix}",
                data=bytes(data),
                kind=kind,
                mime_type=mime_type,
                file_name=file_name,
                width=width,
                height=height,
                source_url=source_url,
            )
            self._files[stored.file_id] = stored
            return stored

    def add_file(
        self,
        data: bytes,
        file_path_suffix: str = ".jpg",
        *,
        kind: str = "document",
        mime_type: str | None = None,
        file_name: str | None = None,
    ) -> JSONDict:
        """Register a downloadable file; returns ``{file_id, file_unique_id, file_size}``."""
        stored = self._new_file(
            data, kind, suffix=file_path_suffix, mime_type=mime_type, file_name=file_name
        )
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
        }

    def _photo_sizes(
        self,
        data: bytes,
        width: int | None = None,
        height: int | None = None,
        *,
        mime_type: str = "image/jpeg",
        source_url: str | None = None,
    ) -> list[JSONDict]:
        """PhotoSize list, smallest first; the last one serves the original bytes unchanged.

        Smaller JPEG thumbnails (90 and 320 px boxes) are made when Pillow can decode the image.
        """
        size = _image_size(data)
        if width is None or height is None:
            width, height = size or (640, 480)
        sizes: list[JSONDict] = []
        if size is not None:
            for _, box in _THUMBNAIL_BOXES:
                if max(width, height) <= box:
                    break
                thumb = _thumbnail(data, box)
                if thumb is None:
                    break
                thumb_data, thumb_w, thumb_h = thumb
                stored = self._new_file(
                    thumb_data,
                    "photo",
                    suffix=".jpg",
                    mime_type="image/jpeg",
                    width=thumb_w,
                    height=thumb_h,
                )
                sizes.append(self._photo_size(stored))
        stored = self._new_file(
            data,
            "photo",
            suffix=".jpg",
            mime_type=mime_type,
            width=width,
            height=height,
            source_url=source_url,
        )
        sizes.append(self._photo_size(stored))
        with self._lock:
            for item in sizes:
                self._photo_sets[item["file_id"]] = sizes
        return copy.deepcopy(sizes)

    @staticmethod
    def _photo_size(stored: StoredFile) -> JSONDict:
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "width": stored.width,
            "height": stored.height,
        }

    def add_user(
        self,
        user_id: int,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        is_premium: bool | None = None,
    ) -> JSONDict:
        """Register (or update) a user and their private chat; returns the User object."""
        user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name or "Test"}
        for key, value in (
            ("last_name", last_name),
            ("username", username),
            ("language_code", language_code),
            ("is_premium", is_premium),
        ):
            if value is not None:
                user[key] = value
        with self._lock:
            self._users[user_id] = user
            info = {"id": user_id, "type": "private", "first_name": user["first_name"]}
            for key in ("last_name", "username"):
                if key in user:
                    info[key] = user[key]
            chat = self._chats.setdefault(user_id, _Chat(info=info))
            chat.info = info
            return dict(user)

    def _user(self, user_id: int) -> JSONDict:
        with self._lock:
            if user_id not in self._users:
                self.add_user(user_id, first_name=f"User{user_id}")
            return dict(self._users[user_id])

    @staticmethod
    def _chat_key(chat_id: int | str) -> int | str:
        if isinstance(chat_id, str) and re.fullmatch(r"-?\d+", chat_id):
            return int(chat_id)
        return chat_id

    # ---------------------------------------------------------------- update builders

    def push_update(self, update: Mapping[str, Any]) -> JSONDict:
        """Queue a raw update (``update_id`` is assigned if missing); returns it."""
        with self._cond:
            pushed = copy.deepcopy(dict(update))
            if "update_id" not in pushed:
                pushed["update_id"] = self._next_update_id
            self._next_update_id = max(self._next_update_id, pushed["update_id"]) + 1
            self._updates.append(pushed)
            self._cond.notify_all()
            return copy.deepcopy(pushed)

    def send_user_message(self, user_id: int, **content: Any) -> JSONDict:
        """Queue an update with a message from ``user_id`` in their private chat.

        ``content`` holds the Message fields beyond the basics (text, photo, sticker, ...).
        """
        user = self._user(user_id)
        with self._cond:
            chat = self._chats[user_id]
            message: JSONDict = {
                "message_id": chat.next_message_id,
                "from": user,
                "chat": dict(chat.info),
                "date": int(time.time()),
                **content,
            }
            chat.next_message_id += 1
            chat.messages[message["message_id"]] = copy.deepcopy(message)
            return self.push_update({"message": message})

    def send_text(self, user_id: int, text: str) -> JSONDict:
        """The user sends ``text`` (``/commands`` and URLs get entities, as in Telegram)."""
        content: JSONDict = {"text": text}
        entities = auto_entities(text)
        if entities:
            content["entities"] = entities
        return self.send_user_message(user_id, **content)

    def send_photo(
        self,
        user_id: int,
        data: bytes,
        caption: str | None = None,
        *,
        width: int | None = None,
        height: int | None = None,
    ) -> JSONDict:
        """The user sends a photo. The largest PhotoSize serves ``data`` unchanged; smaller
        JPEG thumbnails are added when Pillow can decode the image. Size is read from the image
        (or ``width``/``height``, default 640x480 when unreadable)."""
        content: JSONDict = {"photo": self._photo_sizes(data, width, height)}
        if caption is not None:
            content["caption"] = caption
            entities = auto_entities(caption)
            if entities:
                content["caption_entities"] = entities
        return self.send_user_message(user_id, **content)

    def send_document(
        self,
        user_id: int,
        data: bytes,
        file_name: str = "file.bin",
        mime_type: str = "application/octet-stream",
        caption: str | None = None,
    ) -> JSONDict:
        """The user sends a file as a document."""
        suffix = "." + file_name.rpartition(".")[2] if "." in file_name else ""
        stored = self._new_file(
            data, "document", suffix=suffix, mime_type=mime_type, file_name=file_name
        )
        content: JSONDict = {
            "document": {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_name": file_name,
                "mime_type": mime_type,
                "file_size": stored.file_size,
            }
        }
        if caption is not None:
            content["caption"] = caption
        return self.send_user_message(user_id, **content)

    def send_sticker(
        self, user_id: int, emoji: str = "😀", data: bytes = b"RIFF\0\0\0\0WEBP"
    ) -> JSONDict:
        """The user sends a (static) sticker."""
        stored = self._new_file(data, "sticker", suffix=".webp", mime_type="image/webp")
        sticker = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "set_name": "StubStickers",
            "file_size": stored.file_size,
        }
        return self.send_user_message(user_id, sticker=sticker)

    def send_voice(self, user_id: int, duration: int = 3, data: bytes = b"OggS\0stub") -> JSONDict:
        """The user sends a voice note."""
        stored = self._new_file(data, "voice", suffix=".oga", mime_type="audio/ogg")
        voice = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": stored.file_size,
        }
        return self.send_user_message(user_id, voice=voice)

    def send_location(self, user_id: int, latitude: float, longitude: float) -> JSONDict:
        """The user shares a location."""
        return self.send_user_message(
            user_id, location={"latitude": latitude, "longitude": longitude}
        )

    def press_button(self, user_id: int, message: Mapping[str, Any] | int, data: str) -> JSONDict:
        """The user presses the inline button with ``callback_data == data`` on a bot message
        (a Message dict or message_id, looked up in its *current* state). Returns the update.

        Raises ValueError if the message or button doesn't exist, as a user couldn't press it.
        """
        message_id = message if isinstance(message, int) else int(message["message_id"])
        user = self._user(user_id)
        with self._cond:
            chat = self._chats[user_id]
            current = chat.messages.get(message_id)
            if current is None:
                raise ValueError(f"message {message_id} not found in chat {user_id}")
            keyboard = (current.get("reply_markup") or {}).get("inline_keyboard", [])
            available = [b.get("callback_data") for row in keyboard for b in row]
            if data not in available:
                raise ValueError(
                    f"message {message_id} has no button with callback_data={data!r}; "
                    f"buttons: {available!r}"
                )
            query_id = str(4_000_000_000_000_000_000 + next(self._ids))
            query = {
                "id": query_id,
                "from": user,
                "message": copy.deepcopy(current),
                "chat_instance": f"-{7_000_000 + user_id}",
                "data": data,
            }
            self._callback_queries[query_id] = {"query": query, "answer": None}
            return self.push_update({"callback_query": query})

    def forge_button_press(
        self, user_id: int, message: Mapping[str, Any] | int, data: str
    ) -> JSONDict:
        """A callback query with any ``data`` on any message, as a tampering client could
        produce (no check that such a button exists, or that the message is in the user's
        chat). Telegram still issues the query id, so answering it works."""
        message_id = message if isinstance(message, int) else int(message["message_id"])
        chat_id = message_id if isinstance(message, int) else message["chat"]["id"]
        user = self._user(user_id)
        with self._cond:
            current = (
                self._chats[chat_id].messages.get(message_id) if chat_id in self._chats else None
            )
            query_id = str(4_000_000_000_000_000_000 + next(self._ids))
            query = {
                "id": query_id,
                "from": user,
                "message": copy.deepcopy(current or message),
                "chat_instance": f"-{7_000_000 + user_id}",
                "data": data,
            }
            self._callback_queries[query_id] = {"query": query, "answer": None}
            return self.push_update({"callback_query": query})

    def inline_query(self, user_id: int, query: str, offset: str = "") -> JSONDict:
        """The user types ``@bot query`` in a chat."""
        user = self._user(user_id)
        with self._cond:
            query_id = str(5_000_000_000_000_000_000 + next(self._ids))
            inline = {
                "id": query_id,
                "from": user,
                "query": query,
                "offset": offset,
                "chat_type": "sender",
            }
            self._inline_queries[query_id] = {"query": inline, "answer": None}
            return self.push_update({"inline_query": inline})

    # ---------------------------------------------------------------- HTTP entry point

    def _canonical(self, method: str) -> str:
        return self._methods.get(method.lower(), (method, None))[0]

    def _handle_http(
        self, verb: str, raw_path: str, content_type: str, body: bytes
    ) -> tuple[int, str, bytes] | None:
        """Route one HTTP request; returns (status, content type, body) or None to drop it."""
        try:
            return self._route(verb, raw_path, content_type, body)
        except Exception as exc:  # a stub bug: answer 500 and make the test fail loudly
            _log.exception("telegram stub: crashed on %s %s", verb, raw_path)
            with self._lock:
                self._errors.append(exc)
            return self._json_error(ApiError(500, f"Internal Server Error: {exc!r}"))

    def _route(
        self, verb: str, raw_path: str, content_type: str, body: bytes
    ) -> tuple[int, str, bytes] | None:
        split = urllib.parse.urlsplit(raw_path)
        path = urllib.parse.unquote(split.path)
        file_prefix = f"/file/bot{self.token}/"
        if path.startswith("/file/bot"):
            if verb != "GET" or not path.startswith(file_prefix):
                return self._json_error(_NOT_FOUND)
            return self._download(path[len(file_prefix) :])
        match = re.fullmatch(r"/bot([^/]*)/([^/]*)", path)
        if not match or match.group(1) != self.token:
            return self._json_error(_NOT_FOUND)
        name = match.group(2)
        entry = self._methods.get(name.lower())
        try:
            request = _Request(*decode_request(content_type, body, split.query))
        except ApiError as exc:
            return self._json_error(exc)
        if entry is None:
            self._record(name, request, error=_METHOD_NOT_FOUND)
            return self._json_error(_METHOD_NOT_FOUND)
        method, func = entry
        return self._invoke(method, func, request)

    def _invoke(
        self, method: str, func: Callable[[_Request], Any], request: _Request
    ) -> tuple[int, str, bytes] | None:
        with self._lock:
            delay = self._delays.get(method, 0.0)
            gate = self._gates.get(method)
        if delay and self._stop_event.wait(delay):
            return None
        while gate is not None and not gate.wait(0.05):
            if self._stop_event.is_set():
                return None
        with self._lock:
            queued = self._failures.get(method)
            if queued:
                failure = queued.pop(0)
                if failure is None:
                    self._record(method, request, error=ApiError(0, "disconnected"))
                    return None
                self._record(method, request, error=failure)
                return self._json_error(failure)
        try:
            with self._lock:
                result = func(request)
                # JSON round trip: validates and detaches the result from live state
                result = json.loads(json.dumps(result))
                self._record(method, request, result=result)
        except ApiError as exc:
            self._record(method, request, error=exc)
            return self._json_error(exc)
        except Exception as exc:
            _log.exception("telegram stub: %s crashed", method)
            with self._lock:
                self._errors.append(exc)
            error = ApiError(500, f"Internal Server Error: stub crashed: {exc!r}")
            self._record(method, request, error=error)
            return self._json_error(error)
        payload = json.dumps({"ok": True, "result": result}, ensure_ascii=False).encode()
        return 200, "application/json", payload

    def _record(
        self, method: str, request: _Request, *, result: Any = None, error: ApiError | None = None
    ) -> None:
        with self._lock:
            self._calls.append(
                Call(
                    seq=next(self._seq),
                    method=method,
                    params=request.params,
                    files=request.files,
                    result=result,
                    error=error.to_json() if error else None,
                    time=time.monotonic(),
                )
            )

    @staticmethod
    def _json_error(error: ApiError) -> tuple[int, str, bytes]:
        return error.error_code, "application/json", json.dumps(error.to_json()).encode()

    def _download(self, file_path: str) -> tuple[int, str, bytes]:
        with self._lock:
            found = next((f for f in self._files.values() if f.file_path == file_path), None)
        if found is None:
            return self._json_error(_NOT_FOUND)
        return 200, found.mime_type or "application/octet-stream", found.data

    # ---------------------------------------------------------------- Bot API methods

    def _install_methods(self) -> None:
        table: dict[str, Callable[[_Request], Any]] = {
            "getMe": lambda r: dict(self.bot_user),
            "getUpdates": self._m_get_updates,
            "deleteWebhook": self._m_delete_webhook,
            "setWebhook": self._m_set_webhook,
            "getWebhookInfo": self._m_get_webhook_info,
            "setMyCommands": self._m_set_my_commands,
            "getMyCommands": self._m_get_my_commands,
            "deleteMyCommands": self._m_delete_my_commands,
            "close": lambda r: True,
            "logOut": lambda r: True,
            "sendMessage": self._m_send_message,
            "sendPhoto": lambda r: self._send_media(r, "photo"),
            "sendDocument": lambda r: self._send_media(r, "document"),
            "sendChatAction": self._m_send_chat_action,
            "sendMediaGroup": self._m_send_media_group,
            "editMessageText": self._m_edit_message_text,
            "editMessageCaption": self._m_edit_message_caption,
            "editMessageReplyMarkup": self._m_edit_message_reply_markup,
            "editMessageMedia": self._m_edit_message_media,
            "deleteMessage": self._m_delete_message,
            "answerCallbackQuery": self._m_answer_callback_query,
            "answerInlineQuery": self._m_answer_inline_query,
            "getFile": self._m_get_file,
        }
        for setting in ("MyDescription", "MyShortDescription", "MyName", "ChatMenuButton"):
            table[f"set{setting}"] = self._setting_setter(setting)
            table[f"get{setting}"] = self._setting_getter(setting)
        for name, func in table.items():
            self._methods[name.lower()] = (name, func)

    def _setting_setter(self, setting: str) -> Callable[[_Request], Any]:
        def setter(request: _Request) -> bool:
            self._bot_settings[setting] = dict(request.params)
            return True

        return setter

    def _setting_getter(self, setting: str) -> Callable[[_Request], Any]:
        key = {"MyDescription": "description", "MyShortDescription": "short_description"}

        def getter(request: _Request) -> Any:
            stored = self._bot_settings.get(setting, {})
            if setting == "ChatMenuButton":
                return stored.get("menu_button", {"type": "commands"})
            if setting == "MyName":
                return {"name": stored.get("name", self.bot_user["first_name"])}
            return {key[setting]: stored.get(key[setting], "")}

        return getter

    # -- updates & webhook

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    def _m_get_updates(self, request: _Request) -> list[JSONDict]:
        if self._webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = request.get_int("offset", 0) or 0
        limit = min(max(request.get_int("limit", 100) or 100, 1), 100)
        timeout = max(request.get_float("timeout", 0.0), 0.0)
        self._poll_generation += 1
        generation = self._poll_generation
        self._cond.notify_all()  # terminates an older long poll with 409, like Telegram
        self._confirm(offset)
        deadline = time.monotonic() + min(timeout, self.max_poll_wait)
        while not self._updates and not self._stopping:
            if self._poll_generation != generation:
                raise _CONFLICT
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._cond.wait(remaining)
        if self._poll_generation != generation:
            raise _CONFLICT
        return copy.deepcopy(self._updates[:limit])

    def _m_delete_webhook(self, request: _Request) -> bool:
        self._webhook_url = ""
        if request.get_bool("drop_pending_updates"):
            self._updates.clear()
        return True

    def _m_set_webhook(self, request: _Request) -> bool:
        url = request.get("url", "")
        if url and not str(url).startswith("https://"):
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        self._webhook_url = url
        if request.get_bool("drop_pending_updates"):
            self._updates.clear()
        return True

    def _m_get_webhook_info(self, request: _Request) -> JSONDict:
        return {
            "url": self._webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    # -- commands

    @staticmethod
    def _scope_key(scope: Mapping[str, Any] | None, language_code: str) -> tuple[str, str]:
        return json.dumps(scope or {"type": "default"}, sort_keys=True), language_code or ""

    def _m_set_my_commands(self, request: _Request) -> bool:
        commands = request.get_json("commands", list)
        if commands is None:
            raise _bad_request('parameter "commands" is required')
        if len(commands) > 100:
            raise _bad_request("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not isinstance(command, dict):
                raise _bad_request("can't parse BotCommand")
            name = str(command.get("command", ""))
            if not _BOT_COMMAND_RE.match(name.removeprefix("/")):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad_request("command description is empty")
        scope = request.get_json("scope", dict)
        key = self._scope_key(scope, request.get("language_code", ""))
        self._commands[key] = [
            {"command": c["command"].removeprefix("/"), "description": c["description"]}
            for c in commands
        ]
        return True

    def _m_get_my_commands(self, request: _Request) -> list[JSONDict]:
        key = self._scope_key(request.get_json("scope", dict), request.get("language_code", ""))
        return self._commands.get(key, [])

    def _m_delete_my_commands(self, request: _Request) -> bool:
        key = self._scope_key(request.get_json("scope", dict), request.get("language_code", ""))
        self._commands.pop(key, None)
        return True

    # -- sending

    def _target_chat(self, request: _Request) -> _Chat:
        chat_id = request.get("chat_id")
        if chat_id in (None, ""):
            raise _bad_request("chat_id is empty")
        chat = self._chats.get(self._chat_key(chat_id))
        if chat is None:
            raise _bad_request("chat not found")
        return chat

    @staticmethod
    def _reply_markup(request: _Request) -> JSONDict | None:
        """Validate reply_markup; returns what Telegram echoes (inline keyboards only)."""
        markup = request.get_json("reply_markup", dict)
        if markup is None:
            return None
        if "inline_keyboard" in markup:
            keyboard = markup["inline_keyboard"]
            if not isinstance(keyboard, list) or not all(isinstance(r, list) for r in keyboard):
                raise _bad_request(
                    'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
                )
            for row in keyboard:
                for button in row:
                    if not isinstance(button, dict) or not button.get("text"):
                        raise _bad_request(
                            "can't parse inline keyboard button: Text buttons "
                            "are unallowed in the inline keyboard"
                        )
                    data = button.get("callback_data")
                    if data is not None and not (
                        1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES
                    ):
                        raise _bad_request("BUTTON_DATA_INVALID")
            return {"inline_keyboard": keyboard}
        if not any(k in markup for k in ("keyboard", "remove_keyboard", "force_reply")):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        return None

    def _formatted(self, request: _Request, key: str, limit: int, kind: str) -> tuple[str, list]:
        raw = request.get(key)
        if raw is None:
            return "", []
        raw = str(raw)
        entities_key = "entities" if key == "text" else "caption_entities"
        explicit = request.get_json(entities_key, list)
        if explicit is not None:
            plain, entities = raw, explicit
        else:
            plain, entities = format_text(raw, request.get("parse_mode"))
        if _u16(plain) > limit:
            raise _bad_request(f"{kind} is too long")
        return plain, entities

    def _new_bot_message(self, chat: _Chat, request: _Request, **content: Any) -> JSONDict:
        message: JSONDict = {
            "message_id": chat.next_message_id,
            "from": dict(self.bot_user),
            "chat": dict(chat.info),
            "date": int(time.time()),
        }
        reply = request.get_json("reply_parameters", dict) or {}
        reply_to = reply.get("message_id") or request.get_int("reply_to_message_id")
        if reply_to:
            target = chat.messages.get(int(reply_to))
            if target is not None:
                message["reply_to_message"] = {
                    k: v for k, v in target.items() if k != "reply_to_message"
                }
            elif not (
                reply.get("allow_sending_without_reply")
                or request.get_bool("allow_sending_without_reply")
            ):
                raise _bad_request("message to be replied not found")
        message.update({k: v for k, v in content.items() if v not in (None, [], "")})
        markup = self._reply_markup(request)
        if markup:
            message["reply_markup"] = markup
        chat.next_message_id += 1
        chat.messages[message["message_id"]] = message
        return message

    def _m_send_message(self, request: _Request) -> JSONDict:
        chat = self._target_chat(request)
        if request.get("text") is None:
            raise _bad_request("message text is empty")
        text, entities = self._formatted(request, "text", MAX_TEXT_LENGTH, "message")
        if not text.strip():
            raise _bad_request("message text is empty")
        return self._new_bot_message(chat, request, text=text, entities=entities)

    def _input_file(self, request: _Request, name: str, kind: str, value: Any = None) -> StoredFile:
        """Resolve a file parameter: multipart upload, attach://name, file_id or URL.

        Photos are stored as a PhotoSize set (see ``_photo_sizes``); the largest is returned.
        """
        value = request.params.get(name) if value is None else value
        upload = request.files.get(name) if value is None or value == "" else None
        if isinstance(value, str) and value.startswith("attach://"):
            upload = request.files.get(value.removeprefix("attach://"))
            if upload is None:
                raise _bad_request(f"file of type {kind} not found in the request")
        if upload is not None:
            if not upload.data:
                raise _bad_request("file must be non-empty")
            if kind == "photo":
                size = _image_size(upload.data)
                if size is None:
                    raise _bad_request("IMAGE_PROCESS_FAILED")
                width, height = size
                if width + height > 10000 or max(width, height) > 20 * min(width, height):
                    raise _bad_request("PHOTO_INVALID_DIMENSIONS")
                sizes = self._photo_sizes(upload.data, width, height, mime_type=upload.content_type)
                return self._files[sizes[-1]["file_id"]]
            stem, dot, extension = (upload.filename or "").rpartition(".")
            return self._new_file(
                upload.data,
                kind,
                suffix=f".{extension}" if dot and stem else "",
                mime_type=upload.content_type,
                file_name=upload.filename,
            )
        if isinstance(value, str) and value:
            if value.startswith(("http://", "https://")):  # never fetched: tests stay offline
                if kind == "photo":  # pretend it was a 640x640 image
                    sizes = self._photo_sizes(b"", 640, 640, source_url=value)
                    return self._files[sizes[-1]["file_id"]]
                return self._new_file(b"", kind, source_url=value)
            stored = self._files.get(value)
            if stored is None:
                raise _bad_request("wrong file identifier/HTTP URL specified")
            if stored.kind != kind and "document" not in (kind, stored.kind):
                raise _bad_request(
                    f"can't use file of type {stored.kind.title()} as {kind.title()}"
                )
            return stored
        raise _bad_request(f"there is no {name} in the request")

    def _media_content(self, stored: StoredFile, kind: str) -> JSONDict:
        """The Message field(s) describing ``stored`` sent as ``kind``."""
        if kind == "photo":
            sizes = self._photo_sets.get(stored.file_id)
            if sizes is None:  # e.g. a document's file_id sent as a photo
                sizes = self._photo_sizes(stored.data, stored.width, stored.height)
            return {"photo": copy.deepcopy(sizes)}
        obj: JSONDict = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
        }
        if stored.file_name:
            obj["file_name"] = stored.file_name
        if stored.mime_type:
            obj["mime_type"] = stored.mime_type
        return {kind: obj}

    def _send_media(self, request: _Request, kind: str) -> JSONDict:
        chat = self._target_chat(request)
        stored = self._input_file(request, kind, kind)
        caption, entities = self._formatted(
            request, "caption", MAX_CAPTION_LENGTH, "message caption"
        )
        content = self._media_content(stored, kind)
        return self._new_bot_message(
            chat, request, caption=caption, caption_entities=entities, **content
        )

    def _m_send_media_group(self, request: _Request) -> list[JSONDict]:
        chat = self._target_chat(request)
        media = request.get_json("media", list)
        if not media or not 2 <= len(media) <= 10:
            raise _bad_request("wrong number of media items: must be 2-10")
        group_id = str(13_000_000_000_000_000 + next(self._ids))
        prepared = []
        for item in media:
            kind = item.get("type") if isinstance(item, dict) else None
            if kind not in {"photo", "document", "video", "audio"}:
                raise _bad_request("can't parse InputMedia: unsupported type")
            stored = self._input_file(request, "media", kind, item.get("media"))
            caption, entities = format_text(str(item.get("caption", "")), item.get("parse_mode"))
            prepared.append((self._media_content(stored, kind), caption, entities))
        messages = []
        for content, caption, entities in prepared:
            message = self._new_bot_message(
                chat,
                _Request({"reply_parameters": request.get("reply_parameters")}, {}),
                caption=caption,
                caption_entities=entities,
                media_group_id=group_id,
                **content,
            )
            messages.append(message)
        return messages

    def _m_send_chat_action(self, request: _Request) -> bool:
        self._target_chat(request)
        if not request.get("action"):
            raise _bad_request("wrong parameter action in request")
        return True

    # -- editing

    def _editable(self, request: _Request) -> tuple[_Chat, JSONDict] | None:
        """The bot message to edit, or None for inline messages."""
        if request.get("inline_message_id"):
            return None
        chat = self._target_chat(request)
        message_id = request.get_int("message_id")
        if message_id is None:
            raise _bad_request("message identifier is not specified")
        message = chat.messages.get(message_id)
        if message is None:
            raise _bad_request("message to edit not found")
        if message["from"]["id"] != self.bot_user["id"]:
            raise _bad_request("message can't be edited")
        return chat, message

    @staticmethod
    def _apply_edit(message: JSONDict, changes: JSONDict, markup: JSONDict | None) -> JSONDict:
        before = {k: message.get(k) for k in (*changes, "reply_markup")}
        after = {**changes, "reply_markup": markup}
        if before == after:
            raise _bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        for key, value in after.items():
            if value in (None, [], ""):
                message.pop(key, None)
            else:
                message[key] = value
        message["edit_date"] = int(time.time())
        return message

    def _m_edit_message_text(self, request: _Request) -> JSONDict | bool:
        target = self._editable(request)
        if request.get("text") is None:
            raise _bad_request("text must be non-empty")
        text, entities = self._formatted(request, "text", MAX_TEXT_LENGTH, "message")
        if not text.strip():
            raise _bad_request("text must be non-empty")
        markup = self._reply_markup(request)
        if target is None:
            return True
        _, message = target
        if "text" not in message:
            raise _bad_request("there is no text in the message to edit")
        return self._apply_edit(message, {"text": text, "entities": entities or None}, markup)

    def _m_edit_message_caption(self, request: _Request) -> JSONDict | bool:
        target = self._editable(request)
        caption, entities = self._formatted(
            request, "caption", MAX_CAPTION_LENGTH, "message caption"
        )
        markup = self._reply_markup(request)
        if target is None:
            return True
        _, message = target
        if "text" in message:
            raise _bad_request("there is no caption in the message to edit")
        changes = {"caption": caption or None, "caption_entities": entities or None}
        return self._apply_edit(message, changes, markup)

    def _m_edit_message_reply_markup(self, request: _Request) -> JSONDict | bool:
        target = self._editable(request)
        markup = self._reply_markup(request)
        if target is None:
            return True
        return self._apply_edit(target[1], {}, markup)

    def _m_edit_message_media(self, request: _Request) -> JSONDict | bool:
        target = self._editable(request)
        media = request.get_json("media", dict)
        if not media or media.get("type") not in {"photo", "document", "video", "audio"}:
            raise _bad_request("can't parse InputMedia")
        kind = media["type"]
        stored = self._input_file(request, "media", kind, media.get("media"))
        caption, entities = format_text(str(media.get("caption", "")), media.get("parse_mode"))
        markup = self._reply_markup(request)
        if target is None:
            return True
        _, message = target
        if "text" in message:
            raise _bad_request("there is no media in the message to edit")
        for key in ("photo", "document", "video", "audio"):
            message.pop(key, None)
        changes = {
            **self._media_content(stored, kind),
            "caption": caption or None,
            "caption_entities": entities or None,
        }
        message.update(changes)
        message["edit_date"] = int(time.time())
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        return message

    def _m_delete_message(self, request: _Request) -> bool:
        chat = self._target_chat(request)
        message_id = request.get_int("message_id")
        message = chat.messages.pop(message_id, None) if message_id is not None else None
        if message is None:
            raise _bad_request("message to delete not found")
        chat.deleted[message_id] = message
        return True

    # -- queries & files

    def _m_answer_callback_query(self, request: _Request) -> bool:
        query = self._callback_queries.get(str(request.get("callback_query_id", "")))
        if query is None or query["answer"] is not None:
            raise _bad_request(_QUERY_INVALID)
        if len(str(request.get("text", ""))) > 200:
            raise _bad_request("MESSAGE_TOO_LONG")
        query["answer"] = dict(request.params)
        return True

    def _m_answer_inline_query(self, request: _Request) -> bool:
        query = self._inline_queries.get(str(request.get("inline_query_id", "")))
        if query is None or query["answer"] is not None:
            raise _bad_request(_QUERY_INVALID)
        results = request.get_json("results", list)
        if results is None:
            raise _bad_request('parameter "results" is required')
        if len(results) > 50:
            raise _bad_request("RESULTS_TOO_MUCH")
        ids = [r.get("id") for r in results if isinstance(r, dict)]
        if len(ids) != len(results) or len(set(ids)) != len(ids) or not all(ids):
            raise _bad_request("RESULT_ID_DUPLICATE")
        query["answer"] = dict(request.params)
        return True

    def _m_get_file(self, request: _Request) -> JSONDict:
        stored = self._files.get(str(request.get("file_id", "")))
        if stored is None or stored.source_url is not None:
            raise _bad_request("invalid file_id")
        if stored.file_size > MAX_DOWNLOAD_BYTES:
            raise _bad_request("file is too big")
        return stored.as_file()


def iter_buttons(message: Mapping[str, Any]) -> Iterable[JSONDict]:
    """The inline keyboard buttons of a Message dict, row by row."""
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        yield from row
