"""Texts the bot sends, in Telegram's HTML and the person's language. Formatting only: no I/O.

Fixed texts are read as module attributes (`replies.WELCOME`) and translated when read, in the
language of the update being handled (bot/i18n.py): see `__getattr__`. Keyboards are in
bot/keyboards.py.
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
from bot.i18n import N_, _, ngettext, pgettext, weekday_name, zone_city
from bot.service import SelfieResult
from bot.settings import Settings
from bot.vocabulary import EMOJI, adjective, mood_label, noun
from models.emotion import Emotion, FaceReading
from models.errors import (
    AnimatedImage,
    CorruptImage,
    CostlyImage,
    ImageError,
    ImageTooLarge,
    NoFaceFound,
    OddImageShape,
    UnsupportedImage,
)
from models.video import DEFAULT_MAX_SECONDS as MAX_VIDEO_SECONDS
from models.video import DEFAULT_MAX_VIDEO_BYTES as MAX_VIDEO_BYTES
from models.video import VideoTooLong
from recommender.errors import RecommenderError
from recommender.moods import Strategy
from recommender.track import Mood, Track
from recommender.why import Sound, Why

_HELP = N_(
    "<b>What I understand</b>\n"
    "📸 a selfie (photo, or a JPEG/PNG/WebP file) — your mood and 5 songs\n"
    "🎥 a round video message (up to 20 s) — read from a few frames, never stored\n"
    "💬 a few words on how you feel (“I'm tired”, “need to focus”) — songs for that\n"
    "📝 <i>Add a note</i> under a reading — a line about your day (/cancel to skip)\n"
    "/mood — pick a mood yourself and get songs\n"
    "/history — your last 7 days, with a chart\n"
    "/style — match my mood, or lift it\n"
    "/genres — your favourite genres\n"
    "/settings — your time zone\n"
    "/language — the language I speak with you\n"
    "/remind — opt-in daily nudge or weekly summary\n"
    "/privacy — what I store and what I never store\n"
    "/export — a copy of everything I hold about you (CSV and JSON)\n"
    "/delete — erase everything I hold about you\n"
    "/help — this message"
)
# The fixed texts, translated when read (see __getattr__).
_TEXTS: dict[str, str] = {
    "WELCOME": N_(
        "👋 Hi! I'm <b>MoodTune</b>, your music companion.\n\n"
        "Send me a selfie and I'll read the emotion on your face and answer with songs that fit "
        "(as Spotify links). If your face looks neutral, I'll ask what you're in the mood for. "
        "You can also just tell me how you feel, in a few words.\n\n"
        "<b>Before your first selfie:</b> I use an emotion-recognition model on your face. "
        "A face shows an expression, not what you feel inside, so treat my reading as a guess — "
        "you can always pick your mood yourself. Photos are processed in memory and never "
        "stored; I keep only the reading (emotion, time, songs) so you can look back at your "
        "week. See /privacy for details, and /delete erases everything I hold about you.\n\n"
        "Send a selfie to begin, or /help for all commands."
    ),
    "HELP": _HELP,
    "SEND_SELFIE": N_(
        "Send me a selfie 📸 or tell me how you feel, and I'll pick songs for your mood. "
        "/help lists what I can do."
    ),
    "STICKER": N_(
        "Nice sticker! 😄 But I need a real photo of your face to read your mood — send a selfie."
    ),
    "NOT_A_PHOTO": N_(
        "I can only read moods from photos and short round video messages. Please send a selfie "
        "as a photo (or as a JPEG, PNG or WebP file), or a round video of your face."
    ),
    "STALE_BUTTON": N_("That button has expired. Send a new selfie or use /mood."),
    "DELETE_CONFIRM": N_(
        "This erases <b>every</b> reading, mood and song suggestion I hold about you. "
        "It can't be undone. Are you sure?"
    ),
    "DELETE_DONE": N_(
        "🗑 Done: everything I held about you is erased. You can start afresh any time."
    ),
    "DELETE_CANCELLED": N_("OK, nothing was deleted."),
    "ERASED_IN_FLIGHT": N_(
        "Your data was erased while I was reading that photo, so I kept nothing."
    ),
    "NOTHING_TO_EXPORT": N_("I hold nothing about you right now, so there is nothing to export."),
    "MOOD_QUESTION": N_("What are you in the mood for?"),
    "SORRY": N_("Sorry, something went wrong on my side. Please try again in a moment."),
    "UNSUPPORTED_IMAGE": N_(
        "That file isn't an image I can read. Please send a selfie as a photo, "
        "or as a JPEG, PNG or WebP file."
    ),
    "HOW_DO_YOU_FEEL": N_("How do you feel?"),
    "FEEDBACK_THANKS": N_("Thanks! I'll remember that."),
    "SAVED": N_("Saved."),
    "EXPORT_CAPTION": N_("Everything I hold about you."),
    "UNKNOWN_TIMEZONE": N_(
        "I don't know that place or time zone. Try a city, e.g. <code>/settings Seoul</code>, "
        "or an offset like <code>/settings UTC+5:30</code>."
    ),
    "REMINDERS_OFF": N_("🔕 Reminders are off."),
    "NOTE_PROMPT": N_(
        "📝 Write a line about your day and send it as a message. I'll keep it with this "
        "reading. /cancel if you changed your mind."
    ),
    "NOTE_CANCELLED": N_("OK, no note."),
    "NOTHING_TO_CANCEL": N_("There's nothing to cancel."),
    "STYLE_TEXT": N_(
        "How should I pick songs when you look sad, angry, afraid or disgusted?\n"
        "• <b>Match my mood</b>: songs that sound like you feel.\n"
        "• <b>Lift my mood</b>: start gentle, then brighter and calmer songs.\n"
        "• <b>Automatic</b> (default): lift for those four, match for the rest."
    ),
    "GENRES_TEXT": N_(
        "Pick the kinds of music you love (tap again to remove). I'll lean towards them, "
        "without leaving the mood behind."
    ),
    "NUDGE": N_("👋 How are you feeling today? Send me a selfie and I'll pick songs for it."),
    "REMIND_HELP": N_(
        "Reminders are opt-in:\n"
        "• /remind 8am or /remind 20:30 — a daily nudge at that time, your time\n"
        "• /remind weekly sun — a summary of your week every Sunday evening\n"
        "• /remind off — stop both\n"
        "Set your time zone first with /settings."
    ),
    "LEARN_FACE_ON": N_("On: your corrections will adapt how I read your selfies."),
    "LEARN_FACE_OFF": N_("Off: I read every selfie the same way for everyone."),
    "LANGUAGE_TEXT": N_("🌐 Which language should I speak with you?"),
    "LANGUAGE_SAVED": N_("OK, I'll speak English with you from now on."),
}
# What a 👍 / 👎 / second press answers, by the value it set.
_RATED = {
    1: N_("👍 Noted: I'll pick more like it."),
    -1: N_("👎 Noted: I won't suggest it again."),
    0: N_("OK, taken back."),
}
_STYLE_SAVED = {
    Strategy.MATCH: N_("OK: from now on I'll match your mood."),
    Strategy.LIFT: N_("OK: from now on I'll lift your mood."),
    None: N_("OK: from now on I'll choose automatically."),
}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # what /remind weekly accepts


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


def first_notice() -> str:
    return "\n\n" + _("📔 Your first reading is in your diary: /history shows your week.")


# What to say about the errors we expect, most specific class first.
_ERRORS: dict[type[Exception], str] = {
    AnimatedImage: N_(
        "That's an animated image. Please send a still selfie: a photo, or a JPEG, PNG or "
        "WebP file."
    ),
    CostlyImage: N_(
        "That image is too large for me to open in this format. Please send it as a photo "
        "rather than as a file: Telegram makes photos smaller on the way."
    ),
    OddImageShape: N_(
        "That picture is too small or too long and thin to show a face. Please send a normal "
        "selfie, straight from your camera."
    ),
    UnsupportedImage: _TEXTS["UNSUPPORTED_IMAGE"],
    CorruptImage: N_(
        "That image seems damaged or incomplete, so I couldn't open it. "
        "Could you send the photo again?"
    ),
    ImageError: N_("I couldn't read that image. Please send a photo (JPEG, PNG or WebP)."),
    NoFaceFound: N_(
        "I couldn't find a face in that photo. Try a well-lit selfie, facing the camera, "
        "with your whole face in the frame."
    ),
    RecommenderError: N_("I couldn't pick songs just now. Please try again in a moment."),
}


def video_error_text(err: BaseException) -> str:
    """What to say when a video can't be read: too long, too big, no face, not readable."""
    if isinstance(err, VideoTooLong):
        seconds = round(MAX_VIDEO_SECONDS)
        return ngettext(
            "That video is too long for me: I read clips of up to {seconds} second. "
            "Send a short round video message, or a selfie.",
            "That video is too long for me: I read clips of up to {seconds} seconds. "
            "Send a short round video message, or a selfie.",
            seconds,
        ).format(seconds=seconds)
    if isinstance(err, ImageTooLarge):
        return _(
            "That video is too large for me (up to {size}, 1080p). "
            "A short round video message works best."
        ).format(size=_bytes(MAX_VIDEO_BYTES))
    if isinstance(err, NoFaceFound):
        return _(
            "I couldn't find a face in that video. Try again facing the camera, in good light, "
            "with your whole face in the circle."
        )
    return _("I couldn't read that video. Please send a round video message, or a selfie.")


