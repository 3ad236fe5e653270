"""The Telegram stand-in's own behaviour that the end-to-end tests lean on, through a real PTB Bot."""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import threading
from collections.abc import AsyncIterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken

from tests.loopback import serving
from tests.telegram_stub import TelegramStub, parse_html

USER = 4242


@pytest.fixture
async def bot(telegram_stub: TelegramStub) -> AsyncIterator[Bot]:
    root = telegram_stub.root_url
    async with Bot(telegram_stub.token, f"{root}/bot", f"{root}/file/bot") as bot:
        telegram_stub.add_user(USER)
        yield bot


def test_html_gives_plain_text_and_utf16_entities():
    text, entities = parse_html(
        '😊 <b>Tom &amp; Jerry</b> &lt;3 <a href="https://x.org/?a=1&amp;b=2">song</a>'
    )
    assert text == "😊 Tom & Jerry <3 song"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 11},  # the emoji is two UTF-16 units
        {"type": "text_link", "offset": 18, "length": 4, "url": "https://x.org/?a=1&b=2"},
    ]


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("1 < 2", 'Unsupported start tag ""'),
        ("<blink>hi</blink>", 'Unsupported start tag "blink"'),
        ("<b>bold", 'end tag corresponding to start tag "b"'),
        ("<b>bold</i>", 'expected "</b>", found "</i>"'),
        ("bold</b>", 'found "</b>"'),
        ("<b class='x'", "Unclosed start tag"),
        ("Simon & Garfunkel", 'unescaped "&" at byte offset 16'),  # Telegram is laxer here
    ],
)
async def test_html_escaping_bugs_are_refused_like_telegram(bot: Bot, telegram_stub, html, error):
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await bot.send_message(USER, f"<i>ok</i> {html}", parse_mode="HTML")
    (call,) = telegram_stub.calls("sendMessage")
    assert call.error["error_code"] == 400 and error in call.error["description"]


async def test_get_updates_redelivers_until_confirmed_by_offset(bot: Bot, telegram_stub):
    first, second = (telegram_stub.send_text(USER, t)["update_id"] for t in ("hi", "/start x"))
    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [first, second]
    assert updates[1].message.text == "/start x" and updates[1].message.entities[0].length == 6
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [first, second]
    assert [u.update_id for u in await bot.get_updates(offset=second, timeout=0)] == [second]
    assert await bot.get_updates(offset=second + 1, timeout=0) == ()
    assert await bot.get_updates(timeout=0) == ()  # confirmed updates are gone for good


async def test_long_poll_ends_when_an_update_arrives_or_the_stub_stops():
    with serving(TelegramStub(max_poll_wait=60)) as stub:
        root = stub.root_url
        async with Bot(stub.token, f"{root}/bot", f"{root}/file/bot") as polling:
            arrived = threading.Event()
            stub.add_hook("getUpdates", lambda params: arrived.set())
            poll = asyncio.create_task(polling.get_updates(timeout=60))
            await asyncio.to_thread(arrived.wait, 10)
            stub.send_text(USER, "hello")
            (update,) = await asyncio.wait_for(poll, 10)  # not the 60 s the poll allows
            assert update.message.text == "hello"

            arrived.clear()
            poll = asyncio.create_task(polling.get_updates(offset=update.update_id + 1, timeout=60))
            await asyncio.to_thread(arrived.wait, 10)
            assert stub.stop() == 0  # and serving() finds no request left running
            assert await asyncio.wait_for(poll, 10) == ()


async def test_uploads_download_and_user_photos(bot: Bot, telegram_stub):
    data = b"\r\n--boundary\r\n\x00\xff" * 1000  # multipart must be binary-safe
    sent = await bot.send_document(
        USER, data, filename="raw.bin", caption="<b>x</b>", parse_mode="HTML"
    )
    assert (sent.document.file_name, sent.caption, sent.caption_entities[0].type) == (
        "raw.bin",
        "x",
        "bold",
    )
    assert await (await bot.get_file(sent.document.file_id)).download_as_bytearray() == data

    image = io.BytesIO()
    Image.new("RGB", (800, 600), "red").save(image, "PNG")
    sizes = telegram_stub.send_photo(USER, image.getvalue())["message"]["photo"]
    assert [(s["width"], s["height"]) for s in sizes] == [(90, 68), (800, 600)]
    assert telegram_stub.file_bytes(sizes[-1]["file_id"]) == image.getvalue()
    with pytest.raises(BadRequest, match="Invalid file_id"):
        await bot.get_file("nope")


