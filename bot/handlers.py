"""Telegram handlers: read the update, make one call on the service, format the reply.

Texts go out as HTML without link previews: the application's Defaults (bot/app.py). A
handler registered for a button kind only sees data that kind parses (its pattern).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Coroutine
from datetime import time
from typing import Any

from telegram import Message, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop

from bot import reminders, replies
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
from bot.context import Context
from bot.history import format_summary, render_chart
from models.errors import ImageTooLarge

log = logging.getLogger(__name__)

# /remind 8:30; ASCII digits only (\d also takes "٩", which time.fromisoformat refuses).
REMIND_AT = re.compile(r"([01]?[0-9]|2[0-3]):[0-5][0-9]")


def canned(text: str) -> Callable[[Update, Context], Coroutine[Any, Any, None]]:
    """A handler that answers with a fixed text (/start, /help, stickers, voice notes...)."""

    async def handler(update: Update, context: Context) -> None:
        await update.effective_message.reply_text(text)

    return handler


async def photo(update: Update, context: Context) -> None:
    """A selfie (a photo or an image file): answer with songs, or with a mood question."""
    async with context.bot_data.selfie_lanes:  # first come, first served (bot/app.py)
        await _selfie(update, context)


async def _selfie(update: Update, context: Context) -> None:
    message = update.effective_message
    media = message.photo[-1] if message.photo else message.document
    if media.file_size and media.file_size > context.settings.max_image_bytes:
        raise ImageTooLarge(f"{media.file_size} bytes")  # refused before downloading it
    with contextlib.suppress(TelegramError):  # a lost "typing..." must not cost the reply
        await message.chat.send_action(ChatAction.TYPING)
    data = await context.downloader.fetch(context.bot, media.file_id)  # streamed, capped
    user_id = update.effective_user.id
    result = await context.moodtune.read_selfie(user_id, data, update_id=update.update_id)
    del data  # the photo lives no longer than this handler
    text, markup = replies.selfie_reply(result)
    await message.reply_text(text, reply_markup=markup)


async def mood_command(update: Update, context: Context) -> None:
    markup = replies.mood_keyboard(None)
    await update.effective_message.reply_text(replies.MOOD_QUESTION, reply_markup=markup)


async def mood_button(update: Update, context: Context) -> None:
    """A mood chosen: songs, once; a repeated press or someone else's entry changes nothing."""
    query = update.callback_query
    button = MoodButton.parse(query.data)
    user_id = update.effective_user.id
    result = await context.moodtune.choose_mood(user_id, button.mood, button.entry_id)
    if result is None:
        await query.answer(replies.STALE_BUTTON)
        return
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    await query.message.reply_text(
        replies.mood_text(result.mood, result.tracks),
        reply_markup=replies.songs_keyboard(result.entry_id, result.tracks),
    )


async def fix_button(update: Update, context: Context) -> None:
    """ "Not quite?": offer the seven emotions to correct the reading with."""
    query = update.callback_query
    button = FixButton.parse(query.data)
    if not await context.moodtune.has_entry(update.effective_user.id, button.entry_id):
        await query.answer(replies.STALE_BUTTON)
        return
    await query.answer()
    markup = replies.correction_keyboard(button.entry_id)
    await query.message.reply_text(replies.HOW_DO_YOU_FEEL, reply_markup=markup)


async def correction_button(update: Update, context: Context) -> None:
    """The person's own emotion for a reading: kept beside the model's, with new songs."""
    query = update.callback_query
    button = CorrectionButton.parse(query.data)
    user_id = update.effective_user.id
    tracks = await context.moodtune.correct(user_id, button.entry_id, button.emotion)
    if tracks is None:
        await query.answer(replies.STALE_BUTTON)
        return
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    text, markup = replies.correction_reply(button.entry_id, button.emotion, tracks)
    await query.message.reply_text(text, reply_markup=markup)


