"""The core service without Telegram, on a real SQLite file."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
from datetime import UTC, datetime, time, timedelta

import pytest

from bot.agenda import Kind
from bot.diary import Source
from bot.service import MoodTune, Songs
from bot.storage import Storage
from models.emotion import Box, Emotion, FaceReading
from recommender.preferences import Preferences
from recommender.track import Mood
from tests import media


class SlowAnalyzer:
    """The real analyzer, held at a gate so a /delete can land mid-reading."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.entered = threading.Event()  # a reading has started
        self.gate = threading.Event()

    def analyze(self, data: bytes):
        self.entered.set()
        self.gate.wait(10)
        return self.inner.analyze(data)


class RecordingRecommender:
    """The real recommender, keeping the preferences the service asked with."""

    def __init__(self, inner) -> None:
        self.inner, self.catalog = inner, inner.catalog
        self.prefs: list[Preferences] = []

    def recommend(self, **options):
        self.prefs.append(options["prefs"])
        return self.inner.recommend(**options)


class FixedAnalyzer:
    """Reads every photo as one emotion at one confidence: each of the service's paths for a
    kind of reading, whatever the model makes of a real face."""

    def __init__(self, emotion: Emotion, confidence: float) -> None:
        self.emotion, self.confidence = emotion, confidence

    def analyze(self, data: bytes) -> FaceReading:
        probabilities = {self.emotion: self.confidence}
        return FaceReading(self.emotion, self.confidence, probabilities, Box(0, 0, 100, 100))


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
        storage._backend.lock = lock = CountingLock()  # type: ignore[attr-defined]
        result = await service.read_selfie(1, media.smiling_jpeg(), update_id=2)
        # What the service needs about the person, then the reading: no look for one this
        # update made before (the write finds that out).
        assert lock.taken == 2
        assert result is not None and result.first is first and len(result.tracks) == 5
        entry = await storage.get_entry(1, result.entry_id)
        assert entry.track_ids == tuple(t.id for t in result.tracks)


async def test_a_redelivered_selfie_answers_from_its_stored_reading_without_a_look_first(
    tmp_path, analyzer, recommender
):
    async with await Storage.open(tmp_path / "db.sqlite3") as storage:
        service = MoodTune(analyzer, recommender, storage)
        stored = await service.read_selfie(1, media.smiling_jpeg(), update_id=7)
        assert stored is not None and stored.first and len(stored.tracks) == 5
        storage._backend.lock = lock = CountingLock()  # type: ignore[attr-defined]
        again = await service.read_selfie(1, media.smiling_jpeg(), update_id=7)
        assert lock.taken == 2  # the person, then the write that finds the stored reading
        # The same entry and songs (a fresh pick would avoid those, suggested moments ago).
        assert again is not None and again.entry_id == stored.entry_id and not again.first
        assert again.tracks == stored.tracks and not again.ask_mood
        assert await storage.count_readings(1) == 1
        other = await service.read_selfie(1, media.smiling_jpeg(), update_id=8)
        assert other is not None and other.entry_id != stored.entry_id
        assert not set(other.tracks) & set(stored.tracks)


async def test_reading_in_flight_is_not_written_after_delete(tmp_path, analyzer, recommender):
    async with await Storage.open(tmp_path / "db.sqlite3") as storage:
        slow = SlowAnalyzer(analyzer)
        service = MoodTune(slow, recommender, storage)
        task = asyncio.create_task(service.read_selfie(1, media.smiling_jpeg()))
        assert await asyncio.to_thread(slow.entered.wait, 10)  # the reading is in flight
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


async def test_settings_return_what_was_stored(service, storage):
    assert await service.set_timezone(1, "Mars/Olympus") is None
    assert (await service.set_timezone(1, " Europe/Berlin ")).timezone == "Europe/Berlin"
    assert await service.timezone(1) == "Europe/Berlin"
    person = await service.remind_daily(1, time(8, 30))
    person = await service.remind_weekly(1, 6)
    assert (person.remind_at, person.weekly_day) == (time(8, 30), 6)
    assert set(await storage.reminders_of(1)) == {Kind.DAILY, Kind.WEEKLY}
    person = await service.reminders_off(1)
    assert (person.remind_at, person.weekly_day) == (None, None)
    assert await storage.reminders_of(1) == {}


