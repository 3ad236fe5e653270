"""Build the python-telegram-bot Application and run it: wiring only.

The Application runs without PTB's Updater: bot/delivery.py fetches updates, keeps them in a
journal until handled, and runs the lifecycle (post_init opens the diary and starts the jobs,
post_shutdown closes it; SIGINT/SIGTERM finish what is in flight).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import buttons, delivery, gate, handlers, handlers_diary, i18n, reminders, replies, speech
from bot.context import CONTEXT_TYPES, Context, MoodTuneApp, job_queue
from bot.download import Downloader
from bot.i18n import N_
from bot.journal import Journal
from bot.retry import RetryingLimiter
from bot.service import MoodTune, utc_now
from bot.settings import Settings
from bot.storage import Storage
from models.pipeline import Analyzer
from recommender.engine import Recommender

log = logging.getLogger(__name__)

# The command menu; its descriptions are translated per language (set_commands).
COMMANDS = [
    BotCommand("start", N_("What MoodTune does")),
    BotCommand("mood", N_("Pick a mood and get songs")),
    BotCommand("history", N_("Your last 7 days")),
    BotCommand("style", N_("Match my mood, or lift it")),
    BotCommand("genres", N_("Your favourite genres")),
    BotCommand("settings", N_("Your time zone; learning your face")),
    BotCommand("language", N_("The language I speak with you")),
    BotCommand("remind", N_("Daily nudge or weekly summary")),
    BotCommand("export", N_("A copy of your data")),
    BotCommand("privacy", N_("What is stored, and what never is")),
    BotCommand("delete", N_("Erase everything about you")),
    BotCommand("help", N_("All commands")),
]


# Selfies in progress at once (download, read, songs, reply); the rest wait their turn in
# arrival order. A burst otherwise starts every download and chat action first, and the first
# person's reply queues on the event loop behind everyone else's early steps (40 x 3 at once:
# p50 = p95 = the whole burst). Two analyzer threads, so four lanes keep them busy while
# other lanes fetch and reply. Texts and buttons don't queue here.
SELFIE_LANES = 4


async def set_commands(bot: Any) -> None:
    """The command menu in English for everyone, and in each other language for the Telegram
    apps set to it (setMyCommands' language_code). Best effort: Telegram keeps the menu between
    runs and every command works typed, so a refusal is logged and the bot starts without it."""
    try:
        for lang in i18n.LANGUAGES:
            i18n.use(lang)
            commands = [BotCommand(c.command, i18n._(c.description)) for c in COMMANDS]
            await bot.set_my_commands(commands, language_code=None if lang == "en" else lang)
    except TelegramError as err:
        log.warning("command menu not set: %s", err)
    finally:
        i18n.use("en")


# Every message goes out as HTML without link previews, edits and captions included.
DEFAULTS = Defaults(
    parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)
)
# Selfies we read: photos, and image files in the formats the analyzer accepts.
SELFIE = filters.PHOTO | filters.Document.MimeType("image/jpeg")
SELFIE |= filters.Document.MimeType("image/png") | filters.Document.MimeType("image/webp")


def build_application(
    settings: Settings,
    analyzer: Analyzer,
    recommender: Recommender,
    clock: Callable[[], datetime] = utc_now,
    rate: float | None = None,
) -> MoodTuneApp:
    """The bot with every handler registered, ready for `run` (model and catalog loaded);
    `rate`: the most messages a second it may send (a webhook worker's share)."""

    async def start(app: MoodTuneApp) -> None:
        storage = await Storage.open(settings.database)
        app.bot_data.moodtune = MoodTune(analyzer, recommender, storage, clock)
        # One pool per process: a webhook worker holds POOL_MAX PostgreSQL connections, not two
        # pools' worth; on SQLite the journal's marks share the diary's one database thread.
        app.bot_data.journal = Journal.beside(storage)
        app.bot_data.downloader = Downloader(settings.max_image_bytes)
        app.bot_data.selfie_lanes = asyncio.Semaphore(SELFIE_LANES)
        await set_commands(app.bot)
        # Retention: purge old rows at start-up and then daily.
        job_queue(app).run_repeating(
            _purge, interval=timedelta(days=1), first=1.0, name="retention"
        )
        reminders.start(app)  # due reminders are claimed from the database by any worker
        log.info("bot @%s is up; press Ctrl+C to stop", app.bot.username)

    builder = (
        Application.builder()
        .token(settings.telegram_bot_token)
        .context_types(CONTEXT_TYPES)
        .defaults(DEFAULTS)
        # One person's slow photo must never delay another's reply.
        .concurrent_updates(True)
        .post_init(start)
        .post_shutdown(_close)
        # Updates come from the journal (bot/delivery.py, bot/web.py), not PTB's Updater.
        .updater(None)
        # Sends retry on 429 (honouring retry_after) and on brief network or 5xx faults.
        .rate_limiter(RetryingLimiter(rate=rate))
        .connect_timeout(5.0)
        .read_timeout(10.0)
        .write_timeout(20.0)
    )
    if settings.telegram_api_url:
        root = settings.telegram_api_url
        builder = builder.base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")
    app = builder.build()
    app.bot_data.settings = settings
    add_handlers(app)
    return app


def run(app: MoodTuneApp, **options: Any) -> None:
    """Poll Telegram until SIGINT or SIGTERM (bot/delivery.py; stop_signals passed through)."""
    delivery.run(app, **options)


def add_handlers(app: MoodTuneApp) -> None:
    # First, for every update: the language to answer in (one handler per group runs, so each
    # of these gets a group of its own).
    app.add_handler(TypeHandler(Update, speech.speak_their_language), group=-3)
    # Personal data only in private chats; edits and channel posts are not handled.
    app.add_handler(TypeHandler(Update, gate.private_only), group=-2)
    app.add_handler(CallbackQueryHandler(handlers.foreign_button_guard), group=-1)
    app.add_handler(CommandHandler("start", handlers.canned(lambda: replies.WELCOME)))
    app.add_handler(CommandHandler("help", handlers.canned(lambda: replies.HELP)))
    settings = app.bot_data.settings
    app.add_handler(
        CommandHandler("privacy", handlers.canned(lambda: replies.privacy_text(settings)))
    )
    app.add_handler(CommandHandler("language", speech.language))
    app.add_handler(CommandHandler(["history", "week"], handlers_diary.history))
    app.add_handler(CommandHandler("mood", handlers.mood_command))
    app.add_handler(CommandHandler("delete", handlers_diary.delete))
    app.add_handler(CommandHandler("style", handlers_diary.style))
    app.add_handler(CommandHandler("export", handlers_diary.export))
    app.add_handler(CommandHandler("genres", handlers_diary.genres))
    app.add_handler(CommandHandler("settings", handlers_diary.settings))
    app.add_handler(CommandHandler("remind", handlers_diary.remind))
    app.add_handler(CommandHandler("cancel", handlers.cancel))
    app.add_handler(InlineQueryHandler(handlers.inline_query))
    app.add_handler(
        MessageHandler(filters.COMMAND, handlers.canned(lambda: replies.UNKNOWN_COMMAND))
    )
    app.add_handler(MessageHandler(SELFIE, handlers.photo))
    app.add_handler(MessageHandler(filters.VIDEO_NOTE | filters.VIDEO, handlers.video))
    app.add_handler(
        MessageHandler(filters.Document.IMAGE, handlers.canned(lambda: replies.UNSUPPORTED_IMAGE))
    )
    app.add_handler(MessageHandler(filters.Sticker.ALL, handlers.canned(lambda: replies.STICKER)))
    # Plain text: a note they were asked for (📝 Add a note), else a hint to send a selfie.
    app.add_handler(MessageHandler(filters.TEXT, handlers.text))
    # Voice notes, other documents, locations...: explain what to send instead.
    app.add_handler(
        MessageHandler(
            filters.ALL & ~filters.StatusUpdate.ALL, handlers.canned(lambda: replies.NOT_A_PHOTO)
        )
    )
    # Each button kind's codec is its pattern; data no kind parses gets the catch-all.
    for pattern, callback in (
        (buttons.MoodButton.matches, handlers.mood_button),
        (buttons.FeedbackButton.matches, handlers.feedback_button),
        (buttons.RateButton.matches, handlers.rate_button),
        (buttons.MoreButton.matches, handlers.more_button),
        (buttons.FixButton.matches, handlers.fix_button),
        (buttons.CorrectionButton.matches, handlers.correction_button),
        (buttons.StyleButton.matches, handlers_diary.style_button),
        (buttons.GenreButton.matches, handlers_diary.genre_button),
        (buttons.HistoryButton.matches, handlers_diary.history_button),
        (buttons.TimezoneButton.matches, handlers_diary.tz_button),
        (buttons.DeleteButton.matches, handlers_diary.delete_button),
        (buttons.NoteButton.matches, handlers.note_button),
        (buttons.LearnFaceButton.matches, handlers_diary.learn_face_button),
        (buttons.LanguageButton.matches, speech.language_button),
    ):
        app.add_handler(CallbackQueryHandler(callback, pattern=pattern))
    app.add_handler(CallbackQueryHandler(handlers.unknown_button))
    app.add_error_handler(handlers.on_error)


async def _close(app: MoodTuneApp) -> None:
    # post_init may have failed before the diary was open. The journal goes first: it wipes
    # handled updates' JSON from the disk on the diary's connection, which the service closes.
    if journal := getattr(app.bot_data, "journal", None):
        await journal.close()
    if service := getattr(app.bot_data, "moodtune", None):
        await service.close()
    if downloader := getattr(app.bot_data, "downloader", None):
        await downloader.close()


async def _purge(context: Context) -> None:
    """Daily retention job: drop rows older than HISTORY_RETENTION_DAYS."""
    days = context.settings.history_retention_days
    removed = await context.moodtune.purge(days)
    log.info("retention: purged %d rows older than %d days", removed, days)
