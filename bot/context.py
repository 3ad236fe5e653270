"""The typed context PTB hands every handler and job: the service and the settings.

As in PTB's ``contexttypesbot.py`` example: `Context.moodtune` instead of a string key into
``bot_data``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot, JobQueue

from bot.download import Downloader
from bot.journal import Journal
from bot.service import MoodTune
from bot.settings import Settings


class BotData:
    """What the whole bot shares, set once at start-up (PTB creates it with no arguments)."""

    moodtune: MoodTune
    settings: Settings
    downloader: Downloader
    journal: Journal  # the update journal, on the diary's connection(s)
    selfie_lanes: asyncio.Semaphore  # selfies handled at once, first come first served


class Context(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """PTB's callback context with typed access to the service and the settings."""

    @property
    def moodtune(self) -> MoodTune:
        return self.bot_data.moodtune

    @property
    def settings(self) -> Settings:
        return self.bot_data.settings

    @property
    def downloader(self) -> Downloader:
        return self.bot_data.downloader


CONTEXT_TYPES = ContextTypes(context=Context, bot_data=BotData)
# The job queue's type parameter stays PTB's default context whatever context_types says.
MoodTuneApp = Application[ExtBot[None], Context, dict[Any, Any], dict[Any, Any], BotData, Any]


def job_queue(app: Application[Any, Any, Any, Any, Any, Any]) -> JobQueue[Any]:
    """The application's job queue (PTB builds one when its job-queue extra is installed)."""
    if app.job_queue is None:
        raise RuntimeError("python-telegram-bot[job-queue] is not installed")
    return app.job_queue
