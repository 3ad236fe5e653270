"""Telegram handlers: read the update, call the service, format the reply."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import Awaitable, Callable

from telegram import InlineQueryResultArticle, InputTextMessageContent, Message, Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot import replies
from bot.buttons import (
    CorrectionButton,
    DeleteButton,
    FeedbackButton,
    FixButton,
    GenreButton,
    HistoryButton,
    MoodButton,
    MoreButton,
    StyleButton,
    TimezoneButton,
)
from bot.history import format_summary, render_chart
from bot.service import MoodTune
from models.errors import ImageTooLarge, UnsupportedImage

log = logging.getLogger(__name__)

IMAGE_MIME_TYPES = {"image/jpeg", "image/png", "image/webp"}


def core(context: ContextTypes.DEFAULT_TYPE) -> MoodTune:
    return context.application.bot_data["moodtune"]


async def reply(message: Message, text: str, **kw) -> Message:
    kw.setdefault("parse_mode", ParseMode.HTML)
    kw.setdefault("disable_web_page_preview", True)
    return await message.reply_text(text, **kw)


def canned(text: str) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]:
    """A handler that answers with a fixed text (/start, /help, stickers, voice notes...)."""

    async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await reply(update.effective_message, text)

    return handler


async def photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A Telegram photo or an image document: read it and answer with songs or a question."""
    message = update.effective_message
    media = message.photo[-1] if message.photo else message.document
    if message.document and (message.document.mime_type or "") not in IMAGE_MIME_TYPES:
        raise UnsupportedImage(f"document of type {message.document.mime_type}")
    limit = core(context).analyzer.max_bytes
    if media.file_size and media.file_size > limit:
        raise ImageTooLarge(f"{media.file_size} bytes")
    await message.chat.send_action(ChatAction.TYPING)
    data = bytes(await (await media.get_file()).download_as_bytearray())
    result = await core(context).read_selfie(update.effective_user.id, data)
    del data  # the photo lives no longer than this handler
    if result is None:
        await reply(message, replies.ERASED_IN_FLIGHT)
        return
    text_ = replies.selfie_text(result.reading, result.tracks, result.ask_mood, result.unsure)
    if result.first:
        text_ += replies.FIRST_NOTICE
    if result.ask_mood:
        markup = replies.mood_keyboard(result.entry.id)
    else:
        markup = replies.songs_keyboard(result.entry.id, result.tracks, correctable=True)
    await reply(message, text_, reply_markup=markup)


async def mood_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await reply(
        update.effective_message,
        "What are you in the mood for?",
        reply_markup=replies.mood_keyboard(None),
    )


async def mood_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A mood button: answer once; stale, repeated or forged presses change nothing."""
    query = update.callback_query
    choice = MoodButton.parse(query.data)
    user_id = update.effective_user.id
    if choice.entry_id is None:
        result = await core(context).pick_mood(user_id, choice.mood)
    else:
        result = await core(context).choose_mood(user_id, choice.entry_id, choice.mood)
        if result is None:
            await query.answer(replies.STALE_BUTTON)
            return
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    await reply(
        query.message,
        replies.mood_text(choice.mood, result.tracks),
        reply_markup=replies.songs_keyboard(result.entry.id, result.tracks),
    )


async def fix_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ "Not quite?": show the 7 emotions to correct the reading with."""
    query = update.callback_query
    button = FixButton.parse(query.data)
    entry = await core(context).storage.get_entry(update.effective_user.id, button.entry_id)
    if entry is None:
        await query.answer(replies.STALE_BUTTON)
        return
    await query.answer()
    await reply(
        query.message, "How do you feel?", reply_markup=replies.correction_keyboard(entry.id)
    )


