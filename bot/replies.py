"""Texts and keyboards the bot sends, in Telegram's HTML. Formatting only: no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time
from html import escape
from urllib.parse import urlencode

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    LinkPreviewOptions,
)

from bot.buttons import (
    TIMEZONES,
    CorrectionButton,
    DeleteButton,
    FeedbackButton,
    FixButton,
    GenreButton,
    HistoryButton,
    MoodButton,
    MoreButton,
    StyleButton,
)
from bot.download import DownloadFailed
from bot.history import HistorySummary, format_summary
from bot.service import Genres, SelfieResult
from bot.settings import Settings
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
from recommender.errors import RecommenderError
from recommender.moods import Strategy
from recommender.track import Mood, Track

EMOJI = {
    Emotion.ANGRY: "😠",
    Emotion.DISGUST: "🤢",
    Emotion.FEAR: "😨",
    Emotion.HAPPY: "😊",
    Emotion.SAD: "😢",
    Emotion.SURPRISE: "😮",
    Emotion.NEUTRAL: "😐",
}
ADJECTIVE = {
    Emotion.ANGRY: "angry",
    Emotion.DISGUST: "disgusted",
    Emotion.FEAR: "afraid",
    Emotion.HAPPY: "happy",
    Emotion.SAD: "sad",
    Emotion.SURPRISE: "surprised",
    Emotion.NEUTRAL: "neutral",
}

WELCOME = (
    "👋 Hi! I'm <b>MoodTune</b>, your music companion.\n\n"
    "Send me a selfie and I'll read the emotion on your face and answer with songs that fit "
    "(as Spotify links). If your face looks neutral, I'll ask what you're in the mood for.\n\n"
    "<b>Before your first selfie:</b> I use an emotion-recognition model on your face. "
    "A face shows an expression, not what you feel inside, so treat my reading as a guess — "
    "you can always pick your mood yourself. Photos are processed in memory and never stored; "
    "I keep only the reading (emotion, time, songs) so you can look back at your week. "
    "See /privacy for details, and /delete erases everything I hold about you.\n\n"
    "Send a selfie to begin, or /help for all commands."
)
HELP = (
    "<b>What I understand</b>\n"
    "📸 a selfie (photo, or a JPEG/PNG/WebP file) — your mood and 5 songs\n"
    "/mood — pick a mood yourself and get songs\n"
    "/history — your last 7 days, with a chart\n"
    "/style — match my mood, or lift it\n"
    "/genres — your favourite genres\n"
    "/settings — your time zone\n"
    "/remind — opt-in daily nudge or weekly summary\n"
    "/privacy — what I store and what I never store\n"
    "/export — a copy of everything I hold about you (CSV and JSON)\n"
    "/delete — erase everything I hold about you\n"
    "/help — this message"
)
SEND_SELFIE = "Send me a selfie 📸 and I'll pick songs for your mood. /help lists what I can do."
UNKNOWN_COMMAND = "I don't know that command. Here's what I understand:\n\n" + HELP
STICKER = "Nice sticker! 😄 But I need a real photo of your face to read your mood — send a selfie."
NOT_A_PHOTO = (
    "I can only read moods from photos. Please send a selfie as a photo "
    "(or as a JPEG, PNG or WebP file)."
)
STALE_BUTTON = "That button has expired. Send a new selfie or use /mood."
DELETE_CONFIRM = (
    "This erases <b>every</b> reading, mood and song suggestion I hold about you. "
    "It can't be undone. Are you sure?"
)
DELETE_DONE = "🗑 Done: everything I held about you is erased. You can start afresh any time."
DELETE_CANCELLED = "OK, nothing was deleted."
ERASED_IN_FLIGHT = "Your data was erased while I was reading that photo, so I kept nothing."
FIRST_NOTICE = (
    "\n\nℹ️ First reading! I read facial expressions, not feelings, so correct me any time. "
    "Your photo was not stored; /privacy says what is."
)
MOOD_QUESTION = "What are you in the mood for?"
SORRY = "Sorry, something went wrong on my side. Please try again in a moment."

UNSUPPORTED_IMAGE = (
    "That file isn't an image I can read. Please send a selfie as a photo, "
    "or as a JPEG, PNG or WebP file."
)
HOW_DO_YOU_FEEL = "How do you feel?"
FEEDBACK_THANKS = "Thanks! I'll remember that."
SAVED = "Saved."
EXPORT_CAPTION = "Everything I hold about you."
UNKNOWN_TIMEZONE = "I don't know that time zone. Try e.g. Europe/Berlin."
REMINDERS_OFF = "🔕 Reminders are off."

# What to say about the errors we expect, most specific class first.
_ERRORS: dict[type[Exception], str] = {
    AnimatedImage: (
        "That's an animated image. Please send a still selfie: a photo, or a JPEG, PNG or "
        "WebP file."
    ),
    CostlyImage: (
        "That image is too large for me to open in this format. Please send it as a photo "
        "rather than as a file: Telegram makes photos smaller on the way."
    ),
    OddImageShape: (
        "That picture is too small or too long and thin to show a face. Please send a normal "
        "selfie, straight from your camera."
    ),
    UnsupportedImage: UNSUPPORTED_IMAGE,
    CorruptImage: (
        "That image seems damaged or incomplete, so I couldn't open it. "
        "Could you send the photo again?"
    ),
    ImageError: "I couldn't read that image. Please send a photo (JPEG, PNG or WebP).",
    NoFaceFound: (
        "I couldn't find a face in that photo. Try a well-lit selfie, facing the camera, "
        "with your whole face in the frame."
    ),
    RecommenderError: "I couldn't pick songs just now. Please try again in a moment.",
}


def privacy_text(settings: Settings) -> str:
    return (
        "<b>Your data</b>\n"
        "• <b>Never stored:</b> your photos (processed in memory, then dropped). Their "
        "Telegram file ids are held only until your message is answered, so a restart can't "
        "lose it.\n"
        "• <b>Stored</b>, per reading: your Telegram user id, the time (UTC), the emotion read "
        "and its probabilities, the mood you picked, and the ids of the songs suggested.\n"
        f"• Kept for at most {_days(settings.history_retention_days)}, then purged; /export "
        "sends you a copy, /delete erases everything now.\n"
        "• Nobody else can see your readings."
    )


def error_text(err: BaseException, settings: Settings) -> str | None:
    """What to tell the person about an error we expect; None for a fault on our side."""
    if isinstance(err, ImageTooLarge) and not isinstance(err, CostlyImage):
        size = _bytes(settings.max_image_bytes)
        pixels = _pixels(settings.max_image_pixels)
        return (
            "That image is too large for me. Please send a normal photo "
            f"(up to {size} and {pixels}), e.g. straight from your camera."
        )
    return next((text for kind, text in _ERRORS.items() if isinstance(err, kind)), None)


def _bytes(n: int) -> str:
    if n >= 2**20:
        return f"{round(n / 2**20, 1):g} MB"
    return f"{round(n / 2**10, 1):g} KB"


def _pixels(n: int) -> str:
    return f"{round(n / 1e6, 1):g} megapixels" if n >= 1_000_000 else f"{n:,} pixels"


def _days(n: int) -> str:
    """365 -> "a year", 14 -> "2 weeks", 30 -> "30 days"."""
    unit, size = next((u, s) for u, s in (("year", 365), ("week", 7), ("day", 1)) if n % s == 0)
    return f"a {unit}" if n == size else f"{n // size} {unit}s"


def confidence_words(p: float) -> str:
    if p >= 0.8:
        return "very likely"
    if p >= 0.6:
        return "likely"
    if p >= 0.4:
        return "probably"
    return "just a guess"


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
        head = (
            f"🤔 I can't tell for sure: maybe {ADJECTIVE[e]} ({pct}%), maybe "
            f"{ADJECTIVE[runner]}. Faces can be hard to read."
        )
    else:
        head = f"{EMOJI[e]} You look <b>{ADJECTIVE[e]}</b> ({confidence_words(reading.confidence)}, {pct}%)."
    if reading.faces_found > 1:
        head += f"\n(I saw {reading.faces_found} faces and read the largest one.)"
    return head


def selfie_reply(result: SelfieResult | None) -> tuple[str, InlineKeyboardMarkup | None]:
    """The answer to a selfie: the reading with songs, or with the mood question."""
    if result is None:
        return ERASED_IN_FLIGHT, None
    text = reading_text(result.reading, result.unsure)
    if result.ask_mood:
        text += f"\n\n{MOOD_QUESTION}"
        markup = mood_keyboard(result.entry_id)
    else:
        text += f"\n\n🎵 Songs for you:\n{songs_block(result.tracks)}"
        markup = songs_keyboard(result.entry_id, result.tracks, correctable=True)
    return text + (FIRST_NOTICE if result.first else ""), markup


def mood_text(mood: Mood, tracks: Sequence[Track]) -> str:
    return f"{mood.label} it is! 🎵\n{songs_block(tracks)}"


def more_text(tracks: Sequence[Track]) -> str:
    return "🎵 More for you:\n" + songs_block(tracks)


def correction_reply(
    entry_id: int, emotion: Emotion, tracks: Sequence[Track]
) -> tuple[str, InlineKeyboardMarkup]:
    """Songs for the person's own emotion; for neutral, the mood question instead."""
    if not tracks:
        return f"Got it. {MOOD_QUESTION}", mood_keyboard(entry_id)
    text = f"Thanks, noted: {EMOJI[emotion]} {ADJECTIVE[emotion]}.\n\n{songs_block(tracks)}"
    return text, songs_keyboard(entry_id, tracks)


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


