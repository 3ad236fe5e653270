"""Issue 19's columns in storage, on a real SQLite file: unsure readings, notes, the switch."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.service import MoodTune
from bot.storage import NOTE_MAX_CHARS, Storage
from models.emotion import Emotion

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


async def test_unsure_and_notes_round_trip_scoped_to_their_owner(database_url, recommender):
    async with await Storage.open(database_url) as storage:
        entry = await storage.add_reading(
            1, emotion="angry", confidence=0.31, probabilities={"angry": 0.31}, at=NOW,
            unsure=True,
        )  # fmt: skip
        assert entry.unsure and entry.effective_emotion is None
        loaded = await storage.get_entry(1, entry.id)
        assert loaded.unsure and loaded.emotion is Emotion.ANGRY and loaded.note is None
        assert not await storage.set_note(2, entry.id, "not mine")  # someone else's entry
        assert await storage.set_note(1, entry.id, "  a long\n day  ")
        assert (await storage.get_entry(1, entry.id)).note == "a long day"
        assert await storage.correct_emotion(1, entry.id, Emotion.SAD)
        assert (await storage.get_entry(1, entry.id)).effective_emotion is Emotion.SAD
        service = MoodTune(None, recommender, storage)  # type: ignore[arg-type]
        assert await service.add_note(1, entry.id, "x" * 900) == "x" * NOTE_MAX_CHARS
        assert await service.add_note(1, entry.id, "   ") is None
        csv_bytes, json_bytes = await service.export(1)
        assert b"x" * NOTE_MAX_CHARS in csv_bytes and b'"unsure": 1' in json_bytes
        assert await service.export(2) is None  # nothing about them: no files
        await service.erase(1)
        assert await service.export(1) is None


async def test_learn_face_switch_is_on_by_default(database_url):
    async with await Storage.open(database_url) as storage:
        assert (await storage.get_user_settings(1)).learn_face is True
        assert (await storage.set_learn_face(1, False)).learn_face is False
        assert (await storage.get_user_settings(1)).learn_face is False
