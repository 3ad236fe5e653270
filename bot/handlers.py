"""Telegram handlers: read the update, make one call on the service, format the reply.

Texts go out as HTML without link previews: the application's Defaults (bot/app.py). A
handler registered for a button kind only sees data that kind parses (its pattern). The
diary, settings and privacy commands are in bot/handlers_diary.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from telegram import Message, Update, Video, VideoNote
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop

from bot import keyboards, presses, replies, updates
from bot.buttons import (
    CorrectionButton,
    FeedbackButton,
    FixButton,
    MoodButton,
    MoreButton,
    NoteButton,
    RateButton,
)
from bot.context import Context
from models.errors import AnalysisError, ImageTooLarge
from models.video import DEFAULT_MAX_SECONDS as MAX_VIDEO_SECONDS
from models.video import DEFAULT_MAX_VIDEO_BYTES as MAX_VIDEO_BYTES
from models.video import VideoTooLong

log = logging.getLogger(__name__)

# "typing..." only once a selfie has taken this long: a reply that comes sooner needs none
# (Telegram's advice for sendChatAction), and under load each one is a call that delays others.
TYPING_AFTER = 1.0


def canned(text: Callable[[], str]) -> Callable[[Update, Context], Coroutine[Any, Any, None]]:
    """A handler that answers with a fixed text (/start, /help, stickers, voice notes...),
    written when it is sent: in the person's language."""

    async def handler(update: Update, context: Context) -> None:
        await updates.message(update).reply_text(text())

    return handler


async def photo(update: Update, context: Context) -> None:
    """A selfie (a photo or an image file): answer with songs, or with a mood question."""
    async with context.bot_data.selfie_lanes:  # first come, first served (bot/app.py)
        await _selfie(update, context)


async def _selfie(update: Update, context: Context) -> None:
    message = updates.message(update)
    media = message.photo[-1] if message.photo else message.document
    if media is None:
        raise updates.MissingPart("a selfie without its photo")  # SELFIE's filter lets none in
    if media.file_size and media.file_size > context.settings.max_image_bytes:
        raise ImageTooLarge(f"{media.file_size} bytes")  # refused before downloading it
    async with typing(message):
        data = await context.downloader.fetch(context.bot, media.file_id)  # streamed, capped
        result = await context.moodtune.read_selfie(
            updates.user_id(update), data, updates.language(update), update_id=update.update_id
        )
        del data  # the photo lives no longer than this handler
    text, markup = replies.selfie_reply(result)
    await message.reply_text(text, reply_markup=markup)


async def video(update: Update, context: Context) -> None:
    """A round video message or a short video: read from a few frames, like a selfie. Length
    and size are checked from what Telegram tells before downloading anything."""
    async with context.bot_data.selfie_lanes:  # the same first-come lanes as photos
        await _video(update, context)


async def _video(update: Update, context: Context) -> None:
    message = updates.message(update)
    clip = message.video_note or message.video
    if clip is None:
        raise updates.MissingPart("a video without its clip")  # the video filter lets none in
    try:
        _refuse_before_download(clip)
        async with typing(message):
            data = await context.downloader.fetch(context.bot, clip.file_id)  # streamed, capped
            result = await context.moodtune.read_video(
                updates.user_id(update), data, updates.language(update), update_id=update.update_id
            )
            del data  # the video lives no longer than this handler
    except AnalysisError as err:
        await message.reply_text(replies.video_error_text(err))
        return
    text, markup = replies.selfie_reply(result)
    await message.reply_text(text, reply_markup=markup)


@contextlib.asynccontextmanager
async def typing(message: Message) -> AsyncIterator[None]:
    """Show "typing..." if the work inside takes longer than TYPING_AFTER seconds."""

    async def later() -> None:
        await asyncio.sleep(TYPING_AFTER)
        with contextlib.suppress(TelegramError):  # a lost "typing..." must not cost the reply
            await message.chat.send_action(ChatAction.TYPING)

    task = asyncio.create_task(later())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.wait([task])  # unlike awaiting it, never swallows our own cancellation


