"""The button codec: every kind round-trips, fits Telegram's 64 bytes, and refuses forgeries."""

from __future__ import annotations

import pytest

from bot import buttons
from bot.buttons import (
    CorrectionButton,
    DeleteButton,
    FeedbackButton,
    FixButton,
    GenreButton,
    HistoryButton,
    LearnFaceButton,
    MoodButton,
    MoreButton,
    NoteButton,
    RateButton,
    StyleButton,
    TimezoneButton,
)
from models.emotion import Emotion
from recommender.moods import Strategy
from recommender.track import Mood

KINDS = (
    MoodButton, FeedbackButton, MoreButton, FixButton, CorrectionButton, StyleButton,
    GenreButton, HistoryButton, TimezoneButton, DeleteButton, NoteButton, LearnFaceButton,
    RateButton,
)  # fmt: skip
TRACK = "4uLU6hMCjMI75M1A2tKUQC"
BIG_ID = 10**12 - 1

# The data of buttons already sitting in people's chats: the format must not drift.
WIRE = [
    (MoodButton(Mood.RELAXING, 5), "mood:5:relaxing"),
    (MoodButton(Mood.PARTY), "pick:party"),
    (FeedbackButton(7, up=True), "fb:7:up"),
    (FeedbackButton(7, up=False), "fb:7:down"),
    (RateButton(7, TRACK, 1), f"rate:7:{TRACK}:up"),
    (RateButton(7, TRACK, -1), f"rate:7:{TRACK}:down"),
    (RateButton(7, TRACK, 0), f"rate:7:{TRACK}:undo"),
    (MoreButton(7), "more:7"),
    (FixButton(7), "fix:7"),
    (CorrectionButton(7, Emotion.SAD), "fix:7:sad"),
    (StyleButton(Strategy.LIFT), "style:lift"),
    (StyleButton(None), "style:auto"),
    (GenreButton("hip hop"), "genre:hip hop"),
    (HistoryButton(30, 0), "hist:30:0"),
    (TimezoneButton(2), "tz:Etc/GMT-2"),
    (TimezoneButton(0), "tz:UTC"),
    (DeleteButton(confirmed=True), "del:yes"),
    (DeleteButton(confirmed=False), "del:no"),
    (NoteButton(7), "note:7"),
    (LearnFaceButton(on=True), "learn:on"),
    (LearnFaceButton(on=False), "learn:off"),
]
LARGEST = [
    *(MoodButton(m, BIG_ID) for m in Mood),
    *(CorrectionButton(BIG_ID, e) for e in Emotion),
    FeedbackButton(BIG_ID, up=False),
    RateButton(BIG_ID, TRACK, -1),
    MoreButton(BIG_ID),
    FixButton(BIG_ID),
    GenreButton("r&b-" + "x" * 26),
    HistoryButton(30, buttons.MAX_HISTORY_PAGE),
    *buttons.TIMEZONES,
    NoteButton(BIG_ID),
]


@pytest.mark.parametrize(("button", "data"), WIRE, ids=[d for _, d in WIRE])
def test_wire_format_is_stable(button, data):
    assert button.encode() == data
    assert type(button).parse(data) == button


@pytest.mark.parametrize("button", [b for b, _ in WIRE] + LARGEST, ids=repr)
def test_round_trip_within_64_bytes_and_only_as_its_own_kind(button):
    data = button.encode()
    assert len(data.encode()) <= 64
    assert [kind for kind in KINDS if kind.parse(data) is not None] == [type(button)]
    assert type(button).parse(data) == button


@pytest.mark.parametrize(
    "data",
    [
        None, "", "garbage", "x" * 65, "mood:1:not_a_mood", "mood::relaxing", "mood:-1:relaxing",
        "mood:1:relaxing:extra", "mood:1234567890123:relaxing", "mood:²:relaxing", "pick:",
        "pick:RELAXING", "fb:1:sideways", "fb:1", "fb:x:up", "more:", "more:1:up", "fix:1:joy",
        "fix:1:Sad", "fix:a", "style:random", "style:", "genre:", "genre:Rock", "genre:polka!",
        "genre:" + "a" * 31, "hist:14:0", "hist:7:-1", "hist:7:1000", "hist:7", "tz:Mars/Olympus",
        "tz:Etc/GMT-14", "tz:utc", "del:maybe", "del:yes:no", 12, b"del:yes", "note:", "note:x",
        "note:1:2", "learn:", "learn:maybe", "learn:on:off",
        f"rate:1:{TRACK}:sideways", f"rate:1:{TRACK}", f"rate::{TRACK}:up", f"rate:1:{TRACK}x:up",
        f"rate:1:{TRACK[:-1]}:up", f"rate:1:{TRACK[:-1]}!:up", f"rate:1:{TRACK}\n:up",
        f"rate:1:{TRACK[:-1]}é:up", f"rate:x:{TRACK}:up", f"rate:1:{TRACK}:Up",
    ],
)  # fmt: skip
def test_forged_or_stale_data_parses_to_nothing(data):
    assert [kind for kind in KINDS if kind.parse(data) is not None] == []


def test_encode_refuses_data_telegram_would_reject():
    with pytest.raises(ValueError):
        GenreButton("x" * 70).encode()


def test_time_zone_buttons_are_the_whole_hour_zones_offered():
    assert [b.zone for b in buttons.TIMEZONES][:3] == ["UTC", "Etc/GMT+8", "Etc/GMT+5"]
    assert TimezoneButton.parse(TimezoneButton(13).encode()) is None  # not offered
