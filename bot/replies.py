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
    FixButton,
    GenreButton,
    HistoryButton,
    LearnFaceButton,
    MoodButton,
    MoreButton,
    NoteButton,
    RateButton,
    StyleButton,
)
from bot.download import DownloadFailed
from bot.history import HistorySummary, format_summary, span_text
from bot.service import Genres, SelfieResult
from bot.settings import Settings
from bot.vocabulary import ADJECTIVE, EMOJI, NOUN
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
from recommender.genres import family_label
from recommender.moods import Strategy
from recommender.track import Mood, Track
from recommender.why import Sound, Why

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
    "🎥 a round video message (up to 20 s) — read from a few frames, never stored\n"
    "📝 <i>Add a note</i> under a reading — a line about your day (/cancel to skip)\n"
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
    "I can only read moods from photos and short round video messages. Please send a selfie "
    "as a photo (or as a JPEG, PNG or WebP file), or a round video of your face."
)
STALE_BUTTON = "That button has expired. Send a new selfie or use /mood."
DELETE_CONFIRM = (
    "This erases <b>every</b> reading, mood and song suggestion I hold about you. "
    "It can't be undone. Are you sure?"
)
DELETE_DONE = "🗑 Done: everything I held about you is erased. You can start afresh any time."
DELETE_CANCELLED = "OK, nothing was deleted."
ERASED_IN_FLIGHT = "Your data was erased while I was reading that photo, so I kept nothing."
FIRST_NOTICE = "\n\n📔 Your first reading is in your diary: /history shows your week."
NOTHING_TO_EXPORT = "I hold nothing about you right now, so there is nothing to export."
MOOD_QUESTION = "What are you in the mood for?"
SORRY = "Sorry, something went wrong on my side. Please try again in a moment."

UNSUPPORTED_IMAGE = (
    "That file isn't an image I can read. Please send a selfie as a photo, "
    "or as a JPEG, PNG or WebP file."
)
HOW_DO_YOU_FEEL = "How do you feel?"
FEEDBACK_THANKS = "Thanks! I'll remember that."
# What a 👍 / 👎 / second press answers, by the value it set.
RATED = {
    1: "👍 Noted: I'll pick more like it.",
    -1: "👎 Noted: I won't suggest it again.",
    0: "OK, taken back.",
}
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


def video_error_text(err: BaseException) -> str:
    """What to say when a video can't be read: too long, too big, no face, not readable."""
    if isinstance(err, VideoTooLong):
        return (
            f"That video is too long for me: I read clips of up to {MAX_VIDEO_SECONDS:.0f} "
            "seconds. Send a short round video message, or a selfie."
        )
    if isinstance(err, ImageTooLarge):
        return (
            f"That video is too large for me (up to {_bytes(MAX_VIDEO_BYTES)}, 1080p). "
            "A short round video message works best."
        )
    if isinstance(err, NoFaceFound):
        return (
            "I couldn't find a face in that video. Try again facing the camera, in good light, "
            "with your whole face in the circle."
        )
    return "I couldn't read that video. Please send a round video message, or a selfie."