def privacy_text(settings: Settings) -> str:
    return _(
        "<b>Your data</b>\n"
        "• <b>Never stored:</b> your photos and videos (processed in memory, then dropped) "
        "and their Telegram file ids.\n"
        "• <b>Stored</b>, per reading: your Telegram user id, the time (UTC), the emotion read "
        "and its probabilities, the mood you picked, your note if you wrote one, and the ids "
        "of the songs suggested; your 👍/👎 on songs (with the song's artist and genre family); "
        "your time zone and language. "
        "Your corrections adapt how I read your face (switch it off in /settings).\n"
        "• Kept for at most {period}, then purged; /export sends you a copy, /delete erases "
        "everything now.\n"
        "• Nobody else can see your readings."
    ).format(period=_days(settings.history_retention_days))


def error_text(err: BaseException, settings: Settings) -> str | None:
    """What to tell the person about an error we expect; None for a fault on our side."""
    if isinstance(err, ImageTooLarge) and not isinstance(err, CostlyImage):
        return _(
            "That image is too large for me. Please send a normal photo "
            "(up to {size} and {pixels}), e.g. straight from your camera."
        ).format(size=_bytes(settings.max_image_bytes), pixels=_pixels(settings.max_image_pixels))
    return next((_(text) for kind, text in _ERRORS.items() if isinstance(err, kind)), None)


