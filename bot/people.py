"""A person's settings in the diary: time zone, language, strategy, favourite genres,
reminders, face learning. Part of the one storage interface (bot/storage.Storage inherits
them); the rules of bot/storage.py hold here too."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.agenda import Agenda
from bot.database import Connection, for_update, to_db_time
from bot.diary import UserSettings
from bot.rows import check_user, settings_from_row
from recommender.moods import Strategy

USER_COLUMNS = (
    "user_id, timezone, strategy, created_at, favourite_genres, remind_at, weekly_day, learn_face"
    ", language"
)
USERS_SQL = f"SELECT {USER_COLUMNS} FROM users"


class People(Agenda):
    """Per-person settings; each setter returns the settings as stored afterwards. On
    Agenda, whose reminder rows follow the settings."""

    async def get_user_settings(self, user_id: int) -> UserSettings:
        """This user's settings, or the defaults if we have none stored."""

        async def unit(db: Connection) -> UserSettings:
            rows = await db.fetch(f"{USERS_SQL} WHERE user_id = ?", (user_id,))
            return next((settings_from_row(row) for row in rows), UserSettings(user_id))

        return await self._in_read(unit)

    # The reminder settings and the time zone also (re)plan the reminder rows (bot/agenda.py)
    # in the same transaction, due next after `now` (default: the real clock).

    async def set_reminder(
        self, user_id: int, remind_at: time | None, now: datetime | None = None
    ) -> UserSettings:
        """Daily nudge at this local time (to the minute), or None to stop."""
        value = None if remind_at is None else f"{remind_at:%H:%M}"
        return await self._set_user_column(user_id, "remind_at", value, now)

    async def set_weekly_day(
        self, user_id: int, day: int | None, now: datetime | None = None
    ) -> UserSettings:
        """Weekly summary on this weekday (0 = Monday), or None to stop."""
        if day is not None and day not in range(7):
            raise ValueError(f"weekday must be 0..6, got {day!r}")
        return await self._set_user_column(user_id, "weekly_day", day, now)

    async def set_favourite_genres(self, user_id: int, genres: Sequence[str]) -> UserSettings:
        """Replace this user's favourite genres (names as in the catalog)."""
        names = sorted({str(g).strip().lower() for g in genres if str(g).strip()})
        return await self._set_user_column(user_id, "favourite_genres", json.dumps(names))

    async def toggle_favourite_genre(
        self,
        user_id: int,
        genre: str,
        normalise: Callable[[Sequence[str]], Iterable[str]] = tuple,
    ) -> UserSettings:
        """Add `genre` to this user's favourites, or remove it if there, in one unit of work
        (their row locked between the read and the write). `normalise` maps the stored names
        first (e.g. to genre families)."""
        user_id = check_user(user_id)
        name = str(genre).strip().lower()
        async with self._write() as db:
            await ensure_user(db, user_id, to_db_time(datetime.now(UTC)))
            row = await db.fetchone(
                f"SELECT favourite_genres FROM users WHERE user_id = ?{for_update(db)}",
                (user_id,),
            )
            assert row is not None
            names = set(normalise(json.loads(row["favourite_genres"]))) ^ {name}
            rows = await db.fetch(
                f"UPDATE users SET favourite_genres = ? WHERE user_id = ? RETURNING {USER_COLUMNS}",
                (json.dumps(sorted(names)), user_id),
            )
        return settings_from_row(rows[0])

    async def set_timezone(
        self, user_id: int, timezone: str, now: datetime | None = None
    ) -> UserSettings:
        """Set the IANA time zone (e.g. 'Europe/Berlin') used for days in the history."""
        name = timezone.strip()
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {timezone!r}") from None
        return await self._set_user_column(user_id, "timezone", name, now)

    async def set_language(self, user_id: int, language: str | None) -> UserSettings:
        """The language to speak with them ('en', 'ko', 'es'); None: their Telegram app's."""
        if language is not None and language not in ("en", "ko", "es"):
            raise ValueError(f"unsupported language {language!r}")
        return await self._set_user_column(user_id, "language", language)

    async def set_learn_face(self, user_id: int, on: bool) -> UserSettings:
        """Whether their own corrections adapt how their selfies are read."""
        return await self._set_user_column(user_id, "learn_face", int(bool(on)))

    async def set_strategy(self, user_id: int, strategy: Strategy | None) -> UserSettings:
        """Set match (songs that fit the mood) or lift (songs to lift it); None = default."""
        value = None if strategy is None else Strategy.parse(strategy).value
        return await self._set_user_column(user_id, "strategy", value)

    async def set_note_for(self, user_id: int, entry_id: int | None) -> None:
        """The entry their next text message is a note on; None: no note awaited."""
        await self._set_user_column(user_id, "note_for", entry_id)

    async def take_note_for(self, user_id: int) -> int | None:
        """The entry a note is awaited on, no longer awaited (their row locked between the
        read and the write, so one text takes it); None if none was."""
        user_id = check_user(user_id)

        async def unit(db: Connection) -> int | None:
            row = await db.fetchone(
                f"SELECT note_for FROM users WHERE user_id = ?{for_update(db)}", (user_id,)
            )
            if row is None or row["note_for"] is None:
                return None
            await db.execute("UPDATE users SET note_for = NULL WHERE user_id = ?", (user_id,))
            return int(row["note_for"])

        return await self._in_write(unit)

    async def _set_user_column(
        self, user_id: int, column: str, value: str | int | None, now: datetime | None = None
    ) -> UserSettings:
        user_id = check_user(user_id)
        async with self._write() as db:
            await ensure_user(db, user_id, to_db_time(datetime.now(UTC)))
            # `column` is one of our literals, never user input.
            rows = await db.fetch(
                f"UPDATE users SET {column} = ? WHERE user_id = ? RETURNING {USER_COLUMNS}",
                (value, user_id),
            )
            person = settings_from_row(next(iter(rows)))
            if column in ("remind_at", "weekly_day", "timezone"):
                await self._plan(db, person, now or datetime.now(UTC))
        return person


async def ensure_user(db: Connection, user_id: int, created: str) -> None:
    """The person's row, made with default settings if they have none yet."""
    await db.execute(
        "INSERT INTO users (user_id, created_at) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING",
        (user_id, created),
    )