def privacy_text(settings: Settings) -> str:
    return (
        "<b>Your data</b>\n"
        "• <b>Never stored:</b> your photos and videos (processed in memory, then dropped). "
        "Their Telegram file ids are held only until your message is answered, so a restart "
        "can't lose it.\n"
        "• <b>Stored</b>, per reading: your Telegram user id, the time (UTC), the emotion read "
        "and its probabilities, the mood you picked, your note if you wrote one, and the ids "
        "of the songs suggested; your 👍/👎 on songs (with the song's artist and genre family). "
        "Your corrections adapt how I read your face (switch it off in /settings).\n"
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
    text += learning_text(result.learning)
    if result.ask_mood:
        text += f"\n\n{MOOD_QUESTION}"
        markup = mood_keyboard(result.entry_id, fixable=result.unsure)
    else:
        heading = _why_heading("🎵", result.why, "Songs for you:")
        text += f"\n\n{heading}\n{songs_block(result.tracks)}"
        markup = songs_keyboard(result.entry_id, result.tracks, correctable=True, note=True)
    return text + (FIRST_NOTICE if result.first else streak_text(result.streak)), markup


def streak_text(days: int) -> str:
    """The streak, or a gentle nudge to start one, after a reading."""
    if days >= 2:
        return f"\n\n🔥 {days} days in a row. See you tomorrow!"
    return "\n\n📔 Saved in your diary. Come back tomorrow and start a streak."


def learning_text(emotions: Sequence[Emotion]) -> str:
    """ "I'm learning how your face shows sadness": their corrections adjust this read."""
    if not emotions:
        return ""
    shown = " and ".join(NOUN[e] for e in emotions[:2])
    return f"\n🧠 I'm learning how your face shows {shown}, from your corrections."


NOTE_PROMPT = (
    "📝 Write a line about your day and send it as a message. I'll keep it with this reading. "
    "/cancel if you changed your mind."
)
NOTE_CANCELLED = "OK, no note."
NOTHING_TO_CANCEL = "There's nothing to cancel."


def note_saved_text(note: str) -> str:
    return (
        f"📝 Noted: <i>{escape(note)}</i>\nIt's in your /history; /delete erases it with the rest."
    )


def mood_text(mood: Mood, tracks: Sequence[Track], why: Why | None = None) -> str:
    return f"{mood.label} it is!\n{_why_heading('🎵', why, '')}\n{songs_block(tracks)}"


def more_text(tracks: Sequence[Track], why: Why | None = None) -> str:
    return f"{_why_heading('🔁', why, 'More for you:')}\n{songs_block(tracks)}"


def correction_reply(
    entry_id: int, emotion: Emotion, tracks: Sequence[Track], why: Why | None = None
) -> tuple[str, InlineKeyboardMarkup]:
    """Songs for the person's own emotion; for neutral, the mood question instead."""
    if not tracks:
        return f"Got it. {MOOD_QUESTION}", mood_keyboard(entry_id)
    heading = _why_heading("🎵", why, "")
    text = f"Thanks, noted: {EMOJI[emotion]} {ADJECTIVE[emotion]}.\n\n{heading}\n"
    return text + songs_block(tracks), songs_keyboard(entry_id, tracks)


# Why these songs: the sound the recommender aimed at, then what it answers.
SOUND_WORDS: dict[Sound, str] = {sound: sound.value for sound in Sound}
MOOD_AIMS: dict[Mood, str] = {
    Mood.MORNING_COFFEE: "for an easy start",
    Mood.RELAXING: "to help you unwind",
    Mood.EXERCISE: "to keep you moving",
    Mood.HEART_TOUCHING: "for a tender moment",
    Mood.FOCUS: "to help you focus",
    Mood.PARTY: "to get the party going",
}
EMOTION_AIMS: dict[tuple[Emotion, Strategy], str] = {
    (Emotion.HAPPY, Strategy.MATCH): "to keep the good mood going",
    (Emotion.SURPRISE, Strategy.MATCH): "to ride the surprise",
    (Emotion.NEUTRAL, Strategy.MATCH): "for an easy, open moment",
    (Emotion.SAD, Strategy.MATCH): "to keep you company as you are",
    (Emotion.ANGRY, Strategy.MATCH): "to let it out",
    (Emotion.FEAR, Strategy.MATCH): "to meet the tension",
    (Emotion.DISGUST, Strategy.MATCH): "to match your mood",
    (Emotion.SAD, Strategy.LIFT): "to lift your mood gently",
    (Emotion.ANGRY, Strategy.LIFT): "to bring your mood down gently",
    (Emotion.FEAR, Strategy.LIFT): "to help you feel safe",
    (Emotion.DISGUST, Strategy.LIFT): "to turn your mood around gently",
}


def why_text(why: Why) -> str:
    """A few words on why these songs, e.g. "calm, acoustic, slow — to help you unwind"."""
    sound = ", ".join(SOUND_WORDS[s] for s in why.sound)
    if why.mood is not None:
        aim = MOOD_AIMS[why.mood]
    else:
        aim = EMOTION_AIMS.get((why.emotion or Emotion.NEUTRAL, why.strategy), "")
    return " — ".join(part for part in (sound, aim) if part)


def _why_heading(emoji: str, why: Why | None, otherwise: str) -> str:
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


def mood_keyboard(entry_id: int | None, fixable: bool = False) -> InlineKeyboardMarkup:
    """The moods; `fixable` (an unsure reading) adds a way to say which emotion it was."""
    buttons = [
        InlineKeyboardButton(m.label, callback_data=MoodButton(m, entry_id).encode()) for m in Mood
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    if fixable and entry_id is not None:
        fix = FixButton(entry_id).encode()
        rows.append([InlineKeyboardButton("Or tell me how you feel", callback_data=fix)])
    return InlineKeyboardMarkup(rows)


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
    entry_id: int, tracks: Sequence[Track] = (), correctable: bool = False, note: bool = False
) -> InlineKeyboardMarkup:
    """One row per song ("1 👍 | 👎 | 📤"), then more songs and, under a reading, "not quite?"."""
    rows = [
        [*rating_buttons(i, entry_id, t.id, 0), InlineKeyboardButton("📤", url=share_url(t))]
        for i, t in enumerate(tracks, 1)
    ]
    rows.append(
        [InlineKeyboardButton("🔁 More songs", callback_data=MoreButton(entry_id).encode())]
    )
    if correctable:
        fix = FixButton(entry_id).encode()
        rows.append([InlineKeyboardButton("Not quite? Pick your mood", callback_data=fix)])
    if note:
        add = NoteButton(entry_id).encode()
        rows.append([InlineKeyboardButton("📝 Add a note", callback_data=add)])
    return InlineKeyboardMarkup(rows)


def rating_buttons(
    number: int, entry_id: int, track_id: str, value: int
) -> list[InlineKeyboardButton]:
    """👍 and 👎 for song `number`, showing the opinion `value`; a pressed one takes it back."""
    up, down = value == 1, value == -1
    return [
        InlineKeyboardButton(
            f"{number} ✅ 👍" if up else f"{number} 👍",
            callback_data=RateButton(entry_id, track_id, 0 if up else 1).encode(),
        ),
        InlineKeyboardButton(
            "✅ 👎" if down else "👎",
            callback_data=RateButton(entry_id, track_id, 0 if down else -1).encode(),
        ),
    ]


def rated_keyboard(
    markup: InlineKeyboardMarkup | None, rated: RateButton
) -> InlineKeyboardMarkup | None:
    """`markup` with the rated song's 👍/👎 showing its new opinion; None if that changes
    nothing (a repeated press, or a message without the song)."""
    if markup is None:
        return None
    rows, number = [], 0
    for row in markup.inline_keyboard:
        rates = [RateButton.parse(b.callback_data) for b in row]
        number += any(rates)
        if any(r and (r.entry_id, r.track_id) == (rated.entry_id, rated.track_id) for r in rates):
            others = [b for b, r in zip(row, rates, strict=True) if r is None]
            row = (*rating_buttons(number, rated.entry_id, rated.track_id, rated.value), *others)
        rows.append(list(row))
    new = InlineKeyboardMarkup(rows)
    return None if new.to_dict() == markup.to_dict() else new


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
    "Pick the kinds of music you love (tap again to remove). I'll lean towards them, "
    "without leaving the mood behind."
)


