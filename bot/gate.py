"""Private by default: which updates reach the handlers at all.

Registered first (group -2) so it runs before every handler:

* A message in a group or supergroup, or one without a person behind it (sent on behalf of a
  chat or channel), never reaches a handler: no photo is read or stored there, and no reading,
  chart, export or setting is shown. A command or a picture gets a short note with a button
  that opens a private chat; other chatter gets nothing (the bot is not part of the talk).
* Edited messages and channel posts are not handled: an edited selfie was already answered
  and is not read again, and a channel has no person to answer. Telegram is not asked for
  them (bot/delivery.py), so these only arrive if someone asked for them before.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop

from bot import keyboards, replies
from bot.context import Context

log = logging.getLogger(__name__)


async def private_only(update: Update, context: Context) -> None:
    """Let through messages from a person in their private chat, buttons and inline queries."""
    if update.callback_query or update.inline_query:
        return  # buttons: foreign_button_guard; inline answers go only to the person typing
    message = update.message
    if message is None:  # edited messages, channel posts, anything else
        log.debug("update %d (%s) not handled", update.update_id, _kind(update))
        raise ApplicationHandlerStop
    if message.chat.type == ChatType.PRIVATE and message.from_user is not None:
        return
    if _asks_something(update):
        try:
            await message.reply_text(
                replies.GROUP_NOTE,
                reply_markup=keyboards.private_chat_keyboard(context.bot.username),
            )
        except TelegramError as err:  # e.g. no right to post there
            log.info("group note not sent: %s", err)
    raise ApplicationHandlerStop


def _asks_something(update: Update) -> bool:
    """A command or a picture: something meant for the bot, which deserves an answer."""
    message = update.message
    assert message is not None
    if message.chat.type == ChatType.CHANNEL:
        return False
    command = bool(message.text and message.text.startswith("/"))
    return command or bool(message.photo or message.document or message.video_note)


def _kind(update: Update) -> str:
    for name in Update.ALL_TYPES:
        if getattr(update, name, None) is not None:
            return name
    return "unknown"
