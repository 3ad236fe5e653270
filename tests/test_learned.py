"""The read that learns a face, at the service level on a real SQLite file: a person's own
corrections adapt how their later selfies are read, for them alone; off in /settings; gone
with /delete. And the correction rate per person for `moodtune corrections`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot import replies
from bot.diary import FaceOutcome
from bot.learned import outcomes
from bot.service import MoodTune
from bot.storage import Storage
from models.emotion import Emotion
from models.personal import Outcome
from tests import media

HAPPY_READ = {"happy": 0.91, "surprise": 0.02, "neutral": 0.02, "sad": 0.02, "angry": 0.01,
              "fear": 0.01, "disgust": 0.01}  # fmt: skip
T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


async def seed(
    storage: Storage, user: int, n: int, said: Emotion | None, unsure: bool = False,
    start: datetime = T0,
) -> None:  # fmt: skip
    """`n` past readings of a smile from `start` on, each corrected to `said` (None: left as
    read)."""
    for i in range(n):
        entry = await storage.add_reading(
            user, emotion="happy", confidence=0.91, probabilities=HAPPY_READ,
            at=start + timedelta(hours=i), unsure=unsure,
        )  # fmt: skip
        if said is not None:
            await storage.correct_emotion(user, entry.id, said)


async def test_corrections_teach_the_read_of_that_person_only(tmp_path, analyzer, recommender):
    async with await Storage.open(tmp_path / "db.sqlite3") as storage:
        service = MoodTune(analyzer, recommender, storage)
        await seed(storage, 1, 30, Emotion.SURPRISE)  # "I'm surprised, not happy", 30 times
        learned = await service.read_selfie(1, media.smiling_jpeg())
        assert learned.reading.emotion is Emotion.SURPRISE and not learned.ask_mood
        assert learned.learning == (Emotion.HAPPY,)
        text, _ = replies.selfie_reply(learned)
        assert "I'm learning how your face shows happiness" in text
        # Stored: what the bot said, and the model's raw probabilities (happy on top), so the
        # table stays computable from the diary.
        entry = await storage.get_entry(1, learned.entry_id)
        assert entry.emotion is Emotion.SURPRISE
        assert max(entry.probabilities, key=entry.probabilities.get) is Emotion.HAPPY
        # Someone else's smile is read as the model reads it.
        other = await service.read_selfie(2, media.smiling_jpeg())
        assert other.reading.emotion is Emotion.HAPPY and other.learning == ()
        assert "learning" not in replies.selfie_reply(other)[0]
        # Switched off in /settings: the plain read; on again: the learned one.
        assert (await service.set_learn_face(1, False)).learn_face is False
        assert not await service.learns_face(1)
        off = await service.read_selfie(1, media.smiling_jpeg())
        assert off.reading.emotion is Emotion.HAPPY and off.learning == ()
        await service.set_learn_face(1, True)
        assert (await service.read_selfie(1, media.smiling_jpeg())).reading.emotion is (
            Emotion.SURPRISE
        )
        # /delete erases the readings, and so what was learnt.
        await service.erase(1)
        fresh = await service.read_selfie(1, media.smiling_jpeg())
        assert fresh.reading.emotion is Emotion.HAPPY and fresh.learning == ()


async def test_three_corrections_nudge_and_one_changes_nothing(tmp_path, analyzer, recommender):
    async with await Storage.open(tmp_path / "db.sqlite3") as storage:
        service = MoodTune(analyzer, recommender, storage)
        plain = (await service.read_selfie(9, media.smiling_jpeg())).reading
        await seed(storage, 1, 1, Emotion.SAD)
        once = await service.read_selfie(1, media.smiling_jpeg())
        assert once.reading == plain and once.learning == ()  # one correction: noise
        await seed(storage, 2, 3, Emotion.SAD)
        nudged = await service.read_selfie(2, media.smiling_jpeg())
        assert nudged.reading.emotion is Emotion.HAPPY  # moved, not flipped
        assert nudged.reading.probabilities[Emotion.SAD] > plain.probabilities[Emotion.SAD] + 0.1
        assert nudged.learning == (Emotion.HAPPY,)


async def test_unsure_guesses_teach_nothing(tmp_path, analyzer, recommender):
    async with await Storage.open(tmp_path / "db.sqlite3") as storage:
        service = MoodTune(analyzer, recommender, storage)
        await seed(storage, 1, 40, None, unsure=True)
        result = await service.read_selfie(1, media.smiling_jpeg())
        assert result.reading.emotion is Emotion.HAPPY and result.learning == ()
    H, S, N = Emotion.HAPPY, Emotion.SURPRISE, Emotion.NEUTRAL
    assert outcomes(
        [
            FaceOutcome(raw=H, shown=H, corrected=S, unsure=False),  # a correction
            FaceOutcome(raw=H, shown=H, corrected=S, unsure=True),  # a correction of a guess
            FaceOutcome(raw=H, shown=H, corrected=None, unsure=False),  # kept as read
            FaceOutcome(raw=H, shown=H, corrected=None, unsure=True),  # a guess: nothing
            FaceOutcome(raw=H, shown=N, corrected=None, unsure=False),  # a move accepted
        ]
    ) == [Outcome(H, S), Outcome(H, S), Outcome(H, H), Outcome(H, N)]


async def test_correction_rate_per_person_over_time_without_ids(tmp_path):
    from tests.test_cli import moodtune

    db = tmp_path / "db.sqlite3"
    async with await Storage.open(db) as storage:
        for week, corrected in enumerate((3, 1)):  # 3 of 4, then 1 of 4
            for i in range(4):
                entry = await storage.add_reading(
                    424242, emotion="sad", confidence=0.7, probabilities={"sad": 0.7},
                    at=T0 + timedelta(weeks=week, hours=i),
                )  # fmt: skip
                if i < corrected:
                    await storage.correct_emotion(424242, entry.id, Emotion.NEUTRAL)
        await storage.add_reading(777777, emotion="happy", confidence=0.9,
                                  probabilities={"happy": 0.9}, at=T0 + timedelta(days=1))  # fmt: skip
        timeline = await storage.correction_timeline()
    assert timeline == [
        {"person": 1, "week": "2026-01-05", "readings": 4, "corrected": 3},
        {"person": 1, "week": "2026-01-12", "readings": 4, "corrected": 1},
        {"person": 2, "week": "2026-01-05", "readings": 1, "corrected": 0},
    ]
    out = tmp_path / "by_person.csv"
    run = moodtune("corrections", "--by-person", str(out), env={"DATABASE_PATH": str(db)})
    assert run.returncode == 0, run.stderr
    assert "person 1: 8 face readings, corrected 75% in the week of 2026-01-05 -> 25%" in (
        run.stderr
    )
    text = out.read_text()
    assert text.splitlines()[1] == "1,2026-01-05,4,3,0.750"
    assert "424242" not in text + run.stderr and "777777" not in text + run.stderr
