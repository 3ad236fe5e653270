"""Every inline button's callback data: one frozen dataclass per kind, with its codec.

Data is a compact string (Telegram allows 64 bytes) such as ``fb:42:up``. It comes back from
the person's client and is never trusted: `parse` returns None for anything malformed, unknown
or stale-shaped, and the handler registered for a kind (its `matches` is the pattern) only
sees data that parses. Whether an entry id is the presser's own is checked in storage.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Self, TypeVar

from models.emotion import Emotion
from recommender.moods import Strategy
from recommender.track import SPOTIFY_ID, Mood

MAX_DATA_BYTES = 64
MAX_ID_DIGITS = 12
MAX_HISTORY_PAGE = 999
HISTORY_DAYS = (7, 30)
# Whole-hour offsets from UTC offered under /settings.
TIMEZONE_HOURS = (0, -8, -5, -3, 1, 2, 3, 4, 5, 8, 9)
GENRE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz&- ")
MAX_GENRE_LEN = 30


def _data(*parts: object) -> str:
    data = ":".join(str(p) for p in parts)
    if len(data.encode()) > MAX_DATA_BYTES:
        raise ValueError(f"callback data over {MAX_DATA_BYTES} bytes: {data!r}")
    return data


def _fields(data: object, prefix: str, count: int) -> list[str] | None:
    """The `count` fields after `prefix`, or None if `data` is not shaped so."""
    if not isinstance(data, str) or len(data.encode()) > MAX_DATA_BYTES:
        return None
    head, *rest = data.split(":")
    return rest if head == prefix and len(rest) == count else None


def _number(text: str, digits: int = MAX_ID_DIGITS) -> int | None:
    # isascii: str.isdigit also accepts digits like "²" that int() refuses.
    ok = text.isascii() and text.isdigit() and len(text) <= digits
    return int(text) if ok else None


E = TypeVar("E", bound=enum.Enum)


def _enum(kind: type[E], value: str) -> E | None:
    try:
        return kind(value)
    except ValueError:
        return None


class Button:
    """What every kind has: `encode` to callback data, `parse` back (None if not this kind)."""

    __slots__ = ()

    def encode(self) -> str:
        raise NotImplementedError

    @classmethod
    def parse(cls, data: object) -> Self | None:
        raise NotImplementedError

    @classmethod
    def matches(cls, data: object) -> bool:
        """The kind's CallbackQueryHandler pattern: does `data` parse as this kind?"""
        return cls.parse(data) is not None


@dataclass(frozen=True, slots=True)
class MoodButton(Button):
    """A mood chosen: the answer to a selfie's question (entry_id), or a /mood pick (None)."""

    mood: Mood
    entry_id: int | None = None

    def encode(self) -> str:
        if self.entry_id is None:
            return _data("pick", self.mood.value)
        return _data("mood", self.entry_id, self.mood.value)

    @classmethod
    def parse(cls, data: object) -> Self | None:
        if fields := _fields(data, "pick", 1):
            mood = _enum(Mood, fields[0])
            return cls(mood) if mood else None
        if fields := _fields(data, "mood", 2):
            entry_id, mood = _number(fields[0]), _enum(Mood, fields[1])
            return cls(mood, entry_id) if entry_id is not None and mood else None
        return None


@dataclass(frozen=True, slots=True)
class FeedbackButton(Button):
    """👍 or 👎 on all the songs of one entry (replies before per-song `RateButton`s)."""

    entry_id: int
    up: bool

    def encode(self) -> str:
        return _data("fb", self.entry_id, "up" if self.up else "down")

    @classmethod
    def parse(cls, data: object) -> Self | None:
        fields = _fields(data, "fb", 2)
        entry_id = _number(fields[0]) if fields else None
        if entry_id is None or fields is None or fields[1] not in ("up", "down"):
            return None
        return cls(entry_id, fields[1] == "up")


@dataclass(frozen=True, slots=True)
class RateButton(Button):
    """👍 (+1), 👎 (-1) or take it back (0) on one song of one entry: what pressing sets,
    so the label beside it can show the opinion and a second press undoes it."""

    entry_id: int
    track_id: str  # a Spotify track id (22 letters and digits)
    value: int

    def encode(self) -> str:
        return _data("rate", self.entry_id, self.track_id, _RATINGS[self.value])

    @classmethod
    def parse(cls, data: object) -> Self | None:
        fields = _fields(data, "rate", 3)
        if fields is None or fields[2] not in _RATING_VALUES:
            return None
        entry_id, track_id = _number(fields[0]), fields[1]
        if entry_id is None or not SPOTIFY_ID.fullmatch(track_id):
            return None
        return cls(entry_id, track_id, _RATING_VALUES[fields[2]])


_RATINGS = {1: "up", -1: "down", 0: "undo"}
_RATING_VALUES = {word: value for value, word in _RATINGS.items()}


@dataclass(frozen=True, slots=True)
class MoreButton(Button):
    """Five more songs for one entry."""

    entry_id: int

    def encode(self) -> str:
        return _data("more", self.entry_id)

    @classmethod
    def parse(cls, data: object) -> Self | None:
        fields = _fields(data, "more", 1)
        entry_id = _number(fields[0]) if fields else None
        return None if entry_id is None else cls(entry_id)


