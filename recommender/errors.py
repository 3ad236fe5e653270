"""What can go wrong picking songs. The bot words these for people (bot/replies.py)."""

from __future__ import annotations


class RecommenderError(Exception):
    """Songs could not be picked (an empty or malformed catalog, say)."""


class SpotifyUnavailable(RecommenderError):
    """Live Spotify failed; callers fall back to the embedded catalog."""
