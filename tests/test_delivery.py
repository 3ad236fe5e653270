"""Issue 15 against the real bot and the Bot API stand-in, on each delivery: Telegram faults,
poison updates, group chats, edits and channel posts, and hostile command arguments."""

from __future__ import annotations

import pytest

from bot import handlers, replies
from bot.delivery import ALLOWED_UPDATES
from tests import media
from tests.e2e import ALICE, BOB, Bot, links
from tests.telegram_stub import Call

GROUP, CHANNEL = -100123, -100777


def sent_to(bot: Bot, chat_id: int, method: str = "sendMessage", since: int = 0) -> list[Call]:
    """Every successful `method` call to this chat (since the test began, or `since`)."""
    calls = bot.stub.calls(method, since=since)
    return [c for c in calls if c.ok and c.params["chat_id"] == chat_id]


async def answer(bot: Bot, user_id: int, since: int) -> dict:
    """The first reply that got through to this person (failed attempts are skipped)."""
    (call,) = await bot.stub.wait_for(
        "sendMessage", lambda c: c.ok and c.params["chat_id"] == user_id, since=since, timeout=30
    )
    return call.result


async def selfie_answered_once(bot: Bot, user_id: int = ALICE) -> dict:
    mark = bot.stub.mark()
    bot.stub.send_photo(user_id, media.smiling_jpeg())
    reply = await answer(bot, user_id, since=mark)
    assert "happy" in reply["text"] and len(links(reply)) == 5
    await bot.stub.expect_no_call("sendDocument", within=0.3)  # let any duplicate show up
    assert len(sent_to(bot, user_id, since=mark)) == 1, sent_to(bot, user_id, since=mark)
    assert bot.rows("SELECT count(*) FROM readings WHERE user_id = ?", user_id) == [(1,)]
    return reply


# -- delivery -----------------------------------------------------------------------------


async def test_asks_telegram_only_for_the_update_types_it_handles(bot: Bot):
    await bot.say(ALICE, "/help")
    assert bot.stub.allowed_updates() == list(ALLOWED_UPDATES)
    assert set(ALLOWED_UPDATES) == {"message", "callback_query", "inline_query"}


async def test_a_redelivered_update_is_handled_once(bot: Bot):
    update = bot.stub.send_photo(ALICE, media.smiling_jpeg())
    await bot.reply(ALICE, since=0)
    bot.stub.push_update(update)  # the same update_id again, as after a lost confirmation
    bot.stub.push_update(update)
    # Bob's message comes after both copies, so once he is answered they were fetched.
    assert "/history" in (await bot.say(BOB, "/help"))["text"]
    bot.stub.mark()
    await bot.stub.expect_no_call("sendMessage", within=0.3)
    assert len(sent_to(bot, ALICE)) == 1
    assert bot.rows("SELECT count(*) FROM readings") == [(1,)]


POISON = {
    "poll-answer-without-persistent-ids": {
        "poll_answer": {
            "poll_id": "5",
            "user": {"id": ALICE, "is_bot": False, "first_name": "A"},
            "option_ids": [0],
        }
    },
    "message-date-as-text": {
        "message": {
            "message_id": 1, "date": "yesterday", "text": "/help",
            "chat": {"id": ALICE, "type": "private", "first_name": "A"},
        }
    },
    "user-without-name": {
        "message": {
            "message_id": 1, "date": 1, "text": "/export", "from": {"id": ALICE},
            "chat": {"id": ALICE, "type": "private", "first_name": "A"},
        }
    },
}  # fmt: skip


@pytest.mark.parametrize("poison", POISON.values(), ids=POISON.keys())
async def test_poison_update_is_skipped_and_others_are_answered(bot: Bot, poison):
    bot.stub.add_user(ALICE)
    bot.stub.push_update(poison)
    assert "/history" in (await bot.say(BOB, "/help"))["text"]
    await selfie_answered_once(bot, BOB)
    # Confirmed to Telegram, not fetched again and again: few polls, each past the poison.
    polls = bot.stub.calls("getUpdates", since=0)
    assert len(polls) < 50
    assert not sent_to(bot, ALICE)


# -- Telegram faults ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        lambda s: s.flood("sendMessage", retry_after=1, times=2),
        lambda s: s.fail("sendMessage", 502, "Bad Gateway", times=3),
        lambda s: s.fail("sendMessage", 500, "Internal Server Error", times=1),
        lambda s: s.drop("sendMessage", times=2),
        lambda s: s.fail("getFile", 502, "Bad Gateway", times=2),
        lambda s: s.drop("getFile", times=1),
        lambda s: s.fail("download", 502, "Bad Gateway", times=2),
        lambda s: s.drop("download", times=1),
    ],
    ids=[
        "429", "502", "500", "dropped", "getFile-502", "getFile-dropped", "download-502",
        "download-dropped",
    ],
)  # fmt: skip
async def test_selfie_answered_once_after_a_brief_fault(bot: Bot, fault):
    fault(bot.stub)
    await selfie_answered_once(bot)


