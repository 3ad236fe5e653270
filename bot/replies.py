"""Texts the bot sends, in Telegram's HTML and the person's language. Formatting only: no I/O.

Fixed texts (bot/notices.py) are read as module attributes (`replies.WELCOME`) and translated
when read, in the language of the update being handled (bot/i18n.py): see `__getattr__`.
Keyboards are in bot/keyboards.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time
from html import escape
from typing import Any

from telegram import (
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    LinkPreviewOptions,
)

from bot import keyboards, zones
from bot.history import HistorySummary, format_summary, span_text
from bot.i18n import N_, _, ngettext, weekday_name, zone_city
from bot.notices import (  # noqa: F401 - the handlers' one place for texts
    _HELP,
    _RATED,
    _STYLE_SAVED,
    _TEXTS,
    WEEKDAYS,
    error_text,
    export_headers,
    first_notice,
    privacy_text,
    video_error_text,
)
from bot.service import SelfieResult
from bot.vocabulary import EMOJI, adjective, mood_label, noun
from models.emotion import Emotion, FaceReading
from recommender.moods import Strategy
from recommender.track import Mood, Track
from recommender.why import Sound, Why


def __getattr__(name: str) -> Any:
    """`replies.WELCOME` etc.: the fixed text in the current language."""
    if name in _TEXTS:
        return _(_TEXTS[name])
    if name == "UNKNOWN_COMMAND":
        return _("I don't know that command. Here's what I understand:") + "\n\n" + _(_HELP)
    if name == "RATED":
        return {value: _(text) for value, text in _RATED.items()}
    if name == "STYLE_SAVED":
        return {strategy: _(text) for strategy, text in _STYLE_SAVED.items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def confidence_words(p: float) -> str:
    if p >= 0.8:
        return _("very likely")
    if p >= 0.6:
        return _("likely")
    if p >= 0.4:
        return _("probably")
    return _("just a guess")


def songs_block(tracks: Sequence[Track]) -> str:
    lines = [
        f'{i}. <a href="{t.url}">{escape(t.title)}</a> — {escape(t.artist)}'
        for i, t in enumerate(tracks, 1)
    ]
    return "\n".join(lines)


def reading_text(reading: FaceReading, unsure: bool) -> str:
    e = reading.emotion
    pct = round(reading.confidence * 100)
    if unsure:
        runner = reading.ranked()[1][0]
        head = _(
            "🤔 I can't tell for sure: maybe {first} ({percent}%), maybe {second}. "
            "Faces can be hard to read."
        ).format(first=adjective(e), percent=pct, second=adjective(runner))
    else:
        head = _("{emoji} You look <b>{emotion}</b> ({confidence}, {percent}%).").format(
            emoji=EMOJI[e],
            emotion=adjective(e),
            confidence=confidence_words(reading.confidence),
            percent=pct,
        )
    if reading.faces_found > 1:
        n = reading.faces_found
        head += "\n" + ngettext(
            "(I saw {count} face and read the largest one.)",
            "(I saw {count} faces and read the largest one.)",
            n,
        ).format(count=n)
    return head


def selfie_reply(result: SelfieResult | None) -> tuple[str, InlineKeyboardMarkup | None]:
    """The answer to a selfie: the reading with songs, or with the mood question."""
    if result is None:
        return _(_TEXTS["ERASED_IN_FLIGHT"]), None
    text = reading_text(result.reading, result.unsure)
    text += learning_text(result.learning)
    if result.ask_mood:
        text += "\n\n" + _(_TEXTS["MOOD_QUESTION"])
    else:
        heading = why_heading("🎵", result.why, _("Songs for you:"))
        text += f"\n\n{heading}\n{songs_block(result.tracks)}"
    markup = keyboards.selfie_keyboard(
        result.entry_id, result.tracks, result.ask_mood, result.unsure
    )
    return text + (first_notice() if result.first else streak_text(result.streak)), markup


def correction_reply(
    entry_id: int, emotion: Emotion, tracks: Sequence[Track], why: Why | None = None
) -> tuple[str, InlineKeyboardMarkup]:
    """Songs for the person's own emotion; for neutral, the mood question instead."""
    if not tracks:
        return correction_text(emotion, tracks, why), keyboards.mood_keyboard(entry_id)
    return correction_text(emotion, tracks, why), keyboards.songs_keyboard(entry_id, tracks)


