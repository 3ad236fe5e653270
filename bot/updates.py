"""The parts of an update a handler reads, narrowed from PTB's optional attributes once.

PTB types every part of an `Update` as optional, since an update carries one kind of thing. A
handler only sees the kinds its filter or pattern lets through (a command has a message and a
sender, a button press has its query and data that parse as the handler's kind), so a missing
part is a wiring fault: `MissingPart`, which `on_error` logs and apologises for.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar

from telegram import CallbackQuery, InlineQuery, Message, Update

from bot.buttons import Button

B = TypeVar("B", bound=Button)


class MissingPart(RuntimeError):
    """The update lacks what its handler was registered for."""


def user_id(update: Update) -> int:
    """The sender's id (every update the bot handles has one)."""
    if update.effective_user is None:
        raise MissingPart(f"no sender in update {update.update_id}")
    return update.effective_user.id


def language(update: Update) -> str | None:
    """The sender's Telegram language code, if their client says."""
    return update.effective_user.language_code if update.effective_user else None


def message(update: Update) -> Message:
    """The message a command or media handler answers."""
    if update.effective_message is None:
        raise MissingPart(f"no message in update {update.update_id}")
    return update.effective_message


def query(update: Update) -> CallbackQuery:
    """The button press a CallbackQueryHandler was called for."""
    if update.callback_query is None:
        raise MissingPart(f"no callback query in update {update.update_id}")
    return update.callback_query


def press(update: Update, kind: type[B]) -> tuple[CallbackQuery, B]:
    """A button press and its data, parsed as the kind whose pattern let it through."""
    pressed = query(update)
    if (button := kind.parse(pressed.data)) is None:
        raise MissingPart(f"no {kind.__name__} in update {update.update_id}")
    return pressed, button


def pressed_on(query: CallbackQuery) -> Message:
    """The message carrying the pressed button (Telegram omits it once it is too old)."""
    if not isinstance(query.message, Message):
        raise MissingPart(f"callback query {query.id} has no accessible message")
    return query.message


def inline(update: Update) -> InlineQuery:
    """The inline query an InlineQueryHandler was called for."""
    if update.inline_query is None:
        raise MissingPart(f"no inline query in update {update.update_id}")
    return update.inline_query


def seconds(duration: int | timedelta | None) -> float:
    """A media duration in seconds (PTB gives int or timedelta, by its settings)."""
    if isinstance(duration, timedelta):
        return duration.total_seconds()
    return float(duration or 0)
