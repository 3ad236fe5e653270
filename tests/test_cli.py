"""The `moodtune` command, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_try_refuses_images_over_the_configured_limits(tmp_path):
    img = tmp_path / "smile.jpg"
    img.write_bytes(media.smiling_jpeg())  # 512 x 512
    out = moodtune("try", str(img), env={"MAX_IMAGE_PIXELS": "200000"})
    assert out.returncode == 1
    assert "too large" in out.stdout and "200,000 pixels" in out.stdout


def test_run_without_token_explains_botfather(tmp_path):
    out = moodtune("run", cwd=tmp_path)
    assert out.returncode == 2
    assert "@BotFather" in out.stderr and "moodtune try" in out.stderr


def test_recommend_sad_json_five_artists():
    data = json.loads(moodtune("recommend", "sad", "--json").stdout)
    songs = data["songs"]
    assert len(songs) == 5 and len({s["artist"] for s in songs}) == 5
    for s in songs:
        assert s["url"] == TRACK + s["id"] and len(s["id"]) == 22 and s["genre"]


def test_recommend_for_a_user_never_repeats_in_ten_calls(tmp_path):
    env = {"DATABASE_PATH": str(tmp_path / "db.sqlite3")}
    seen: list[str] = []
    for _ in range(10):
        out = moodtune("recommend", "sad", "--user", "7", "--json", env=env)
        seen += [s["id"] for s in json.loads(out.stdout)["songs"]]
    assert len(seen) == 50 and len(set(seen)) == 50


def test_database_url_selects_postgres(postgres_url):
    """DATABASE_URL=postgresql://... wins over DATABASE_PATH: the diary lives on the server."""
    env = {"DATABASE_URL": postgres_url, "DATABASE_PATH": "/nonexistent/never.sqlite3"}
    seen: list[str] = []
    for _ in range(3):
        out = moodtune("recommend", "sad", "--user", "7", "--json", env=env)
        seen += [s["id"] for s in json.loads(out.stdout)["songs"]]
    assert len(seen) == 15 and len(set(seen)) == 15


def test_database_url_must_name_a_known_backend():
    from bot.settings import Settings, SettingsError

    assert Settings.from_env({}).database == Path("data/moodtune.sqlite3")
    assert Settings.from_env({"DATABASE_URL": "sqlite:///x.db"}).database == "sqlite:///x.db"
    with pytest.raises(SettingsError):
        Settings.from_env({"DATABASE_URL": "mysql://x"})


def test_recommend_language_makes_its_pool_likelier(tmp_path):
    env = {"DATABASE_PATH": str(tmp_path / "db.sqlite3")}
    for user in (1, 2, 3):
        out = moodtune(
            "recommend", "happy", "--language", "ko", "--user", str(user), "--json", env=env
        )
        songs = json.loads(out.stdout)["songs"]
        assert len(songs) == 5 and 1 <= sum(s["genre"] == "k-pop" for s in songs) <= 2
    out = moodtune("recommend", "happy", "--language", "es", "--seed", "1", "--json")
    assert any(s["genre"] == "latin" for s in json.loads(out.stdout)["songs"])


def test_recommend_rejects_unknown_emotion():
    out = moodtune("recommend", "hungry")
    assert out.returncode == 2 and "unknown emotion" in out.stderr


def test_bench_json_reports_every_figure(tmp_path):
    import cv2
    import numpy as np

    from models.classifier import DEFAULT_BUNDLE
    from models.emotion import FER2013_ORDER

    rng = np.random.default_rng(0)
    for e in FER2013_ORDER:
        (tmp_path / e.value).mkdir()
        cv2.imwrite(str(tmp_path / e.value / "0.png"), rng.integers(0, 256, (48, 48), np.uint8))
    env = {"MOODTUNE_CACHE": str(tmp_path / "cache")}
    args = ["--data", str(tmp_path), "--bundle", str(DEFAULT_BUNDLE), "--no-fer", "--n", "5"]
    out = moodtune("bench", *args, "--json", env=env)
    assert out.returncode == 0, out.stderr
    ours = json.loads(out.stdout)["ours"]
    assert json.loads(out.stdout)["val_n"] == 7 and set(ours["recall"]) == {
        e.value for e in FER2013_ORDER
    }
    for key in ("per_face", "per_face_no_tta", "per_selfie_1000x750"):
        assert 0 < ours[key]["p50_ms"] <= ours[key]["p95_ms"]
    assert ours["peak_rss_mb_max"] > 0 and ours["cold_start_s_median"] > 0
    assert ours["imports_tensorflow"] is False
