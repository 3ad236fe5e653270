"""Tests for the fake Telegram Bot API server in tests/telegram_stub.py."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from PIL import Image
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.telegram_stub import (
    StubTimeout,
    TelegramStub,
    decode_request,
    format_text,
    parse_multipart,
)

pytestmark = pytest.mark.timeout(60)

USER = 4242


def png(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


def api(
    stub: TelegramStub, method: str, *, token: str | None = None, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    """POST a Bot API call to the stub with httpx (kwargs: json=, data=, files=, params=)."""
    url = f"{stub.root_url}/bot{token or stub.token}/{method}"
    response = httpx.post(url, timeout=10, **kwargs)
    return response.status_code, response.json()


def ok(stub: TelegramStub, method: str, **params: Any) -> Any:
    status, body = api(stub, method, json=params)
    assert status == 200 and body["ok"], body
    return body["result"]


def error(stub: TelegramStub, method: str, **params: Any) -> tuple[int, str]:
    status, body = api(stub, method, json=params)
    assert status == body["error_code"] and body["ok"] is False, body
    return status, body["description"]


# ------------------------------------------------------------------------------------------
# Raw HTTP
# ------------------------------------------------------------------------------------------


def test_get_me_over_get_and_post(telegram_stub: TelegramStub) -> None:
    me = ok(telegram_stub, "getMe")
    assert me["is_bot"] is True
    assert me["username"] == "moodtune_test_bot"
    assert me["supports_inline_queries"] is True
    assert me["id"] == int(telegram_stub.token.split(":")[0])
    response = httpx.get(f"{telegram_stub.base_url}{telegram_stub.token}/GETME")  # any case
    assert response.json() == {"ok": True, "result": me}
    assert [c.method for c in telegram_stub.calls] == ["getMe", "getMe"]


def test_unknown_token_method_and_path(telegram_stub: TelegramStub) -> None:
    not_found = {"ok": False, "error_code": 404, "description": "Not Found"}
    assert api(telegram_stub, "getMe", token="999:WRONG") == (404, not_found)
    assert api(telegram_stub, "sendTelepathy") == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found: method not found"},
    )
    response = httpx.get(f"{telegram_stub.root_url}/file/bot{telegram_stub.token}/nope.jpg")
    assert (response.status_code, response.json()) == (404, not_found)
    assert httpx.get(f"{telegram_stub.root_url}/").status_code == 404


def test_params_are_decoded_the_same_from_json_form_and_multipart(
    telegram_stub: TelegramStub,
) -> None:
    telegram_stub.add_user(USER)
    markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go:1"}]]}
    expected = {"chat_id": USER, "text": "42", "reply_markup": markup}

    api(telegram_stub, "sendMessage", json=expected)
    form = {"chat_id": str(USER), "text": "42", "reply_markup": json.dumps(markup)}
    api(telegram_stub, "sendMessage", data=form)
    api(telegram_stub, "sendMessage", data=form, files={"unused": ("x.bin", b"\0")})
    # Telegram also accepts reply_markup as a JSON string inside a JSON body
    api(telegram_stub, "sendMessage", json={**expected, "reply_markup": json.dumps(markup)})

    calls = telegram_stub.calls_for("sendMessage")
    assert [c.params for c in calls] == [expected] * 4
    assert all(c.ok for c in calls)
    assert [c.result["message_id"] for c in calls] == [1, 2, 3, 4]
    assert calls[0].result["reply_markup"] == markup  # inline keyboards are echoed
    assert calls[2].files["unused"].data == b"\0"


def test_multipart_parser_is_binary_safe_and_reads_utf8_names() -> None:
    tricky = b"\r\n--boundary\r\n--\r\n\r\n\x00\xff" * 50
    request = httpx.Request(
        "POST",
        "http://x/",
        data={"chat_id": "1", "caption": "na\u00efve \u2728"},
        files={"document": ('r\u00e9sum\u00e9 "1".bin', tricky, "application/x-test")},
    )
    body = request.read()
    params, files = decode_request(request.headers["Content-Type"], body)
    assert params == {"chat_id": 1, "caption": "na\u00efve \u2728"}
    upload = files["document"]
    assert upload.data == tricky
    assert upload.content_type == "application/x-test"
    assert upload.filename == "r\u00e9sum\u00e9 %221%22.bin"  # httpx escapes quotes as %22

    rfc5987 = (
        b'--b\r\nContent-Disposition: form-data; name="f"; filename="x"; '
        b"filename*=UTF-8''%E2%9C%A8.png\r\n\r\nDATA\r\n--b--\r\n"
    )
    _, files = parse_multipart(rfc5987, "b")
    assert files["f"].filename == "\u2728.png" and files["f"].data == b"DATA"


def test_typed_fields_are_decoded_but_text_fields_stay_strings() -> None:
    params, _ = decode_request(
        "application/x-www-form-urlencoded",
        b"chat_id=-100123&text=true&caption=%5B1%5D&disable_notification=true&chat_id2=%40chan",
    )
    assert params == {
        "chat_id": -100123,
        "text": "true",
        "caption": "[1]",
        "disable_notification": True,
        "chat_id2": "@chan",
    }


def test_update_builders_produce_updates_ptb_can_parse(telegram_stub: TelegramStub) -> None:
    telegram_stub.add_user(USER, first_name="Ana", username="ana", language_code="pt")
    keyboard = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    sent = ok(telegram_stub, "sendMessage", chat_id=USER, text="pick", reply_markup=keyboard)
    raw = [
        telegram_stub.send_text(USER, "hi https://example.org /start"),
        telegram_stub.send_photo(USER, png(), caption="me"),
        telegram_stub.send_document(USER, b"%PDF-1.4", "a.pdf", "application/pdf"),
        telegram_stub.send_sticker(USER),
        telegram_stub.send_voice(USER, duration=2),
        telegram_stub.send_location(USER, 52.5, 13.4),
        telegram_stub.press_button(USER, sent["message_id"], "a"),
        telegram_stub.inline_query(USER, "calm"),
        telegram_stub.push_update({"edited_message": {**sent, "edit_date": 1}}),
    ]
    updates = [Update.de_json(u, None) for u in raw]
    text, photo, document, sticker, voice, location, button, inline, edited = updates
    assert text.message.from_user.language_code == "pt" and text.message.chat.username == "ana"
    assert [e.type for e in text.message.entities] == ["url", "bot_command"]
    assert photo.message.photo[-1].width == 64 and photo.message.caption == "me"
    assert document.message.document.file_name == "a.pdf"
    assert sticker.message.sticker.emoji and voice.message.voice.duration == 2
    assert location.message.location.latitude == 52.5
    assert button.callback_query.data == "a" and button.callback_query.message.text == "pick"
    assert inline.inline_query.query == "calm"
    assert edited.edited_message.text == "pick"
    assert [u.update_id for u in updates] == sorted({u.update_id for u in updates})
    # user messages share the chat's message_id counter with the bot's
    assert [m["message_id"] for m in telegram_stub.messages(USER)] == list(range(1, 8))
    assert telegram_stub.file_bytes(document.message.document.file_id) == b"%PDF-1.4"
    assert telegram_stub.env() == {
        "TELEGRAM_API_URL": telegram_stub.root_url,
        "TELEGRAM_BOT_TOKEN": telegram_stub.token,
    }


def test_get_updates_offset_and_limit(telegram_stub: TelegramStub) -> None:
    first = telegram_stub.send_text(USER, "one")
    second = telegram_stub.send_text(USER, "two")
    third = telegram_stub.send_text(USER, "/three")
    ids = [first["update_id"], second["update_id"], third["update_id"]]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert third["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert third["message"]["chat"] == {"id": USER, "type": "private", "first_name": f"User{USER}"}

    got = ok(telegram_stub, "getUpdates", limit=2)
    assert [u["update_id"] for u in got] == ids[:2]
    assert got[0]["message"]["text"] == "one"
    # the same updates again until confirmed by a higher offset
    assert [u["update_id"] for u in ok(telegram_stub, "getUpdates")] == ids
    assert [u["update_id"] for u in ok(telegram_stub, "getUpdates", offset=ids[2])] == ids[2:]
    assert len(telegram_stub.pending_updates) == 1
    assert ok(telegram_stub, "getUpdates", offset=ids[2] + 1) == []
    telegram_stub.send_text(USER, "a")
    last = telegram_stub.send_text(USER, "b")
    assert [u["update_id"] for u in ok(telegram_stub, "getUpdates", offset=-1)] == [
        last["update_id"]
    ]
    assert ok(telegram_stub, "getWebhookInfo")["pending_update_count"] == 1
    assert ok(telegram_stub, "deleteWebhook", drop_pending_updates=True) is True
    assert telegram_stub.pending_updates == []


def test_long_poll_waits_and_wakes_up_on_a_new_update() -> None:
    with TelegramStub(max_poll_wait=0.4) as stub:
        start = time.monotonic()
        assert ok(stub, "getUpdates", timeout=30) == []  # capped at max_poll_wait
        assert 0.35 <= time.monotonic() - start < 2

        threading.Timer(0.15, stub.send_text, args=(USER, "hello")).start()
        start = time.monotonic()
        got = ok(stub, "getUpdates", timeout=30)
        assert [u["message"]["text"] for u in got] == ["hello"]
        assert time.monotonic() - start < 0.35


def test_a_second_get_updates_terminates_the_first_with_409() -> None:
    with TelegramStub(max_poll_wait=5) as stub:
        results: list[tuple[int, dict[str, Any]]] = []
        poller = threading.Thread(
            target=lambda: results.append(api(stub, "getUpdates", json={"timeout": 5}))
        )
        poller.start()
        time.sleep(0.2)  # let the first long poll start waiting
        assert ok(stub, "getUpdates", timeout=0) == []
        poller.join(3)
        assert results[0][0] == 409
        assert results[0][1]["description"].startswith("Conflict: terminated by other getUpdates")


def test_get_file_and_download(telegram_stub: TelegramStub) -> None:
    data = bytes(range(256)) * 10
    info = telegram_stub.add_file(data, ".bin")
    assert info["file_size"] == len(data)
    file = ok(telegram_stub, "getFile", file_id=info["file_id"])
    assert file["file_id"] == info["file_id"] and file["file_size"] == len(data)
    url = f"{telegram_stub.base_file_url}{telegram_stub.token}/{file['file_path']}"
    assert httpx.get(url).content == data
    assert error(telegram_stub, "getFile", file_id="nope") == (400, "Bad Request: invalid file_id")


def test_user_photo_has_sizes_and_serves_the_original_bytes(telegram_stub: TelegramStub) -> None:
    data = png(1000, 600)
    update = telegram_stub.send_photo(USER, data, caption="me /today")
    sizes = update["message"]["photo"]
    assert [(s["width"], s["height"]) for s in sizes] == [(90, 54), (320, 192), (1000, 600)]
    assert telegram_stub.file_bytes(sizes[-1]["file_id"]) == data
    with Image.open(io.BytesIO(telegram_stub.file_bytes(sizes[0]["file_id"]))) as thumb:
        assert thumb.format == "JPEG" and thumb.size == (90, 54)
    assert update["message"]["caption_entities"][0]["type"] == "bot_command"
    # undecodable bytes: one size with the given (or default) dimensions
    broken = telegram_stub.send_photo(USER, b"not an image", width=10, height=20)
    assert [(s["width"], s["height"]) for s in broken["message"]["photo"]] == [(10, 20)]


def test_bot_uploads_photo_and_document(telegram_stub: TelegramStub) -> None:
    telegram_stub.add_user(USER)
    chart = png(800, 400)
    status, body = api(
        telegram_stub,
        "sendPhoto",
        data={"chat_id": str(USER), "caption": "<b>Mood</b> chart", "parse_mode": "HTML"},
        files={"photo": ("chart.png", chart, "image/png")},
    )
    assert status == 200, body
    message = body["result"]
    assert message["caption"] == "Mood chart"
    assert message["caption_entities"] == [{"type": "bold", "offset": 0, "length": 4}]
    assert message["from"]["is_bot"] is True and message["chat"]["type"] == "private"
    largest = message["photo"][-1]
    assert (largest["width"], largest["height"]) == (800, 400)
    assert telegram_stub.file_bytes(largest["file_id"]) == chart
    (call,) = telegram_stub.calls_for("sendPhoto")
    assert call.files["photo"].data == chart and call.files["photo"].filename == "chart.png"

    status, body = api(
        telegram_stub,
        "sendDocument",
        data={"chat_id": str(USER)},
        files={"document": ("songs.csv", b"a,b\n", "text/csv")},
    )
    document = body["result"]["document"]
    assert document["file_name"] == "songs.csv" and document["mime_type"] == "text/csv"
    # re-send by file_id, send by URL (never fetched)
    again = ok(telegram_stub, "sendPhoto", chat_id=USER, photo=largest["file_id"])
    assert again["photo"][-1]["file_id"] == largest["file_id"]
    by_url = ok(telegram_stub, "sendPhoto", chat_id=USER, photo="https://i.scdn.co/image/x")
    assert by_url["photo"][-1]["width"] == 640

    status, body = api(
        telegram_stub,
        "sendPhoto",
        data={"chat_id": str(USER)},
        files={"photo": ("x.png", b"garbage", "image/png")},
    )
    assert (status, body["description"]) == (400, "Bad Request: IMAGE_PROCESS_FAILED")
    assert error(telegram_stub, "sendPhoto", chat_id=USER, photo="unknown-id") == (
        400,
        "Bad Request: wrong file identifier/HTTP URL specified",
    )
    assert error(telegram_stub, "sendMessage", chat_id=777, text="hi") == (
        400,
        "Bad Request: chat not found",
    )


def test_media_group_and_edit_media(telegram_stub: TelegramStub) -> None:
    telegram_stub.add_user(USER)
    media = [
        {"type": "photo", "media": "attach://one", "caption": "first"},
        {"type": "photo", "media": "attach://two"},
    ]
    status, body = api(
        telegram_stub,
        "sendMediaGroup",
        data={"chat_id": str(USER), "media": json.dumps(media)},
        files={"one": ("1.png", png(), "image/png"), "two": ("2.png", png(), "image/png")},
    )
    assert status == 200, body
    messages = body["result"]
    assert len(messages) == 2 and messages[0]["caption"] == "first"
    assert messages[0]["media_group_id"] == messages[1]["media_group_id"]

    new_media = {"type": "photo", "media": "attach://pic", "caption": "swapped"}
    status, body = api(
        telegram_stub,
        "editMessageMedia",
        data={
            "chat_id": str(USER),
            "message_id": str(messages[0]["message_id"]),
            "media": json.dumps(new_media),
        },
        files={"pic": ("p.png", png(30, 30), "image/png")},
    )
    assert status == 200, body
    assert body["result"]["caption"] == "swapped"
    assert body["result"]["photo"][-1]["width"] == 30


def test_edit_and_delete_behave_like_telegram(telegram_stub: TelegramStub) -> None:
    telegram_stub.add_user(USER)
    keyboard = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    sent = ok(telegram_stub, "sendMessage", chat_id=USER, text="hi", reply_markup=keyboard)
    ids = {"chat_id": USER, "message_id": sent["message_id"]}

    assert error(telegram_stub, "editMessageText", **ids, text="hi", reply_markup=keyboard)[
        1
    ].startswith("Bad Request: message is not modified")
    edited = ok(telegram_stub, "editMessageText", **ids, text="hello", reply_markup=keyboard)
    assert edited["text"] == "hello" and "edit_date" in edited
    assert error(telegram_stub, "editMessageCaption", **ids, caption="x") == (
        400,
        "Bad Request: there is no caption in the message to edit",
    )
    removed = ok(telegram_stub, "editMessageReplyMarkup", **ids)
    assert "reply_markup" not in removed
    assert telegram_stub.sent_messages(USER)[-1]["text"] == "hello"
    user_message = telegram_stub.send_text(USER, "mine")["message"]
    assert error(
        telegram_stub,
        "editMessageText",
        chat_id=USER,
        message_id=user_message["message_id"],
        text="x",
    ) == (400, "Bad Request: message can't be edited")
    assert ok(telegram_stub, "editMessageText", inline_message_id="abc", text="x") is True

    assert ok(telegram_stub, "deleteMessage", **ids) is True
    assert error(telegram_stub, "deleteMessage", **ids) == (
        400,
        "Bad Request: message to delete not found",
    )
    assert error(telegram_stub, "editMessageText", **ids, text="late") == (
        400,
        "Bad Request: message to edit not found",
    )
    assert telegram_stub.sent_messages(USER) == []
    assert len(telegram_stub.sent_messages(USER, include_deleted=True)) == 1
    assert error(telegram_stub, "sendMessage", chat_id=USER, text="x" * 4097) == (
        400,
        "Bad Request: message is too long",
    )
    too_long = {"inline_keyboard": [[{"text": "A", "callback_data": "x" * 65}]]}
    assert error(telegram_stub, "sendMessage", chat_id=USER, text="x", reply_markup=too_long) == (
        400,
        "Bad Request: BUTTON_DATA_INVALID",
    )


def test_parse_modes() -> None:
    text, entities = format_text('<b>Hi</b> <a href="https://x.y/?a=1&amp;b=2">&lt;3</a>', "HTML")
    assert text == "Hi <3"
    assert entities == [
        {"type": "bold", "offset": 0, "length": 2},
        {"type": "text_link", "offset": 3, "length": 2, "url": "https://x.y/?a=1&b=2"},
    ]
    text, entities = format_text('<pre><code class="language-python">x = 1</code></pre>', "HTML")
    assert entities == [{"type": "pre", "offset": 0, "length": 5, "language": "python"}]
    for bad, message in [
        ("a <br> b", 'Unsupported start tag "br" at byte offset 2'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
    ]:
        with pytest.raises(Exception, match="can't parse entities") as info:
            format_text(bad, "HTML")
        assert info.value.description == f"Bad Request: can't parse entities: {message}"

    # UTF-16 offsets: the emoji counts as 2
    text, entities = format_text("\U0001f3b5 *Song \\(Live\\)* by _A\\.B_ ||x||", "MarkdownV2")
    assert text == "\U0001f3b5 Song (Live) by A.B x"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 11},
        {"type": "italic", "offset": 18, "length": 3},
        {"type": "spoiler", "offset": 22, "length": 1},
    ]
    text, entities = format_text("[link](https://a.b/c\\)d) `co_de` ```py\nx\n```", "MarkdownV2")
    assert text == "link co_de x\n"
    assert {"type": "text_link", "offset": 0, "length": 4, "url": "https://a.b/c)d"} in entities
    assert {"type": "pre", "offset": 11, "length": 2, "language": "py"} in entities
    with pytest.raises(Exception, match=r"Character '\.' is reserved"):
        format_text("Done.", "MarkdownV2")
    with pytest.raises(Exception, match=r"Character '\(' is reserved"):
        format_text("*Song (Live)*", "MarkdownV2")
    with pytest.raises(Exception, match="Can't find end of Bold entity at byte offset 0"):
        format_text("*open", "MarkdownV2")
    text, entities = format_text(">quoted\n>lines\nafter", "MarkdownV2")
    assert text == "quoted\nlines\nafter"
    assert entities == [{"type": "blockquote", "offset": 0, "length": 12}]

    with pytest.raises(Exception, match="Can't find end of the entity starting at byte offset 4"):
        format_text("bad *bold", "Markdown")
    assert format_text("*b* `c`.", "Markdown") == (
        "b c.",
        [{"type": "bold", "offset": 0, "length": 1}, {"type": "code", "offset": 2, "length": 1}],
    )


def test_commands_and_callback_and_inline_answers(telegram_stub: TelegramStub) -> None:
    commands = [
        {"command": "start", "description": "Start"},
        {"command": "mood", "description": "x"},
    ]
    assert ok(telegram_stub, "setMyCommands", commands=commands) is True
    assert ok(telegram_stub, "getMyCommands") == commands
    assert telegram_stub.commands() == commands
    ok(telegram_stub, "setMyCommands", commands=commands[:1], language_code="de")
    assert ok(telegram_stub, "getMyCommands", language_code="de") == commands[:1]
    assert ok(telegram_stub, "deleteMyCommands") is True
    assert ok(telegram_stub, "getMyCommands") == []
    bad = [{"command": "Bad-Command", "description": "x"}]
    assert (
        error(telegram_stub, "setMyCommands", commands=bad)[1] == "Bad Request: BOT_COMMAND_INVALID"
    )

    telegram_stub.add_user(USER, first_name="Ana", language_code="pt")
    keyboard = {"inline_keyboard": [[{"text": "More", "callback_data": "more"}]]}
    sent = ok(telegram_stub, "sendMessage", chat_id=USER, text="pick", reply_markup=keyboard)
    with pytest.raises(ValueError, match="no button with callback_data='less'"):
        telegram_stub.press_button(USER, sent, "less")
    update = telegram_stub.press_button(USER, sent, "more")
    query = update["callback_query"]
    assert query["from"]["language_code"] == "pt" and query["message"]["text"] == "pick"
    assert ok(telegram_stub, "answerCallbackQuery", callback_query_id=query["id"], text="ok")
    assert telegram_stub.callback_answer(query["id"])["text"] == "ok"
    assert error(telegram_stub, "answerCallbackQuery", callback_query_id=query["id"])[1].startswith(
        "Bad Request: query is too old"
    )

    inline = telegram_stub.inline_query(USER, "happy")["inline_query"]
    results = [
        {
            "type": "article",
            "id": "1",
            "title": "Song",
            "input_message_content": {"message_text": "x"},
        }
    ]
    assert ok(telegram_stub, "answerInlineQuery", inline_query_id=inline["id"], results=results)


def test_knobs_fail_next_disconnect_next_and_delay(telegram_stub: TelegramStub) -> None:
    telegram_stub.add_user(USER)
    telegram_stub.fail_next("sendMessage", 403)
    assert error(telegram_stub, "sendMessage", chat_id=USER, text="a") == (
        403,
        "Forbidden: bot was blocked by the user",
    )
    telegram_stub.fail_next("sendmessage", 429, retry_after=3)  # method names: any case
    status, body = api(telegram_stub, "sendMessage", json={"chat_id": USER, "text": "a"})
    assert (status, body["parameters"]) == (429, {"retry_after": 3})
    assert ok(telegram_stub, "sendMessage", chat_id=USER, text="a")["message_id"] == 1

    telegram_stub.disconnect_next("getMe")
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{telegram_stub.base_url}{telegram_stub.token}/getMe")
    assert ok(telegram_stub, "getMe")["is_bot"]

    telegram_stub.delay("getMe", 0.3)
    start = time.monotonic()
    ok(telegram_stub, "getMe")
    assert time.monotonic() - start >= 0.3
    telegram_stub.delay("getMe", 0)
    assert [c.ok for c in telegram_stub.calls_for("sendMessage")] == [False, False, True]


def test_custom_method_handler(telegram_stub: TelegramStub) -> None:
    telegram_stub.on("getChat", lambda params, files: {"id": params["chat_id"], "type": "private"})
    assert ok(telegram_stub, "getChat", chat_id=5) == {"id": 5, "type": "private"}


async def test_wait_for_mark_and_timeout(telegram_stub: TelegramStub) -> None:
    telegram_stub.add_user(USER)
    await asyncio.to_thread(ok, telegram_stub, "sendMessage", chat_id=USER, text="before")
    telegram_stub.mark()
    with pytest.raises(StubTimeout, match="waited for 1 sendMessage call"):
        await telegram_stub.wait_for("sendMessage", timeout=0.1)
    threading.Timer(
        0.1, ok, args=(telegram_stub, "sendMessage"), kwargs={"chat_id": USER, "text": "after"}
    ).start()
    (call,) = await telegram_stub.wait_for(
        "sendMessage", lambda c: c.params["text"] == "after", timeout=5
    )
    assert call.result["text"] == "after"
    assert len(telegram_stub.calls_for("sendMessage", since=0)) == 2
    await telegram_stub.expect_no_call("deleteMessage", within=0.05)
    telegram_stub.reset()
    assert telegram_stub.calls == []


def test_stop_closes_keep_alive_connections_and_long_polls() -> None:
    stub = TelegramStub(max_poll_wait=30).start()
    client = httpx.Client()
    assert client.post(f"{stub.base_url}{stub.token}/getMe").status_code == 200  # keep-alive
    poller = threading.Thread(
        target=lambda: httpx.post(
            f"{stub.base_url}{stub.token}/getUpdates", json={"timeout": 30}, timeout=40
        )
    )
    poller.start()
    time.sleep(0.2)
    start = time.monotonic()
    assert stub.stop() == []
    assert time.monotonic() - start < 1.5
    poller.join(2)
    assert not poller.is_alive()
    assert not [t for t in threading.enumerate() if t.name.startswith("telegram-stub")]
    client.close()


# ------------------------------------------------------------------------------------------
# A real python-telegram-bot Application against the stub
# ------------------------------------------------------------------------------------------


@asynccontextmanager
async def running_app(
    stub: TelegramStub,
    setup: Callable[[Application], None],
    configure: Callable[[ApplicationBuilder], ApplicationBuilder] = lambda b: b,
) -> AsyncIterator[Application]:
    """Build, start and poll a PTB Application pointed at ``stub``; stop it cleanly after."""
    builder = (
        Application.builder()
        .token(stub.token)
        .base_url(stub.base_url)
        .base_file_url(stub.base_file_url)
    )
    app = configure(builder).build()
    setup(app)
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=1)
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


async def test_ptb_application_end_to_end(
    telegram_stub: TelegramStub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    chart = png(640, 360, (20, 120, 200))

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text("echo: " + " ".join(context.args or []))

    async def photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        file = await update.message.photo[-1].get_file()
        data = await file.download_as_bytearray()
        await update.message.reply_text(f"got {len(data)} bytes")

    async def send_chart(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.chat.send_action("upload_photo")
        keyboard = InlineKeyboardMarkup(
            [[InlineKeyboardButton("More like this", callback_data="more")]]
        )
        await update.message.reply_photo(
            chart, caption="Your *week*", parse_mode="MarkdownV2", reply_markup=keyboard
        )

    async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        await query.answer("Loading…")
        await query.edit_message_caption(f"You chose {query.data}")

    def setup(app: Application) -> None:
        app.add_handler(CommandHandler("echo", echo))
        app.add_handler(CommandHandler("chart", send_chart))
        app.add_handler(MessageHandler(filters.PHOTO, photo))
        app.add_handler(CallbackQueryHandler(button))

    started = time.monotonic()
    async with running_app(telegram_stub, setup) as app:
        assert app.bot.username == "moodtune_test_bot"

        telegram_stub.send_text(USER, "/echo hello world")
        (reply,) = await telegram_stub.wait_for("sendMessage")
        assert reply.params == {"chat_id": USER, "text": "echo: hello world"}

        telegram_stub.mark()
        selfie = png(900, 1200)
        telegram_stub.send_photo(USER, selfie)
        (reply,) = await telegram_stub.wait_for("sendMessage")
        assert reply.params["text"] == f"got {len(selfie)} bytes"
        (get_file,) = telegram_stub.calls_for("getFile")
        assert get_file.result["file_size"] == len(selfie)

        telegram_stub.mark()
        telegram_stub.send_text(USER, "/chart")
        (sent,) = await telegram_stub.wait_for("sendPhoto")
        assert telegram_stub.calls_for("sendChatAction")[0].params["action"] == "upload_photo"
        # PTB sends the photo as multipart; reply_markup arrives as a JSON string form field
        assert sent.files["photo"].data == chart
        assert sent.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "more"
        assert sent.result["caption"] == "Your week"
        message = telegram_stub.sent_messages(USER)[-1]
        with Image.open(
            io.BytesIO(telegram_stub.file_bytes(message["photo"][-1]["file_id"]))
        ) as im:
            assert im.format == "PNG" and im.size == (640, 360)

        update = telegram_stub.press_button(USER, message, "more")
        (answer,) = await telegram_stub.wait_for("answerCallbackQuery")
        assert answer.params == {
            "callback_query_id": update["callback_query"]["id"],
            "text": "Loading…",
        }
        (edit,) = await telegram_stub.wait_for("editMessageCaption")
        assert edit.ok and edit.result["caption"] == "You chose more"
        current = telegram_stub.message(USER, message["message_id"])
        assert current["caption"] == "You chose more" and "reply_markup" not in current

    # PTB's polling: getUpdates(timeout=1, offset=N), no limit/allowed_updates
    polls = telegram_stub.calls_for("getUpdates", since=0)
    assert polls[0].params == {"timeout": 1, "offset": 0}
    # Updater.stop() cancels its long poll (the stub answers that one 409 once the next
    # getUpdates arrives, like Telegram) and confirms what it fetched with timeout=0
    (cleanup,) = [c for c in polls if c.params["timeout"] == 0]
    assert cleanup.ok and cleanup is [c for c in polls if c.ok][-1]
    assert all(c.error["error_code"] == 409 for c in polls if not c.ok)
    assert telegram_stub.pending_updates == []
    assert [c.method for c in telegram_stub.calls[:2]] == ["getMe", "deleteWebhook"]
    assert time.monotonic() - started < 10
    assert [r.getMessage() for r in caplog.records] == []  # no PTB errors, clean shutdown


async def test_ptb_concurrent_updates(telegram_stub: TelegramStub) -> None:
    release = asyncio.Event()

    async def wait(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await asyncio.wait_for(release.wait(), timeout=5)
        await update.message.reply_text("released")

    async def go(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        release.set()
        await update.message.reply_text("go")

    def setup(app: Application) -> None:
        app.add_handler(CommandHandler("wait", wait))
        app.add_handler(CommandHandler("go", go))

    telegram_stub.delay("sendMessage", 0.1)  # overlapping requests on the server side
    async with running_app(telegram_stub, setup, lambda b: b.concurrent_updates(True)) as app:
        assert app.concurrent_updates == 256
        telegram_stub.send_text(USER, "/wait")
        telegram_stub.send_text(USER + 1, "/wait")
        telegram_stub.send_text(USER, "/go")  # would deadlock if updates were sequential
        calls = await telegram_stub.wait_for("sendMessage", count=3, timeout=8)
    assert sorted(c.params["text"] for c in calls) == ["go", "released", "released"]
    ids = [m["message_id"] for m in telegram_stub.messages(USER)]
    assert ids == sorted(set(ids)) == [1, 2, 3, 4]  # shared per-chat counter, no duplicates


async def test_ptb_errors_reach_the_error_handler_and_polling_survives(
    telegram_stub: TelegramStub,
) -> None:
    seen: list[BaseException] = []

    async def reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(
            update.message.text.removeprefix("/say "), parse_mode="MarkdownV2"
        )

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(context.error)

    def setup(app: Application) -> None:
        app.add_handler(CommandHandler("say", reply))
        app.add_error_handler(on_error)

    async with running_app(telegram_stub, setup):
        telegram_stub.fail_next("sendMessage", 403)
        telegram_stub.send_text(USER, "/say blocked")
        await telegram_stub.wait_for("sendMessage")
        telegram_stub.send_text(USER, "/say Done.")  # unescaped '.' in MarkdownV2
        await telegram_stub.wait_for("sendMessage", count=2)

        telegram_stub.fail_next("getUpdates", 502, "Bad Gateway")
        await telegram_stub.wait_for("getUpdates", lambda c: not c.ok)
        telegram_stub.send_text(USER, "/say fine")
        await telegram_stub.wait_for("sendMessage", lambda c: c.ok, timeout=8)
    assert isinstance(seen[0], Forbidden)
    assert isinstance(seen[1], BadRequest) and "is reserved" in str(seen[1])
    assert telegram_stub.sent_messages(USER)[-1]["text"] == "fine"
