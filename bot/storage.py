"""The mood diary in SQLite: the only module that queries the database.

* Every public method takes ``user_id`` and scopes every statement by it, so a forged or stale
  entry id from a button can never reach another person's rows. ``purge_older_than`` and
  ``corrections`` are the maintenance exceptions: scoped by time, for everyone.
* One unit of work per call, in one transaction (see bot/database.py), so what the service
  needs about a person is one read and a reading with its songs one write. A unit that reads
  and then writes locks the row it depends on first (`for_update`), so concurrent workers on
  PostgreSQL can't lose each other's changes.
* No photos and no Telegram file ids are ever stored: only what the model read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, overload

from bot.database import Connection, for_update, from_db_time, to_db_time
from bot.diary import MoodEntry, PersonState, Source, UserSettings
from bot.maintenance import Maintenance
from bot.people import USERS_SQL, People, ensure_user
from bot.rows import (
    check_confidence,
    check_probabilities,
    check_tracks,
    check_user,
    entry_from_row,
    feedback_from_row,
    outcome_from_row,
    settings_from_row,
)
from models.emotion import Emotion
from recommender.track import Mood

_RECENT_TRACKS_SQL = """
    SELECT DISTINCT rec.track_id
    FROM readings AS r JOIN recommendations AS rec ON rec.reading_id = r.id
    WHERE r.user_id = ? AND r.created_at >= ?
