"""The real bot Application against a real local HTTP stand-in for the Bot API."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.app import build_application, run
from bot.settings import Settings
from models.emotion import Emotion
from tests import media
from tests.telegram_stub import TelegramStub

TRACK_LINK = re.compile(r"https://open\.spotify\.com/track/[0-9A-Za-z]{22}")
ALICE, BOB = 1001, 2002


@dataclass
class Bot:
    stub: TelegramStub
    db: Path
    app: object = None

    async def say(self, user_id: int, text: str) -> dict:
        mark = self.stub.mark()
        self.stub.send_text(user_id, text)
        return await self.reply(user_id, since=mark)

    async def reply(self, user_id: int, since: int, method: str = "sendMessage") -> dict:
        (call,) = await self.stub.wait_for(
            method, lambda c: c.params.get("chat_id") == user_id, since=since, timeout=30
        )
        assert call.ok, call
        return call.result

    async def send_photo(self, user_id: int, data: bytes) -> dict:
        mark = self.stub.mark()
        self.stub.send_photo(user_id, data)
        return await self.reply(user_id, since=mark)

    def rows(self, sql: str, *args) -> list[tuple]:
        with sqlite3.connect(self.db) as con:
            return con.execute(sql, args).fetchall()


@contextlib.asynccontextmanager
async def running(app) -> AsyncIterator[None]:
    """Run the bot as `moodtune run` does (PTB's run_polling with its post_init and
    post_shutdown) in a thread with its own event loop, until polling has started; at the end
    stop it the way SIGTERM does."""
    loop = asyncio.new_event_loop()
    failed: list[BaseException] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            run(app, stop_signals=None)  # signal handlers can only be set in the main thread
        except BaseException as e:
            failed.append(e)

    def sigterm() -> None:
        raise SystemExit  # what PTB's own signal handler does

    thread = threading.Thread(target=serve, name="bot", daemon=True)
    thread.start()
    try:
        yield
    finally:
        with contextlib.suppress(RuntimeError):  # the loop is closed if the bot already ended
            loop.call_soon_threadsafe(sigterm)
        await asyncio.to_thread(thread.join, 30)
        assert not thread.is_alive(), "the bot did not stop"
        if failed:
            raise failed[0]


@pytest.fixture
async def bot(telegram_stub: TelegramStub, tmp_path, analyzer, recommender):
    settings = Settings(
        telegram_bot_token=telegram_stub.token,
        telegram_api_url=telegram_stub.root_url,
        database_path=tmp_path / "moodtune.sqlite3",
    )
    app = build_application(settings, analyzer, recommender)
    async with running(app):
        await telegram_stub.wait_for("getUpdates", timeout=30)
        yield Bot(telegram_stub, settings.database_path, app)


def links(message: dict) -> list[str]:
    urls = [e["url"] for e in message.get("entities", []) if e.get("type") == "text_link"]
    return urls or TRACK_LINK.findall(message.get("text", ""))


async def exported_files(bot: Bot, user: int, timeout: float) -> dict[str, bytes]:
    """Send /export as `user`; the documents the bot sends back, by file name."""
    mark = bot.stub.mark()
    bot.stub.send_text(user, "/export")
    docs = await bot.stub.wait_for("sendDocument", since=mark, count=2, timeout=timeout)
    return {
        c.result["document"]["file_name"]: bot.stub.file_bytes(c.result["document"]["file_id"])
        for c in docs
    }


async def test_start_and_help(bot: Bot):
    text = (await bot.say(ALICE, "/start"))["text"]
    assert "emotion" in text and "never stored" in text and "/delete" in text
    help_text = (await bot.say(ALICE, "/help"))["text"]
    for command in ("/history", "/delete", "/privacy", "/mood"):
        assert command in help_text
    assert {c["command"] for c in bot.stub.commands()} >= {"start", "help", "history", "delete"}


async def test_moodtune_run_serves_until_sigterm(telegram_stub: TelegramStub, tmp_path):
    """The real command: PTB's run_polling opens the diary (post_init), answers, and on
    SIGTERM stops polling and closes the diary (post_shutdown) before exiting cleanly."""
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": telegram_stub.token,
        "TELEGRAM_API_URL": telegram_stub.root_url,
        "DATABASE_PATH": str(tmp_path / "db.sqlite3"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        await telegram_stub.wait_for("getUpdates", timeout=60)
        assert "/history" in (await Bot(telegram_stub, tmp_path).say(ALICE, "/help"))["text"]
        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.to_thread(proc.communicate, timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert "is up" in stderr and "Traceback" not in stderr
    with sqlite3.connect(tmp_path / "db.sqlite3") as con:  # created by post_init
        assert con.execute("PRAGMA user_version").fetchone()[0] > 0


async def test_selfie_gets_reading_and_five_songs(bot: Bot):
    msg = await bot.send_photo(ALICE, media.smiling_jpeg())
    assert "happy" in msg["text"]
    urls = links(msg)
    assert len(urls) == 5 and len(set(urls)) == 5
    assert all(TRACK_LINK.fullmatch(u) for u in urls)
    (row,) = bot.rows("SELECT user_id, emotion, probabilities FROM readings")
    assert row[0] == ALICE and row[1] == "happy"
    stored = {r[0] for r in bot.rows("SELECT track_id FROM recommendations")}
    assert {u.rsplit("/", 1)[1] for u in urls} == stored


async def test_photo_and_its_file_id_never_stored(bot: Bot):
    update = bot.stub.send_photo(ALICE, media.smiling_jpeg())
    await bot.reply(ALICE, since=0)
    raw = b"".join(p.read_bytes() for p in bot.db.parent.glob("moodtune.sqlite3*"))
    for size in update["message"]["photo"]:
        assert size["file_id"].encode() not in raw
        assert size["file_unique_id"].encode() not in raw
    assert b"\xff\xd8\xff" not in raw  # no JPEG data


@pytest.mark.parametrize(
    ("data", "name", "mime"),
    [
        (media.png_face(), "me.png", "image/png"),
        (media.webp_face(), "me.webp", "image/webp"),
        (media.smiling_jpeg(), "me.jpg", "image/jpeg"),
    ],
)
async def test_selfie_as_file(bot: Bot, data, name, mime):
    mark = bot.stub.mark()
    bot.stub.send_document(ALICE, data, file_name=name, mime_type=mime)
    msg = await bot.reply(ALICE, since=mark)
    assert "happy" in msg["text"] and len(links(msg)) == 5


@pytest.fixture(scope="module")
def neutral_face(analyzer) -> bytes:
    """A real portrait that the committed model reads as (confidently) neutral."""
    for subject in range(1, 16):
        data = media.yale("neutral", subject)
        r = analyzer.analyze(data)
        if r.emotion is Emotion.NEUTRAL and r.confidence >= 0.4:
            return data
    pytest.skip("no Yale portrait reads as neutral with this model")


async def test_neutral_face_asks_mood_then_answers_once(bot: Bot, neutral_face):
    msg = await bot.send_photo(ALICE, neutral_face)
    buttons = [b for row in msg["reply_markup"]["inline_keyboard"] for b in row]
    labels = " ".join(b["text"] for b in buttons)
    for mood in ("Morning coffee", "Relaxing", "Exercise", "Heart-touching"):
        assert mood in labels
    data = next(b["callback_data"] for b in buttons if "Relaxing" in b["text"])
    mark = bot.stub.mark()
    bot.stub.press_button(ALICE, msg, data)
    songs = await bot.reply(ALICE, since=mark)
    assert len(links(songs)) == 5
    (answer,) = await bot.stub.wait_for("answerCallbackQuery", since=mark)
    assert bot.rows("SELECT mood FROM readings") == [("relaxing",)]
    # Pressed again (a stale copy of the message still has the button): polite, no change.
    mark = bot.stub.mark()
    bot.stub.forge_button_press(ALICE, msg, data)
    (again,) = await bot.stub.wait_for("answerCallbackQuery", since=mark)
    assert "expired" in again.params.get("text", "")
    await bot.stub.expect_no_call("sendMessage", within=0.5)
    assert bot.rows("SELECT count(*) FROM recommendations")[0][0] == 5


@pytest.mark.parametrize(
    "data", ["mood:999999:relaxing", "mood:1:not_a_mood", "garbage", "del:maybe", "x" * 64]
)
async def test_forged_button_data_changes_nothing(bot: Bot, data):
    msg = await bot.send_photo(ALICE, media.smiling_jpeg())
    before = bot.rows("SELECT * FROM readings")
    mark = bot.stub.mark()
    bot.stub.forge_button_press(BOB, msg, data)
    (answer,) = await bot.stub.wait_for("answerCallbackQuery", since=mark)
    assert answer.params.get("text")
    await bot.stub.expect_no_call("sendMessage", within=0.3)
    assert bot.rows("SELECT * FROM readings") == before


async def test_other_users_entry_cannot_be_answered(bot: Bot, neutral_face):
    msg = await bot.send_photo(ALICE, neutral_face)
    (entry_id,) = bot.rows("SELECT id FROM readings")[0]
    mark = bot.stub.mark()
    bot.stub.add_user(BOB)
    bot.stub.forge_button_press(BOB, msg, f"mood:{entry_id}:exercise")
    await bot.stub.wait_for("answerCallbackQuery", since=mark)
    assert bot.rows("SELECT mood FROM readings") == [(None,)]


@pytest.mark.parametrize(
    ("send", "expected"),
    [
        (lambda s: s.send_photo(ALICE, media.no_face_png()), "couldn't find a face"),
        (lambda s: s.send_photo(ALICE, media.truncated_jpeg()), "damaged"),
        (
            lambda s: s.send_document(ALICE, media.bomb_png(), "big.png", "image/png"),
            "too large",
        ),
        (
            lambda s: s.send_document(ALICE, media.PDF_BYTES, "cv.pdf", "application/pdf"),
            "only read moods from photos",
        ),
        (lambda s: s.send_document(ALICE, media.gif_bytes(), "a.gif", "image/gif"), "isn't an"),
        (lambda s: s.send_sticker(ALICE), "sticker"),
        (lambda s: s.send_voice(ALICE), "only read moods from photos"),
        (lambda s: s.send_location(ALICE, 52.5, 13.4), "only read moods from photos"),
        (lambda s: s.send_text(ALICE, "/frobnicate"), "don't know that command"),
        (lambda s: s.send_text(ALICE, "hello there"), "selfie"),
    ],
    ids=[
        "no-face", "corrupt", "bomb", "pdf", "gif", "sticker", "voice", "location", "unknown",
        "text",
    ],
)  # fmt: skip
async def test_bad_input_gets_a_friendly_reply_and_changes_nothing(bot: Bot, send, expected):
    mark = bot.stub.mark()
    send(bot.stub)
    msg = await bot.reply(ALICE, since=mark)
    assert expected in msg["text"]
    assert bot.rows("SELECT count(*) FROM readings") == [(0,)]
    # And the bot still works afterwards.
    assert "happy" in (await bot.send_photo(ALICE, media.smiling_jpeg()))["text"]


async def test_limits_and_retention_come_from_settings(
    telegram_stub: TelegramStub, tmp_path, analyzer, recommender
):
    data = media.smiling_jpeg()
    settings = Settings(
        telegram_bot_token=telegram_stub.token,
        telegram_api_url=telegram_stub.root_url,
        database_path=tmp_path / "db.sqlite3",
        max_image_bytes=len(data) - 1,
        history_retention_days=30,
    )
    async with running(build_application(settings, analyzer, recommender)):
        await telegram_stub.wait_for("getUpdates", timeout=30)
        bot = Bot(telegram_stub, settings.database_path)
        too_big = await bot.send_photo(ALICE, data)
        assert "too large" in too_big["text"] and "up to " in too_big["text"]
        assert "at most 30 days" in (await bot.say(ALICE, "/privacy"))["text"]
        assert bot.rows("SELECT count(*) FROM readings") == [(0,)]


async def test_several_faces_reads_the_largest_and_says_so(bot: Bot):
    msg = await bot.send_photo(ALICE, media.two_faces_jpeg())
    assert "largest" in msg["text"]


async def test_history_text_and_chart(bot: Bot):
    empty = await bot.say(ALICE, "/history")
    assert "No readings yet" in empty["text"]
    for _ in range(2):
        await bot.send_photo(ALICE, media.smiling_jpeg())
    mark = bot.stub.mark()
    bot.stub.send_text(ALICE, "/history")
    photo = await bot.reply(ALICE, since=mark, method="sendPhoto")
    text = await bot.reply(ALICE, since=mark)
    png = bot.stub.file_bytes(photo["photo"][-1]["file_id"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and 5_000 < len(png) < 500_000
    assert "happy" in text["text"] and "2" in text["text"]


async def test_delete_erases_only_the_caller(bot: Bot):
    await bot.send_photo(ALICE, media.smiling_jpeg())
    await bot.send_photo(BOB, media.smiling_jpeg())
    confirm = await bot.say(ALICE, "/delete")
    mark = bot.stub.mark()
    bot.stub.press_button(ALICE, confirm, "del:yes")
    await bot.stub.wait_for("editMessageText", since=mark)
    assert bot.rows("SELECT DISTINCT user_id FROM readings") == [(BOB,)]
    assert bot.rows("SELECT count(*) FROM recommendations") == [(5,)]


async def test_slow_photo_does_not_delay_another_user(bot: Bot):
    gate = bot.stub.hold("getFile")  # Alice's photo download hangs until we let it go
    mark = bot.stub.mark()
    bot.stub.send_photo(ALICE, media.smiling_jpeg())
    await bot.stub.wait_for("sendChatAction", since=mark)
    bot.stub.send_text(BOB, "/help")
    (bob_reply,) = await bot.stub.wait_for(
        "sendMessage", lambda c: c.params["chat_id"] == BOB, since=mark, timeout=30
    )
    assert "/history" in bob_reply.params["text"]
    gate.set()
    assert "happy" in (await bot.reply(ALICE, since=mark))["text"]


async def test_survives_telegram_errors(bot: Bot):
    bot.stub.fail_next("sendMessage", 403)
    mark = bot.stub.mark()
    bot.stub.send_text(ALICE, "/help")
    await bot.stub.wait_for("sendMessage", since=mark)
    assert "/history" in (await bot.say(ALICE, "/help"))["text"]


async def test_feedback_more_songs_and_style(bot: Bot):
    msg = await bot.send_photo(ALICE, media.smiling_jpeg())
    (entry_id,) = bot.rows("SELECT id FROM readings")[0]
    first = set(links(msg))
    mark = bot.stub.mark()
    # A 👎 for the whole reply, from a message sent before songs were rated one by one.
    bot.stub.forge_button_press(ALICE, msg, f"fb:{entry_id}:down")
    (ack,) = await bot.stub.wait_for("answerCallbackQuery", since=mark)
    assert "remember" in ack.params["text"]
    disliked = {r[0] for r in bot.rows("SELECT artist FROM feedback WHERE value = -1")}
    assert len(disliked) == 5
    mark = bot.stub.mark()
    bot.stub.press_button(ALICE, msg, f"more:{entry_id}")
    more = await bot.reply(ALICE, since=mark)
    assert len(links(more)) == 5 and not first & set(links(more))
    assert bot.rows("SELECT count(*) FROM recommendations") == [(10,)]
    # Another user cannot leave feedback on Alice's reply.
    mark = bot.stub.mark()
    bot.stub.add_user(BOB)
    bot.stub.forge_button_press(BOB, msg, f"fb:{entry_id}:up")
    (answer,) = await bot.stub.wait_for("answerCallbackQuery", since=mark)
    assert "expired" in answer.params["text"]
    assert bot.rows("SELECT count(*) FROM feedback WHERE user_id = ?", BOB) == [(0,)]
    # Match/lift setting.
    menu = await bot.say(ALICE, "/style")
    mark = bot.stub.mark()
    bot.stub.press_button(ALICE, menu, "style:match")
    await bot.stub.wait_for("editMessageText", since=mark)
    assert bot.rows("SELECT strategy FROM users WHERE user_id = ?", ALICE) == [("match",)]


async def test_mood_command_without_selfie(bot: Bot):
    menu = await bot.say(ALICE, "/mood")
    mark = bot.stub.mark()
    bot.stub.press_button(ALICE, menu, "pick:exercise")
    songs = await bot.reply(ALICE, since=mark)
    assert len(links(songs)) == 5
    assert bot.rows("SELECT mood, source FROM readings") == [("exercise", "mood")]


async def test_share_buttons_and_correction(bot: Bot):
    msg = await bot.send_photo(ALICE, media.smiling_jpeg())
    rows = msg["reply_markup"]["inline_keyboard"]
    shares = [b["url"] for row in rows for b in row if b.get("url")]
    assert len(shares) == 5
    assert all(
        u.startswith("https://t.me/share/url?url=https%3A%2F%2Fopen.spotify.com") for u in shares
    )
    (entry_id,) = bot.rows("SELECT id FROM readings")[0]
    mark = bot.stub.mark()
    bot.stub.press_button(ALICE, msg, f"fix:{entry_id}")
    menu = await bot.reply(ALICE, since=mark)
    mark = bot.stub.mark()
    bot.stub.press_button(ALICE, menu, f"fix:{entry_id}:sad")
    redone = await bot.reply(ALICE, since=mark)
    assert "sad" in redone["text"] and len(links(redone)) == 5
    assert bot.rows("SELECT emotion, corrected_emotion FROM readings") == [("happy", "sad")]
    # Bob cannot correct Alice's reading, whatever he forges.
    mark = bot.stub.mark()
    bot.stub.add_user(BOB)
    bot.stub.forge_button_press(BOB, msg, f"fix:{entry_id}:angry")
    await bot.stub.wait_for("answerCallbackQuery", since=mark)
    assert bot.rows("SELECT corrected_emotion FROM readings") == [("sad",)]


async def test_export_sends_csv_and_json(bot: Bot):
    import csv
    import io
    import json

    await bot.send_photo(ALICE, media.smiling_jpeg())
    await bot.send_photo(BOB, media.smiling_jpeg())
    files = await exported_files(bot, ALICE, timeout=30)
    rows = list(csv.DictReader(io.StringIO(files["moodtune-export.csv"].decode())))
    assert len(rows) == 1 and rows[0]["emotion"] == "happy"
    data = json.loads(files["moodtune-export.json"])
    assert data["user_id"] == ALICE and len(data["readings"]) == 1
    assert len(data["readings"][0]["track_ids"]) == 5


@pytest.mark.parametrize("mode", ["429", "500", "hang"])
async def test_selfie_answered_from_catalog_when_spotify_fails(
    telegram_stub: TelegramStub, tmp_path, analyzer, recommender, mode
):
    """With Spotify configured but failing, the bot still answers with 5 catalog songs."""
    from recommender.spotify import LiveRecommender, SpotifyClient
    from tests.spotify_stub import SpotifyStub

    with SpotifyStub() as spotify:
        spotify.mode = mode
        settings = Settings(
            telegram_bot_token=telegram_stub.token,
            telegram_api_url=telegram_stub.root_url,
            database_path=tmp_path / "db.sqlite3",
            spotify_client_id="id",
            spotify_client_secret="secret",
            spotify_api_url=spotify.api_url,
            spotify_token_url=spotify.token_url,
            spotify_timeout=0.5,
        )
        client = SpotifyClient(
            settings.spotify_client_id,
            settings.spotify_client_secret,
            api_url=settings.spotify_api_url,
            token_url=settings.spotify_token_url,
            timeout=settings.spotify_timeout,
        )
        live = LiveRecommender(recommender.catalog, client)
        try:
            async with running(build_application(settings, analyzer, live)):
                await telegram_stub.wait_for("getUpdates", timeout=30)
                msg = await Bot(telegram_stub, settings.database_path).send_photo(
                    ALICE, media.smiling_jpeg()
                )
                assert len(set(links(msg))) == 5
                assert spotify.requests  # Spotify was really asked, and failed
        finally:
            client.close()


async def test_genres_are_saved_and_respected(bot: Bot):
    menu = await bot.say(ALICE, "/genres")
    labels = [b["text"] for row in menu["reply_markup"]["inline_keyboard"] for b in row]
    assert "Rock" in labels
    mark = bot.stub.mark()
    bot.stub.press_button(ALICE, menu, "genre:rock")
    await bot.stub.wait_for("editMessageReplyMarkup", since=mark)
    assert bot.rows("SELECT favourite_genres FROM users WHERE user_id = ?", ALICE) == [
        ('["rock"]',)
    ]
    genres = []
    for _ in range(3):
        msg = await bot.send_photo(ALICE, media.smiling_jpeg())
        from recommender.catalog import load_catalog

        cat = load_catalog()
        genres += [cat.get(u.rsplit("/", 1)[1]).genre for u in links(msg)]
    assert genres.count("rock") >= 8  # of 15; rock is ~1/6 of the catalog
    # A forged genre changes nothing.
    mark = bot.stub.mark()
    bot.stub.forge_button_press(ALICE, menu, "genre:polka")
    await bot.stub.wait_for("answerCallbackQuery", since=mark)
    assert bot.rows("SELECT favourite_genres FROM users WHERE user_id = ?", ALICE) == [
        ('["rock"]',)
    ]


async def test_history_pages_and_30_day_view(bot: Bot):
    from datetime import UTC, datetime, timedelta

    from bot.storage import Storage

    now = datetime.now(UTC)
    async with await Storage.open(bot.db) as store:
        for days_ago, emotion in [
            (0, "happy"),
            (1, "sad"),
            (9, "angry"),
            (10, "angry"),
            (20, "fear"),
        ]:
            await store.add_reading(
                ALICE, emotion=emotion, confidence=0.9,
                probabilities={emotion: 0.9}, at=now - timedelta(days=days_ago, minutes=1),
            )  # fmt: skip
    mark = bot.stub.mark()
    bot.stub.send_text(ALICE, "/history")
    week = await bot.reply(ALICE, since=mark)
    assert "2" in week["text"] and "happy" in week["text"]
    mark = bot.stub.mark()
    bot.stub.press_button(ALICE, week, "hist:7:1")
    earlier = await bot.reply(ALICE, since=mark)
    assert "angry" in earlier["text"] and "happy" not in earlier["text"].split("\n")[0]
    mark = bot.stub.mark()
    bot.stub.press_button(ALICE, week, "hist:30:0")
    month = await bot.reply(ALICE, since=mark)
    photo = await bot.reply(ALICE, since=mark, method="sendPhoto")
    assert photo["photo"] and "5" in month["text"]
    # A forged press on Alice's message by Bob is refused and sends nothing anywhere.
    bot.stub.add_user(BOB)
    mark = bot.stub.mark()
    bot.stub.forge_button_press(BOB, week, "hist:30:0")
    (answer,) = await bot.stub.wait_for("answerCallbackQuery", since=mark)
    assert "expired" in answer.params["text"]
    await bot.stub.expect_no_call("sendMessage", within=0.5)
    await bot.stub.expect_no_call("sendPhoto", within=0.1)


async def test_settings_time_zone(bot: Bot):
    menu = await bot.say(ALICE, "/settings")
    assert "UTC" in menu["text"]
    mark = bot.stub.mark()
    bot.stub.press_button(ALICE, menu, "tz:Etc/GMT-2")
    (edited,) = await bot.stub.wait_for("editMessageText", since=mark)
    assert "UTC+2" in edited.params["text"] and "Etc/GMT" not in edited.params["text"]
    assert bot.rows("SELECT timezone FROM users WHERE user_id = ?", ALICE) == [("Etc/GMT-2",)]
    reply = await bot.say(ALICE, "/settings Europe/Berlin")
    assert "Berlin · UTC+" in reply["text"]
    bad = await bot.say(ALICE, "/settings Mars/Olympus")
    assert "don't know that place or time zone" in bad["text"]
    assert bot.rows("SELECT timezone FROM users WHERE user_id = ?", ALICE) == [("Europe/Berlin",)]
    # City names as people write them, in any of our languages, and half-hour offsets.
    for typed, key, shown in (
        ("Seoul", "Asia/Seoul", "Seoul · UTC+9"),
        ("서울", "Asia/Seoul", "Seoul · UTC+9"),
        ("Ciudad de México", "America/Mexico_City", "Mexico City · UTC-6"),
        ("UTC+5:30", "Asia/Kolkata", "Kolkata · UTC+5:30"),
    ):
        reply = await bot.say(ALICE, f"/settings {typed}")
        assert shown in reply["text"], typed
        assert bot.rows("SELECT timezone FROM users WHERE user_id = ?", ALICE) == [(key,)]


async def test_reminders_are_scheduled_and_rebuilt_after_restart(
    telegram_stub: TelegramStub, tmp_path, analyzer, recommender
):
    settings = Settings(
        telegram_bot_token=telegram_stub.token,
        telegram_api_url=telegram_stub.root_url,
        database_path=tmp_path / "db.sqlite3",
    )
    for restart in range(2):
        app = build_application(settings, analyzer, recommender)
        mark = telegram_stub.mark()
        async with running(app):
            await telegram_stub.wait_for("getUpdates", timeout=30, since=mark)
            harness = Bot(telegram_stub, settings.database_path, app)
            if restart == 0:
                assert "08:30" in (await harness.say(ALICE, "/remind 8:30"))["text"]
                assert "Sun" in (await harness.say(ALICE, "/remind weekly sunday"))["text"]
            names = {j.name for j in app.job_queue.jobs()}
            assert {f"remind:{ALICE}", f"weekly:{ALICE}"} <= names, (restart, names)
            if restart == 1:
                await harness.say(ALICE, "/remind off")
                await asyncio.sleep(0.1)
                names = {j.name for j in app.job_queue.jobs() if not j.removed}
                assert f"remind:{ALICE}" not in names
                assert bot_rows(settings.database_path) == [(None, None)]


def bot_rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT remind_at, weekly_day FROM users").fetchall()


async def test_inline_mode_offers_personal_songs(bot: Bot):
    msg = await bot.send_photo(ALICE, media.smiling_jpeg())
    mark = bot.stub.mark()
    bot.stub.inline_query(ALICE, "")
    (answer,) = await bot.stub.wait_for("answerInlineQuery", since=mark)
    assert answer.params["is_personal"] is True
    urls = [r["url"] for r in answer.params["results"]]
    assert set(urls) == set(links(msg))
    mark = bot.stub.mark()
    bot.stub.inline_query(ALICE, "sad")
    (answer,) = await bot.stub.wait_for("answerInlineQuery", since=mark)
    assert len(answer.params["results"]) == 10
    text = answer.params["results"][0]["input_message_content"]["message_text"]
    assert "https://open.spotify.com/track/" in text
    # Bob's inline query never shows Alice's songs.
    mark = bot.stub.mark()
    bot.stub.inline_query(BOB, "")
    (answer,) = await bot.stub.wait_for("answerInlineQuery", since=mark)
    assert answer.params["results"] == []


async def test_export_of_1000_readings_and_delete_leaves_others(bot: Bot):
    import csv
    import io
    import json
    from datetime import UTC, datetime, timedelta

    from bot.storage import Storage

    now = datetime.now(UTC)
    async with await Storage.open(bot.db) as store:
        for i in range(1000):
            await store.add_reading(
                ALICE, emotion="sad", confidence=0.7, probabilities={"sad": 0.7, "happy": 0.3},
                track_ids=[f"{i:022d}"], at=now - timedelta(minutes=i),
            )  # fmt: skip
        for _ in range(3):
            await store.add_reading(BOB, emotion="happy", confidence=0.8,
                                    probabilities={"happy": 0.8}, at=now)  # fmt: skip
    files = await exported_files(bot, ALICE, timeout=60)
    rows = list(csv.DictReader(io.StringIO(files["moodtune-export.csv"].decode())))
    assert len(rows) == 1000 and {r["emotion"] for r in rows} == {"sad"}
    data = json.loads(files["moodtune-export.json"])
    assert len(data["readings"]) == 1000
    assert sum(len(r["track_ids"]) for r in data["readings"]) == 1000
    before_bob = bot.rows("SELECT * FROM readings WHERE user_id = ?", BOB)
    confirm = await bot.say(ALICE, "/delete")
    mark = bot.stub.mark()
    bot.stub.press_button(ALICE, confirm, "del:yes")
    await bot.stub.wait_for("editMessageText", since=mark)
    for table in ("readings", "users", "feedback"):
        assert bot.rows(f"SELECT count(*) FROM {table} WHERE user_id = ?", ALICE) == [(0,)]
    assert bot.rows("SELECT count(*) FROM recommendations") == [(0,)]
    assert bot.rows("SELECT * FROM readings WHERE user_id = ?", BOB) == before_bob


async def test_first_selfie_carries_the_privacy_notice_and_corrections_are_counted(
    bot: Bot, tmp_path
):
    welcome = (await bot.say(ALICE, "/start"))["text"]
    first = await bot.send_photo(ALICE, media.smiling_jpeg())
    # The welcome's disclaimer is not said again; the first reading points to the diary.
    assert "expression, not what you feel" in welcome and "/history" in first["text"]
    assert "feelings" not in first["text"] and "/privacy" not in first["text"]
    second = await bot.send_photo(ALICE, media.smiling_jpeg())
    assert "/history" not in second["text"]
    (entry_id,) = bot.rows("SELECT id FROM readings ORDER BY id")[0]
    menu_mark = bot.stub.mark()
    bot.stub.press_button(ALICE, first, f"fix:{entry_id}")
    menu = await bot.reply(ALICE, since=menu_mark)
    mark = bot.stub.mark()
    bot.stub.press_button(ALICE, menu, f"fix:{entry_id}:surprise")
    await bot.reply(ALICE, since=mark)
    out = tmp_path / "corrections.csv"
    from tests.test_cli import moodtune

    run = moodtune("corrections", "--csv", str(out), env={"DATABASE_PATH": str(bot.db)})
    assert run.returncode == 0 and "1 of 2 face readings corrected" in run.stderr
    lines = out.read_text().splitlines()
    assert len(lines) == 2 and "happy" in lines[1] and "surprise" in lines[1]
    assert str(ALICE) not in out.read_text()


async def test_history_with_fixed_clock_and_time_zone(
    telegram_stub: TelegramStub, tmp_path, analyzer, recommender
):
    """Readings over several weeks; 23:30 UTC on the 13th is the 14th in UTC+2."""
    from datetime import UTC, datetime

    from bot.storage import Storage

    now = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
    db = tmp_path / "db.sqlite3"
    async with await Storage.open(db) as store:
        await store.set_timezone(ALICE, "Etc/GMT-2")
        for when, emotion in [
            (datetime(2026, 3, 13, 23, 30, tzinfo=UTC), "sad"),  # local: Sat 14
            (datetime(2026, 3, 14, 9, 0, tzinfo=UTC), "sad"),
            (datetime(2026, 3, 15, 8, 0, tzinfo=UTC), "happy"),
            (datetime(2026, 3, 5, 10, 0, tzinfo=UTC), "angry"),  # the week before
            (datetime(2026, 2, 20, 10, 0, tzinfo=UTC), "fear"),  # weeks earlier
        ]:
            await store.add_reading(
                ALICE, emotion=emotion, confidence=0.8, probabilities={emotion: 0.8},
                track_ids=["0" * 22], at=when,
            )  # fmt: skip
    settings = Settings(
        telegram_bot_token=telegram_stub.token,
        telegram_api_url=telegram_stub.root_url,
        database_path=db,
    )
    async with running(build_application(settings, analyzer, recommender, clock=lambda: now)):
        await telegram_stub.wait_for("getUpdates", timeout=30)
        bot = Bot(telegram_stub, db)
        mark = telegram_stub.mark()
        telegram_stub.send_text(ALICE, "/week")
        photo = await bot.reply(ALICE, since=mark, method="sendPhoto")
        text = (await bot.reply(ALICE, since=mark))["text"]
        assert "9 Mar – 13 Mar · 5 quiet days" in text  # the late reading moved to Saturday
        assert "Sat 14 · 😢 sad" in text
        assert "Sun 15 · 😊 happy" in text
        assert "3 readings on 2 of 7 days" in text
        assert "angry 1 → 0" in text
        png = telegram_stub.file_bytes(photo["photo"][-1]["file_id"])
        import io

        from PIL import Image

        img = Image.open(io.BytesIO(png))
        assert img.format == "PNG" and img.size[0] >= 800 and len(png) < 300_000
