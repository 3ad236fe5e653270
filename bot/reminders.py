"""Opt-in daily nudges and weekly summaries: what people type into /remind, and each worker's
loop that claims the due ones from the database (bot/agenda.py) and sends them.

The loop is a repeating job on the Application's JobQueue, so every worker runs one whatever
brings its updates (polling or webhook), and it stops with the Application.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

from telegram import Bot
from telegram.error import Forbidden, TelegramError

from bot import i18n, replies
from bot.agenda import Claim, Kind
from bot.context import Context, MoodTuneApp, job_queue
from bot.service import MoodTune

log = logging.getLogger(__name__)

TICK = 20.0  # seconds between a worker's scans for due reminders (they are sent to the minute)
BATCH = 25  # reminders claimed at once; each is sent well within the lease (bot/account.py)

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


def start(app: MoodTuneApp) -> None:
    """Scan for due reminders every TICK seconds on this worker, from now until it stops."""
    job_queue(app).run_repeating(_tick, interval=TICK, first=TICK, name="reminders")


async def _tick(context: Context) -> None:
    await deliver(context.bot, context.moodtune)


async def deliver(bot: Bot, service: MoodTune) -> int:
    """Claim and send every reminder due now, a batch at a time; returns how many were sent.
    Workers running this at once share the due ones out: each is claimed by one of them."""
    sent = 0
    while claims := await service.due_reminders(BATCH):
        for claim in claims:
            try:
                sent += await _send(bot, service, claim)
            except Exception:
                # Left leased: after the lease another worker (or this one) tries again.
                log.exception("reminder %s for %d failed", claim.kind, claim.user_id)
    return sent


async def _send(bot: Bot, service: MoodTune, claim: Claim) -> bool:
    # A reminder has no update to read a language_code from: the one kept when they opted in.
    i18n.use(await service.language(claim.user_id))
    if claim.kind is Kind.DAILY:
        text = replies.NUDGE
    else:
        text = replies.weekly_summary_text(await service.history(claim.user_id))
    try:
        await bot.send_message(claim.user_id, text)
    except Forbidden:
        # They blocked the bot: stop reminding them rather than fail every day.
        await service.reminders_off(claim.user_id)
        return False
    except TelegramError as e:
        log.warning("reminder not sent: %s", e)
        await service.reminder_sent(claim)  # not retried: the next one is due as usual
        return False
    await service.reminder_sent(claim)
    return True