async def test_selfie_answered_once_when_typing_is_flood_limited(bot: Bot, monkeypatch):
    monkeypatch.setattr(handlers, "TYPING_AFTER", 0.0)  # "typing..." at once, for every selfie
    bot.stub.flood("sendChatAction", retry_after=60, times=1)
    await selfie_answered_once(bot)
    assert bot.stub.calls("sendChatAction", since=0), "the flooded call was never made"


@pytest.mark.polling_only(reason="asserts getUpdates went on while the reply waited")
async def test_flood_control_waits_retry_after(bot: Bot):
    bot.stub.flood("sendMessage", retry_after=1, times=1)
    await selfie_answered_once(bot)
    failed, sent = [c for c in bot.stub.calls("sendMessage", since=0)][-2:]
    assert failed.error["error_code"] == 429 and sent.ok
    # The stub records calls in order; the retry came only after the second had passed.
    polls_between = [
        c for c in bot.stub.calls("getUpdates", since=0) if failed.seq < c.seq < sent.seq
    ]
    assert polls_between  # the bot kept polling (nobody else waits) while Alice's reply waited


@pytest.mark.parametrize(
    "fault",
    [
        lambda s: s.fail("download", 502, "Bad Gateway", times=10),
        lambda s: s.fail("getFile", 400, "Bad Request: invalid file_id", times=1),
    ],
    ids=["download-keeps-failing", "getFile-refused"],
)
async def test_photo_that_cannot_be_fetched_gets_a_clear_reply(bot: Bot, fault):
    fault(bot.stub)
    mark = bot.stub.mark()
    bot.stub.send_photo(ALICE, media.smiling_jpeg())
    reply = await bot.reply(ALICE, since=mark)
    assert reply["text"] == replies.PHOTO_NOT_FETCHED
    assert bot.rows("SELECT count(*) FROM readings") == [(0,)]
    assert len(sent_to(bot, ALICE)) == 1


async def test_download_stops_at_the_byte_cap(bot: Bot):
    """A getFile that does not say the size: the body is refused once it passes the cap."""
    big = media.smiling_jpeg() + b"\0" * (bot.app.bot_data.settings.max_image_bytes + 1)
    bot.stub.add_hook("getFile", lambda p: bot.stub.hide_file_size(p["file_id"]))
    mark = bot.stub.mark()
    bot.stub.send_document(ALICE, big, "me.jpg", "image/jpeg")
    reply = await bot.reply(ALICE, since=mark)
    assert "too large" in reply["text"]
    assert bot.rows("SELECT count(*) FROM readings") == [(0,)]


# -- private by default -------------------------------------------------------------------


def note_in_group(call: Call) -> bool:
    (button,) = [b for row in call.params["reply_markup"]["inline_keyboard"] for b in row]
    return call.params["text"] == replies.GROUP_NOTE and button["url"].startswith("https://t.me/")


@pytest.mark.parametrize("command", ["/export", "/history", "/settings", "/delete", "/remind 8:00"])
async def test_personal_commands_in_a_group_get_a_note_and_no_data(bot: Bot, command):
    await bot.send_photo(ALICE, media.smiling_jpeg())  # Alice has data to leak
    mark = bot.stub.mark()
    bot.stub.send_to_group(ALICE, GROUP, text=command)
    (note,) = await bot.stub.wait_for("sendMessage", lambda c: c.params["chat_id"] == GROUP)
    assert note_in_group(note)
    await bot.stub.expect_no_call("sendDocument", within=0.3)
    assert not bot.stub.calls("sendPhoto", since=mark)
    assert len(sent_to(bot, GROUP)) == 1
    assert bot.rows("SELECT timezone, remind_at FROM users") == [("UTC", None)]


async def test_selfie_in_a_group_is_not_read(bot: Bot):
    mark = bot.stub.mark()
    bot.stub.group_photo(ALICE, GROUP, media.smiling_jpeg())
    (note,) = await bot.stub.wait_for("sendMessage", lambda c: c.params["chat_id"] == GROUP)
    assert note_in_group(note)
    assert not bot.stub.calls("getFile", since=mark) and not bot.stub.calls("download", since=mark)
    assert bot.rows("SELECT count(*) FROM readings") == [(0,)]


async def test_group_chatter_is_left_alone(bot: Bot):
    bot.stub.send_to_group(ALICE, GROUP, text="anyone up for lunch?")
    assert "/history" in (await bot.say(BOB, "/help"))["text"]
    assert not sent_to(bot, GROUP)