async def test_genres_toggle_and_unknown_ones_change_nothing(service):
    assert "rock" in (await service.genres(1)).offered
    assert (await service.toggle_genre(1, "rock")).chosen == ("rock",)
    assert await service.toggle_genre(1, "polka") is None
    assert (await service.genres(1)).chosen == ("rock",)
    assert (await service.toggle_genre(1, "rock")).chosen == ()


@pytest.mark.parametrize(
    ("emotion", "confidence", "unsure"),
    [(Emotion.NEUTRAL, 0.9, False), (Emotion.HAPPY, 0.3, True)],
    ids=["neutral", "unsure"],
)
async def test_a_neutral_or_unsure_face_is_asked_its_mood(
    storage, recommender, emotion, confidence, unsure
):
    service = MoodTune(FixedAnalyzer(emotion, confidence), recommender, storage)
    asked = await service.read_selfie(1, b"a selfie")
    assert asked is not None and asked.ask_mood and asked.unsure is unsure and asked.tracks == ()
    entry = await storage.get_entry(1, asked.entry_id)
    assert entry is not None and (entry.emotion, entry.mood, entry.track_ids) == (emotion, None, ())
    answer = await service.choose_mood(1, Mood.RELAXING, asked.entry_id)
    assert answer is not None and len(answer.tracks) == 5
    entry = await storage.get_entry(1, asked.entry_id)
    assert entry is not None and entry.mood == "relaxing"
    assert entry.track_ids == tuple(t.id for t in answer.tracks)


async def test_a_confident_face_gets_songs_without_a_question(storage, recommender):
    service = MoodTune(FixedAnalyzer(Emotion.SAD, 0.8), recommender, storage)
    result = await service.read_selfie(1, b"a selfie")
    assert result is not None and not result.ask_mood and len(result.tracks) == 5


async def test_feedback_is_kept_per_song_and_disliked_artists_are_not_offered_again(
    storage, recommender, entry_id
):
    service = MoodTune(None, recording := RecordingRecommender(recommender), storage)
    first = await service.choose_mood(1, Mood.PARTY)
    assert first is not None
    assert not await service.feedback(2, first.entry_id, -1)  # not theirs
    assert not await service.feedback(1, first.entry_id, 0)  # neither 👍 nor 👎
    assert not await service.feedback(1, entry_id, -1)  # an entry without songs
    assert await service.feedback(1, first.entry_id, -1)
    person = await storage.person(1, datetime.now(UTC) - timedelta(days=30))
    assert sorted((f.track_id, f.artist, f.value) for f in person.feedback) == sorted(
        (t.id, t.artist, -1) for t in first.tracks
    )
    assert (await storage.person(2, datetime.now(UTC))).feedback == ()
    disliked = {t.artist for t in first.tracks}
    later = await service.choose_mood(1, Mood.PARTY)
    assert recording.prefs[-1].disliked_artists == disliked  # the recommender is told
    assert later is not None and not {t.artist for t in later.tracks} & disliked
    await service.choose_mood(2, Mood.PARTY)
    assert recording.prefs[-1].disliked_artists == frozenset()  # and only for this person


async def test_more_songs_are_new_each_time_and_join_their_entry(service, storage):
    first = await service.choose_mood(1, Mood.FOCUS)
    assert first is not None
    more = await service.more_songs(1, first.entry_id)
    again = await service.more_songs(1, first.entry_id)
    assert more is not None and again is not None and len(more.tracks) == len(again.tracks) == 5
    ids = [t.id for t in (*first.tracks, *more.tracks, *again.tracks)]
    assert len(set(ids)) == 15
    entry = await storage.get_entry(1, first.entry_id)
    assert entry is not None and entry.track_ids == tuple(ids)
    assert await service.more_songs(2, first.entry_id) is None  # not theirs


async def test_favourite_genres_fill_most_of_the_picks(storage, recommender):
    service = MoodTune(FixedAnalyzer(Emotion.HAPPY, 0.9), recommender, storage)
    await service.toggle_genre(1, "rock")
    genres = {1: [], 2: []}  # a rock fan, and someone with no favourites
    for user, picks in genres.items():
        for _ in range(3):
            result = await service.read_selfie(user, b"a selfie")
            assert result is not None
            picks += [t.genre for t in result.tracks]
    assert genres[1].count("rock") >= 8  # of 15
    assert genres[1].count("rock") > genres[2].count("rock")


