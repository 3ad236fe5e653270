"""The core service without Telegram: erasure while a reading is in flight."""

from __future__ import annotations

import asyncio
import threading

from bot.service import MoodTune
from bot.storage import Storage
from tests import media


class SlowAnalyzer:
    """The real analyzer, held at a gate so a /delete can land mid-reading."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.max_bytes = inner.max_bytes

    def analyze(self, data: bytes):
        self.gate.wait(10)
        return self.inner.analyze(data)


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
