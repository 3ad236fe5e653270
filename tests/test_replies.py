"""Texts that depend on settings say what the settings say."""

from __future__ import annotations

import pytest

from bot.replies import error_text, privacy_text
from bot.settings import Settings
from models.errors import ImageTooLarge, NoFaceFound
from recommender.errors import RecommenderError


def test_defaults_read_as_before():
    settings = Settings()
    assert "(up to 20 MB and 40 megapixels)" in error_text(ImageTooLarge(), settings)
    assert "Kept for at most a year, then purged" in privacy_text(settings)


@pytest.mark.parametrize(
    ("max_bytes", "max_pixels", "said"),
    [
        (5_000_000, 12_000_000, "up to 4.8 MB and 12 megapixels"),
        (512 * 1024, 250_000, "up to 512 KB and 250,000 pixels"),
    ],
)
def test_image_limits_come_from_settings(max_bytes, max_pixels, said):
    settings = Settings(max_image_bytes=max_bytes, max_image_pixels=max_pixels)
    assert said in error_text(ImageTooLarge(), settings)


@pytest.mark.parametrize(
    ("days", "said"), [(730, "2 years"), (14, "2 weeks"), (30, "30 days"), (1, "a day")]
)
def test_retention_comes_from_settings(days, said):
    assert f"at most {said}, then purged" in privacy_text(Settings(history_retention_days=days))


def test_expected_errors_have_words_and_others_do_not():
    settings = Settings()
    assert "couldn't find a face" in error_text(NoFaceFound(), settings)
    assert "pick songs" in error_text(RecommenderError(), settings)
    assert error_text(RuntimeError("bug"), settings) is None
