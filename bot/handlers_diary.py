"""Telegram handlers for the person's own things: the diary (/history), their settings
(/settings, /genres, /style, /remind) and privacy (/export, /delete). Like bot/handlers.py:
read the update, make one call on the service, format the reply; registered in bot/app.py.
"""

from __future__ import annotations

import asyncio

from telegram import Message, Update

from bot import i18n, keyboards, presses, reminders, replies, updates
from bot.buttons import (
    DeleteButton,
    GenreButton,
    HistoryButton,
    LearnFaceButton,
    StyleButton,
    TimezoneButton,
)
from bot.charts import render as render_history
from bot.context import Context
from bot.history import format_summary


async def genres(update: Update, context: Context) -> None:
    choice = await context.moodtune.genres(updates.user_id(update))
    markup = keyboards.genres_keyboard(choice)
    await updates.message(update).reply_text(replies.GENRES_TEXT, reply_markup=markup)


async def genre_button(update: Update, context: Context) -> None:
    query, button = updates.press(update, GenreButton)
    choice = await context.moodtune.toggle_genre(updates.user_id(update), button.genre)
    if choice is None:
        await presses.acknowledge(query, replies.STALE_BUTTON)
        return
    await presses.acknowledge(query, replies.SAVED)
    await presses.set_buttons(query, keyboards.genres_keyboard(choice))


async def style(update: Update, context: Context) -> None:
    markup = keyboards.style_keyboard()
    await updates.message(update).reply_text(replies.STYLE_TEXT, reply_markup=markup)


async def style_button(update: Update, context: Context) -> None:
    query, button = updates.press(update, StyleButton)
    await context.moodtune.set_strategy(updates.user_id(update), button.strategy)
    await presses.acknowledge(query, replies.SAVED)
    await presses.replace_text(query, replies.STYLE_SAVED[button.strategy])


async def history(update: Update, context: Context) -> None:
    """The last 7 days as a chart and text, with buttons to page and to switch to 30 days."""
    await send_history(updates.message(update), context, updates.user_id(update), 7, 0)


async def history_button(update: Update, context: Context) -> None:
    query, button = updates.press(update, HistoryButton)
    await presses.acknowledge(query)
    message = updates.pressed_on(query)
    await send_history(message, context, updates.user_id(update), button.days, button.page)


async def send_history(
    message: Message, context: Context, user_id: int, days: int, page: int
) -> None:
    summary = await context.moodtune.history(user_id, days=days, pages_back=page)
    if summary.total_readings:
        png = await asyncio.to_thread(render_history, summary)
        await message.reply_photo(png, caption=replies.history_caption(summary))
    markup = keyboards.history_keyboard(days, page)
    await message.reply_text(format_summary(summary), reply_markup=markup)


async def settings(update: Update, context: Context) -> None:
    """/settings shows the time zone; `/settings Seoul` (a city, country, offset or IANA
    name, bot/zones.py) sets it."""
    user_id, message = updates.user_id(update), updates.message(update)
    if not context.args:
        zone = await context.moodtune.timezone(user_id)
    elif person := await context.moodtune.set_timezone(user_id, " ".join(context.args)):
        zone = person.timezone  # their reminders follow the new zone (bot/agenda.py)
    else:
        await message.reply_text(replies.UNKNOWN_TIMEZONE)
        return
    markup = keyboards.settings_keyboard(await context.moodtune.learns_face(user_id))
    await message.reply_text(replies.settings_text(zone), reply_markup=markup)


async def learn_face_button(update: Update, context: Context) -> None:
    """The /settings switch for the read that learns their face."""
    query, button = updates.press(update, LearnFaceButton)
    person = await context.moodtune.set_learn_face(updates.user_id(update), button.on)
    await presses.acknowledge(
        query, replies.LEARN_FACE_ON if person.learn_face else replies.LEARN_FACE_OFF
    )
    await presses.set_buttons(query, keyboards.settings_keyboard(person.learn_face))


async def tz_button(update: Update, context: Context) -> None:
    query, button = updates.press(update, TimezoneButton)
    person = await context.moodtune.set_timezone(updates.user_id(update), button.zone)
    if person is None:  # a forged zone
        await presses.acknowledge(query, replies.STALE_BUTTON)
        return
    await presses.acknowledge(query, replies.SAVED)
    await presses.replace_text(query, replies.settings_text(button.zone))


async def remind(update: Update, context: Context) -> None:
    """/remind HH:MM | /remind weekly DAY | /remind off."""
    words, message = list(context.args or []), updates.message(update)
    wish = reminders.parse_wish(words)
    if wish is None:
        await message.reply_text(
            replies.remind_not_understood(" ".join(words)) if words else replies.REMIND_HELP
        )
        return
    await context.moodtune.set_reminders(
        updates.user_id(update), wish.weekday, wish.at, i18n.current()
    )
    await message.reply_text(replies.wish_text(wish.weekday, wish.at))


async def export(update: Update, context: Context) -> None:
    files = await context.moodtune.export(updates.user_id(update), replies.export_headers())
    message = updates.message(update)
    if files is None:
        await message.reply_text(replies.NOTHING_TO_EXPORT)
        return
    csv_bytes, json_bytes = files
    await message.reply_document(csv_bytes, filename="moodtune-export.csv")
    await message.reply_document(
        json_bytes, filename="moodtune-export.json", caption=replies.EXPORT_CAPTION
    )


async def delete(update: Update, context: Context) -> None:
    markup = keyboards.delete_keyboard()
    await updates.message(update).reply_text(replies.DELETE_CONFIRM, reply_markup=markup)


async def delete_button(update: Update, context: Context) -> None:
    query, button = updates.press(update, DeleteButton)
    await presses.acknowledge(query)
    if button.confirmed:
        await context.moodtune.erase(updates.user_id(update))
        await presses.replace_text(query, replies.DELETE_DONE)
    else:
        await presses.replace_text(query, replies.DELETE_CANCELLED)