"""
# The learned read looks at this many of a person's latest face readings at most.
OUTCOMES_LIMIT = 500
NOTE_MAX_CHARS = 500


class _Erased(Exception):
    """The person erased their data while this reading was being made: roll it back."""


class Storage(People, Maintenance):
    """Async access to the diary; open with `await Storage.open(path or URL)`."""

    # -- readings ----------------------------------------------------------------------------

    # Without `not_erased_since` a reading is always stored; with it, maybe not (None).
    @overload
    async def add_reading(
        self,
        user_id: int,
        *,
        emotion: Emotion | None,
        confidence: float | None,
        probabilities: Mapping[Emotion, float] | None,
        track_ids: Sequence[str] = (),
        mood: Mood | None = None,
        source: Source = Source.FACE,
        at: datetime | None = None,
        unsure: bool = False,
        update_id: int | None = None,
        not_erased_since: None = None,
    ) -> MoodEntry: ...
    @overload
    async def add_reading(
        self,
        user_id: int,
        *,
        emotion: Emotion | None,
        confidence: float | None,
        probabilities: Mapping[Emotion, float] | None,
        track_ids: Sequence[str] = (),
        mood: Mood | None = None,
        source: Source = Source.FACE,
        at: datetime | None = None,
        unsure: bool = False,
        update_id: int | None = None,
        not_erased_since: datetime,
    ) -> MoodEntry | None: ...
    async def add_reading(
        self,
        user_id: int,
        *,
        emotion: Emotion | None,
        confidence: float | None,
        probabilities: Mapping[Emotion, float] | None,
        track_ids: Sequence[str] = (),
        mood: Mood | None = None,
        source: Source = Source.FACE,
        at: datetime | None = None,
        unsure: bool = False,
        update_id: int | None = None,
        not_erased_since: datetime | None = None,
    ) -> MoodEntry | None:
        """Store one reading and the songs suggested with it, in one transaction. `unsure`:
        the bot couldn't tell, so `emotion` is only its guess; `update_id`: the Telegram update
        it came from, one reading per update; `not_erased_since`: when the reading started,
        None (nothing stored) if the person erased their data since. The entry's `first` says
        whether it is the person's first, decided under the lock on their row."""
        user_id = check_user(user_id)
        emo = Emotion.parse(emotion) if emotion is not None else None
        conf = check_confidence(confidence)
        probs = check_probabilities(probabilities)
        tracks = check_tracks(track_ids)
        mood_value = Mood.parse(mood).value if mood is not None else None
        source = Source(source)
        if emo is None and mood_value is None:
            raise ValueError("a reading needs an emotion or a mood")
        if source is Source.FACE and emo is None:
            raise ValueError("a face reading needs an emotion")
        created = to_db_time(at if at is not None else datetime.now(UTC))
        since = None if not_erased_since is None else to_db_time(not_erased_since)
        values = (
            user_id,
            created,
            emo.value if emo else None,
            conf,
            json.dumps({e.value: p for e, p in probs.items()}),
            mood_value,
            source.value,
            int(bool(unsure)),
            update_id,
        )

        async def unit(db: Connection) -> MoodEntry:
            await ensure_user(db, user_id, created)
            # The person's row lock orders this against their /delete (which takes it first)
            # and against their other readings, for the first-reading flag.
            await db.execute(
                f"SELECT user_id FROM users WHERE user_id = ?{for_update(db)}", (user_id,)
            )
            if since is not None and await db.fetchone(
                "SELECT 1 FROM erasures WHERE user_id = ? AND erased_at >= ?", (user_id, since)
            ):
                raise _Erased  # rolls back the user row made above too
            had = await db.fetchone(
                "SELECT EXISTS (SELECT 1 FROM readings WHERE user_id = ?) AS had", (user_id,)
            )
            # One reading per update: a redelivered one inserts nothing and gets what its
            # first delivery stored (no read before every selfie to find that out).
            row = await db.fetchone(
                "INSERT INTO readings (user_id, created_at, emotion, confidence,"
                " probabilities, mood, source, unsure, update_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (update_id) WHERE update_id IS NOT NULL DO NOTHING RETURNING id",
                values,
            )
            if row is None:
                kept = await _select(db, "r.user_id = ? AND r.update_id = ?", (user_id, update_id))
                if not kept:  # the update's reading is someone else's: a forged update
                    raise _Erased
                return replace(kept[0], again=True)
            assert had is not None
            entry_id = int(row["id"])
            await _insert_tracks(db, entry_id, tracks)
            return MoodEntry(
                id=entry_id,
                user_id=user_id,
                created_at=from_db_time(created),
                emotion=emo,
                confidence=conf,
                probabilities=probs,
                mood=mood_value,
                corrected_emotion=None,
                track_ids=tracks,
                source=source,
                unsure=bool(unsure),
                first=not had["had"],
            )

        try:
            return await self._in_write(unit)
        except _Erased:
            return None

    async def get_entry(self, user_id: int, entry_id: int) -> MoodEntry | None:
        """One of this user's entries, or None (also when the id is someone else's)."""
        entries = await self._load("r.user_id = ? AND r.id = ?", (user_id, entry_id))
        return entries[0] if entries else None

    async def entries_between(
        self, user_id: int, start: datetime, end: datetime
    ) -> list[MoodEntry]:
        """This user's entries with start <= created_at < end, oldest first."""
        return await self._load(
            "r.user_id = ? AND r.created_at >= ? AND r.created_at < ?",
            (user_id, to_db_time(start), to_db_time(end)),
        )

    async def _load(self, where: str, params: tuple[Any, ...]) -> list[MoodEntry]:
        async def unit(db: Connection) -> list[MoodEntry]:
            return await _select(db, where, params)

        return await self._in_read(unit)

    async def set_mood(
        self, user_id: int, entry_id: int, mood: Mood, track_ids: Sequence[str]
    ) -> bool:
        """Record the follow-up mood and its songs, once: False if the entry is missing, not
        this user's, or already has a mood (a double press or forged button changes nothing)."""
        mood_value = Mood.parse(mood).value
        tracks = check_tracks(track_ids)
        async with self._write() as db:
            affected = await db.execute(
                "UPDATE readings SET mood = ? WHERE id = ? AND user_id = ? AND mood IS NULL",
                (mood_value, entry_id, user_id),
            )
            changed = affected == 1
            if changed:
                await db.execute("DELETE FROM recommendations WHERE reading_id = ?", (entry_id,))
                await _insert_tracks(db, entry_id, tracks)
        return changed

    async def set_recommendations(
        self, user_id: int, entry_id: int, track_ids: Sequence[str]
    ) -> bool:
        """Replace the songs suggested for one of this user's entries; False if not theirs."""
        tracks = check_tracks(track_ids)
        async with self._write() as db:
            if not await _owns(db, user_id, entry_id):
                return False
            await db.execute("DELETE FROM recommendations WHERE reading_id = ?", (entry_id,))
            await _insert_tracks(db, entry_id, tracks)
        return True

    async def add_recommendations(
        self, user_id: int, entry_id: int, track_ids: Sequence[str]
    ) -> bool:
        """Append songs to one of this user's entries, after those it has; False if not
        theirs. Under the entry's row lock, so two "more songs" at once both land instead of
        one replacing the list with what it read before the other wrote."""
        tracks = check_tracks(track_ids)
        async with self._write() as db:
            if not await _owns(db, user_id, entry_id):
                return False
            row = await db.fetchone(
                "SELECT coalesce(max(position), -1) + 1 AS next FROM recommendations"
                " WHERE reading_id = ?",
                (entry_id,),
            )
            assert row is not None
            await _insert_tracks(db, entry_id, tracks, int(row["next"]))
        return True

    async def correct_emotion(self, user_id: int, entry_id: int, emotion: Emotion) -> bool:
        """Record the person's own emotion for an entry (may be changed again); False if not
        this user's entry."""
        emo = Emotion.parse(emotion)
        async with self._write() as db:
            affected = await db.execute(
                "UPDATE readings SET corrected_emotion = ? WHERE id = ? AND user_id = ?",
                (emo.value, entry_id, user_id),
            )
            changed = affected == 1
        return changed

    async def set_note(self, user_id: int, entry_id: int, note: str | None) -> bool:
        """A line of the person's own on one of their entries (None removes it); False if the
        entry isn't theirs."""
        text = " ".join(note.split())[:NOTE_MAX_CHARS] if note else None
        async with self._write() as db:
            affected = await db.execute(
                "UPDATE readings SET note = ? WHERE id = ? AND user_id = ?",
                (text or None, entry_id, user_id),
            )
            changed = affected == 1
        return changed

    async def count_readings(self, user_id: int) -> int:
        """How many entries this user has."""
        async with self._read() as db:
            row = await db.fetchone("SELECT count(*) FROM readings WHERE user_id = ?", (user_id,))
        assert row is not None
        return int(row[0])

    # -- the person --------------------------------------------------------------------------

    async def person(
        self, user_id: int, since: datetime, active_since: datetime | None = None
    ) -> PersonState:
        """What the service needs about this person, in one read: their settings, the tracks
        suggested to them since `since`, their feedback, their latest face readings (for the learned read) and when their entries since
        `active_since` (default `since`) were made (for the streak)."""
        active_from, recent_from = to_db_time(active_since or since), to_db_time(since)

        async def unit(db: Connection) -> PersonState:
            outcomes = await db.fetch(
                "SELECT emotion, probabilities, corrected_emotion, unsure FROM readings"
                " WHERE user_id = ? AND source = 'face' AND emotion IS NOT NULL"
                " ORDER BY created_at DESC, id DESC LIMIT ?",
                (user_id, OUTCOMES_LIMIT),
            )
            times = await db.fetch(
                "SELECT created_at FROM readings WHERE user_id = ? AND created_at >= ?"
                " ORDER BY created_at",
                (user_id, active_from),
            )
            users = await db.fetch(f"{USERS_SQL} WHERE user_id = ?", (user_id,))
            recent = await db.fetch(_RECENT_TRACKS_SQL, (user_id, recent_from))
            feedback = await db.fetch(
                "SELECT track_id, artist, genre, value, created_at FROM feedback"
                " WHERE user_id = ? ORDER BY created_at, id",
                (user_id,),
            )
            # Built inside the unit: on SQLite that is on the database thread, off the loop.
            return PersonState(
                settings=next((settings_from_row(row) for row in users), UserSettings(user_id)),
                recent_track_ids=frozenset(row[0] for row in recent),
                feedback=tuple(feedback_from_row(row) for row in feedback),
                outcomes=tuple(outcome_from_row(row) for row in outcomes),
                active_times=tuple(from_db_time(row[0]) for row in times),
            )

        return await self._in_read(unit)

    async def add_feedback(
        self,
        user_id: int,
        track_id: str,
        value: int,
        *,
        artist: str = "",
        genre: str = "",
        at: datetime | None = None,
    ) -> None:
        """Record a thumbs up (+1) or down (-1) on a track; replaces any earlier opinion."""
        user_id = check_user(user_id)
        (track_id,) = check_tracks([track_id])
        if isinstance(value, bool) or value not in (1, -1):
            raise ValueError(f"feedback value must be +1 or -1, got {value!r}")
        created = to_db_time(at if at is not None else datetime.now(UTC))
        async with self._write() as db:
            await ensure_user(db, user_id, created)
            await db.execute(
                "INSERT INTO feedback (user_id, track_id, artist, genre, value, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (user_id, track_id) DO UPDATE SET artist = excluded.artist,"
                " genre = excluded.genre, value = excluded.value,"
                " created_at = excluded.created_at",
                (user_id, track_id, str(artist), str(genre), int(value), created),
            )

    async def remove_feedback(self, user_id: int, track_id: str) -> bool:
        """Forget this user's opinion of a track (an undone 👍/👎); False if there was none."""
        async with self._write() as db:
            affected = await db.execute(
                "DELETE FROM feedback WHERE user_id = ? AND track_id = ?", (user_id, track_id)
            )
            removed = affected == 1
        return removed


