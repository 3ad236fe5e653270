"""Storage against a real SQLite file: schema, scoping, privacy and concurrency."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest

from bot.database import MIGRATIONS, SCHEMA_VERSION, SchemaTooNew
from bot.diary import Source, UserSettings
from bot.storage import Storage
from models.emotion import Emotion
from recommender.moods import Strategy

T0 = datetime(2025, 3, 9, 12, 0, tzinfo=UTC)
PROBS = {Emotion.HAPPY: 0.8, Emotion.SAD: 0.1, Emotion.NEUTRAL: 0.1}
A, B = 111, 222


@pytest.fixture
async def storage(database_url):
    """A fresh diary on each backend (SQLite file, PostgreSQL database)."""
    s = await Storage.open(database_url)
    yield s
    await s.close()


async def happy(storage: Storage, user_id: int = A, **kw):
    kw.setdefault("track_ids", ["t1", "t2"])
    kw.setdefault("at", T0)
    return await storage.add_reading(
        user_id, emotion=Emotion.HAPPY, confidence=0.8, probabilities=PROBS, **kw
    )


async def recent(storage: Storage, user_id: int, since: datetime) -> frozenset[str]:
    return (await storage.person(user_id, since)).recent_track_ids


async def feedback(storage: Storage, user_id: int):
    return (await storage.person(user_id, T0)).feedback


def columns(path, table: str) -> set[str]:
    with closing(sqlite3.connect(path)) as db, db:
        return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


async def table_columns(storage: Storage, table: str) -> set[str]:
    """The columns of a table as the database itself lists them, on either backend."""
    async with storage._read() as db:
        if db.dialect == "sqlite":
            return {row[1] for row in await db.fetch(f"PRAGMA table_info({table})")}
        rows = await db.fetch(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ?",
            (table,),
        )
        return {row[0] for row in rows}


async def test_open_creates_dirs_wal_and_latest_schema(tmp_path):
    path = tmp_path / "a" / "b" / "db.sqlite3"
    async with await Storage.open(path) as s:
        assert await s.schema_version() == SCHEMA_VERSION == len(MIGRATIONS)
        await happy(s)
    with closing(sqlite3.connect(path)) as db, db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"users", "readings", "recommendations", "feedback"} <= tables
    # Re-opening is a no-op that keeps the data.
    async with await Storage.open(path) as s:
        assert await s.schema_version() == SCHEMA_VERSION
        assert await s.count_readings(A) == 1


async def test_upgrade_from_v1_keeps_data(tmp_path):
    path = tmp_path / "old.sqlite3"
    with closing(sqlite3.connect(path)) as db, db:  # a database as the first release left it
        for statement in MIGRATIONS[0].sqlite:
            db.execute(statement)
        db.execute("PRAGMA user_version = 1")
        db.execute(
            "INSERT INTO users (user_id, created_at) VALUES (1, '2025-01-01T00:00:00.000000Z')"
        )
        db.execute(
            "INSERT INTO readings (user_id, created_at, emotion, confidence, probabilities)"
            " VALUES (1, '2025-01-01T08:00:00.000000Z', 'sad', 0.6, '{\"sad\": 0.6}')"
        )
    assert columns(path, "feedback") == set()  # no such table yet
    async with await Storage.open(path) as s:
        assert await s.schema_version() == SCHEMA_VERSION
        [entry] = await s.entries_between(1, T0 - timedelta(days=365), T0)
        assert entry.emotion is Emotion.SAD and entry.probabilities == {Emotion.SAD: 0.6}
        await s.add_feedback(1, "t1", 1)  # the v2 table works
        assert [f.track_id for f in await feedback(s, 1)] == ["t1"]


async def test_refuses_newer_schema(tmp_path):
    path = tmp_path / "new.sqlite3"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaTooNew):
        await Storage.open(path)


async def test_add_and_get_round_trip(storage):
    entry = await happy(storage)
    assert entry.id > 0 and entry.user_id == A
    assert entry.created_at == T0 and entry.created_at.tzinfo is not None
    assert entry.track_ids == ("t1", "t2") and entry.source == "face"
    assert entry.effective_emotion is Emotion.HAPPY
    assert await storage.get_entry(A, entry.id) == entry
    assert await storage.get_entry(A, entry.id + 1000) is None
    mood_only = await storage.add_reading(
        A, emotion=None, confidence=None, probabilities=None, mood="focus", source="mood"
    )
    assert (await storage.get_entry(A, mood_only.id)).mood == "focus"


async def test_add_reading_validates(storage):
    with pytest.raises(ValueError):
        await happy(storage, at=datetime(2025, 3, 9, 12))  # naive
    with pytest.raises(ValueError):
        await storage.add_reading(A, emotion=None, confidence=None, probabilities=None)
    with pytest.raises(ValueError):
        await happy(storage, source="telegram")
    with pytest.raises(ValueError):
        await storage.add_reading(A, emotion="joy", confidence=0.5, probabilities={})
    with pytest.raises(ValueError):
        await storage.add_reading(A, emotion="happy", confidence=1.5, probabilities={})
    assert await storage.count_readings(A) == 0


async def test_set_mood_only_once(storage):
    entry = await happy(storage, track_ids=())
    assert await storage.set_mood(A, entry.id, "relaxing", ["r1", "r2", "r3"])
    assert not await storage.set_mood(A, entry.id, "party", ["p1"])  # double press
    got = await storage.get_entry(A, entry.id)
    assert got.mood == "relaxing" and got.track_ids == ("r1", "r2", "r3")
    assert not await storage.set_mood(A, entry.id + 99, "party", [])  # no such entry


async def test_concurrent_presses_only_one_wins(storage):
    entry = await happy(storage, track_ids=())
    results = await asyncio.gather(
        *(storage.set_mood(A, entry.id, "party", [f"p{i}"]) for i in range(10))
    )
    assert sum(results) == 1
    assert len((await storage.get_entry(A, entry.id)).track_ids) == 1


async def test_user_scoping(storage):
    mine = await happy(storage, user_id=A, track_ids=())
    assert await storage.get_entry(B, mine.id) is None
    assert not await storage.set_mood(B, mine.id, "party", ["x"])
    assert not await storage.set_recommendations(B, mine.id, ["x"])
    assert not await storage.correct_emotion(B, mine.id, "sad")
    assert await storage.delete_user(B) == 0
    assert await storage.entries_between(B, T0 - timedelta(days=1), T0 + timedelta(days=1)) == []
    assert await storage.get_entry(A, mine.id) == mine  # untouched


async def test_correct_and_recommendations(storage):
    entry = await happy(storage)
    assert await storage.correct_emotion(A, entry.id, "sad")
    got = await storage.get_entry(A, entry.id)
    assert got.emotion is Emotion.HAPPY and got.effective_emotion is Emotion.SAD
    assert await storage.set_recommendations(A, entry.id, ["n1"])
    assert (await storage.get_entry(A, entry.id)).track_ids == ("n1",)


async def test_entries_between_is_ordered_half_open(storage):
    for hours in (5, 1, 3, 0):
        await happy(storage, at=T0 + timedelta(hours=hours))
    got = await storage.entries_between(A, T0, T0 + timedelta(hours=5))
    assert [e.created_at for e in got] == [T0 + timedelta(hours=h) for h in (0, 1, 3)]


async def test_recent_track_ids_window(storage):
    await happy(storage, at=T0 - timedelta(days=40), track_ids=["old"])
    await happy(storage, at=T0 - timedelta(days=3), track_ids=["a", "b"])
    entry = await happy(storage, at=T0, track_ids=[])
    await storage.set_mood(A, entry.id, "focus", ["c"])
    await happy(storage, user_id=B, at=T0, track_ids=["theirs"])
    assert await recent(storage, A, T0 - timedelta(days=30)) == {"a", "b", "c"}


async def test_recent_track_ids_uses_the_index(tmp_path):
    """SQLite's plan (PostgreSQL scans tables this small whatever the indexes)."""
    from bot.storage import _RECENT_TRACKS_SQL

    async with await Storage.open(tmp_path / "db.sqlite3") as storage, storage._read() as db:
        rows = await db.fetch("EXPLAIN QUERY PLAN " + _RECENT_TRACKS_SQL, (A, "2025"))
    assert "readings_user_time" in " ".join(str(r[-1]) for r in rows)


