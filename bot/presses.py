"""Answering a button press: its toast and the edits to the pressed message are courtesies that
must never cost the press its effect or its reply.

Telegram refuses to answer a press after about 15 seconds ("query is too old": one handled
after a restart, or behind a slow selfie), and refuses to edit a message that is over 48 hours
old or already reads as asked. Those refusals (BadRequest) are logged and the handler goes on;
a text that was to replace the pressed message is sent as a new message instead. Other errors
(the person blocked the bot, Telegram unreachable) still reach the error handler.
"""

from __future__ import annotations

import logging

from telegram import CallbackQuery, InlineKeyboardMarkup
from telegram.error import BadRequest

from bot import updates

log = logging.getLogger(__name__)


async def acknowledge(query: CallbackQuery, text: str | None = None) -> None:
    """Stop the button's spinner, with a short toast if `text`."""
    try:
        await query.answer(text)
    except BadRequest as err:
        log.info("press not acknowledged: %s", err)


async def set_buttons(query: CallbackQuery, markup: InlineKeyboardMarkup | None) -> None:
    """Give the pressed message these buttons (None: remove them)."""
    try:
        await query.edit_message_reply_markup(markup)
    except BadRequest as err:
        log.info("buttons left as they were: %s", err)


async def replace_text(query: CallbackQuery, text: str) -> None:
    """Replace the pressed message's text (and drop its buttons); if Telegram will not edit it,
    send `text` as a new message, so the answer is never lost."""
    try:
        await query.edit_message_text(text)
    except BadRequest as err:
        if "not modified" in err.message.lower():  # it already says this: a repeated press
            return
        log.info("message not edited (%s); sending the text instead", err)
        await updates.pressed_on(query).reply_text(text)