def streak_text(days: int) -> str:
    """The streak, or a gentle nudge to start one, after a reading."""
    if days >= 2:
        return "\n\n" + ngettext(
            "🔥 {count} day in a row. See you tomorrow!",
            "🔥 {count} days in a row. See you tomorrow!",
            days,
        ).format(count=days)
    return "\n\n" + _("📔 Saved in your diary. Come back tomorrow and start a streak.")


def learning_text(emotions: Sequence[Emotion]) -> str:
    """ "I'm learning how your face shows sadness": their corrections adjust this read."""
    if not emotions:
        return ""
    if len(emotions) == 1:
        shown = noun(emotions[0])
    else:
        shown = _("{first} and {second}").format(first=noun(emotions[0]), second=noun(emotions[1]))
    return "\n" + _("🧠 I'm learning how your face shows {what}, from your corrections.").format(
        what=shown
    )


def note_saved_text(note: str) -> str:
    return _(
        "📝 Noted: <i>{note}</i>\nIt's in your /history; /delete erases it with the rest."
    ).format(note=escape(note))


def mood_text(mood: Mood, tracks: Sequence[Track], why: Why | None = None) -> str:
    head = _("{mood} it is!").format(mood=mood_label(mood))
    return f"{head}\n{why_heading('🎵', why, '')}\n{songs_block(tracks)}"


def more_text(tracks: Sequence[Track], why: Why | None = None) -> str:
    return f"{why_heading('🔁', why, _('More for you:'))}\n{songs_block(tracks)}"


def correction_text(emotion: Emotion, tracks: Sequence[Track], why: Why | None = None) -> str:
    """Songs for the person's own emotion; for neutral (no songs), the mood question."""
    if not tracks:
        return _("Got it.") + " " + _(_TEXTS["MOOD_QUESTION"])
    head = _("Thanks, noted: {emotion}.").format(emotion=f"{EMOJI[emotion]} {adjective(emotion)}")
    return f"{head}\n\n{why_heading('🎵', why, '')}\n{songs_block(tracks)}"


def typed_mood_text(
    emotion: Emotion | None, mood: Mood | None, tracks: Sequence[Track], why: Why | None
) -> str:
    """Songs for a mood told in words: "Sounds like you're tired. …"."""
    if mood is not None:
        head = _("{mood} it is!").format(mood=mood_label(mood))
    elif emotion is not None:
        head = _("Thanks for telling me: {emotion}.").format(
            emotion=f"{EMOJI[emotion]} {adjective(emotion)}"
        )
    else:
        head = ""
    return f"{head}\n{why_heading('🎵', why, '')}\n{songs_block(tracks)}".lstrip()


# Why these songs: the sound the recommender aimed at, then what it answers.
SOUND_WORDS: dict[Sound, str] = {
    Sound.CALM: N_("calm"),
    Sound.MELLOW: N_("mellow"),
    Sound.EASY: N_("easy-going"),
    Sound.LIVELY: N_("lively"),
    Sound.ENERGETIC: N_("high-energy"),
    Sound.UPBEAT: N_("upbeat"),
    Sound.WARM: N_("warm"),
    Sound.MELANCHOLIC: N_("melancholic"),
    Sound.DARK: N_("dark"),
    Sound.ACOUSTIC: N_("acoustic"),
    Sound.INSTRUMENTAL: N_("instrumental"),
    Sound.DANCEABLE: N_("danceable"),
    Sound.SLOW: N_("slow"),
    Sound.FAST: N_("fast"),
    Sound.SOFT: N_("soft"),
    Sound.LOUD: N_("loud"),
}
MOOD_AIMS: dict[Mood, str] = {
    Mood.MORNING_COFFEE: N_("for an easy start"),
    Mood.RELAXING: N_("to help you unwind"),
    Mood.EXERCISE: N_("to keep you moving"),
    Mood.HEART_TOUCHING: N_("for a tender moment"),
    Mood.FOCUS: N_("to help you focus"),
    Mood.PARTY: N_("to get the party going"),
}
EMOTION_AIMS: dict[tuple[Emotion, Strategy], str] = {
    (Emotion.HAPPY, Strategy.MATCH): N_("to keep the good mood going"),
    (Emotion.SURPRISE, Strategy.MATCH): N_("to ride the surprise"),
    (Emotion.NEUTRAL, Strategy.MATCH): N_("for an easy, open moment"),
    (Emotion.SAD, Strategy.MATCH): N_("to keep you company as you are"),
    (Emotion.ANGRY, Strategy.MATCH): N_("to let it out"),
    (Emotion.FEAR, Strategy.MATCH): N_("to meet the tension"),
    (Emotion.DISGUST, Strategy.MATCH): N_("to match your mood"),
    (Emotion.SAD, Strategy.LIFT): N_("to lift your mood gently"),
    (Emotion.ANGRY, Strategy.LIFT): N_("to bring your mood down gently"),
    (Emotion.FEAR, Strategy.LIFT): N_("to help you feel safe"),
    (Emotion.DISGUST, Strategy.LIFT): N_("to turn your mood around gently"),
}


