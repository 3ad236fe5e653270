"""The fixed texts (welcome, help, privacy, answers to buttons), what to say about errors, and
the export's column names, in the person's language. Read the fixed texts through
bot/replies.py (`replies.WELCOME`), which translates them when read."""

from __future__ import annotations

from bot.download import DownloadFailed
from bot.i18n import N_, _, ngettext, pgettext
from bot.settings import Settings
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
    "PHOTO_NOT_FETCHED": N_(
        "I couldn't fetch your photo from Telegram just now. Please send it again in a moment."
    ),
    "GROUP_NOTE": N_(
        "🔒 I keep moods private, so I only read selfies and show your diary in a private chat "
        "with you. Tap below to open one."
    ),
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
    DownloadFailed: _TEXTS["PHOTO_NOT_FETCHED"],
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
    text = _(
        "<b>Your data</b>\n"
        "• <b>Never stored:</b> your photos and videos (processed in memory, then dropped). "
        "Their Telegram file ids are held only until your message is answered, so a restart "
        "can't lose it.\n"
        "• <b>Stored</b>, per reading: your Telegram user id, the time (UTC), the emotion read "
        "and its probabilities, the mood you picked, your note if you wrote one, and the ids "
        "of the songs suggested; your 👍/👎 on songs (with the song's artist and genre family); "
        "your time zone and language. "
        "Your corrections adapt how I read your face (switch it off in /settings).\n"
        "• Kept for at most {period}, then purged; /export sends you a copy, /delete erases "
        "everything now.\n"
        "• Nobody else can see your readings."
    ).format(period=_days(settings.history_retention_days))
    tombstone = _(
        "• After /delete I keep only your user id and the time you deleted, for one day, so "
        "that a selfie still being read then is not saved."
    )
    return f"{text}\n{tombstone}"


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


def export_headers() -> tuple[str, ...]:
    """The export CSV's column names as the person reads them (bot/account.EXPORT_COLUMNS)."""
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
