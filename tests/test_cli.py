"""The `moodtune` command, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests import media

TRACK = "https://open.spotify.com/track/"


def moodtune(*args: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "TELEGRAM_BOT_TOKEN": "", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True, text=True, env=full_env, timeout=120, cwd=cwd,
    )  # fmt: skip


def test_try_prints_happy_and_five_links(tmp_path):
    img = tmp_path / "smile.jpg"
    img.write_bytes(media.smiling_jpeg())
    out = moodtune("try", str(img))
    assert out.returncode == 0, out.stderr
    assert "happy" in out.stdout
    assert out.stdout.count(TRACK) == 5


def test_try_json(tmp_path):
    img = tmp_path / "smile.jpg"
    img.write_bytes(media.smiling_jpeg())
    out = moodtune("try", str(img), "--json", "--seed", "1")
    data = json.loads(out.stdout)
    assert data["emotion"] == "happy"
    assert 0 < data["confidence"] <= 1
    assert set(data["probabilities"]) == {
        "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral",
    }  # fmt: skip
    assert set(data["face"]) == {"x", "y", "w", "h"}
    assert len(data["songs"]) == 5
    for song in data["songs"]:
        assert song["url"] == TRACK + song["id"] and song["title"] and song["artist"]


def test_try_reports_bad_files(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    out = moodtune("try", str(bad))
    assert out.returncode == 1
    assert "isn't an image" in out.stdout


def test_run_without_token_explains_botfather(tmp_path):
    out = moodtune("run", cwd=tmp_path)
    assert out.returncode == 2
    assert "@BotFather" in out.stderr and "moodtune try" in out.stderr