async def feedback_button(update: Update, context: Context) -> None:
    """👍 / 👎 under a reply; scoped to the presser's own entries."""
    query = update.callback_query
    button = FeedbackButton.parse(query.data)
    value = 1 if button.up else -1
    ok = await context.moodtune.feedback(update.effective_user.id, button.entry_id, value)
    await query.answer(replies.FEEDBACK_THANKS if ok else replies.STALE_BUTTON)


async def more_button(update: Update, context: Context) -> None:
    """Five more songs for the same reading; scoped to the presser's own entries."""
    query = update.callback_query
    button = MoreButton.parse(query.data)
    tracks = await context.moodtune.more_songs(update.effective_user.id, button.entry_id)
    if not tracks:
        await query.answer(replies.STALE_BUTTON)
        return
    await query.answer()
    markup = replies.songs_keyboard(button.entry_id, tracks)
    await query.message.reply_text(replies.more_text(tracks), reply_markup=markup)


async def genres(update: Update, context: Context) -> None:
    choice = await context.moodtune.genres(update.effective_user.id)
    markup = replies.genres_keyboard(choice)
    await update.effective_message.reply_text(replies.GENRES_TEXT, reply_markup=markup)


async def genre_button(update: Update, context: Context) -> None:
    query = update.callback_query
    button = GenreButton.parse(query.data)
    choice = await context.moodtune.toggle_genre(update.effective_user.id, button.genre)
    if choice is None:
        await query.answer(replies.STALE_BUTTON)
        return
    await query.answer(replies.SAVED)
    await query.edit_message_reply_markup(replies.genres_keyboard(choice))


async def style(update: Update, context: Context) -> None:
    markup = replies.style_keyboard()
    await update.effective_message.reply_text(replies.STYLE_TEXT, reply_markup=markup)


async def style_button(update: Update, context: Context) -> None:
    query = update.callback_query
    button = StyleButton.parse(query.data)
    await context.moodtune.set_strategy(update.effective_user.id, button.strategy)
    await query.answer(replies.SAVED)
    await query.edit_message_text(replies.STYLE_SAVED[button.strategy])


async def history(update: Update, context: Context) -> None:
    """The last 7 days as a chart and text, with buttons to page and to switch to 30 days."""
    await send_history(update.effective_message, context, update.effective_user.id, 7, 0)


async def history_button(update: Update, context: Context) -> None:
    query = update.callback_query
    button = HistoryButton.parse(query.data)
    await query.answer()
    await send_history(query.message, context, update.effective_user.id, button.days, button.page)


async def send_history(
    message: Message, context: Context, user_id: int, days: int, page: int
) -> None:
    summary = await context.moodtune.history(user_id, days=days, pages_back=page)
    if summary.total_readings:
        png = await asyncio.to_thread(render_chart, summary)
        await message.reply_photo(png, caption=replies.history_caption(summary))
    markup = replies.history_keyboard(days, page)
    await message.reply_text(format_summary(summary), reply_markup=markup)


async def settings(update: Update, context: Context) -> None:
    """/settings shows the time zone; `/settings Europe/Berlin` sets it."""
    user_id, message = update.effective_user.id, update.effective_message
    if not context.args:
        zone = await context.moodtune.timezone(user_id)
    elif person := await context.moodtune.set_timezone(user_id, " ".join(context.args)):
        reminders.schedule(context.application, person)  # reminders follow the new zone
        zone = person.timezone
    else:
        await message.reply_text(replies.UNKNOWN_TIMEZONE)
        return
    await message.reply_text(replies.settings_text(zone), reply_markup=replies.tz_keyboard())


async def tz_button(update: Update, context: Context) -> None:
    query = update.callback_query
    button = TimezoneButton.parse(query.data)
    person = await context.moodtune.set_timezone(update.effective_user.id, button.zone)
    if person is None:  # a forged zone
        await query.answer(replies.STALE_BUTTON)
        return
    await query.answer(replies.SAVED)
    await query.edit_message_text(replies.settings_text(button.zone))
    reminders.schedule(context.application, person)