def genres_keyboard(genres: Genres) -> InlineKeyboardMarkup:
    """The genre families, two to a row, the person's favourites ticked."""
    buttons = [
        InlineKeyboardButton(
            ("✅ " if g in genres.chosen else "") + family_label(g),
            callback_data=GenreButton(g).encode(),
        )
        for g in genres.offered
    ]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


NUDGE = "👋 How are you feeling today? Send me a selfie and I'll pick songs for it."
REMIND_HELP = (
    "Reminders are opt-in:\n"
    "• /remind 8am or /remind 20:30 — a daily nudge at that time, your time\n"
    "• /remind weekly sun — a summary of your week every Sunday evening\n"
    "• /remind off — stop both\n"
    "Set your time zone first with /settings."
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def remind_not_understood(words: str) -> str:
    return (
        f"I didn't understand “{escape(words[:40])}” as a time. Try <code>/remind 8am</code>, "
        "<code>/remind 20:30</code>, <code>/remind weekly sun</code> or <code>/remind off</code>."
    )


def daily_reminder_text(at: time) -> str:
    return f"⏰ I'll nudge you every day at {at:%H:%M} your time. /remind off to stop."


def weekly_reminder_text(weekday: int) -> str:
    day = WEEKDAYS[weekday].title()
    return f"📅 I'll send your week's summary every {day} evening."


def weekly_summary_text(summary: HistorySummary) -> str:
    return "📅 Your week\n\n" + format_summary(summary)


def history_caption(summary: HistorySummary) -> str:
    return f"Your moods, {span_text(summary)}"


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


def settings_keyboard(learn_face: bool) -> InlineKeyboardMarkup:
    """The time zones, and the switch for the read that learns their face."""
    label = (
        "🧠 Learning your face: on (tap to turn off)"
        if learn_face
        else "🧠 Learning your face: off (tap to turn on)"
    )
    switch = InlineKeyboardButton(label, callback_data=LearnFaceButton(not learn_face).encode())
    return InlineKeyboardMarkup([*tz_keyboard().inline_keyboard, [switch]])


LEARN_FACE_ON = "On: your corrections will adapt how I read your selfies."
LEARN_FACE_OFF = "Off: I read every selfie the same way for everyone."


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
