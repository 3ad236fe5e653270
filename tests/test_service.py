"""The core service without Telegram, on a real SQLite file."""

from __future__ import annotations

import asyncio
import threading
from datetime import time

import pytest

from bot.diary import Source
from bot.service import MoodTune, Songs
from bot.storage import Storage
from models.emotion import Emotion
from recommender.track import Mood
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


@pytest.fixture
async def storage(tmp_path):
    async with await Storage.open(tmp_path / "db.sqlite3") as storage:
        yield storage


@pytest.fixture
def service(storage, recommender) -> MoodTune:
    return MoodTune(None, recommender, storage)  # these paths read no photo


@pytest.fixture
async def entry_id(storage) -> int:
    """Person 1's neutral reading, as read_selfie stores it: no songs yet, a mood to ask."""
    entry = await storage.add_reading(
        1, emotion=Emotion.NEUTRAL, confidence=0.9, probabilities={Emotion.NEUTRAL: 0.9}
    )
    return entry.id


async def test_a_mood_answers_its_question_once_and_only_for_its_owner(service, entry_id):
    assert await service.choose_mood(2, Mood.PARTY, entry_id) is None  # not theirs
    first = await service.choose_mood(1, Mood.RELAXING, entry_id)
    assert first is not None and first.entry_id == entry_id and len(first.tracks) == 5
    assert await service.choose_mood(1, Mood.PARTY, entry_id) is None  # a double press
    picked = await service.choose_mood(1, Mood.FOCUS)  # /mood: a new entry
    assert picked is not None and picked.entry_id != entry_id
    assert not {t.id for t in picked.tracks} & {t.id for t in first.tracks}  # no repeats


async def test_entries_are_scoped_to_their_owner(service, entry_id):
    assert await service.has_entry(1, entry_id) and not await service.has_entry(2, entry_id)
    assert await service.correct(2, entry_id, Emotion.SAD) is None
    assert await service.more_songs(2, entry_id) is None
    assert not await service.feedback(2, entry_id, 1)
    assert await service.correct(1, entry_id, Emotion.NEUTRAL) == Songs(entry_id, ())  # ask
    assert len((await service.correct(1, entry_id, Emotion.SAD)).tracks) == 5


async def test_settings_return_what_was_stored(service):
    assert await service.set_timezone(1, "Mars/Olympus") is None
    assert (await service.set_timezone(1, " Europe/Berlin ")).timezone == "Europe/Berlin"
    assert await service.timezone(1) == "Europe/Berlin"
    person = await service.remind_daily(1, time(8, 30))
    person = await service.remind_weekly(1, 6)
    assert (person.remind_at, person.weekly_day) == (time(8, 30), 6)
    assert [p.user_id for p in await service.people_with_reminders()] == [1]
    person = await service.reminders_off(1)
    assert (person.remind_at, person.weekly_day) == (None, None)
    assert await service.people_with_reminders() == []


async def test_genres_toggle_and_unknown_ones_change_nothing(service):
    assert "rock" in (await service.genres(1)).offered
    assert (await service.toggle_genre(1, "rock")).chosen == ("rock",)
    assert await service.toggle_genre(1, "polka") is None
    assert (await service.genres(1)).chosen == ("rock",)
    assert (await service.toggle_genre(1, "rock")).chosen == ()


async def test_a_mood_told_in_words_is_a_reading_from_words(service, storage):
    told = await service.tell_mood(1, "estoy muy cansada", "es")
    assert told.mood is Mood.RELAXING and told.emotion is None and len(told.tracks) == 5
    (entry,) = await storage.entries_between(1, *_all_time())
    assert entry.source is Source.WORDS and entry.mood == "relaxing"
    assert entry.track_ids == tuple(t.id for t in told.tracks)
    sad = await service.tell_mood(1, "오늘 너무 슬퍼", "ko")
    assert sad.emotion is Emotion.SAD and sad.why.emotion is Emotion.SAD
    # Nothing clear (or only negated): no reading, the bot asks instead.
    for unclear in ("hello there", "not happy", "안녕하세요"):
        assert await service.tell_mood(1, unclear) is None
    assert len(await storage.entries_between(1, *_all_time())) == 2


async def test_inline_mode_reads_the_same_words(service, recommender):
    """A typed phrase in any of our languages gives songs for it, not the latest picks (none)."""
    for phrase in ("오늘 너무 슬퍼", "necesito concentrarme", "need to focus"):
        assert len(await service.inline_songs(1, phrase)) == 10
    assert await service.inline_songs(1, "hello there") == ()


async def test_the_language_kept_for_reminders_never_overrides_a_choice(service):
    assert await service.language(1) is None
    await service.keep_language(1, "ko")
    assert await service.language(1) == "ko"
    await service.set_language(1, "es")
    await service.keep_language(1, "en")
    assert await service.language(1) == "es"


def _all_time():
    from datetime import UTC, datetime

    return datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