@dataclass(frozen=True, slots=True)
class FixButton(Button):
    """ "Not quite?" under a reading: show the emotions to correct it with."""

    entry_id: int

    def encode(self) -> str:
        return _data("fix", self.entry_id)

    @classmethod
    def parse(cls, data: object) -> Self | None:
        fields = _fields(data, "fix", 1)
        entry_id = _number(fields[0]) if fields else None
        return None if entry_id is None else cls(entry_id)


@dataclass(frozen=True, slots=True)
class CorrectionButton(Button):
    """The emotion the person says they really showed in one entry."""

    entry_id: int
    emotion: Emotion

    def encode(self) -> str:
        return _data("fix", self.entry_id, self.emotion.value)

    @classmethod
    def parse(cls, data: object) -> Self | None:
        fields = _fields(data, "fix", 2)
        if fields is None:
            return None
        entry_id, emotion = _number(fields[0]), _enum(Emotion, fields[1])
        return cls(entry_id, emotion) if entry_id is not None and emotion else None


@dataclass(frozen=True, slots=True)
class StyleButton(Button):
    """Match or lift the mood; None goes back to the automatic default."""

    strategy: Strategy | None

    def encode(self) -> str:
        return _data("style", self.strategy.value if self.strategy else "auto")

    @classmethod
    def parse(cls, data: object) -> Self | None:
        fields = _fields(data, "style", 1)
        if fields is None:
            return None
        if fields[0] == "auto":
            return cls(None)
        strategy = _enum(Strategy, fields[0])
        return cls(strategy) if strategy else None


@dataclass(frozen=True, slots=True)
class GenreButton(Button):
    """Add or remove a favourite genre (whether the catalog has it is the service's call)."""

    genre: str

    def encode(self) -> str:
        return _data("genre", self.genre)

    @classmethod
    def parse(cls, data: object) -> Self | None:
        fields = _fields(data, "genre", 1)
        genre = fields[0] if fields else ""
        ok = 0 < len(genre) <= MAX_GENRE_LEN and set(genre) <= GENRE_CHARS
        return cls(genre) if ok else None


@dataclass(frozen=True, slots=True)
class HistoryButton(Button):
    """A page of /history: `days` per page, `page` periods back from today."""

    days: int
    page: int

    def encode(self) -> str:
        return _data("hist", self.days, self.page)

    @classmethod
    def parse(cls, data: object) -> Self | None:
        fields = _fields(data, "hist", 2)
        if fields is None:
            return None
        days, page = _number(fields[0]), _number(fields[1], digits=3)
        if days not in HISTORY_DAYS or page is None or page > MAX_HISTORY_PAGE:
            return None
        return cls(days, page)


@dataclass(frozen=True, slots=True)
class TimezoneButton(Button):
    """One of the whole-hour time zones offered under /settings, `hours` east of UTC."""

    hours: int

    @property
    def zone(self) -> str:
        # IANA's Etc/GMT zones count westwards (POSIX), so UTC+2 is Etc/GMT-2.
        return "UTC" if self.hours == 0 else f"Etc/GMT{-self.hours:+d}"

    def encode(self) -> str:
        return _data("tz", self.zone)

    @classmethod
    def parse(cls, data: object) -> TimezoneButton | None:
        return next((b for b in TIMEZONES if b.encode() == data), None)


TIMEZONES = tuple(TimezoneButton(h) for h in TIMEZONE_HOURS)


@dataclass(frozen=True, slots=True)
class DeleteButton(Button):
    """The answer to "erase everything?"."""

    confirmed: bool

    def encode(self) -> str:
        return _data("del", "yes" if self.confirmed else "no")

    @classmethod
    def parse(cls, data: object) -> Self | None:
        fields = _fields(data, "del", 1)
        if fields is None or fields[0] not in ("yes", "no"):
            return None
        return cls(fields[0] == "yes")


@dataclass(frozen=True, slots=True)
class NoteButton(Button):
    """ "📝 Add a note" under a reading: their next text message becomes its note."""

    entry_id: int

    def encode(self) -> str:
        return _data("note", self.entry_id)

    @classmethod
    def parse(cls, data: object) -> Self | None:
        fields = _fields(data, "note", 1)
        entry_id = _number(fields[0]) if fields else None
        return None if entry_id is None else cls(entry_id)


@dataclass(frozen=True, slots=True)
class LearnFaceButton(Button):
    """The /settings switch for the read that learns their face."""

    on: bool

    def encode(self) -> str:
        return _data("learn", "on" if self.on else "off")

    @classmethod
    def parse(cls, data: object) -> Self | None:
        fields = _fields(data, "learn", 1)
        if fields is None or fields[0] not in ("on", "off"):
            return None
        return cls(fields[0] == "on")


LANGUAGE_CODES = ("en", "ko", "es")  # bot/i18n.LANGUAGES (buttons import nothing from bot)


@dataclass(frozen=True, slots=True)
class LanguageButton(Button):
    """The language to speak with the person (/language)."""

    language: str

    def encode(self) -> str:
        return _data("lang", self.language)

    @classmethod
    def parse(cls, data: object) -> Self | None:
        fields = _fields(data, "lang", 1)
        if fields is None or fields[0] not in LANGUAGE_CODES:
            return None
        return cls(fields[0])
