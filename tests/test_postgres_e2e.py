"""The bot end to end with polling on PostgreSQL (DATABASE_URL): the same scenarios as on
SQLite, with the diary and the update journal on the server."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from bot.app import build_application
from bot.settings import Settings
from tests import media
from tests.e2e import ALICE, BOB, NOW, Bot, links, running, ticking
from tests.telegram_stub import TelegramStub
from tests.test_bot_e2e import neutral_face

__all__ = ["neutral_face"]  # the fixture, shared with the SQLite suite


@pytest.fixture
async def pg_bot(telegram_stub: TelegramStub, postgres_url, analyzer, recommender):
    settings = Settings(
        telegram_bot_token=telegram_stub.token,
        telegram_api_url=telegram_stub.root_url,
        database_path=Path("/nonexistent/unused.sqlite3"),  # DATABASE_URL wins
        database_url=postgres_url,
    )
    app = build_application(settings, analyzer, recommender, clock=ticking(NOW))
    async with running(app):
        await telegram_stub.wait_for("getUpdates", timeout=30)
        yield Bot(telegram_stub, settings.database, app)


async def rows(url: str, sql: str, *args) -> list[tuple]:
    con = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await con.fetch(sql, *args)]
    finally:
        await con.close()


async def test_selfie_mood_question_and_delete_on_postgres(pg_bot: Bot, postgres_url, neutral_face):
    msg = await pg_bot.send_photo(ALICE, media.smiling_jpeg())
    assert "happy" in msg["text"] and len(links(msg)) == 5
    stored = {r[0] for r in await rows(postgres_url, "SELECT track_id FROM recommendations")}
    assert {u.rsplit("/", 1)[1] for u in links(msg)} == stored
    # A neutral face asks for a mood; the answer counts once, however often it is pressed.
    question = await pg_bot.send_photo(ALICE, neutral_face)
    buttons = [b for row in question["reply_markup"]["inline_keyboard"] for b in row]
    data = next(b["callback_data"] for b in buttons if "Relaxing" in b["text"])
    mark = pg_bot.stub.mark()
    pg_bot.stub.press_button(ALICE, question, data)
    pg_bot.stub.press_button(ALICE, question, data)
    assert len(links(await pg_bot.reply(ALICE, since=mark))) == 5
    await pg_bot.stub.wait_for("answerCallbackQuery", since=mark, count=2)
    moods = await rows(postgres_url, "SELECT mood FROM readings WHERE mood IS NOT NULL")
    assert moods == [("relaxing",)]
    # /delete erases Alice and no one else.
    await pg_bot.send_photo(BOB, media.smiling_jpeg())
    confirm = await pg_bot.say(ALICE, "/delete")
    mark = pg_bot.stub.mark()
    pg_bot.stub.press_button(ALICE, confirm, "del:yes")
    await pg_bot.stub.wait_for("editMessageText", since=mark)
    assert await rows(postgres_url, "SELECT DISTINCT user_id FROM readings") == [(BOB,)]
    # Every update went through the journal on the server: 2 photos, 2 presses, Bob's photo,
    # /delete and its confirmation.
    assert await rows(postgres_url, "SELECT count(*) FROM updates") == [(7,)]
