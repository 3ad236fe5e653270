"""The diary's queries across or about whole people: export, erase, retention purge, and the
corrections counted for evaluation. Part of the one storage interface (bot/storage.Storage
inherits them); kept apart so each module stays one concern."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.database import Database, for_update, from_db_time, to_db_time

# How long an erasure's tombstone is kept: far longer than any selfie takes to be read.
KEEP_TOMBSTONES = timedelta(days=1)


class Maintenance(Database):
    """Whole-person and whole-diary queries; see bot/storage.py for the rules they keep."""

    async def corrections(self) -> tuple[int, list[dict[str, Any]]]:
        """(face readings in total, every corrected face reading) across all users, without
        user ids: how often the model is wrong in real use, for evaluation."""
        async with self._read() as db:
            total = await db.fetchone("SELECT count(*) FROM readings WHERE source = 'face'")
            rows = await db.fetch(
                "SELECT created_at, emotion, confidence, corrected_emotion, probabilities"
                " FROM readings WHERE source = 'face' AND corrected_emotion IS NOT NULL"
                " ORDER BY created_at"
            )
        assert total is not None
        return int(total[0]), [
            {**dict(r), "probabilities": json.loads(r["probabilities"])} for r in rows
        ]

    async def correction_timeline(self) -> list[dict[str, Any]]:
        """Face readings and corrections per person per week (UTC, weeks start on Monday),
        people numbered 1, 2, ... by their first reading: no user ids leave this method."""
        async with self._read() as db:
            rows = await db.fetch(
                "SELECT user_id, created_at, corrected_emotion IS NOT NULL AS corrected"
                " FROM readings WHERE source = 'face' ORDER BY created_at, id"
            )
        people: dict[int, int] = {}
        weeks: dict[tuple[int, str], list[int]] = {}
        for row in rows:
            person = people.setdefault(row["user_id"], len(people) + 1)
            day = from_db_time(row["created_at"]).date()
            week = (day - timedelta(days=day.weekday())).isoformat()
            counts = weeks.setdefault((person, week), [0, 0])
            counts[0] += 1
            counts[1] += int(row["corrected"])
        return [
            {"person": person, "week": week, "readings": n, "corrected": c}
            for (person, week), (n, c) in sorted(weeks.items())
        ]

    async def export_user(self, user_id: int) -> dict[str, Any]:
        """Everything stored about this user, as JSON-serialisable data."""
        async with self._read() as db:
            version = await self._backend.version(db)
            user = await db.fetchone("SELECT * FROM users WHERE user_id = ?", (user_id,))
            readings = await db.fetch(
                "SELECT * FROM readings WHERE user_id = ? ORDER BY created_at, id", (user_id,)
            )
            recs = await db.fetch(
                "SELECT rec.* FROM recommendations AS rec JOIN readings AS r"
                " ON r.id = rec.reading_id WHERE r.user_id = ?"
                " ORDER BY rec.reading_id, rec.position",
                (user_id,),
            )
            feedback = await db.fetch(
                "SELECT * FROM feedback WHERE user_id = ? ORDER BY created_at, id", (user_id,)
            )
        tracks: dict[int, list[str]] = {}
        for rec in recs:
            tracks.setdefault(rec["reading_id"], []).append(rec["track_id"])
        # SELECT * so that columns added by later migrations are exported without edits here.
        exported_readings = []
        for row in readings:
            item = dict(row)
            item["probabilities"] = json.loads(item["probabilities"])
            item["track_ids"] = tracks.get(row["id"], [])
            exported_readings.append(item)
        return {
            "user_id": user_id,
            "exported_at": to_db_time(datetime.now(UTC)),
            "schema_version": version,
            "user": dict(user) if user is not None else None,
            "readings": exported_readings,
            "feedback": [dict(row) for row in feedback],
        }

    async def delete_user(self, user_id: int, at: datetime | None = None) -> int:
        """Erase every row about this user, in one transaction; returns rows deleted. A
        tombstone (user id, time) stays a day so a reading begun before `at` (default now),
        on any worker, is not written back (see Storage.add_reading)."""
        deleted = 0
        erased_at = to_db_time(at if at is not None else datetime.now(UTC))
        async with self._write() as db:
            await db.execute(
                "INSERT INTO erasures (user_id, erased_at) VALUES (?, ?) ON CONFLICT (user_id)"
                " DO UPDATE SET erased_at = excluded.erased_at",
                (user_id, erased_at),
            )
            # Their row lock first, as add_reading takes it: a reading in flight either lands
            # before this (and is deleted below) or waits and then sees the tombstone.
            await db.execute(
                f"SELECT user_id FROM users WHERE user_id = ?{for_update(db)}", (user_id,)
            )
            # Explicit deletes, children first, so the count includes what cascades would hide.
            for sql in (
                "DELETE FROM recommendations WHERE reading_id IN"
                " (SELECT id FROM readings WHERE user_id = ?)",
                "DELETE FROM readings WHERE user_id = ?",
                "DELETE FROM feedback WHERE user_id = ?",
                "DELETE FROM reminders WHERE user_id = ?",
                "DELETE FROM users WHERE user_id = ?",
            ):
                deleted += await db.execute(sql, (user_id,))
        await self._checkpoint()
        return deleted

    async def purge_older_than(self, cutoff: datetime) -> int:
        """Delete every user's readings (with their songs) and feedback older than `cutoff`,
        and erasure tombstones older than a day; settings stay. Returns rows deleted. One
        worker at a time: another that finds the purge running skips it (returns 0)."""
        limit = to_db_time(cutoff)
        tombstones = to_db_time(datetime.now(UTC) - KEEP_TOMBSTONES)
        deleted = 0
        async with self._exclusive("purge") as db:
            if db is None:
                return 0
            # Bookkeeping, not the diary: not counted in what was purged.
            await db.execute("DELETE FROM erasures WHERE erased_at < ?", (tombstones,))
            for sql in (
                "DELETE FROM recommendations WHERE reading_id IN"
                " (SELECT id FROM readings WHERE created_at < ?)",
                "DELETE FROM readings WHERE created_at < ?",
                "DELETE FROM feedback WHERE created_at < ?",
            ):
                deleted += await db.execute(sql, (limit,))
        if deleted:
            await self._checkpoint()
        return deleted
