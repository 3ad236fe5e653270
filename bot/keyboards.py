"""The inline keyboards the bot sends, labelled in the person's language. No I/O."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.account import Genres
from bot.buttons import (
    TIMEZONES,
    CorrectionButton,
    DeleteButton,
    FixButton,
    GenreButton,
    HistoryButton,
    LanguageButton,
    LearnFaceButton,
    MoodButton,
    MoreButton,
    NoteButton,
    RateButton,
    StyleButton,
)
from bot.i18n import LANGUAGES, NATIVE_NAMES, _
from bot.vocabulary import EMOJI, adjective, family_label, mood_label
from models.emotion import Emotion
from recommender.moods import Strategy
from recommender.track import Mood, Track


def mood_keyboard(entry_id: int | None, fixable: bool = False) -> InlineKeyboardMarkup:
    """The moods; `fixable` (an unsure reading) adds a way to say which emotion it was."""
    buttons = [
        InlineKeyboardButton(mood_label(m), callback_data=MoodButton(m, entry_id).encode())
        for m in Mood
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    if fixable and entry_id is not None:
        fix = FixButton(entry_id).encode()
        rows.append([InlineKeyboardButton(_("Or tell me how you feel"), callback_data=fix)])
    return InlineKeyboardMarkup(rows)


def share_url(track: Track) -> str:
    """Telegram's share link: opens a chat picker with the track link and a short text."""
    text = _("🎵 {title} — {artist} (via MoodTune)").format(title=track.title, artist=track.artist)
    return "https://t.me/share/url?" + urlencode({"url": track.url, "text": text})


def songs_keyboard(
    entry_id: int, tracks: Sequence[Track] = (), correctable: bool = False, note: bool = False
) -> InlineKeyboardMarkup:
    """One row per song ("1 👍 | 👎 | 📤"), then more songs and, under a reading, "not quite?"."""
    rows = [
        [*rating_buttons(i, entry_id, t.id, 0), InlineKeyboardButton("📤", url=share_url(t))]
        for i, t in enumerate(tracks, 1)
    ]
    more = MoreButton(entry_id).encode()
    rows.append([InlineKeyboardButton(_("🔁 More songs"), callback_data=more)])
    if correctable:
        fix = FixButton(entry_id).encode()
        rows.append([InlineKeyboardButton(_("Not quite? Pick your mood"), callback_data=fix)])
    if note:
        add = NoteButton(entry_id).encode()
        rows.append([InlineKeyboardButton(_("📝 Add a note"), callback_data=add)])
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
            f"{EMOJI[e]} {adjective(e)}", callback_data=CorrectionButton(entry_id, e).encode()
        )
        for e in Emotion
    ]
    return InlineKeyboardMarkup([buttons[i : i + 3] for i in range(0, len(buttons), 3)])


def style_keyboard() -> InlineKeyboardMarkup:
    match = StyleButton(Strategy.MATCH).encode()
    lift = StyleButton(Strategy.LIFT).encode()
    auto = StyleButton(None).encode()
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(_("Match my mood"), callback_data=match),
                InlineKeyboardButton(_("Lift my mood"), callback_data=lift),
            ],
            [InlineKeyboardButton(_("Automatic"), callback_data=auto)],
        ]
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


def settings_keyboard(learn_face: bool) -> InlineKeyboardMarkup:
    """The time zones, and the switch for the read that learns their face."""
    label = (
        _("🧠 Learning your face: on (tap to turn off)")
        if learn_face
        else _("🧠 Learning your face: off (tap to turn on)")
    )
    switch = InlineKeyboardButton(label, callback_data=LearnFaceButton(not learn_face).encode())
    return InlineKeyboardMarkup([*tz_keyboard().inline_keyboard, [switch]])


def tz_keyboard() -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(f"UTC{b.hours:+d}" if b.hours else "UTC", callback_data=b.encode())
        for b in TIMEZONES
    ]
    return InlineKeyboardMarkup([buttons[i : i + 4] for i in range(0, len(buttons), 4)])


def history_keyboard(days: int, page: int) -> InlineKeyboardMarkup:
    earlier = HistoryButton(days, page + 1).encode()
    nav = [InlineKeyboardButton(_("◀ Earlier"), callback_data=earlier)]
    if page > 0:
        later = HistoryButton(days, page - 1).encode()
        nav.append(InlineKeyboardButton(_("Later ▶"), callback_data=later))
    other = 30 if days == 7 else 7
    label = _("{count}-day view").format(count=other)
    switch = InlineKeyboardButton(label, callback_data=HistoryButton(other, 0).encode())
    return InlineKeyboardMarkup([nav, [switch]])


def delete_keyboard() -> InlineKeyboardMarkup:
    yes = DeleteButton(True).encode()
    no = DeleteButton(False).encode()
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(_("Yes, erase everything"), callback_data=yes),
                InlineKeyboardButton(_("Cancel"), callback_data=no),
            ]
        ]
    )


def language_keyboard(chosen: str) -> InlineKeyboardMarkup:
    """One button per language, in its own name; the current one ticked."""
    buttons = [
        InlineKeyboardButton(
            ("✅ " if lang == chosen else "") + NATIVE_NAMES[lang],
            callback_data=LanguageButton(lang).encode(),
        )
        for lang in LANGUAGES
    ]
    return InlineKeyboardMarkup([buttons])


def selfie_keyboard(entry_id: int, tracks: Sequence[Track], ask_mood: bool, unsure: bool):
    """Under a selfie's answer: the mood question's buttons, or the songs'."""
    if ask_mood:
        return mood_keyboard(entry_id, fixable=unsure)
    return songs_keyboard(entry_id, tracks, correctable=True, note=True)


def private_chat_keyboard(bot_username: str) -> InlineKeyboardMarkup:
    """One button that opens the person's private chat with the bot."""
    url = f"https://t.me/{bot_username}?start=private"
    return InlineKeyboardMarkup([[InlineKeyboardButton(_("Open a private chat"), url=url)]])