async def correction_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The person's own emotion for a reading: keep it and redo the songs."""
    query = update.callback_query
    button = CorrectionButton.parse(query.data)
    user_id, service = update.effective_user.id, core(context)
    tracks = await service.correct(user_id, button.entry_id, button.emotion)
    if tracks is None:
        await query.answer(replies.STALE_BUTTON)
        return
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    if not tracks:
        await reply(query.message, "Got it. What are you in the mood for?",
                    reply_markup=replies.mood_keyboard(button.entry_id))  # fmt: skip
        return
    emotion = button.emotion
    await reply(
        query.message,
        f"Thanks, noted: {replies.EMOJI[emotion]} {replies.ADJECTIVE[emotion]}.\n\n"
        + replies.songs_block(tracks),
        reply_markup=replies.songs_keyboard(button.entry_id, tracks),
    )


async def genres(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    service = core(context)
    chosen = await service.favourite_genres(update.effective_user.id)
    markup = replies.genres_keyboard(service.genres(), chosen)
    await reply(update.effective_message, replies.GENRES_TEXT, reply_markup=markup)


async def genre_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    button = GenreButton.parse(query.data)
    service = core(context)
    chosen = await service.toggle_genre(update.effective_user.id, button.genre)
    if chosen is None:
        await query.answer(replies.STALE_BUTTON)
        return
    await query.answer("Saved.")
    await query.edit_message_reply_markup(replies.genres_keyboard(service.genres(), chosen))


async def export(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    csv_bytes, json_bytes = await core(context).export(update.effective_user.id)
    message = update.effective_message
    await message.reply_document(csv_bytes, filename="moodtune-export.csv")
    await message.reply_document(
        json_bytes, filename="moodtune-export.json", caption="Everything I hold about you."
    )


async def feedback_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """👍 / 👎 under a reply; scoped to the presser's own entries."""
    query = update.callback_query
    button = FeedbackButton.parse(query.data)
    value = 1 if button.up else -1
    ok = await core(context).feedback(update.effective_user.id, button.entry_id, value)
    await query.answer("Thanks! I'll remember that." if ok else replies.STALE_BUTTON)


async def more_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """More songs for the same reading; scoped to the presser's own entries."""
    query = update.callback_query
    button = MoreButton.parse(query.data)
    tracks = await core(context).more_songs(update.effective_user.id, button.entry_id)
    if not tracks:
        await query.answer(replies.STALE_BUTTON)
        return
    await query.answer()
    await reply(
        query.message,
        "🎵 More for you:\n" + replies.songs_block(tracks),
        reply_markup=replies.songs_keyboard(button.entry_id, tracks),
    )


async def style(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await reply(update.effective_message, replies.STYLE_TEXT, reply_markup=replies.style_keyboard())


async def style_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    button = StyleButton.parse(query.data)
    await core(context).set_strategy(update.effective_user.id, button.strategy)
    await query.answer("Saved.")
    await query.edit_message_text(replies.STYLE_SAVED[button.strategy])


async def history(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The last 7 days as a chart and text, with buttons to page and to switch to 30 days."""
    await send_history(update.effective_message, context, update.effective_user.id, 7, 0)


async def history_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    button = HistoryButton.parse(query.data)
    await query.answer()
    await send_history(query.message, context, update.effective_user.id, button.days, button.page)


async def send_history(
    message: Message, context: ContextTypes.DEFAULT_TYPE, user_id: int, days: int, page: int
) -> None:
    summary = await core(context).history(user_id, days=days, pages_back=page)
    if summary.total_readings:
        png = await asyncio.to_thread(render_chart, summary)
        await message.reply_photo(png, caption=f"Your moods, {summary.start} – {summary.end}")
    await reply(message, format_summary(summary), reply_markup=replies.history_keyboard(days, page))


async def settings(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/settings shows the time zone; `/settings Europe/Berlin` sets it."""
    user_id, service = update.effective_user.id, core(context)
    if context.args and not await service.set_timezone(user_id, context.args[0]):
        await reply(
            update.effective_message, "I don't know that time zone. Try e.g. Europe/Berlin."
        )
        return
    tz = (await service.storage.get_user_settings(user_id)).timezone
    await reply(
        update.effective_message, replies.settings_text(tz), reply_markup=replies.tz_keyboard()
    )


async def tz_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    button = TimezoneButton.parse(query.data)
    await core(context).set_timezone(update.effective_user.id, button.zone)
    await query.answer("Saved.")
    await query.edit_message_text(replies.settings_text(button.zone), parse_mode=ParseMode.HTML)
    await _reschedule(context, update.effective_user.id)


async def remind(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/remind HH:MM | /remind weekly DAY | /remind off."""
    args = [a.lower() for a in context.args or []]
    user_id, storage = update.effective_user.id, core(context).storage
    if args == ["off"]:
        await storage.set_reminder(user_id, None)
        await storage.set_weekly_day(user_id, None)
        text_ = "🔕 Reminders are off."
    elif len(args) == 2 and args[0] == "weekly" and args[1][:3] in replies.WEEKDAYS:
        await storage.set_weekly_day(user_id, replies.WEEKDAYS.index(args[1][:3]))
        text_ = f"📅 I'll send your week's summary every {args[1][:3].title()} evening."
    elif len(args) == 1 and re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", args[0]):
        at = args[0].zfill(5)
        await storage.set_reminder(user_id, dt.time.fromisoformat(at))
        text_ = f"⏰ I'll nudge you every day at {at} your time. /remind off to stop."
    else:
        await reply(update.effective_message, replies.REMIND_HELP)
        return
    await _reschedule(context, user_id)
    await reply(update.effective_message, text_)


async def _reschedule(context: ContextTypes.DEFAULT_TYPE, user_id: int) -> None:
    from bot.reminders import schedule

    schedule(context.application, await core(context).storage.get_user_settings(user_id))


async def inline_query(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """@bot in any chat: the person's latest songs, or songs for a typed emotion or mood."""
    query = update.inline_query
    tracks = await core(context).inline_songs(update.effective_user.id, query.query)
    results = [
        InlineQueryResultArticle(
            id=f"{i}-{t.id}",
            title=t.title,
            description=t.artist,
            input_message_content=InputTextMessageContent(f"🎵 {t.title} — {t.artist}\n{t.url}"),
            url=t.url,
        )
        for i, t in enumerate(tracks)
    ]
    await query.answer(results, cache_time=30, is_personal=True)


async def delete(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await reply(
        update.effective_message, replies.DELETE_CONFIRM, reply_markup=replies.delete_keyboard()
    )


async def delete_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    await query.answer()
    if DeleteButton.parse(query.data) == DeleteButton(confirmed=True):
        await core(context).erase(update.effective_user.id)
        text_ = replies.DELETE_DONE
    else:
        text_ = replies.DELETE_CANCELLED
    await query.edit_message_text(text_)


async def foreign_button_guard(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Buttons only work in the presser's own private chat with the bot: a press on a message
    from someone else's chat (forged by a tampering client) is refused before any handler."""
    query = update.callback_query
    message = query.message
    if message is None or message.chat.id != update.effective_user.id:
        await query.answer(replies.STALE_BUTTON)
        raise ApplicationHandlerStop


async def unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.callback_query.answer(replies.STALE_BUTTON)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Our own errors become their friendly message; anything else is logged and apologised for."""
    err = context.error
    if isinstance(err, TelegramError):
        # Telegram itself refused (user blocked us, flood limit, network): a reply would fail too.
        log.warning("Telegram error while handling an update: %s", err)
        return
    text_ = replies.error_text(err)
    if text_ is not None:
        log.info("user error: %s: %s", type(err).__name__, err)
    else:
        text_ = replies.SORRY
        log.error("unhandled error", exc_info=err)
    if not isinstance(update, Update):
        return
    try:
        if update.callback_query:
            await update.callback_query.answer(text_[:190])
        elif update.effective_message:
            await reply(update.effective_message, text_)
    except TelegramError:
        log.warning("could not send the error reply", exc_info=True)