# -- helpers -------------------------------------------------------------------------


async def _select(db: Connection, where: str, params: Sequence[Any]) -> list[MoodEntry]:
    # `where` is always one of our literals; values go through parameters.
    rows = await db.fetch(
        f"SELECT r.* FROM readings AS r WHERE {where} ORDER BY r.created_at, r.id", params
    )
    recs = await db.fetch(
        "SELECT rec.reading_id, rec.track_id FROM readings AS r"
        " JOIN recommendations AS rec ON rec.reading_id = r.id"
        f" WHERE {where} ORDER BY rec.reading_id, rec.position",
        params,
    )
    tracks: dict[int, list[str]] = {}
    for rec in recs:
        tracks.setdefault(rec["reading_id"], []).append(rec["track_id"])
    return [entry_from_row(row, tracks.get(row["id"], ())) for row in rows]


async def _owns(db: Connection, user_id: int, entry_id: int) -> bool:
    # Locks the entry's row: what is done to its songs next waits for, and is seen by, others.
    row = await db.fetchone(
        f"SELECT 1 FROM readings WHERE id = ? AND user_id = ?{for_update(db)}", (entry_id, user_id)
    )
    return row is not None


async def _insert_tracks(
    db: Connection, entry_id: int, tracks: Iterable[str], start: int = 0
) -> None:
    await db.executemany(
        "INSERT INTO recommendations (reading_id, position, track_id) VALUES (?, ?, ?)",
        [(entry_id, i, t) for i, t in enumerate(tracks, start)],
    )
