"""Fetching a selfie from Telegram: streamed, with a hard byte cap, retried on brief faults.

PTB's File.download_as_bytearray reads the whole body before anyone can check its size (a 200 MB
body took the process from 287 MB to 828 MB); here the body is read in chunks and the download
stops at MAX_IMAGE_BYTES. The photo lives only in memory, and the file URL (which holds the bot
token) is never logged.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
from telegram import Bot
from telegram.error import BadRequest, TelegramError

from models.errors import ImageTooLarge

log = logging.getLogger(__name__)


class DownloadFailed(Exception):
    """Telegram would not give us the photo (getFile or the download failed, after retries)."""


class Downloader:
    """One HTTP client for file downloads; `close` it at shutdown."""

    def __init__(
        self, max_bytes: int, attempts: int = 3, first_delay: float = 0.25, timeout: float = 20.0
    ) -> None:
        self.max_bytes = max_bytes
        self.attempts = attempts
        self.first_delay = first_delay
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def close(self) -> None:
        await self._client.aclose()

    async def fetch(self, bot: Bot, file_id: str) -> bytes:
        """The file's bytes; ImageTooLarge past the cap, DownloadFailed if Telegram fails us."""
        for attempt in range(1, self.attempts + 1):
            try:
                file = await bot.get_file(file_id)  # getFile itself retries (bot/retry.py)
                if file.file_size and file.file_size > self.max_bytes:
                    raise ImageTooLarge(f"{file.file_size} bytes")
                if not file.file_path:
                    raise DownloadFailed("getFile gave no file path")
                return await self.download(file.file_path)
            except BadRequest as err:  # e.g. an expired file id: asking again won't help
                raise DownloadFailed(str(err)) from err
            except (TelegramError, httpx.HTTPError) as err:
                if attempt == self.attempts:
                    raise DownloadFailed(type(err).__name__) from err
                log.info("photo download failed (%s); retrying", type(err).__name__)
            await asyncio.sleep(self.first_delay * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    async def download(self, url: str) -> bytes:
        """GET `url` in chunks; ImageTooLarge as soon as it passes the cap (nothing more read)."""
        body = bytearray()
        async with self._client.stream("GET", url) as response:
            response.raise_for_status()
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise ImageTooLarge(f"{declared} bytes announced")
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self.max_bytes:
                    raise ImageTooLarge(f"over {self.max_bytes} bytes")
        return bytes(body)
