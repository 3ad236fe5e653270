"""MoodTune's own exceptions. Each carries a friendly message the bot can show as-is."""

from __future__ import annotations


class MoodTuneError(Exception):
    """Base of every error we expect and explain to the person."""

    user_message = "Something went wrong on my side. Please try again in a moment."

    def __init__(self, detail: str = "", user_message: str | None = None) -> None:
        super().__init__(detail or self.user_message)
        if user_message:
            self.user_message = user_message


class ImageError(MoodTuneError):
    user_message = "I couldn't read that image. Please send a photo (JPEG, PNG or WebP)."


class UnsupportedImage(ImageError):
    user_message = (
        "That file isn't an image I can read. Please send a selfie as a photo, "
        "or as a JPEG, PNG or WebP file."
    )


class CorruptImage(ImageError):
    user_message = (
        "That image seems damaged or incomplete, so I couldn't open it. "
        "Could you send the photo again?"
    )


class ImageTooLarge(ImageError):
    user_message = (
        "That image is too large for me. Please send a normal photo "
        "(up to 20 MB and 40 megapixels), e.g. straight from your camera."
    )


class OddImageShape(ImageError):
    """Too small, or too long and thin, to hold a face."""

    user_message = (
        "That picture is too small or too long and thin to show a face. "
        "Please send a normal selfie, straight from your camera."
    )


class NoFaceFound(MoodTuneError):
    user_message = (
        "I couldn't find a face in that photo. Try a well-lit selfie, facing the camera, "
        "with your whole face in the frame."
    )


class RecommenderError(MoodTuneError):
    user_message = "I couldn't pick songs just now. Please try again in a moment."


class SpotifyUnavailable(RecommenderError):
    """Live Spotify failed; callers fall back to the embedded catalog."""
