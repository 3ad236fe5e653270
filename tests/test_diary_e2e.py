"""Issue 19 through the real bot and the Bot API stand-in: honest history, the month's
calendar, notes, round video selfies, the read that learns a face."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from bot.app import build_application
from bot.charts import PALETTE, UNSURE_COLOUR
from bot.settings import Settings
from bot.storage import Storage
from models.emotion import Emotion
from tests import media
from tests.telegram_stub import TelegramStub
from tests.test_bot_e2e import ALICE, Bot, exported_files, running


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


def _colours(png: bytes) -> set[tuple[int, int, int]]:
    return set(Image.open(io.BytesIO(png)).convert("RGB").getdata())


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))


async def _history(bot: Bot, user: int, command: str = "/history") -> tuple[dict, bytes | None]:
    mark = bot.stub.mark()
    bot.stub.send_text(user, command)
    text = await bot.reply(user, since=mark)
    photos = bot.stub.calls("sendPhoto", since=mark)
    png = bot.stub.file_bytes(photos[0].result["photo"][-1]["file_id"]) if photos else None
    return text, png


async def test_an_unsure_reading_is_history_as_unsure_in_text_and_chart(bot: Bot):
    now = datetime.now(UTC)
    async with await Storage.open(bot.db) as store:
        await store.add_reading(
            ALICE, emotion="angry", confidence=0.31, probabilities={"angry": 0.31, "sad": 0.3},
            at=now - timedelta(minutes=5), unsure=True,
        )  # fmt: skip
    text, png = await _history(bot, ALICE)
    assert "🤔 unsure" in text["text"] and "angry" not in text["text"]
    assert "days before" not in text["text"]  # nothing the week before: no comparison
    assert png is not None
    colours = _colours(png)
    assert _rgb(UNSURE_COLOUR) in colours and _rgb(PALETTE[Emotion.ANGRY]) not in colours


async def test_export_after_delete_says_there_is_nothing(bot: Bot):
    nothing = await bot.say(ALICE, "/export")
    assert "nothing to export" in nothing["text"]
    await bot.send_photo(ALICE, media.smiling_jpeg())
    files = await exported_files(bot, ALICE, timeout=30)
    assert len(json.loads(files["moodtune-export.json"])["readings"]) == 1
    confirm = await bot.say(ALICE, "/delete")
    mark = bot.stub.mark()
    bot.stub.press_button(ALICE, confirm, "del:yes")
    await bot.stub.wait_for("editMessageText", since=mark)
    mark = bot.stub.mark()
    after = await bot.say(ALICE, "/export")
    assert "nothing to export" in after["text"]
    assert bot.stub.calls("sendDocument", since=mark) == []


async def test_remind_understands_8am_and_hints_otherwise(bot: Bot):
    assert "08:00" in (await bot.say(ALICE, "/remind 8am"))["text"]
    assert "20:30" in (await bot.say(ALICE, "/remind 8:30 pm"))["text"]
    assert bot.rows("SELECT remind_at FROM users WHERE user_id = ?", ALICE) == [("20:30",)]
    hint = (await bot.say(ALICE, "/remind 25 o'clock"))["text"]
    assert "didn't understand" in hint and "/remind 8am" in hint
    assert bot.rows("SELECT remind_at FROM users WHERE user_id = ?", ALICE) == [("20:30",)]


async def test_30_day_view_is_a_calendar(bot: Bot):
    now = datetime.now(UTC)
    async with await Storage.open(bot.db) as store:
        for days_ago in (0, 1, 2):
            await store.add_reading(ALICE, emotion="sad", confidence=0.9,
                                    probabilities={"sad": 0.9}, at=now - timedelta(days=days_ago))  # fmt: skip
    week, _ = await _history(bot, ALICE)
    mark = bot.stub.mark()
    bot.stub.press_button(ALICE, week, "hist:30:0")
    month = await bot.reply(ALICE, since=mark)
    photo = await bot.reply(ALICE, since=mark, method="sendPhoto")
    png = bot.stub.file_bytes(photo["photo"][-1]["file_id"])
    image = Image.open(io.BytesIO(png))
    assert image.width == 1000 and image.height > 900  # the calendar, not the 30 bars
    assert _rgb(PALETTE[Emotion.SAD]) in _colours(png)
    assert "quiet days" in month["text"] and "· —" not in month["text"]
    assert "-" not in photo.get("caption", "").replace("–", "")  # no ISO dates in the caption
