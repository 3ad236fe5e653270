"""Opt-in daily nudges and weekly summaries, as PTB JobQueue jobs rebuilt from SQLite."""

from __future__ import annotations

import datetime as dt
import logging

from telegram.error import Forbidden, TelegramError
from telegram.ext import Application, ContextTypes

from bot import replies
from bot.diary import UserSettings
from bot.history import format_summary

log = logging.getLogger(__name__)


def _names(user_id: int) -> tuple[str, str]:
    return f"remind:{user_id}", f"weekly:{user_id}"


def schedule(app: Application, user: UserSettings) -> None:
    """(Re)create this person's jobs from their settings; removes them when turned off."""
    daily, weekly = _names(user.user_id)
    for name in (daily, weekly):
        for job in app.job_queue.get_jobs_by_name(name):
            job.schedule_removal()
    tz = user.tzinfo
    if user.remind_at:
        app.job_queue.run_daily(
            _nudge, user.remind_at.replace(tzinfo=tz), name=daily, chat_id=user.user_id,
            user_id=user.user_id,
        )  # fmt: skip
    if user.weekly_day is not None:
        app.job_queue.run_daily(
            _weekly, dt.time(19, 0, tzinfo=tz), days=(_ptb_day(user.weekly_day),), name=weekly,
            chat_id=user.user_id, user_id=user.user_id,
        )  # fmt: skip


def _ptb_day(monday_zero: int) -> int:
    # PTB's run_daily counts days from Sunday = 0.
    return (monday_zero + 1) % 7


async def rebuild(app: Application) -> int:
    """At start-up: one job per opted-in person, so reminders survive a restart."""
    users = await app.bot_data["moodtune"].storage.users_with_reminders()
    for user in users:
        schedule(app, user)
    return len(users)


async def _nudge(context: ContextTypes.DEFAULT_TYPE) -> None:
    await _send(context, replies.NUDGE)


async def _weekly(context: ContextTypes.DEFAULT_TYPE) -> None:
    summary = await context.application.bot_data["moodtune"].history(context.job.user_id)
    await _send(context, "📅 Your week\n\n" + format_summary(summary))


async def _send(context: ContextTypes.DEFAULT_TYPE, text: str) -> None:
    try:
        await context.bot.send_message(context.job.chat_id, text)
    except Forbidden:
        # They blocked the bot: stop nudging rather than fail every day.
        context.job.schedule_removal()
    except TelegramError as e:
        log.warning("reminder not sent: %s", e)
