"""Users acting, for tests.telegram_stub: the chats they have with the bot, and the updates
they make (messages, photos, button presses, inline queries, group and channel posts, edits)."""

from __future__ import annotations

import contextlib
import io
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from tests.telegram_api import JSONDict, _copy, _u16


@dataclass
class _Chat:
    """A user's private chat with the bot; user and bot messages share one id sequence."""

    user: JSONDict
    messages: dict[int, JSONDict] = field(default_factory=dict)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def info(self) -> JSONDict:
        return {"id": self.user["id"], "type": "private", "first_name": self.user["first_name"]}


@dataclass
class _GroupChat(_Chat):
    """A group (or channel) the bot is in; ``user`` holds its id and title."""

    kind: str = "group"

    @property
    def info(self) -> JSONDict:
        return {"id": self.user["id"], "type": self.kind, "title": self.user["first_name"]}


class _Users:
    """TelegramStub's methods for tests acting as users; the state is the stub's own."""

    _lock: threading.RLock
    _changed: threading.Condition
    _ids: itertools.count[int]
    _updates: list[JSONDict]
    _chats: dict[int, _Chat]
    _files: dict[str, bytes]
    _open_queries: set[str]

    def add_user(self, user_id: int) -> JSONDict:
        """Register a user and their private chat with the bot (once); returns the User."""
        user = {
            "id": user_id,
            "is_bot": False,
            "first_name": f"User{user_id}",
            "language_code": "en",
        }
        with self._lock:
            return dict(self._chats.setdefault(user_id, _Chat(user)).user)

    def set_language(self, user_id: int, code: str | None) -> None:
        """The user's app language (``language_code`` on their later updates; None: unset)."""
        with self._lock:
            self.add_user(user_id)
            user = self._chats[user_id].user
            user.pop("language_code", None)
            if code is not None:
                user["language_code"] = code

    def push_update(self, update: JSONDict) -> JSONDict:
        """Queue an update for getUpdates, ``update_id`` assigned; returns it."""
        with self._lock:
            self._updates.append(_copy({"update_id": next(self._ids), **update}))
            self._changed.notify_all()
            return _copy(self._updates[-1])

    def send_text(self, user_id: int, text: str) -> JSONDict:
        """The user types ``text``; a leading ``/command`` gets its entity, as in Telegram."""
        if not text.startswith("/"):
            return self._user_message(user_id, text=text)
        command = {"type": "bot_command", "offset": 0, "length": _u16(text.split()[0])}
        return self._user_message(user_id, text=text, entities=[command])

    def send_photo(self, user_id: int, data: bytes) -> JSONDict:
        return self._user_message(user_id, photo=self._photo_sizes(data))

    def send_document(
        self, user_id: int, data: bytes, file_name: str, mime_type: str = "application/pdf"
    ) -> JSONDict:
        document = {**self._store(data), "file_name": file_name, "mime_type": mime_type}
        return self._user_message(user_id, document=document)

    def send_sticker(self, user_id: int) -> JSONDict:
        flags = {"is_animated": False, "is_video": False, "emoji": "😀"}
        sticker = {"type": "regular", "width": 512, "height": 512, **flags}
        return self._user_message(user_id, sticker={**self._store(b"RIFF0000WEBP"), **sticker})

    def send_video_note(
        self, user_id: int, data: bytes, duration: int, length: int = 240
    ) -> JSONDict:
        """A round video message, with the duration and size Telegram reports for it."""
        video_note = {**self._store(data), "length": length, "duration": duration}
        return self._user_message(user_id, video_note=video_note)

    def send_video(
        self, user_id: int, data: bytes, duration: int, width: int = 240, height: int = 240
    ) -> JSONDict:
        video = {**self._store(data), "width": width, "height": height, "duration": duration}
        return self._user_message(user_id, video=video | {"mime_type": "video/mp4"})

    def send_voice(self, user_id: int) -> JSONDict:
        return self._user_message(user_id, voice={**self._store(b"OggS"), "duration": 3})

    def send_location(self, user_id: int, latitude: float, longitude: float) -> JSONDict:
        return self._user_message(user_id, location={"latitude": latitude, "longitude": longitude})

    def press_button(self, user_id: int, message: JSONDict, data: str) -> JSONDict:
        """The user presses the button with ``data`` on ``message`` as it is now in their chat.

        ValueError if they see no such button: a real user could not press it.
        """
        with self._lock:
            current = self._current(message)
            rows = (current.get("reply_markup") or {}).get("inline_keyboard", [])
            buttons = [b.get("callback_data") for row in rows for b in row]
            if current["chat"]["id"] != user_id or data not in buttons:
                raise ValueError(f"user {user_id} sees no button {data!r} on {current}")
            return self._callback_query(user_id, current, data)

    def send_callback_data(self, user_id: int, message: JSONDict, data: str) -> JSONDict:
        """The user sends any ``data`` from ``message`` in their own chat, as a tampering client
        can: stale, malformed, over-long or naming another user's entry.

        ValueError if the message is not in their chat (that is ``forge_button_press``).
        """
        with self._lock:
            current = self._current(message)
            if current["chat"]["id"] != user_id or user_id not in self._chats:
                raise ValueError(f"message {current['message_id']} is not in user {user_id}'s chat")
            return self._callback_query(user_id, current, data)

    def forge_button_press(self, user_id: int, message: JSONDict, data: str) -> JSONDict:
        """What a tampering client can send: any ``data``, on any message, by any user."""
        with self._lock:
            return self._callback_query(user_id, self._current(message), data)

    def inline_query(self, user_id: int, query: str) -> JSONDict:
        """The user types ``@bot query`` in some chat."""
        with self._lock:
            inline = {"id": self._open_query(), "from": self.add_user(user_id), "query": query}
            return self.push_update({"inline_query": {**inline, "offset": ""}})

    def send_to_group(
        self,
        user_id: int | None,
        group_id: int,
        *,
        sender_chat: JSONDict | None = None,
        kind: str = "supergroup",
        **content: Any,
    ) -> JSONDict:
        """A message in a group the bot is in: from ``user_id``, or (None) from no person, sent
        on behalf of ``sender_chat``. ``content`` as a message's fields (text, photo...)."""
        with self._lock:
            title = {"id": group_id, "is_bot": False, "first_name": f"Group{group_id}"}
            chat = self._chats.setdefault(group_id, _GroupChat(title, kind=kind))
            message = {"message_id": next(chat.ids), "chat": chat.info, "date": int(time.time())}
            if user_id is not None:
                message["from"] = self.add_user(user_id)
            if sender_chat is not None:
                message["sender_chat"] = sender_chat
            if (text := content.get("text")) and text.startswith("/"):
                size = _u16(text.split()[0])
                content["entities"] = [{"type": "bot_command", "offset": 0, "length": size}]
            chat.messages[message["message_id"]] = message | content
            return self.push_update({"message": chat.messages[message["message_id"]]})

    def group_photo(self, user_id: int | None, group_id: int, data: bytes, **more: Any) -> JSONDict:
        return self.send_to_group(user_id, group_id, photo=self._photo_sizes(data), **more)

    def channel_post(self, channel_id: int, **content: Any) -> JSONDict:
        """A post in a channel the bot administers: no sender, chat type "channel"."""
        with self._lock:
            title = {"id": channel_id, "is_bot": False, "first_name": f"Channel{channel_id}"}
            chat = self._chats.setdefault(channel_id, _GroupChat(title, kind="channel"))
            post = {"message_id": next(chat.ids), "chat": chat.info, "date": int(time.time())}
            post |= {"sender_chat": chat.info, **content}
            chat.messages[post["message_id"]] = post
            return self.push_update({"channel_post": post})

    def edit_message(self, user_id: int, message: JSONDict, **changes: Any) -> JSONDict:
        """The user edits one of their messages (a caption, or the photo itself)."""
        with self._lock:
            chat = self._chats[user_id]
            edited = chat.messages[message["message_id"]] | changes
            chat.messages[message["message_id"]] = edited | {"edit_date": int(time.time())}
            return self.push_update({"edited_message": chat.messages[message["message_id"]]})

    def send_message(self, user_id: int, **content: Any) -> JSONDict:
        """A message from the user with these fields (e.g. ``photo=user_photo_sizes(...)``
        made once, so a benchmark sends the same photo without re-encoding it each time)."""
        return self._user_message(user_id, **content)

    def user_photo_sizes(self, data: bytes) -> list[JSONDict]:
        """PhotoSizes for ``data``, for an edit or a hand-made update."""
        return self._photo_sizes(data)

    def _user_message(self, user_id: int, **content: Any) -> JSONDict:
        with self._lock:
            user, chat = self.add_user(user_id), self._chats[user_id]
            message = {"message_id": next(chat.ids), "from": user, "chat": chat.info}
            chat.messages[message["message_id"]] = message | {"date": int(time.time())} | content
            return self.push_update({"message": chat.messages[message["message_id"]]})

    def _current(self, message: JSONDict) -> JSONDict:
        chat = self._chats.get(message["chat"]["id"])
        return _copy(chat.messages.get(message["message_id"], message) if chat else message)

    def _callback_query(self, user_id: int, message: JSONDict, data: str) -> JSONDict:
        query = {"id": self._open_query(), "from": self.add_user(user_id), "message": message}
        query |= {"chat_instance": str(message["chat"]["id"]), "data": data}
        return self.push_update({"callback_query": query})

    def _open_query(self) -> str:
        """A new callback or inline query id, open until the bot answers it."""
        self._open_queries.add(query_id := str(next(self._ids)))
        return query_id

    def _store(self, data: bytes) -> JSONDict:
        with self._lock:
            self._files[file_id := f"stub-file-{next(self._ids):06d}"] = data
        return {"file_id": file_id, "file_unique_id": f"{file_id}-u", "file_size": len(data)}

    def _photo_sizes(self, data: bytes) -> list[JSONDict]:
        """PhotoSizes as Telegram makes them, smallest first; the last one serves ``data``."""
        sizes, width, height = [], 640, 480
        # A damaged or hostile image gets no thumbnail (nor its size, if unreadable).
        with contextlib.suppress(Exception), Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            image.thumbnail((90, 90))
            thumb = io.BytesIO()
            image.convert("RGB").save(thumb, "JPEG")
            sizes.append(
                {**self._store(thumb.getvalue()), "width": image.width, "height": image.height}
            )
        return [*sizes, {**self._store(data), "width": width, "height": height}]