async def test_a_correction_is_kept_beside_the_reading_with_new_songs(storage, recommender):
    service = MoodTune(FixedAnalyzer(Emotion.HAPPY, 0.9), recommender, storage)
    read = await service.read_selfie(1, b"a selfie")
    assert read is not None
    assert await service.correct(2, read.entry_id, Emotion.ANGRY) is None  # not theirs
    songs = await service.correct(1, read.entry_id, Emotion.SAD)
    assert songs is not None and len(tracks := songs.tracks) == 5
    entry = await storage.get_entry(1, read.entry_id)
    assert entry is not None and (entry.emotion, entry.corrected_emotion) == (
        Emotion.HAPPY,
        Emotion.SAD,
    )
    # The new songs join the entry: the earlier ones stay rateable and won't repeat.
    assert entry.track_ids == tuple(t.id for t in (*read.tracks, *tracks))
    assert not {t.id for t in tracks} & {t.id for t in read.tracks}  # songs for the new emotion
    summary = await service.history(1)
    assert summary.counts[Emotion.SAD] == 1 and summary.counts[Emotion.HAPPY] == 0
    total, corrected = await storage.corrections()
    assert total == 1 and [(c["emotion"], c["corrected_emotion"]) for c in corrected] == [
        ("happy", "sad")
    ]


async def test_export_holds_every_reading_and_erase_only_the_callers(service, storage):
    now = datetime.now(UTC)
    latest = None
    for i in range(1000):
        entry = await storage.add_reading(
            1, emotion=Emotion.SAD, confidence=0.7,
            probabilities={Emotion.SAD: 0.7, Emotion.HAPPY: 0.3},
            track_ids=[f"{i:022d}"], at=now - timedelta(minutes=i),
        )  # fmt: skip
        latest = latest or entry
    for _ in range(3):
        await storage.add_reading(
            2, emotion=Emotion.HAPPY, confidence=0.8, probabilities={Emotion.HAPPY: 0.8}, at=now
        )
    assert latest is not None and await service.feedback(1, latest.id, 1)
    exported = await service.export(1)
    assert exported is not None
    csv_bytes, json_bytes = exported
    rows = list(csv.DictReader(io.StringIO(csv_bytes.decode())))
    assert len(rows) == 1000 and {r["emotion"] for r in rows} == {"sad"}
    data = json.loads(json_bytes)
    assert data["user_id"] == 1 and len(data["readings"]) == 1000
    assert sorted(t for r in data["readings"] for t in r["track_ids"]) == [
        f"{i:022d}" for i in range(1000)
    ]
    others = await storage.export_user(2)
    assert len(others["readings"]) == 3
    assert await service.erase(1) >= 2000  # readings and their songs, at least
    assert await service.export(1) is None  # nothing left to export
    assert not (await storage.person(1, now)).feedback
    still = await storage.export_user(2)
    assert {**still, "exported_at": None} == {**others, "exported_at": None}


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


@pytest.mark.parametrize(
    ("words", "wish"),
    [
        (["off"], (None, None)),
        (["weekly", "Sunday"], (6, None)),
        (["8am"], (None, time(8, 0))),
        (["8", "pm"], (None, time(20, 0))),
        (["20:30"], (None, time(20, 30))),
        (["9:0\u0669"], None),  # Arabic-Indic digits: not a time anyone typed here
        (["weekly", "someday"], None),
        ([], None),
    ],
)
def test_remind_wishes_are_parsed_from_what_people_type(words, wish):
    from bot.reminders import parse_wish

    parsed = parse_wish(words)
    assert (parsed if parsed is None else (parsed.weekday, parsed.at)) == wish


async def test_one_call_sets_reminders_and_keeps_the_language_for_them(service):
    person = await service.set_reminders(1, None, time(8, 30), "ko")
    assert (person.remind_at, person.weekly_day) == (time(8, 30), None)
    assert await service.language(1) == "ko"
    person = await service.set_reminders(1, 6, None, "es")
    assert person.weekly_day == 6 and await service.language(1) == "ko"  # kept, not replaced
    person = await service.set_reminders(1, None, None, "ko")
    assert (person.remind_at, person.weekly_day) == (None, None)