async def test_person_is_everything_the_service_needs_in_one_read(storage):
    nobody = await storage.person(A, T0)
    assert nobody.settings == UserSettings(A) and nobody.outcomes == ()
    assert nobody.recent_track_ids == frozenset() and nobody.feedback == ()
    await storage.set_strategy(A, Strategy.LIFT)
    await storage.set_favourite_genres(A, ["rock"])
    await storage.add_feedback(A, "t9", -1, artist="X", genre="pop", at=T0)
    await happy(storage, at=T0 - timedelta(days=2), track_ids=["old"])
    await happy(storage, at=T0, track_ids=["new"])
    await happy(storage, user_id=B, at=T0, track_ids=["theirs"])
    person = await storage.person(A, T0 - timedelta(days=1))
    assert person.user_id == A and len(person.outcomes) == 2
    assert person.settings.strategy is Strategy.LIFT
    assert person.settings.favourite_genres == ("rock",)
    assert person.recent_track_ids == {"new"}
    assert [(f.track_id, f.value, f.artist) for f in person.feedback] == [("t9", -1, "X")]


async def test_settings_and_feedback(storage):
    assert (await storage.get_user_settings(A)).timezone == "UTC"
    await storage.set_timezone(A, "Europe/Berlin")
    await storage.set_strategy(A, "lift")
    settings = await storage.get_user_settings(A)
    assert (settings.timezone, settings.strategy) == ("Europe/Berlin", "lift")
    with pytest.raises(ValueError):
        await storage.set_timezone(A, "Mars/Olympus")
    with pytest.raises(ValueError):
        await storage.set_strategy(A, "random")
    await storage.add_feedback(A, "t1", 1, artist="X", genre="pop", at=T0)
    await storage.add_feedback(A, "t1", -1, artist="X", genre="pop", at=T0)  # changed mind
    await storage.add_feedback(B, "t1", 1, at=T0)
    [fb] = await feedback(storage, A)
    assert (fb.track_id, fb.value, fb.genre) == ("t1", -1, "pop")
    with pytest.raises(ValueError):
        await storage.add_feedback(A, "t2", 0)