def _refuse_before_download(clip: VideoNote | Video) -> None:
    """Too long or too large, by what Telegram tells: refused before any byte is fetched."""
    if updates.seconds(clip.duration) > MAX_VIDEO_SECONDS:
        raise VideoTooLong(f"{clip.duration} s")
    if (clip.file_size or 0) > MAX_VIDEO_BYTES:
        raise ImageTooLarge(f"{clip.file_size} bytes")


async def mood_command(update: Update, context: Context) -> None:
    markup = keyboards.mood_keyboard(None)
    await updates.message(update).reply_text(replies.MOOD_QUESTION, reply_markup=markup)


async def mood_button(update: Update, context: Context) -> None:
    """A mood chosen: songs, once; a repeated press or someone else's entry changes nothing."""
    query, button = updates.press(update, MoodButton)
    result = await context.moodtune.choose_mood(
        updates.user_id(update), button.mood, button.entry_id, updates.language(update)
    )
    if result is None:
        await presses.acknowledge(query, replies.STALE_BUTTON)
        return
    await presses.acknowledge(query)
    await presses.set_buttons(query, None)
    await updates.pressed_on(query).reply_text(
        replies.mood_text(result.mood, result.tracks, result.why),
        reply_markup=keyboards.songs_keyboard(result.entry_id, result.tracks, note=True),
    )


async def fix_button(update: Update, context: Context) -> None:
    """ "Not quite?": offer the seven emotions to correct the reading with."""
    query, button = updates.press(update, FixButton)
    if not await context.moodtune.has_entry(updates.user_id(update), button.entry_id):
        await presses.acknowledge(query, replies.STALE_BUTTON)
        return
    await presses.acknowledge(query)
    markup = keyboards.correction_keyboard(button.entry_id)
    await updates.pressed_on(query).reply_text(replies.HOW_DO_YOU_FEEL, reply_markup=markup)


async def correction_button(update: Update, context: Context) -> None:
    """The person's own emotion for a reading: kept beside the model's, with new songs."""
    query, button = updates.press(update, CorrectionButton)
    songs = await context.moodtune.correct(
        updates.user_id(update), button.entry_id, button.emotion, updates.language(update)
    )
    if songs is None:
        await presses.acknowledge(query, replies.STALE_BUTTON)
        return
    await presses.acknowledge(query)
    await presses.set_buttons(query, None)
    text, markup = replies.correction_reply(songs.entry_id, button.emotion, songs.tracks, songs.why)
    await updates.pressed_on(query).reply_text(text, reply_markup=markup)


async def feedback_button(update: Update, context: Context) -> None:
    """👍 / 👎 under a whole reply (buttons from before per-song ratings); the presser's own."""
    query, button = updates.press(update, FeedbackButton)
    value = 1 if button.up else -1
    ok = await context.moodtune.feedback(updates.user_id(update), button.entry_id, value)
    await presses.acknowledge(query, replies.FEEDBACK_THANKS if ok else replies.STALE_BUTTON)


async def rate_button(update: Update, context: Context) -> None:
    """👍 / 👎 on one song, or a second press taking it back; the buttons show the opinion.
    Scoped to the presser's own entries and the songs they were given."""
    query, button = updates.press(update, RateButton)
    user_id = updates.user_id(update)
    if not await context.moodtune.rate(user_id, button.entry_id, button.track_id, button.value):
        await presses.acknowledge(query, replies.STALE_BUTTON)
        return
    await presses.acknowledge(query, replies.RATED[button.value])
    markup = keyboards.rated_keyboard(getattr(query.message, "reply_markup", None), button)
    if markup is not None:
        await presses.set_buttons(query, markup)


