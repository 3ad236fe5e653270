"""Which language to speak: the handlers for /language and its buttons, and the first look at
every update (bot/i18n.py holds the language for the rest of it)."""

from __future__ import annotations

from telegram import Update

from bot import i18n, keyboards, presses, replies, updates
from bot.buttons import LanguageButton
from bot.context import Context


async def speak_their_language(update: Update, context: Context) -> None:
    """Before any handler: speak the language they chose with /language, else their Telegram
    app's, for the rest of this update (bot/i18n.py)."""
    user = update.effective_user
    chosen = await context.moodtune.language(user.id) if user else None
    i18n.use(chosen or (user.language_code if user else None))


async def language(update: Update, context: Context) -> None:
    """/language shows the choice as buttons; `/language ko` sets it straight away."""
    message, user_id = updates.message(update), updates.user_id(update)
    wanted = context.args[0].lower() if context.args else ""
    if wanted in i18n.LANGUAGES:
        await context.moodtune.set_language(user_id, wanted)
        i18n.use(wanted)
        await message.reply_text(replies.LANGUAGE_SAVED)
        return
    markup = keyboards.language_keyboard(i18n.current())
    await message.reply_text(replies.LANGUAGE_TEXT, reply_markup=markup)


async def language_button(update: Update, context: Context) -> None:
    query, button = updates.press(update, LanguageButton)
    await context.moodtune.set_language(updates.user_id(update), button.language)
    i18n.use(button.language)  # this answer already in the new language
    await presses.acknowledge(query)
    await presses.replace_text(query, replies.LANGUAGE_SAVED)
