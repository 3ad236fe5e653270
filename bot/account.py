"""A person's side of the service: notes, the diary, settings, reminders and privacy. Part of
the one facade (bot/service.MoodTune inherits them); no Telegram types in or out."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as clock_time

from bot import zones
from bot.agenda import Claim
from bot.diary import UserSettings
from bot.history import HistorySummary, period_bounds, week_summary
from bot.storage import NOTE_MAX_CHARS, Storage
from bot.taste import families_of
from recommender.engine import Recommender
from recommender.moods import Strategy

# A claimed reminder is this worker's for this long (a send takes seconds; after a crash
# another worker sends it once the lease runs out), and one overdue by more than
# REMINDER_LATE (the bot was down) is skipped rather than sent at an odd hour.
REMINDER_LEASE = timedelta(minutes=10)
REMINDER_LATE = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Genres:
    offered: tuple[str, ...]  # every genre in the catalog
    chosen: tuple[str, ...]  # this person's favourites


class Account:
    """Notes, the diary, settings, reminders and privacy: MoodTune's (bot/service.py), which
    sets these attributes."""

    _recommender: Recommender
    _storage: Storage
    _clock: Callable[[], datetime]

    # -- notes on entries --------------------------------------------------------------------

    async def expect_note(self, user_id: int, entry_id: int) -> bool:
        """Their next text becomes a note on this entry, if it is theirs (else False)."""
        if await self._storage.get_entry(user_id, entry_id) is None:  # not theirs
            return False
        await self._storage.set_note_for(user_id, entry_id)
        return True

    async def take_note_for(self, user_id: int) -> int | None:
        """The entry their text is a note on, if one was awaited (and is no longer)."""
        return await self._storage.take_note_for(user_id)

    async def add_note(self, user_id: int, entry_id: int, text: str) -> str | None:
        """A line of their own on one of their entries; the note as kept, or None if the entry
        isn't theirs (or the text is blank)."""
        note = " ".join(text.split())[:NOTE_MAX_CHARS]
        if not note or not await self._storage.set_note(user_id, entry_id, note):
            return None
        return note

    # -- the diary and settings --------------------------------------------------------------

    async def history(self, user_id: int, days: int = 7, pages_back: int = 0) -> HistorySummary:
        """`days` local days ending today (or `pages_back` periods earlier), compared with the
        period before, in the person's time zone."""
        now = self._clock() - timedelta(days=days * max(0, pages_back))
        tz = (await self._storage.get_user_settings(user_id)).tzinfo
        start, end = period_bounds(now, tz, days)
        entries = await self._storage.entries_between(user_id, start - timedelta(days=days), end)
        return week_summary(entries, now=now, tz=tz, days=days, previous=entries)

    async def timezone(self, user_id: int) -> str:
        return (await self._storage.get_user_settings(user_id)).timezone

    async def set_timezone(self, user_id: int, name: str) -> UserSettings | None:
        """Their settings with the zone `name` resolves to (a city, an offset, an IANA name:
        bot/zones.py); None for one we don't know (also "Europe", a folder of the database)."""
        if (key := zones.resolve(name)) is None:
            return None
        try:
            return await self._storage.set_timezone(user_id, key, self._clock())
        except ValueError:
            return None

    async def language(self, user_id: int) -> str | None:
        """The language they chose with /language, or None (then their Telegram app's)."""
        return (await self._storage.get_user_settings(user_id)).language

    async def set_language(self, user_id: int, language: str) -> UserSettings:
        return await self._storage.set_language(user_id, language)

    async def keep_language(self, user_id: int, language: str) -> None:
        """Keep the language they are spoken to in, unless they chose one: reminders are sent
        without an update to read their Telegram app's language from."""
        if await self.language(user_id) is None:
            await self._storage.set_language(user_id, language)

    async def learns_face(self, user_id: int) -> bool:
        """Whether their corrections adapt how their selfies are read (the /settings switch)."""
        return (await self._storage.get_user_settings(user_id)).learn_face

    async def set_learn_face(self, user_id: int, on: bool) -> UserSettings:
        return await self._storage.set_learn_face(user_id, on)

    async def set_strategy(self, user_id: int, strategy: Strategy | None) -> None:
        await self._storage.set_strategy(user_id, strategy)

    async def genres(self, user_id: int) -> Genres:
        """The catalog's genres and this person's favourites among them."""
        settings = await self._storage.get_user_settings(user_id)
        offered = tuple(self._recommender.catalog.genres())
        return Genres(offered, families_of(settings.favourite_genres))

    async def toggle_genre(self, user_id: int, genre: str) -> Genres | None:
        """Add or remove a favourite genre family; None for one the catalog doesn't have."""
        offered = tuple(self._recommender.catalog.genres())
        if genre not in offered:
            return None
        settings = await self._storage.toggle_favourite_genre(user_id, genre, families_of)
        return Genres(offered, settings.favourite_genres)

    async def set_reminders(
        self, user_id: int, weekday: int | None, at: clock_time | None, language: str
    ) -> UserSettings:
        """/remind: off (neither given), a weekly summary on `weekday`, or a daily nudge `at`;
        the language they are spoken to in is kept for the nudges (see keep_language)."""
        if weekday is not None:
            person = await self.remind_weekly(user_id, weekday)
        elif at is not None:
            person = await self.remind_daily(user_id, at)
        else:
            person = await self.reminders_off(user_id)
        await self.keep_language(user_id, language)
        return person

    async def remind_daily(self, user_id: int, at: clock_time) -> UserSettings:
        return await self._storage.set_reminder(user_id, at, self._clock())

    async def remind_weekly(self, user_id: int, weekday: int) -> UserSettings:
        return await self._storage.set_weekly_day(user_id, weekday, self._clock())

    async def reminders_off(self, user_id: int) -> UserSettings:
        await self._storage.set_reminder(user_id, None, self._clock())
        return await self._storage.set_weekly_day(user_id, None, self._clock())

    async def due_reminders(self, limit: int) -> list[Claim]:
        """Claim up to `limit` reminders due now, for this worker alone (bot/agenda.py); any
        more than REMINDER_LATE overdue (the bot was down) are skipped, not sent at an odd
        hour."""
        now = self._clock()
        await self._storage.plan_unscheduled(now)
        claims = await self._storage.claim_due(now, REMINDER_LEASE, limit)
        for claim in claims:
            if now - claim.due_at > REMINDER_LATE:
                await self._storage.finish(claim, now)
        return [c for c in claims if now - c.due_at <= REMINDER_LATE]

    async def reminder_sent(self, claim: Claim) -> None:
        """Sent (or failed for good): due again at its next occurrence."""
        await self._storage.finish(claim, self._clock())

    # -- privacy -----------------------------------------------------------------------------

    async def export(
        self, user_id: int, headers: Sequence[str] | None = None
    ) -> tuple[bytes, bytes] | None:
        """Everything stored about this person as (CSV, JSON) bytes; None if we hold nothing
        (never asked, or after /delete): no empty files. `headers`: the CSV's column names as
        the person reads them (EXPORT_COLUMNS' order); the JSON keeps the stored names."""
        data = await self._storage.export_user(user_id)
        if data["user"] is None and not data["readings"] and not data["feedback"]:
            return None
        csv_bytes = export_csv(data, headers)
        return csv_bytes, json.dumps(data, indent=2, ensure_ascii=False).encode()

    async def erase(self, user_id: int) -> int:
        """Delete every row about this person; returns how many rows went."""
        return await self._storage.delete_user(user_id)

    async def purge(self, retention_days: int) -> int:
        return await self._storage.purge_older_than(self._clock() - timedelta(days=retention_days))


EXPORT_COLUMNS = (
    "id", "created_at", "source", "emotion", "confidence", "corrected_emotion", "mood",
    "track_ids", "probabilities", "unsure", "note",
)  # fmt: skip


def export_csv(data: dict, headers: Sequence[str] | None = None) -> bytes:
    """One row per reading; lists and dicts as JSON inside their cell."""
    if headers is not None and len(headers) != len(EXPORT_COLUMNS):
        raise ValueError(f"{len(EXPORT_COLUMNS)} headers expected, got {len(headers)}")
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(headers or EXPORT_COLUMNS)
    for r in data["readings"]:
        writer.writerow(
            [
                json.dumps(r.get(c)) if isinstance(r.get(c), (list, dict)) else r.get(c, "")
                for c in EXPORT_COLUMNS
            ]
        )
    return buf.getvalue().encode()