def mood_keyboard(entry_id: int | None) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(m.label, callback_data=MoodButton(m, entry_id).encode()) for m in Mood
    ]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


STYLE_TEXT = (
    "How should I pick songs when you look sad, angry, afraid or disgusted?\n"
    "• <b>Match my mood</b>: songs that sound like you feel.\n"
    "• <b>Lift my mood</b>: start gentle, then brighter and calmer songs.\n"
    "• <b>Automatic</b> (default): lift for those four, match for the rest."
)


def share_url(track: Track) -> str:
    """Telegram's share link: opens a chat picker with the track link and a short text."""
    text = f"🎵 {track.title} — {track.artist} (via MoodTune)"
    return "https://t.me/share/url?" + urlencode({"url": track.url, "text": text})


def songs_keyboard(
    entry_id: int, tracks: Sequence[Track] = (), correctable: bool = False
) -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton("👍", callback_data=FeedbackButton(entry_id, up=True).encode()),
            InlineKeyboardButton("👎", callback_data=FeedbackButton(entry_id, up=False).encode()),
            InlineKeyboardButton("🔁 More songs", callback_data=MoreButton(entry_id).encode()),
        ]
    ]
    if tracks:
        rows.append(
            [InlineKeyboardButton(f"📤 {i}", url=share_url(t)) for i, t in enumerate(tracks, 1)]
        )
    if correctable:
        fix = FixButton(entry_id).encode()
        rows.append([InlineKeyboardButton("Not quite? Pick your mood", callback_data=fix)])
    return InlineKeyboardMarkup(rows)


