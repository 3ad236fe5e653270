"""Songs end to end: per-song 👍/👎 on the buttons, why-lines, language, genre families."""

from __future__ import annotations

import pytest

from recommender.catalog import Catalog, load_catalog
from recommender.engine import Recommender
from recommender.track import Track
from tests import media
from tests.e2e import ALICE, BOB, Bot, links

FIVE = [
    Track(id=f"{i:022d}", title=f"Song {i}", artist=f"Artist {i}", genre=genre)
    for i, genre in enumerate(("pop", "pop", "rock", "jazz", "acoustic"))
]


@pytest.fixture
async def tiny_bot(start_bot) -> Bot:
    """The bot with a five-song catalog: every reply is all five unless some are refused."""
    return await start_bot(Recommender(Catalog(FIVE)))


def keyboard(message: dict) -> list[list[dict]]:
    return message["reply_markup"]["inline_keyboard"]


def ids(message: dict) -> list[str]:
    return [u.rsplit("/", 1)[1] for u in links(message)]


async def press(bot: Bot, user: int, message: dict, data: str) -> tuple[str, dict]:
    """Press a button that changes its message: the answer's text, and the message as edited."""
    mark = bot.stub.mark()
    bot.stub.press_button(user, message, data)
    (answer,) = await bot.stub.wait_for("answerCallbackQuery", since=mark)
    (edit,) = await bot.stub.wait_for("editMessageReplyMarkup", since=mark)
    assert edit.ok, edit
    return answer.params.get("text", ""), edit.result


async def test_a_song_rated_shows_on_its_button_and_a_second_press_undoes_it(tiny_bot: Bot):
    bot = tiny_bot
    msg = await bot.send_photo(ALICE, media.smiling_jpeg())
    songs = ids(msg)
    (entry_id,) = bot.rows("SELECT id FROM readings")[0]
    rows = keyboard(msg)
    # One row per song, in the order of the list: "n 👍", "👎", share.
    assert [[b["text"] for b in row] for row in rows[:5]] == [
        [f"{n} 👍", "👎", "📤"] for n in range(1, 6)
    ]
    assert [row[0]["callback_data"] for row in rows[:5]] == [
        f"rate:{entry_id}:{t}:up" for t in songs
    ]
    assert all(row[2]["url"].startswith("https://t.me/share/url?") for row in rows[:5])

    disliked = songs[1]
    text, edited = await press(bot, ALICE, msg, f"rate:{entry_id}:{disliked}:down")
    assert "won't suggest it again" in text
    assert [b["text"] for b in keyboard(edited)[1]] == ["2 👍", "✅ 👎", "📤"]
    assert keyboard(edited)[1][1]["callback_data"] == f"rate:{entry_id}:{disliked}:undo"
    assert keyboard(edited)[2:] == rows[2:] and keyboard(edited)[0] == rows[0]
    assert bot.rows("SELECT user_id, track_id, value FROM feedback") == [(ALICE, disliked, -1)]

    # Her next replies leave that song (and its artist) out; Bob's have it.
    for _ in range(2):
        more = await bot_more(bot, ALICE, edited, entry_id)
        assert len(ids(more)) == 4 and disliked not in ids(more)
    assert disliked in ids(await bot.send_photo(BOB, media.smiling_jpeg()))

    # The pressed button takes it back: the label and the song return.
    text, undone = await press(bot, ALICE, edited, f"rate:{entry_id}:{disliked}:undo")
    assert "taken back" in text
    assert keyboard(undone) == rows
    assert bot.rows("SELECT count(*) FROM feedback") == [(0,)]
    assert disliked in ids(await bot_more(bot, ALICE, undone, entry_id))


async def bot_more(bot: Bot, user: int, message: dict, entry_id: int) -> dict:
    mark = bot.stub.mark()
    bot.stub.press_button(user, message, f"more:{entry_id}")
    return await bot.reply(user, since=mark)