async def test_buttons_edits_and_answers_behave_like_telegram(bot: Bot, telegram_stub):
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="go:1")]])
    sent = (await bot.send_message(USER, "pick", reply_markup=keyboard)).to_dict()
    query_id = telegram_stub.press_button(USER, sent, "go:1")["callback_query"]["id"]
    assert await bot.answer_callback_query(query_id, "ok")
    with pytest.raises(BadRequest, match="query id is invalid"):
        await bot.answer_callback_query(query_id)  # each query is answered once
    with pytest.raises(ValueError, match="no button"):
        telegram_stub.press_button(USER + 1, sent, "go:1")  # not in their chat

    await bot.edit_message_reply_markup(USER, sent["message_id"], reply_markup=None)
    with pytest.raises(ValueError, match="no button"):
        telegram_stub.press_button(USER, sent, "go:1")  # the keyboard is gone now
    forged = telegram_stub.forge_button_press(USER + 1, sent, "go:2")["callback_query"]
    assert forged["message"]["text"] == "pick" and "reply_markup" not in forged["message"]
    own = telegram_stub.send_callback_data(USER, sent, "go:9" * 20)["callback_query"]
    assert own["from"]["id"] == USER and own["data"] == "go:9" * 20  # any data, by the owner
    with pytest.raises(ValueError, match="not in user"):
        telegram_stub.send_callback_data(USER + 1, sent, "go:2")
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text("pick", USER, sent["message_id"])
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        too_long = InlineKeyboardButton("x", callback_data="x" * 65)
        await bot.send_message(USER, "hi", reply_markup=InlineKeyboardMarkup([[too_long]]))
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(USER + 2, "nobody registered this chat")


async def test_hooks_and_unknown_methods(bot: Bot, telegram_stub):
    telegram_stub.fail_next("sendMessage", 403)
    with pytest.raises(Forbidden, match="blocked"):
        await bot.send_message(USER, "one")
    assert (await bot.send_message(USER, "two")).text == "two"  # only the next call fails
    with pytest.raises(InvalidToken, match="Not Found"):  # how PTB reports a 404
        await bot.delete_message(USER, 1)  # the bot never deletes: not stubbed, fails loudly


async def test_expect_no_call_fails_as_soon_as_the_call_is_made(bot: Bot, telegram_stub):
    mark = telegram_stub.mark()
    await telegram_stub.expect_no_call("sendMessage", within=0.05)  # quiet: passes
    sent = asyncio.create_task(bot.send_message(USER, "hi"))
    # Woken by the call: the 60 s window never runs out (a TimeoutError if it had to).
    with pytest.raises(AssertionError, match="unexpected sendMessage"):
        async with asyncio.timeout(30):
            await telegram_stub.expect_no_call("sendMessage", within=60, since=mark)
    await sent


async def test_push_mode_posts_with_the_secret_and_retries_until_2xx(bot: Bot, telegram_stub):
    """After setWebhook: each update POSTed with the secret, retried after a 5xx answer or a
    dropped connection, updates of kinds not allowed never sent, getUpdates refused (409)."""
    answers = iter([500, 0, 200, 200])  # 0: close the connection without a word
    seen: list[tuple[str | None, dict]] = []

    class Receiver(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.headers.get("X-Telegram-Bot-Api-Secret-Token"), body))
            if (status := next(answers)) == 0:
                self.close_connection = True
                return
            self.send_response(status)
            self.send_header("X-MoodTune-Worker", "77")
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        await bot.set_webhook(url, secret_token="s3", allowed_updates=["message"])
        telegram_stub.inline_query(USER, "songs")  # not allowed: never sent
        first = telegram_stub.send_text(USER, "hi")
        second = telegram_stub.send_text(USER, "again")
        pushes = await telegram_stub.wait_for("push", lambda c: c.ok, count=2, timeout=30)
        assert {c.params["update_id"] for c in pushes} == {first["update_id"], second["update_id"]}
        assert {c.result["worker"] for c in pushes} == {"77"}
        statuses = [c.result["status"] for c in telegram_stub.calls("push", since=0)]
        assert sorted(statuses) == [0, 200, 200, 500]
        assert all(body in (first, second) for _, body in seen) and len(seen) == 4
        assert {secret for secret, _ in seen} == {"s3"}
        info = await bot.get_webhook_info()
        assert (info.url, info.pending_update_count) == (url, 0)
        with pytest.raises(Conflict):
            await bot.get_updates()
        await bot.delete_webhook()
        assert (await bot.get_webhook_info()).url == ""
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("keep_alive", [False, True])
def test_the_stand_in_keeps_connections_alive_only_when_asked(keep_alive: bool):
    """The load benchmark's --keep-alive: calls reuse one connection, as with Telegram."""
    with serving(TelegramStub(keep_alive=keep_alive)) as stub:
        host, port = stub.root_url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            answers, sockets = [], []
            for _ in range(2):
                conn.request("POST", f"/bot{stub.token}/getMe")
                response = conn.getresponse()
                answers.append(json.loads(response.read())["ok"])
                sockets.append(conn.sock)  # None once the server closed it
        finally:
            conn.close()
    assert answers == [True, True]
    assert (sockets[0] is not None and sockets[0] is sockets[1]) is keep_alive
