"""What can go wrong picking songs. The bot words these for people (bot/replies.py)."""

from __future__ import annotations


class RecommenderError(Exception):
    """Songs could not be picked (an empty or malformed catalog, say)."""


class SpotifyError(RecommenderError):
    """A Spotify call failed; `retry` says whether one quick retry may help (5xx, timeout)."""

    def __init__(self, detail: str, *, retry: bool = False) -> None:
        super().__init__(f"Spotify: {detail}")
        self.retry = retry


class SpotifyRateLimited(SpotifyError):
    """Spotify answered 429; `retry_after` is its Retry-After in seconds (None if unusable)."""

    def __init__(self, retry_after: float | None) -> None:
        super().__init__(f"HTTP 429 (Retry-After {retry_after})")
        self.retry_after = retry_after
