"""End to end in Korean and Spanish: the person's Telegram language by default, /language to
choose, and moods told in words. Against the real bot and the Bot API stand-in."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tests import media
from tests.e2e import Bot, exported_files, links

ALICE = 1001
SONG_LINE = re.compile(r"^\d+\. .+ — .+$", re.M)  # "1. Title — Artist": names, not our words
# What may stay in Latin letters in any language: names, formats, commands and what they take.
KEPT = re.compile(
    r"/\w+(?: (?:8am|20:30|weekly sun|off))?|https?://\S+|MoodTune|Spotify|Telegram|JPEG|PNG"
    r"|WebP|CSV|JSON|UTC[+-]?[\d:]*|MB|KB|ID|id|1080p|K-pop|R&B|OST|\d+ ?s\b"
)
# Common English words, none of which is Spanish.
ENGLISH = re.compile(
    r"\b(?:the|you|your|and|with|what|songs?|moods?|send|please|readings?|erase|everything"
    r"|history|days?|more|note|yes|sorry|that|this|here|looks?|feel|pick|tap|week|today)\b",
    re.I,
)
SENT = ("sendMessage", "sendPhoto", "sendDocument", "editMessageText", "answerCallbackQuery")


def said(bot: Bot, since: int) -> list[str]:
    """Every text the bot showed since the mark: messages, captions, edits, pop-ups, buttons
    (song lines and share links aside)."""
    texts = []
    for method in SENT:
        for call in bot.stub.calls(method, since=since):
            p = call.params
            texts.append(str(p.get("text") or p.get("caption") or ""))
            keyboard = (p.get("reply_markup") or {}).get("inline_keyboard", [])
            texts += [b["text"] for row in keyboard for b in row if "url" not in b]
    return [t for t in texts if t]


def english_in(text: str, lang: str) -> list[str]:
    """English left in a text meant to be in `lang` (ko: any Latin word; es: English words)."""
    rest = KEPT.sub(" ", SONG_LINE.sub(" ", re.sub(r"<[^>]+>", " ", text)))
    if lang == "ko":
        return re.findall(r"[A-Za-z]{2,}", rest)
    return ENGLISH.findall(rest)


async def press(bot: Bot, user: int, message: dict, data: str) -> int:
    mark = bot.stub.mark()
    bot.stub.press_button(user, message, data)
    await bot.stub.wait_for("answerCallbackQuery", since=mark, timeout=30)
    return mark


@pytest.mark.parametrize("code", ["ko", "es-419"])
async def test_a_whole_visit_in_their_language(bot: Bot, code: str):
    lang = code[:2]
    bot.stub.set_language(ALICE, code)
    start = bot.stub.mark()
    welcome = await bot.say(ALICE, "/start")
    assert "MoodTune" in welcome["text"]
    reading = await bot.send_photo(ALICE, media.smiling_jpeg())
    assert len(links(reading)) == 5
    menu = await bot.say(ALICE, "/mood")
    mark = await press(bot, ALICE, menu, "pick:relaxing")
    songs = await bot.reply(ALICE, since=mark)
    assert len(links(songs)) == 5
    mark = bot.stub.mark()
    bot.stub.send_text(ALICE, "/history")
    chart = await bot.reply(ALICE, since=mark, method="sendPhoto")
    week = await bot.reply(ALICE, since=mark)
    assert bot.stub.file_bytes(chart["photo"][-1]["file_id"]).startswith(b"\x89PNG")
    assert "2" in week["text"]
    files = await exported_files(bot, ALICE, timeout=30)
    header = next(csv.reader(io.StringIO(files["moodtune-export.csv"].decode())))
    assert header[3] == {"ko": "감정", "es": "emoción"}[lang]
    confirm = await bot.say(ALICE, "/delete")
    mark = await press(bot, ALICE, confirm, "del:yes")
    await bot.stub.wait_for("editMessageText", since=mark)
    assert bot.rows("SELECT count(*) FROM readings") == [(0,)]

    texts = said(bot, start)
    assert len(texts) >= 25
    leaks = {t[:60]: english_in(t, lang) for t in texts if english_in(t, lang)}
    assert not leaks, leaks
    assert any(
        ("기록" if lang == "ko" else "registro") in t for t in texts
    )  # the history text was there to check


async def test_language_command_switches_and_is_kept(bot: Bot):
    bot.stub.set_language(ALICE, "ko")
    assert "셀카" in (await bot.say(ALICE, "/help"))["text"]
    menu = await bot.say(ALICE, "/language")
    labels = [b["text"] for row in menu["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["English", "✅ 한국어", "Español"]
    mark = await press(bot, ALICE, menu, "lang:es")
    (edit,) = await bot.stub.wait_for("editMessageText", since=mark)
    assert "español" in edit.params["text"]
    assert bot.rows("SELECT language FROM users") == [("es",)]
    assert "selfie" in (await bot.say(ALICE, "/start"))["text"]  # Spanish, kept over the app's
    assert "Hi!" not in (await bot.say(ALICE, "/start"))["text"]
    back = await bot.say(ALICE, "/language en")
    assert back["text"] == "OK, I'll speak English with you from now on."
    assert "Hi! I'm" in (await bot.say(ALICE, "/start"))["text"]
    nothing = await bot.say(ALICE, "/language klingon")  # unknown: the buttons, nothing changed
    assert "reply_markup" in nothing and bot.rows("SELECT language FROM users") == [("en",)]


async def test_command_menu_per_language(bot: Bot):
    menus = {code: bot.stub.commands(code) for code in (None, "ko", "es")}
    assert [c["command"] for c in menus["ko"]] == [c["command"] for c in menus[None]]
    assert {c["command"] for c in menus[None]} >= {"start", "language", "history", "delete"}
    describe = {code: {c["command"]: c["description"] for c in m} for code, m in menus.items()}
    assert describe[None]["history"] == "Your last 7 days"
    assert describe["ko"]["history"] == "최근 7일"
    assert describe["es"]["history"] == "Tus últimos 7 días"


@pytest.mark.parametrize(
    ("code", "typed", "emotion", "mood"),
    [
        ("ko", "오늘 너무 슬퍼", "sad", None),
        ("es-MX", "estoy muy cansada", None, "relaxing"),
        ("en", "need to focus", None, "focus"),
        ("en", "party!", None, "party"),
    ],
)
async def test_mood_told_in_words_gets_songs_and_is_kept(
    bot: Bot,
    code,
    typed,
    emotion,
    mood,
):
    bot.stub.set_language(ALICE, code)
    reply = await bot.say(ALICE, typed)
    assert len(links(reply)) == 5
    assert bot.rows("SELECT source, emotion, mood FROM readings") == [("words", emotion, mood)]
    assert bot.rows("SELECT count(*) FROM recommendations") == [(5,)]


async def test_unclear_words_get_the_mood_buttons_and_change_nothing(bot: Bot):
    bot.stub.set_language(ALICE, "ko")
    for typed in ("안녕하세요", "not happy"):
        reply = await bot.say(ALICE, typed)
        data = [b["callback_data"] for row in reply["reply_markup"]["inline_keyboard"] for b in row]
        assert "pick:relaxing" in data and "셀카" in reply["text"]
    assert bot.rows("SELECT count(*) FROM readings") == [(0,)]


async def test_a_pending_note_takes_precedence_over_a_mood(bot: Bot):
    reading = await bot.send_photo(ALICE, media.smiling_jpeg())
    entry_id = bot.rows("SELECT id FROM readings")[0][0]
    mark = await press(bot, ALICE, reading, f"note:{entry_id}")
    await bot.reply(ALICE, since=mark)  # the note prompt
    saved = await bot.say(ALICE, "so tired after work")
    assert "Noted" in saved["text"]
    assert bot.rows("SELECT count(*), max(note) FROM readings") == [(1, "so tired after work")]


def test_the_english_detector_catches_english():
    """The check above would see an untranslated text in either language."""
    for text in ("Send me a selfie 📸 and I'll pick songs for your mood.", "◀ Earlier", "Cancel"):
        assert english_in(text, "ko")
    assert english_in("Send me a selfie 📸 and I'll pick songs for your mood.", "es")
    assert not english_in("1. Dynamite — BTS\n🎵 노래 더 보기 /history UTC+9", "ko")


async def test_reminders_keep_the_language_they_opted_in_with(bot: Bot):
    """A nudge has no update to read a language_code from: the one they used is kept."""
    bot.stub.set_language(ALICE, "es-MX")
    reply = await bot.say(ALICE, "/remind weekly sun")
    assert "domingo" in reply["text"]
    assert bot.rows("SELECT language, weekly_day FROM users") == [("es", 6)]