def why_text(why: Why) -> str:
    """A few words on why these songs, e.g. "calm, acoustic, slow — to help you unwind"."""
    sound = _(", ").join(_(SOUND_WORDS[s]) for s in why.sound)
    if why.mood is not None:
        aim = _(MOOD_AIMS[why.mood])
    else:
        key = (why.emotion or Emotion.NEUTRAL, why.strategy)
        aim = _(EMOTION_AIMS[key]) if key in EMOTION_AIMS else ""
    return " — ".join(part for part in (sound, aim) if part)


def why_heading(emoji: str, why: Why | None, otherwise: str) -> str:
    """ "🎵 <i>Calm, acoustic, slow — to help you unwind</i>" above a list of songs."""
    text = f"<i>{escape(_capitalised(why_text(why)))}</i>" if why else otherwise
    return f"{emoji} {text}".rstrip()


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def inline_results(tracks: Sequence[Track]) -> list[InlineQueryResultArticle]:
    """Songs to share from any chat (inline mode), each with Spotify's preview card."""
    return [
        InlineQueryResultArticle(
            id=f"{i}-{t.id}",
            title=t.title,
            description=t.artist,
            input_message_content=InputTextMessageContent(
                f"🎵 {escape(t.title)} — {escape(t.artist)}\n{t.url}",
                link_preview_options=LinkPreviewOptions(is_disabled=False),
            ),
            url=t.url,
        )
        for i, t in enumerate(tracks)
    ]


def remind_not_understood(words: str) -> str:
    return _(
        "I didn't understand “{words}” as a time. Try <code>/remind 8am</code>, "
        "<code>/remind 20:30</code>, <code>/remind weekly sun</code> or <code>/remind off</code>."
    ).format(words=escape(words[:40]))


def daily_reminder_text(at: time) -> str:
    return _("⏰ I'll nudge you every day at {time} your time. /remind off to stop.").format(
        time=f"{at:%H:%M}"
    )


def weekly_reminder_text(weekday: int) -> str:
    return _("📅 I'll send your week's summary every {weekday} evening.").format(
        weekday=weekday_name(weekday)
    )


def wish_text(weekday: int | None, at: time | None) -> str:
    """What /remind answers once a wish is set (off when neither is given)."""
    if weekday is not None:
        return weekly_reminder_text(weekday)
    return daily_reminder_text(at) if at is not None else _(_TEXTS["REMINDERS_OFF"])


def weekly_summary_text(summary: HistorySummary) -> str:
    return _("📅 Your week") + "\n\n" + format_summary(summary)


def history_caption(summary: HistorySummary) -> str:
    return _("Your moods, {span}").format(span=span_text(summary))


def settings_text(timezone: str) -> str:
    return _(
        "🕒 Your time zone: <b>{zone}</b> (days in /history and reminders use it).\n"
        "Tap an offset below, or send your city, e.g. <code>/settings Seoul</code>."
    ).format(zone=escape(zone_text(timezone)))


def zone_text(key: str) -> str:
    """A zone as people read it, in their language: 'Seoul · UTC+9', '서울 · UTC+9', 'UTC+2'
    (bot/zones.describe, with the city's name translated)."""
    if key == "UTC" or key.startswith("Etc/"):
        return zones.describe(key)
    return f"{zone_city(key)} · {zones.offset_label(key)}"
