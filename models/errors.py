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


class AnimatedImage(UnsupportedImage):
    """An animated PNG or WebP: a selfie is a still."""


class ImageTooLarge(ImageError):
    """More bytes or pixels than the analyzer was built to accept."""


class CostlyImage(ImageTooLarge):
    """Within the limits, but this format at this size needs more memory to decode than we
    spend on one image (sent as a photo, Telegram makes it smaller)."""


class OddImageShape(ImageError):
    """Too small, or too long and thin, to hold a face."""


class NoFaceFound(AnalysisError):
    """An image with no face the detector could find."""