def correction_keyboard(entry_id: int) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(
            f"{EMOJI[e]} {ADJECTIVE[e]}", callback_data=CorrectionButton(entry_id, e).encode()
        )
        for e in Emotion
    ]
    return InlineKeyboardMarkup([buttons[i : i + 3] for i in range(0, len(buttons), 3)])


def style_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    "Match my mood", callback_data=StyleButton(Strategy.MATCH).encode()
                ),
                InlineKeyboardButton(
                    "Lift my mood", callback_data=StyleButton(Strategy.LIFT).encode()
                ),
            ],
            [InlineKeyboardButton("Automatic", callback_data=StyleButton(None).encode())],
        ]
    )


GENRES_TEXT = (
    "Pick your favourite genres (tap again to remove). I'll lean towards them, "
    "without leaving the mood behind."
)


def genres_keyboard(genres: Genres) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(
            ("✅ " if g in genres.chosen else "") + g, callback_data=GenreButton(g).encode()
        )
        for g in genres.offered
    ]
    return InlineKeyboardMarkup([buttons[i : i + 3] for i in range(0, len(buttons), 3)])


NUDGE = "👋 How are you feeling today? Send me a selfie and I'll pick songs for it."
REMIND_HELP = (
    "Reminders are opt-in:\n"
    "• /remind 08:30 — a daily nudge at 08:30 your time\n"
    "• /remind weekly sun — a summary of your week every Sunday evening\n"
    "• /remind off — stop both\n"
    "Set your time zone first with /settings."
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def daily_reminder_text(at: time) -> str:
    return f"⏰ I'll nudge you every day at {at:%H:%M} your time. /remind off to stop."


def weekly_reminder_text(weekday: int) -> str:
    day = WEEKDAYS[weekday].title()
    return f"📅 I'll send your week's summary every {day} evening."


def weekly_summary_text(summary: HistorySummary) -> str:
    return "📅 Your week\n\n" + format_summary(summary)


def history_caption(summary: HistorySummary) -> str:
    return f"Your moods, {summary.start} – {summary.end}"


STYLE_SAVED = {
    Strategy.MATCH: "OK: from now on I'll match your mood.",
    Strategy.LIFT: "OK: from now on I'll lift your mood.",
    None: "OK: from now on I'll choose automatically.",
}


def settings_text(timezone: str) -> str:
    return (
        f"🕒 Your time zone: <b>{escape(timezone)}</b> (days in /history and reminders use it).\n"
        "Tap an offset below, or send e.g. <code>/settings Europe/Berlin</code>."
    )


def tz_keyboard() -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(f"UTC{b.hours:+d}" if b.hours else "UTC", callback_data=b.encode())
        for b in TIMEZONES
    ]
    return InlineKeyboardMarkup([buttons[i : i + 4] for i in range(0, len(buttons), 4)])


