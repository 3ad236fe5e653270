"""Several workers on one database: every read-modify-write stays correct when two Storage
objects (two "workers", each with its own connections) race on the same rows, on SQLite and on
PostgreSQL; migrations, the purge lock and the placeholder translator on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from bot.database import SCHEMA_VERSION, SchemaTooNew
from bot.journal import Journal
from bot.postgres_db import _lock_key, placeholders
from bot.service import MoodTune
from bot.storage import Storage
from models.emotion import Emotion
from tests import media
from tests.test_service import SlowAnalyzer

T0 = datetime(2025, 3, 9, 12, 0, tzinfo=UTC)
A = 5_000_000_000  # above 2**31: Telegram ids need BIGINT
RACERS = 8


@pytest.fixture
async def workers(database_url):
    """Two Storage objects on one database, as two worker processes would hold them."""
    one = await Storage.open(database_url)
    two = await Storage.open(database_url)
    yield one, two
    await one.close()
    await two.close()


async def reading(storage: Storage, user_id: int = A, **kw):
    kw.setdefault("at", T0)
    return await storage.add_reading(
        user_id, emotion=Emotion.HAPPY, confidence=0.8, probabilities={Emotion.HAPPY: 0.8}, **kw
    )


def test_placeholders_leave_quoted_text_alone():
    sql = "SELECT '?', \"a?b\", 'it''s ?' FROM t WHERE a = ? AND b IN (?, ?)"
    assert placeholders(sql) == (
        "SELECT '?', \"a?b\", 'it''s ?' FROM t WHERE a = $1 AND b IN ($2, $3)"
    )
    assert placeholders("SELECT 1") == "SELECT 1"
    with pytest.raises(ValueError):
        placeholders("SELECT 'open ?")


async def test_toggling_genres_on_two_workers_keeps_every_toggle(workers):
    genres = [f"g{i}" for i in range(RACERS)]
    await asyncio.gather(
        *(workers[i % 2].toggle_favourite_genre(A, g) for i, g in enumerate(genres))
    )
    assert (await workers[0].get_user_settings(A)).favourite_genres == tuple(sorted(genres))
    # Toggling again on the other worker removes each one.
    await asyncio.gather(
        *(workers[(i + 1) % 2].toggle_favourite_genre(A, g) for i, g in enumerate(genres))
    )
    assert (await workers[1].get_user_settings(A)).favourite_genres == ()


async def test_two_services_toggling_at_once_lose_nothing(workers, recommender):
    one, two = (MoodTune(None, recommender, s) for s in workers)  # type: ignore[arg-type]
    offered = recommender.catalog.genres()[:RACERS]
    await asyncio.gather(*((one, two)[i % 2].toggle_genre(A, g) for i, g in enumerate(offered)))
    assert set((await one.genres(A)).chosen) == set(offered)


async def test_two_services_asking_more_songs_at_once_keep_both_batches(workers, recommender):
    one, two = (MoodTune(None, recommender, s) for s in workers)  # type: ignore[arg-type]
    entry = await one.recommend_and_record(A, Emotion.HAPPY, None)
    [stored] = await workers[0].entries_between(A, T0 - timedelta(days=1), datetime.now(UTC))
    got = await asyncio.gather(one.more_songs(A, stored.id), two.more_songs(A, stored.id))
    after = (await workers[1].get_entry(A, stored.id)).track_ids
    assert after[: len(entry)] == tuple(t.id for t in entry)
    assert len(after) == len(entry) + sum(len(songs.tracks) for songs in got)


async def test_two_services_reading_first_selfies_at_once_say_first_once(
    workers, analyzer, recommender
):
    # Both have read the person (no readings yet) before either stores its reading: the
    # interleaving where a flag computed from that earlier read says "first" twice.
    both_read = asyncio.Barrier(2)
    for storage in workers:

        async def after_both(*args, _add=storage.add_reading, **kw):
            await both_read.wait()
            return await _add(*args, **kw)

        storage.add_reading = after_both  # type: ignore[method-assign]
    one, two = (MoodTune(analyzer, recommender, s) for s in workers)
    results = await asyncio.gather(
        *(svc.read_selfie(A, media.smiling_jpeg()) for svc in (one, two))
    )
    assert sorted(r.first for r in results) == [False, True]


async def test_a_delete_on_one_worker_stops_a_reading_in_flight_on_another(
    workers, analyzer, recommender
):
    slow = SlowAnalyzer(analyzer)
    reader = MoodTune(slow, recommender, workers[0])
    eraser = MoodTune(None, recommender, workers[1])  # type: ignore[arg-type]
    await workers[0].add_feedback(A, "t1", 1)  # something to erase
    task = asyncio.create_task(reader.read_selfie(A, media.smiling_jpeg()))
    assert await asyncio.to_thread(slow.entered.wait, 10)  # the reading is in flight
    assert await eraser.erase(A) > 0
    slow.gate.set()
    assert await task is None
    assert await workers[1].count_readings(A) == 0
    assert await reader.read_selfie(A, media.smiling_jpeg()) is not None  # later ones count


async def test_more_songs_on_two_workers_appends_every_batch(workers):
    entry = await reading(workers[0], track_ids=["t0", "t1"])
    batches = [[f"b{i}-0", f"b{i}-1"] for i in range(RACERS)]
    results = await asyncio.gather(
        *(workers[i % 2].add_recommendations(A, entry.id, b) for i, b in enumerate(batches))
    )
    assert all(results)
    got = (await workers[0].get_entry(A, entry.id)).track_ids
    assert got[:2] == ("t0", "t1") and len(got) == 2 + 2 * RACERS
    assert set(got[2:]) == {t for b in batches for t in b}
    for b in batches:  # each batch stays together, in its order
        at = got.index(b[0])
        assert got[at + 1] == b[1]
    assert not await workers[1].add_recommendations(A + 1, entry.id, ["x"])  # not theirs


async def test_a_mood_question_is_answered_once_across_workers(workers):
    entry = await reading(workers[0])
    results = await asyncio.gather(
        *(workers[i % 2].set_mood(A, entry.id, "party", [f"p{i}"]) for i in range(RACERS))
    )
    assert sum(results) == 1
    assert len((await workers[1].get_entry(A, entry.id)).track_ids) == 1


async def test_a_note_asked_for_on_one_worker_is_taken_once_on_the_other(workers):
    """The "📝 Add a note" press and the text after it may reach different workers."""
    entry = await reading(workers[0])
    await workers[0].set_note_for(A, entry.id)
    taken = await asyncio.gather(*(workers[i % 2].take_note_for(A) for i in range(RACERS)))
    assert sorted(taken, key=str) == [entry.id] + [None] * (RACERS - 1)
    assert await workers[0].take_note_for(A) is None


async def test_exactly_one_reading_is_a_persons_first(workers):
    entries = await asyncio.gather(*(reading(workers[i % 2]) for i in range(RACERS)))
    assert sum(e.first for e in entries) == 1
    assert not (await reading(workers[0])).first
    assert await workers[1].count_readings(A) == RACERS + 1


async def test_a_reading_begun_before_an_erase_is_not_written_back(workers):
    one, two = workers
    await reading(one)
    started = datetime.now(UTC)
    assert await two.delete_user(A) > 0
    assert await reading(one, not_erased_since=started) is None
    assert await one.count_readings(A) == 0
    assert (await one.get_user_settings(A)).created_at is None  # no user row left behind
    # A reading begun after the erase is stored as usual.
    later = await reading(one, not_erased_since=datetime.now(UTC))
    assert later is not None and later.first


async def test_erase_racing_a_reading_leaves_nothing(workers):
    for _ in range(RACERS):
        await reading(workers[0])
        started = datetime.now(UTC)
        await asyncio.gather(
            workers[0].delete_user(A), reading(workers[1], not_erased_since=started)
        )
        assert await workers[0].count_readings(A) == 0


async def test_tombstones_go_after_a_day_with_the_purge(workers):
    one, two = workers
    await one.delete_user(A, at=datetime.now(UTC) - timedelta(days=2))
    await one.delete_user(A + 1)
    assert await two.purge_older_than(T0 - timedelta(days=365)) == 0  # tombstones not counted
    async with one._read() as db:
        rows = await db.fetch("SELECT user_id FROM erasures")
    assert [r["user_id"] for r in rows] == [A + 1]


async def test_an_update_makes_one_reading_and_its_redelivery_gets_it(workers):
    one, two = workers
    first = await reading(one, update_id=77, track_ids=["t1", "t2"])
    assert first is not None and first.first and not first.again
    again = await reading(two, update_id=77, track_ids=["x"])
    assert again is not None and again.again and not again.first
    assert (again.id, again.track_ids) == (first.id, ("t1", "t2"))
    # Both deliveries at once, on two workers: one reading, both told its id.
    both = await asyncio.gather(*(reading(s, update_id=78, track_ids=["y"]) for s in workers))
    assert sorted(e.again for e in both) == [False, True] and both[0].id == both[1].id
    # Readings without an update never collide; another person's update is not theirs.
    await reading(one), await reading(two)
    assert await one.count_readings(A) == 4
    assert await reading(two, user_id=A + 1, update_id=77) is None
    assert await one.count_readings(A + 1) == 0


async def test_a_unit_of_work_commits_or_rolls_back_whole(workers):
    one, two = workers

    async def make(db, fail: bool) -> int:
        await db.execute(
            "INSERT INTO users (user_id, created_at) VALUES (?, ?)",
            (A, "2025-03-09T12:00:00.000000Z"),
        )
        if fail:
            raise RuntimeError("no")
        row = await db.fetchone("SELECT count(*) AS n FROM users")
        return int(row["n"])

    with pytest.raises(RuntimeError):
        await one._in_write(lambda db: make(db, True))
    assert (await two.get_user_settings(A)).created_at is None
    assert await one._in_write(lambda db: make(db, False)) == 1
    assert (await two.get_user_settings(A)).created_at is not None


async def test_journal_on_either_backend(database_url):
    async with await Journal.open(database_url) as one, await Journal.open(database_url) as two:
        assert await one.next_offset() == 0
        raw = [{"update_id": 7, "message": {"text": "hi"}}, {"update_id": 8}]
        new = await asyncio.gather(one.add(raw), two.add(raw))
        assert sorted(new[0] + new[1]) == [7, 8]  # each update kept once
        assert [p.update_id for p in await two.pending()] == [7, 8]
        assert await one.started(7) == 1 and await two.started(7) == 2
        await one.done(7)
        assert [p.raw for p in await two.pending()] == [{"update_id": 8}]
        assert await two.next_offset() == 9
        assert await one.forget_done(datetime.now(UTC) + timedelta(seconds=1)) == 1
        # Kept by a poller that starts each new update at once: its first attempt is counted.
        assert await one.add([{"update_id": 9}, {"update_id": 8}], start=True) == [9]
        assert {p.update_id: p.attempts for p in await two.pending()} == {8: 0, 9: 1}
        assert await two.started(9) == 2


async def test_journal_beside_storage_shares_its_connections(database_url):
    """The bot's journal rides on the diary's pool: one pool per worker, closed once."""
    storage = await Storage.open(database_url)
    journal = Journal.beside(storage)
    try:
        assert journal._backend is storage._backend and journal.dialect == storage.dialect
        assert await journal.add([{"update_id": 3}]) == [3]
        await journal.close()  # the journal's own tidy-up; the connections stay open
        assert await storage.get_user_settings(A) is not None
        assert await Journal.beside(storage).next_offset() == 4
    finally:
        await storage.close()
    with pytest.raises((ValueError, asyncpg.InterfaceError)):  # closed with the diary
        await journal.next_offset()


# -- PostgreSQL only ---------------------------------------------------------------------


async def test_workers_booting_together_migrate_once(postgres_url):
    opened = await asyncio.gather(*(Storage.open(postgres_url) for _ in range(4)))
    try:
        assert {await s.schema_version() for s in opened} == {SCHEMA_VERSION}
        con = await asyncpg.connect(postgres_url)
        try:
            assert await con.fetchval("SELECT count(*) FROM schema_version") == 1
            kind = await con.fetchval(
                "SELECT data_type FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = 'users'"
                " AND column_name = 'user_id'"
            )
            assert kind == "bigint"
        finally:
            await con.close()
    finally:
        for s in opened:
            await s.close()


async def test_refuses_newer_schema_on_postgres(postgres_url):
    async with await Storage.open(postgres_url):
        pass
    con = await asyncpg.connect(postgres_url)
    try:
        await con.execute("UPDATE schema_version SET version = $1", SCHEMA_VERSION + 1)
    finally:
        await con.close()
    with pytest.raises(SchemaTooNew):
        await Storage.open(postgres_url)


async def test_purge_runs_on_one_worker_at_a_time(postgres_url):
    async with await Storage.open(postgres_url) as storage:
        await reading(storage, at=T0 - timedelta(days=400))
        cutoff = T0 - timedelta(days=365)
        con = await asyncpg.connect(postgres_url)
        try:
            async with con.transaction():  # another worker is purging
                await con.execute("SELECT pg_advisory_xact_lock($1)", _lock_key("purge"))
                assert await storage.purge_older_than(cutoff) == 0
                assert await storage.count_readings(A) == 1
        finally:
            await con.close()
        assert await storage.purge_older_than(cutoff) == 1


async def test_both_backends_end_with_the_same_tables_and_columns(tmp_path, postgres_url):
    """The two statement lists of each migration stay in step: same tables, same columns."""
    from tests.test_storage import table_columns

    async with (
        await Storage.open(tmp_path / "db.sqlite3") as lite,
        await Storage.open(postgres_url) as pg,
    ):
        async with lite._read() as db:
            rows = await db.fetch(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
            lite_tables = {row[0] for row in rows}
        async with pg._read() as db:
            rows = await db.fetch(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema() AND table_name <> 'schema_version'"
            )
            pg_tables = {row[0] for row in rows}
        assert lite_tables == pg_tables and {"readings", "erasures"} <= pg_tables
        for table in sorted(pg_tables):
            assert await table_columns(lite, table) == await table_columns(pg, table), table
