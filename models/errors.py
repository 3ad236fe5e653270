"""What can go wrong reading a photo. The bot words these for people (bot/replies.py)."""

from __future__ import annotations


class AnalysisError(Exception):
    """Base of every error the analyzer raises on a photo it cannot read a face from."""


class ImageError(AnalysisError):
    """The bytes are not an image we can read."""


class UnsupportedImage(ImageError):
    """Not an image, or a format we do not accept (GIF, PDF...), or too small for a face."""


class CorruptImage(ImageError):
    """An accepted format, but damaged or incomplete."""


class ImageTooLarge(ImageError):
    """More bytes or pixels than the analyzer was built to accept."""


class NoFaceFound(AnalysisError):
    """An image with no face the detector could find."""


# Old name, still imported by training/evaluate.py; remove when that import changes.
MoodTuneError = AnalysisError

# Transitional re-exports for recommender/{catalog,engine,spotify}.py and their tests, which
# still import these from here; they belong to recommender/errors.py. Remove at merge.
from recommender.errors import RecommenderError, SpotifyUnavailable  # noqa: E402, F401