async def remind(update: Update, context: Context) -> None:
    """/remind HH:MM | /remind weekly DAY | /remind off."""
    user_id, service = update.effective_user.id, context.moodtune
    match [a.lower() for a in context.args or []]:
        case ["off"]:
            person, text = await service.reminders_off(user_id), replies.REMINDERS_OFF
        case ["weekly", day] if day[:3] in replies.WEEKDAYS:
            person = await service.remind_weekly(user_id, replies.WEEKDAYS.index(day[:3]))
            text = replies.weekly_reminder_text(person.weekly_day)
        case [at] if REMIND_AT.fullmatch(at):
            person = await service.remind_daily(user_id, time.fromisoformat(at.zfill(5)))
            text = replies.daily_reminder_text(person.remind_at)
        case _:
            person, text = None, replies.REMIND_HELP
    if person is not None:
        reminders.schedule(context.application, person)
    await update.effective_message.reply_text(text)


async def inline_query(update: Update, context: Context) -> None:
    """@bot in any chat: the person's latest songs, or songs for a typed emotion or mood."""
    query = update.inline_query
    tracks = await context.moodtune.inline_songs(update.effective_user.id, query.query)
    await query.answer(replies.inline_results(tracks), cache_time=30, is_personal=True)


async def export(update: Update, context: Context) -> None:
    csv_bytes, json_bytes = await context.moodtune.export(update.effective_user.id)
    message = update.effective_message
    await message.reply_document(csv_bytes, filename="moodtune-export.csv")
    await message.reply_document(
        json_bytes, filename="moodtune-export.json", caption=replies.EXPORT_CAPTION
    )


async def delete(update: Update, context: Context) -> None:
    markup = replies.delete_keyboard()
    await update.effective_message.reply_text(replies.DELETE_CONFIRM, reply_markup=markup)


async def delete_button(update: Update, context: Context) -> None:
    query = update.callback_query
    await query.answer()
    if DeleteButton.parse(query.data).confirmed:
        await context.moodtune.erase(update.effective_user.id)
        await query.edit_message_text(replies.DELETE_DONE)
    else:
        await query.edit_message_text(replies.DELETE_CANCELLED)


async def foreign_button_guard(update: Update, context: Context) -> None:
    """Buttons only work in the presser's own private chat with the bot: a press on a message
    from someone else's chat (forged by a tampering client) is refused before any handler."""
    query = update.callback_query
    message = query.message
    if message is None or message.chat.id != update.effective_user.id:
        await query.answer(replies.STALE_BUTTON)
        raise ApplicationHandlerStop


async def unknown_button(update: Update, context: Context) -> None:
    """Data no button kind parses: forged, or from a button this version no longer has."""
    await update.callback_query.answer(replies.STALE_BUTTON)


async def on_error(update: object, context: Context) -> None:
    """Our own errors become their friendly message; anything else is logged and apologised for."""
    err = context.error
    if isinstance(err, TelegramError):
        # Telegram itself refused (user blocked us, flood limit, network): a reply would fail too.
        log.warning("Telegram error while handling an update: %s", err)
        return
    text = replies.error_text(err, context.settings) if err else None
    if text is None:
        log.error("unhandled error", exc_info=err)
    else:
        log.info("user error: %s: %s", type(err).__name__, err)
    if isinstance(update, Update):
        await _tell(update, text or replies.SORRY)


async def _tell(update: Update, text: str) -> None:
    """Answer a button press, or reply to a message, whichever the update was."""
    try:
        if update.callback_query:
            await update.callback_query.answer(text[:190])
        elif update.effective_message:
            await update.effective_message.reply_text(text)
    except TelegramError:
        log.warning("could not send the error reply", exc_info=True)
