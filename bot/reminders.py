"""Opt-in daily nudges and weekly summaries, as PTB JobQueue jobs rebuilt from the diary."""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Any

from telegram.error import Forbidden, TelegramError
from telegram.ext import Application, Job

from bot import i18n, replies
from bot.context import Context, MoodTuneApp, job_queue
from bot.diary import UserSettings

log = logging.getLogger(__name__)

WEEKLY_AT = dt.time(19, 0)  # local time of the weekly summary

# "8:30", "08:30", "8am", "8 am", "8.30pm", "20h", "20:00h", "8"
# ASCII digits only: \d also takes other scripts' digits ("٩"), which no one means here.
_CLOCK = re.compile(r"([0-9]{1,2})(?:[:.h]([0-9]{2}))?\s*(am|a\.m\.|pm|p\.m\.|h)?")


@dataclass(frozen=True, slots=True)
class Wish:
    """What `/remind ...` asks for: off, a weekly summary on `weekday`, or a daily nudge `at`."""

    weekday: int | None = None
    at: dt.time | None = None

    @property
    def off(self) -> bool:
        return self.weekday is None and self.at is None


def parse_wish(words: list[str]) -> Wish | None:
    """`off`, `weekly sun`, `8am`, `20:30`...; None for anything else (or nothing)."""
    match [w.lower() for w in words]:
        case ["off"]:
            return Wish()
        case ["weekly", day] if day[:3] in replies.WEEKDAYS:
            return Wish(weekday=replies.WEEKDAYS.index(day[:3]))
        case [*rest] if rest and (at := parse_time(" ".join(rest))):
            return Wish(at=at)
    return None


def parse_time(text: str) -> dt.time | None:
    """A time of day as people type it (24-hour, or with am/pm); None if it isn't one."""
    m = _CLOCK.fullmatch(text.strip().lower())
    if not m:
        return None
    hour, minute, suffix = int(m[1]), int(m[2] or 0), (m[3] or "").replace(".", "")
    if suffix in ("am", "pm"):
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return dt.time(hour, minute)


def _names(user_id: int) -> tuple[str, str]:
    return f"remind:{user_id}", f"weekly:{user_id}"


def schedule(app: Application[Any, Any, Any, Any, Any, Any], person: UserSettings) -> None:
    """(Re)create this person's jobs from their settings; removes them when turned off."""
    jobs = job_queue(app)
    daily, weekly = _names(person.user_id)
    for name in (daily, weekly):
        for job in jobs.get_jobs_by_name(name):
            job.schedule_removal()
    tz, user_id = person.tzinfo, person.user_id
    if person.remind_at:
        jobs.run_daily(
            _nudge, person.remind_at.replace(tzinfo=tz), name=daily, chat_id=user_id,
            user_id=user_id,
        )  # fmt: skip
    if person.weekly_day is not None:
        jobs.run_daily(
            _weekly, WEEKLY_AT.replace(tzinfo=tz), days=(_ptb_day(person.weekly_day),),
            name=weekly, chat_id=user_id, user_id=user_id,
        )  # fmt: skip


def _ptb_day(monday_zero: int) -> int:
    # PTB's run_daily counts days from Sunday = 0.
    return (monday_zero + 1) % 7


async def rebuild(app: MoodTuneApp) -> int:
    """At start-up: one job per opted-in person, so reminders survive a restart."""
    people = await app.bot_data.moodtune.people_with_reminders()
    for person in people:
        schedule(app, person)
    return len(people)


async def _nudge(context: Context) -> None:
    await _speak_their_language(context)
    await _send(context, replies.NUDGE)


async def _weekly(context: Context) -> None:
    await _speak_their_language(context)
    summary = await context.moodtune.history(_job(context)[1])
    await _send(context, replies.weekly_summary_text(summary))


async def _speak_their_language(context: Context) -> None:
    # A job has no update to read a language_code from: the one kept when they opted in.
    i18n.use(await context.moodtune.language(_job(context)[1]))


async def _send(context: Context, text: str) -> None:
    job, user_id = _job(context)
    try:
        await context.bot.send_message(user_id, text)
    except Forbidden:
        # They blocked the bot: stop nudging rather than fail every day.
        job.schedule_removal()
    except TelegramError as e:
        log.warning("reminder not sent: %s", e)


def _job(context: Context) -> tuple[Job[Any], int]:
    """The running job and its person (`schedule` makes their private chat the job's chat)."""
    job = context.job
    if job is None or job.chat_id is None:
        raise RuntimeError("a reminder job without its person")
    return job, job.chat_id