def history_keyboard(days: int, page: int) -> InlineKeyboardMarkup:
    earlier = HistoryButton(days, page + 1).encode()
    nav = [InlineKeyboardButton("◀ Earlier", callback_data=earlier)]
    if page > 0:
        later = HistoryButton(days, page - 1).encode()
        nav.append(InlineKeyboardButton("Later ▶", callback_data=later))
    other = 30 if days == 7 else 7
    switch = InlineKeyboardButton(
        f"{other}-day view", callback_data=HistoryButton(other, 0).encode()
    )
    return InlineKeyboardMarkup([nav, [switch]])


def delete_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    "Yes, erase everything", callback_data=DeleteButton(True).encode()
                ),
                InlineKeyboardButton("Cancel", callback_data=DeleteButton(False).encode()),
            ]
        ]
    )


# -- issue 15: delivery faults and group chats ------------------------------------------------

PHOTO_NOT_FETCHED = (
    "I couldn't fetch your photo from Telegram just now. Please send it again in a moment."
)
_ERRORS[DownloadFailed] = PHOTO_NOT_FETCHED

GROUP_NOTE = (
    "🔒 I keep moods private, so I only read selfies and show your diary in a private chat "
    "with you. Tap below to open one."
)


def private_chat_keyboard(bot_username: str) -> InlineKeyboardMarkup:
    """One button that opens the person's private chat with the bot."""
    url = f"https://t.me/{bot_username}?start=private"
    return InlineKeyboardMarkup([[InlineKeyboardButton("Open a private chat", url=url)]])