async def test_message_without_a_sender_gets_the_note_not_an_error(bot: Bot):
    on_behalf = {"id": GROUP, "type": "supergroup", "title": "Group"}
    bot.stub.send_to_group(None, GROUP, sender_chat=on_behalf, text="/history")
    (note,) = await bot.stub.wait_for("sendMessage", lambda c: c.params["chat_id"] == GROUP)
    assert note_in_group(note)
    assert bot.rows("SELECT count(*) FROM users") == [(0,)]


async def test_channel_post_is_not_answered(bot: Bot):
    bot.stub.channel_post(CHANNEL, photo=bot.stub.user_photo_sizes(media.smiling_jpeg()))
    bot.stub.channel_post(CHANNEL, text="/export")
    assert "/history" in (await bot.say(BOB, "/help"))["text"]
    assert not sent_to(bot, CHANNEL) and not bot.stub.calls("getFile", since=0)
    assert bot.rows("SELECT count(*) FROM readings") == [(0,)]


async def test_edited_photo_is_not_read_again(bot: Bot):
    update = bot.stub.send_photo(ALICE, media.smiling_jpeg())
    await bot.reply(ALICE, since=0)
    mark = bot.stub.mark()
    new_photo = bot.stub.user_photo_sizes(media.smiling_jpeg())
    bot.stub.edit_message(ALICE, update["message"], photo=new_photo, caption="better one")
    assert "/history" in (await bot.say(BOB, "/help"))["text"]
    assert not bot.stub.calls("getFile", since=mark)
    assert len(sent_to(bot, ALICE)) == 1
    assert bot.rows("SELECT count(*) FROM readings") == [(1,)]


# -- hostile input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/settings Europe", replies.UNKNOWN_TIMEZONE),
        ("/settings " + "A" * 300, replies.UNKNOWN_TIMEZONE),
        ("/settings Europe/" + "x" * 300, replies.UNKNOWN_TIMEZONE),
        ("/settings ../../etc/passwd", replies.UNKNOWN_TIMEZONE),
        ("/remind 9:0\u0669", replies.remind_not_understood("9:0\u0669")),
        ("/remind \u0669:30", replies.remind_not_understood("\u0669:30")),
        ("/remind 9:\uff10\uff10", replies.remind_not_understood("9:\uff10\uff10")),
    ],
    ids=["folder", "300-chars", "long-path", "traversal", "arabic-indic", "arabic-hour", "fullwidth"],
)  # fmt: skip
async def test_hostile_settings_and_reminders_get_a_clear_reply(bot: Bot, command, expected):
    reply = await bot.say(ALICE, command)
    assert reply["text"] == _plain(expected)
    assert bot.rows("SELECT timezone, remind_at FROM users") in ([], [("UTC", None)])


async def test_settings_accepts_a_city_name(bot: Bot):
    reply = await bot.say(ALICE, "/settings Ciudad de México")
    assert "Mexico City · UTC-6" in reply["text"]  # shown as people read it
    assert bot.rows("SELECT timezone FROM users") == [("America/Mexico_City",)]


def _plain(html: str) -> str:
    from tests.telegram_stub import parse_html

    return parse_html(html)[0]


# -- presses Telegram will no longer acknowledge ---------------------------------------------

TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


async def test_a_press_too_old_to_acknowledge_still_gets_its_songs(bot: Bot):
    """A press handled late (after a restart, behind a slow selfie) can no longer be answered
    or its buttons edited: the songs still come, and the mood is kept."""
    question = await bot.say(ALICE, "/mood")
    data = question["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    bot.stub.fail("answerCallbackQuery", 400, TOO_OLD, times=100)
    mark = bot.stub.mark()
    bot.stub.press_button(ALICE, question, data)
    songs = await answer(bot, ALICE, since=mark)
    assert len(links(songs)) == 5
    assert [c.ok for c in bot.stub.calls("answerCallbackQuery", since=mark)] == [False]
    assert len(bot.rows("SELECT mood FROM readings WHERE user_id = ?", ALICE)) == 1


async def test_delete_pressed_too_late_to_edit_still_erases_and_says_so(bot: Bot):
    """ "Yes, delete" whose query expired and whose message can no longer be edited: everything
    is erased all the same, and the person is told in a new message."""
    await selfie_answered_once(bot)
    confirm = await bot.say(ALICE, "/delete")
    bot.stub.fail("answerCallbackQuery", 400, TOO_OLD, times=100)
    bot.stub.fail("editMessageText", 400, "Bad Request: message can't be edited", times=100)
    mark = bot.stub.mark()
    bot.stub.press_button(ALICE, confirm, "del:yes")
    done = await answer(bot, ALICE, since=mark)
    assert done["text"].startswith("🗑")
    assert bot.rows("SELECT count(*) FROM readings WHERE user_id = ?", ALICE) == [(0,)]
    assert [c.ok for c in bot.stub.calls("editMessageText", since=mark)] == [False]