async def test_export_is_json_and_complete(storage):
    entry = await happy(storage)
    await storage.correct_emotion(A, entry.id, "sad")
    await storage.set_timezone(A, "Europe/Berlin")
    await storage.add_feedback(A, "t1", 1, artist="X", at=T0)
    await happy(storage, user_id=B)
    data = json.loads(json.dumps(await storage.export_user(A)))
    assert set(data["user"]) >= await table_columns(storage, "users")
    [reading] = data["readings"]
    assert set(reading) >= await table_columns(storage, "readings")
    assert reading["probabilities"] == {"happy": 0.8, "sad": 0.1, "neutral": 0.1}
    assert reading["track_ids"] == ["t1", "t2"] and reading["corrected_emotion"] == "sad"
    [fb] = data["feedback"]
    assert set(fb) >= await table_columns(storage, "feedback")
    assert data["user"]["timezone"] == "Europe/Berlin"
    assert "photo" not in json.dumps(data) and "file_id" not in json.dumps(data)


async def test_delete_user_removes_everything_of_one_user(storage):
    for _ in range(3):
        await happy(storage, user_id=A)  # 3 readings + 6 recommendations
    await storage.add_feedback(A, "t1", 1)
    await happy(storage, user_id=B)
    await storage.add_feedback(B, "t1", -1)
    # 3 readings + 6 recommendations + 1 feedback + 1 user row
    assert await storage.delete_user(A) == 11
    assert await storage.count_readings(A) == 0
    assert await feedback(storage, A) == ()
    assert (await storage.get_user_settings(A)).created_at is None
    assert await storage.export_user(A) | {"exported_at": None} == {
        "user_id": A,
        "exported_at": None,
        "schema_version": SCHEMA_VERSION,
        "user": None,
        "readings": [],
        "feedback": [],
    }
    assert await storage.count_readings(B) == 1
    assert len(await feedback(storage, B)) == 1


async def test_purge_older_than(storage):
    await happy(storage, at=T0 - timedelta(days=400))
    await storage.add_feedback(A, "t9", 1, at=T0 - timedelta(days=400))
    keep = await happy(storage, at=T0)
    assert await storage.purge_older_than(T0 - timedelta(days=365)) == 4  # 1 + 2 recs + 1 fb
    assert await storage.count_readings(A) == 1
    assert await storage.get_entry(A, keep.id) == keep
    assert (await storage.get_user_settings(A)).created_at is not None  # settings stay