async def test_like_then_change_of_mind_and_nobody_else_can_rate(bot: Bot):
    msg = await bot.send_photo(ALICE, media.smiling_jpeg())
    songs = ids(msg)
    (entry_id,) = bot.rows("SELECT id FROM readings")[0]
    text, liked = await press(bot, ALICE, msg, f"rate:{entry_id}:{songs[0]}:up")
    assert "more like it" in text
    assert [b["text"] for b in keyboard(liked)[0]] == ["1 ✅ 👍", "👎", "📤"]
    _, flipped = await press(bot, ALICE, liked, f"rate:{entry_id}:{songs[0]}:down")
    assert [b["text"] for b in keyboard(flipped)[0]] == ["1 👍", "✅ 👎", "📤"]
    assert bot.rows("SELECT track_id, value FROM feedback") == [(songs[0], -1)]
    # Bob forging a press on Alice's message, Alice rating a song she was never given, and
    # malformed data: all refused, nothing stored, no edit.
    bot.stub.add_user(BOB)
    for user, data in (
        (BOB, f"rate:{entry_id}:{songs[1]}:up"),
        (ALICE, f"rate:{entry_id}:{'7' * 22}:up"),
        (ALICE, f"rate:{entry_id}:{songs[1]}:sideways"),
        (ALICE, f"rate:{entry_id}:{songs[1][:21]}:up"),
    ):
        mark = bot.stub.mark()
        bot.stub.forge_button_press(user, flipped, data)
        (answer,) = await bot.stub.wait_for("answerCallbackQuery", since=mark)
        assert "expired" in answer.params["text"]
        assert not bot.stub.calls("editMessageReplyMarkup", since=mark)
    assert bot.rows("SELECT user_id, track_id, value FROM feedback") == [(ALICE, songs[0], -1)]


async def test_replies_say_why_these_songs(bot: Bot):
    msg = await bot.send_photo(ALICE, media.smiling_jpeg())
    assert "\n\n🎵 Lively, upbeat — to keep the good mood going\n1. " in msg["text"]
    menu = await bot.say(ALICE, "/mood")
    mark = bot.stub.mark()
    bot.stub.press_button(ALICE, menu, "pick:relaxing")
    relaxing = await bot.reply(ALICE, since=mark)
    assert "it is!\n🎵 Calm, acoustic, slow — to help you unwind\n1. " in relaxing["text"]
    assert any(e["type"] == "italic" for e in relaxing["entities"])


async def test_the_telegram_language_brings_music_from_its_region(bot: Bot):
    kpop = {t.id for t in load_catalog() if t.language == "ko"}
    bot.stub.set_language(ALICE, "ko")
    msg = await bot.send_photo(ALICE, media.smiling_jpeg())
    assert kpop & set(ids(msg))
    (entry_id,) = bot.rows("SELECT id FROM readings")[0]
    assert kpop & set(ids(await bot_more(bot, ALICE, msg, entry_id)))
    mark = bot.stub.mark()
    bot.stub.press_button(ALICE, msg, f"fix:{entry_id}")
    menu = await bot.reply(ALICE, since=mark)
    mark = bot.stub.mark()
    bot.stub.press_button(ALICE, menu, f"fix:{entry_id}:surprise")
    assert kpop & set(ids(await bot.reply(ALICE, since=mark)))
    menu = await bot.say(ALICE, "/mood")
    mark = bot.stub.mark()
    bot.stub.press_button(ALICE, menu, "pick:party")
    assert kpop & set(ids(await bot.reply(ALICE, since=mark)))


async def test_genres_offers_the_families_toggled_per_person(bot: Bot):
    menu = await bot.say(ALICE, "/genres")
    rows = keyboard(menu)
    labels = [b["text"] for row in rows for b in row]
    for label in ("Pop", "K-pop", "Ambient / chill / lo-fi", "Classical / piano", "Jazz / blues"):
        assert label in labels
    assert len(labels) >= 15 and max(len(row) for row in rows) == 2
    _, ticked = await press(bot, ALICE, menu, "genre:k-pop")
    assert "✅ K-pop" in [b["text"] for row in keyboard(ticked) for b in row]
    assert bot.rows("SELECT favourite_genres FROM users WHERE user_id = ?", ALICE) == [
        ('["k-pop"]',)
    ]
    bob_menu = await bot.say(BOB, "/genres")  # Bob's menu has nothing ticked
    assert not [b for row in keyboard(bob_menu) for b in row if "✅" in b["text"]]
    _, unticked = await press(bot, ALICE, ticked, "genre:k-pop")
    assert keyboard(unticked) == rows