def _bytes(n: int) -> str:
    if n >= 2**20:
        return f"{round(n / 2**20, 1):g} MB"
    return f"{round(n / 2**10, 1):g} KB"


def _pixels(n: int) -> str:
    if n >= 1_000_000:
        mp = round(n / 1e6, 1)
        return _("{count} megapixels").format(count=f"{mp:g}")
    return ngettext("{count} pixel", "{count} pixels", n).format(count=f"{n:,}")


def _days(n: int) -> str:
    """365 -> "a year", 14 -> "2 weeks", 30 -> "30 days"."""
    if n % 365 == 0:
        k = n // 365
        return ngettext("a year", "{count} years", k).format(count=k)
    if n % 7 == 0:
        k = n // 7
        return ngettext("a week", "{count} weeks", k).format(count=k)
    return ngettext("a day", "{count} days", n).format(count=n)


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


def export_headers() -> tuple[str, ...]:
    """The export CSV's column names as the person reads them (bot/service.EXPORT_COLUMNS)."""
    return (
        pgettext("export column", "id"),
        pgettext("export column", "created_at"),
        pgettext("export column", "source"),
        pgettext("export column", "emotion"),
        pgettext("export column", "confidence"),
        pgettext("export column", "corrected_emotion"),
        pgettext("export column", "mood"),
        pgettext("export column", "track_ids"),
        pgettext("export column", "probabilities"),
        pgettext("export column", "unsure"),
        pgettext("export column", "note"),
    )