async def test_failed_transaction_rolls_back(storage):
    with pytest.raises(RuntimeError):
        async with storage._write() as db:
            await db.execute("INSERT INTO users (user_id, created_at) VALUES (5, 'x')")
            raise RuntimeError
    assert (await storage.get_user_settings(5)).created_at is None
    await happy(storage, user_id=5)  # the connection is usable afterwards


@pytest.fixture
async def on_sqlite(tmp_path):
    async with await Storage.open(tmp_path / "db.sqlite3") as s:
        yield s


async def test_a_unit_of_work_is_one_trip_to_the_database_thread(on_sqlite, monkeypatch):
    """SQLite: a whole unit runs on aiosqlite's thread in one hop, not one per statement."""
    storage = on_sqlite
    connection = storage._backend._db
    hops = []
    real = connection._execute

    async def counting(fn, *args, **kw):
        hops.append(fn)
        return await real(fn, *args, **kw)

    monkeypatch.setattr(connection, "_execute", counting)
    await storage.add_reading(
        A, emotion=Emotion.HAPPY, confidence=0.8, probabilities=PROBS, track_ids=["t1", "t2"],
        update_id=5,
    )  # fmt: skip
    await storage.person(A, T0)
    await storage.get_user_settings(A)
    assert len(hops) == 3


async def test_a_unit_that_awaits_anything_else_is_refused_and_rolled_back(on_sqlite):
    """SQLite: a unit runs on the database thread, where nothing of the event loop may run."""
    storage = on_sqlite

    async def wanders(db) -> None:
        await db.execute("INSERT INTO users (user_id, created_at) VALUES (5, 'x')")
        await asyncio.sleep(0)  # would run loop code on the database thread

    with pytest.raises(RuntimeError, match="awaited something"):
        await storage._in_write(wanders)
    assert (await storage.get_user_settings(5)).created_at is None


async def test_concurrent_writes_lose_nothing(storage):
    async def burst(user_id: int) -> None:
        for i in range(20):
            await happy(storage, user_id=user_id, track_ids=[f"{user_id}-{i}"])

    readers = [recent(storage, u, T0 - timedelta(days=1)) for u in range(10)]
    await asyncio.gather(*(burst(u) for u in range(10)), *readers)
    for user_id in range(10):
        assert await storage.count_readings(user_id) == 20
        tracks = await recent(storage, user_id, T0 - timedelta(days=1))
        assert tracks == {f"{user_id}-{i}" for i in range(20)}


async def test_language_and_words_readings_after_upgrading_from_v5(tmp_path):
    """Migration 6 widens readings.source to 'words' in place: the readings and their songs
    survive (a table rebuild would have cascaded into recommendations)."""
    path = tmp_path / "v5.sqlite3"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("PRAGMA foreign_keys = ON")
        for migration in MIGRATIONS[:5]:
            for statement in migration.sqlite:
                db.execute(statement)
        db.execute("PRAGMA user_version = 5")
        db.execute(
            "INSERT INTO users (user_id, created_at) VALUES (1, '2025-01-01T00:00:00.000000Z')"
        )
        db.execute(
            "INSERT INTO readings (user_id, created_at, emotion, confidence)"
            " VALUES (1, '2025-01-01T08:00:00.000000Z', 'sad', 0.6)"
        )
        db.execute("INSERT INTO recommendations VALUES (1, 0, 't1')")
    async with await Storage.open(path) as s:
        [old] = await s.entries_between(1, T0 - timedelta(days=365), T0)
        assert old.track_ids == ("t1",) and (await s.get_user_settings(1)).language is None
        words = await s.add_reading(
            1, emotion=Emotion.SAD, confidence=None, probabilities=None, track_ids=["t2"],
            source=Source.WORDS, at=T0 - timedelta(hours=1),
        )  # fmt: skip
        assert (await s.get_entry(1, words.id)).source is Source.WORDS
        assert (await s.set_language(1, "ko")).language == "ko"
        with pytest.raises(ValueError):
            await s.set_language(1, "xx")
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        with pytest.raises(sqlite3.IntegrityError):  # the CHECK still holds for anything else
            db.execute(
                "INSERT INTO readings (user_id, created_at, mood, source)"
                " VALUES (1, '2025-01-02T00:00:00.000000Z', 'party', 'bogus')"
            )
