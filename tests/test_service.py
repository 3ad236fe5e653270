"""The core service without Telegram, on a real SQLite file."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bot.service import MoodTune
from bot.storage import Storage
from tests import media


class SlowAnalyzer:
    """The real analyzer, held at a gate so a /delete can land mid-reading."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.gate = threading.Event()

    def analyze(self, data: bytes):
        self.gate.wait(10)
        return self.inner.analyze(data)


class CountingLock(asyncio.Lock):
    """Storage's lock, counting how often it is taken: once per unit of work on the database."""

    def __init__(self) -> None:
        super().__init__()
        self.taken = 0

    async def acquire(self) -> bool:
        self.taken += 1
        return await super().acquire()


@pytest.mark.parametrize("first", [True, False])
async def test_a_selfie_is_one_read_and_one_write(tmp_path, analyzer, recommender, first):
    async with await Storage.open(tmp_path / "db.sqlite3") as storage:
        service = MoodTune(analyzer, recommender, storage)
        if not first:
            await service.read_selfie(1, media.smiling_jpeg())
        storage._lock = lock = CountingLock()
        result = await service.read_selfie(1, media.smiling_jpeg())
        assert lock.taken == 2  # what the service needs about the person, then the reading
        assert result is not None and result.first is first and len(result.tracks) == 5
        entry = await storage.get_entry(1, result.entry_id)
        assert entry.track_ids == tuple(t.id for t in result.tracks)


async def test_reading_in_flight_is_not_written_after_delete(tmp_path, analyzer, recommender):
    async with await Storage.open(tmp_path / "db.sqlite3") as storage:
        slow = SlowAnalyzer(analyzer)
        service = MoodTune(slow, recommender, storage)
        task = asyncio.create_task(service.read_selfie(1, media.smiling_jpeg()))
        await asyncio.sleep(0.05)
        await service.erase(1)
        slow.gate.set()
        assert await task is None
        assert await storage.count_readings(1) == 0
        # A later selfie is stored as usual.
        slow.gate.set()
        assert await service.read_selfie(1, media.smiling_jpeg()) is not None
        assert await storage.count_readings(1) == 1