async def more_button(update: Update, context: Context) -> None:
    """Five more songs for the same reading; scoped to the presser's own entries."""
    query, button = updates.press(update, MoreButton)
    songs = await context.moodtune.more_songs(
        updates.user_id(update), button.entry_id, updates.language(update)
    )
    if not songs or not songs.tracks:
        await presses.acknowledge(query, replies.STALE_BUTTON)
        return
    await presses.acknowledge(query)
    markup = keyboards.songs_keyboard(songs.entry_id, songs.tracks)
    await updates.pressed_on(query).reply_text(
        replies.more_text(songs.tracks, songs.why), reply_markup=markup
    )


async def note_button(update: Update, context: Context) -> None:
    """ "📝 Add a note": their next text message (in this private chat) becomes the note."""
    query, button = updates.press(update, NoteButton)
    # Kept in the database: the text may reach another webhook worker than the press did.
    if not await context.moodtune.expect_note(updates.user_id(update), button.entry_id):
        await presses.acknowledge(query, replies.STALE_BUTTON)
        return
    await presses.acknowledge(query)
    await updates.pressed_on(query).reply_text(replies.NOTE_PROMPT)


async def text(update: Update, context: Context) -> None:
    """Plain text: the note they were asked for, else a hint to send a selfie."""
    message = updates.message(update)
    private = message.chat.type == "private"
    entry_id = await context.moodtune.take_note_for(updates.user_id(update)) if private else None
    if entry_id is None:
        await told_mood(update, context)
        return
    note = await context.moodtune.add_note(updates.user_id(update), entry_id, message.text or "")
    await message.reply_text(replies.note_saved_text(note) if note else replies.STALE_BUTTON)


async def told_mood(update: Update, context: Context) -> None:
    """ "I'm so tired", "오늘 너무 슬퍼": songs for it, kept as a reading from words; the mood
    buttons when the words name no clear mood. Only in their private chat: a diary entry is
    personal, and a group hears the hint."""
    message = updates.message(update)
    if message.chat.type != "private":
        await message.reply_text(replies.SEND_SELFIE)
        return
    result = await context.moodtune.tell_mood(
        updates.user_id(update), message.text or "", updates.language(update)
    )
    if result is None:
        await message.reply_text(replies.SEND_SELFIE, reply_markup=keyboards.mood_keyboard(None))
        return
    text = replies.typed_mood_text(result.emotion, result.mood, result.tracks, result.why)
    markup = keyboards.songs_keyboard(result.entry_id, result.tracks, note=True)
    await message.reply_text(text, reply_markup=markup)


async def cancel(update: Update, context: Context) -> None:
    """/cancel: the way out of writing a note."""
    pending = await context.moodtune.take_note_for(updates.user_id(update))
    text = replies.NOTE_CANCELLED if pending is not None else replies.NOTHING_TO_CANCEL
    await updates.message(update).reply_text(text)


async def inline_query(update: Update, context: Context) -> None:
    """@bot in any chat: the person's latest songs, or songs for a typed emotion or mood."""
    query = updates.inline(update)
    tracks = await context.moodtune.inline_songs(
        updates.user_id(update), query.query, updates.language(update)
    )
    await query.answer(replies.inline_results(tracks), cache_time=30, is_personal=True)


async def foreign_button_guard(update: Update, context: Context) -> None:
    """Buttons only work in the presser's own private chat with the bot: a press on a message
    from someone else's chat (forged by a tampering client) is refused before any handler."""
    query = updates.query(update)
    message = query.message
    if message is None or message.chat.id != updates.user_id(update):
        await presses.acknowledge(query, replies.STALE_BUTTON)
        raise ApplicationHandlerStop


async def unknown_button(update: Update, context: Context) -> None:
    """Data no button kind parses: forged, or from a button this version no longer has."""
    await presses.acknowledge(updates.query(update), replies.STALE_BUTTON)


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
        elif updates.message(update):
            await updates.message(update).reply_text(text)
    except TelegramError:
        log.warning("could not send the error reply", exc_info=True)
