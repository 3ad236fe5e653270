"""Tests for the catalog build: sources, cleaning, not-music rules, pools, families, mood model."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np
import pytest

from recommender import mood_fit
from recommender.build_catalog import build_catalog
from recommender.catalog import Catalog
from recommender.mood_fit import TEMPO_FLOORS, WEIGHT_GRID
from recommender.mood_model import LABELS, MoodModel, cross_validate, fit, load_model

SONGS = ["track_id", "track_name", "track_artist", "track_popularity", "track_album_name",
         "playlist_genre", "playlist_subgenre", "danceability", "energy", "loudness", "mode",
         "speechiness", "acousticness", "instrumentalness", "valence", "tempo"]  # fmt: skip
TRACKS = ["track_id", "artists", "album_name", "track_name", "popularity", "danceability",
          "energy", "loudness", "mode", "speechiness", "acousticness", "instrumentalness",
          "valence", "tempo", "track_genre"]  # fmt: skip
MOODS = ["name", "artist", "id", "popularity", "danceability", "acousticness", "energy",
         "instrumentalness", "valence", "loudness", "speechiness", "tempo", "mood"]  # fmt: skip
FEATURES = {"danceability": 0.6, "energy": 0.6, "loudness": -6.0, "mode": 1, "speechiness": 0.05,
            "acousticness": 0.2, "instrumentalness": 0.0, "valence": 0.5, "tempo": 120.0}  # fmt: skip


def tid(name: str) -> str:
    return (name * 22)[:22]


def song(i: str, title: str, artist: str, pop: int, genre: str, sub: str, **kw) -> dict:
    return {"track_id": i, "track_name": title, "track_artist": artist, "track_popularity": pop,
            "track_album_name": title, "playlist_genre": genre, "playlist_subgenre": sub,
            **FEATURES, **kw}  # fmt: skip


def track(i: str, title: str, artists: str, pop: int, genre: str, album: str = "", **kw) -> dict:
    return {"track_id": i, "track_name": title, "artists": artists, "popularity": pop,
            "album_name": album or title, "track_genre": genre, **FEATURES, **kw}  # fmt: skip


def write(path: Path, columns: list[str], rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def labelled_rows() -> list[dict]:
    centres = {"Calm": (0.2, 0.1, 0.9), "Energetic": (0.4, 0.95, 0.0),
               "Happy": (0.9, 0.7, 0.1), "Sad": (0.1, 0.4, 0.5)}  # fmt: skip
    rows = []
    for label, (valence, energy, acoustic) in centres.items():
        for k in range(12):
            jitter = (k % 4 - 1.5) * 0.02
            rows.append({"name": f"{label} {k}", "artist": "A", "id": tid(str(k)), "popularity": 1,
                         **FEATURES, "valence": valence + jitter, "energy": energy - jitter,
                         "acousticness": acoustic, "mood": label})  # fmt: skip
    return [{c: r[c] for c in MOODS} for r in rows]


@pytest.fixture
def sources(tmp_path: Path) -> tuple[Path, Path, Path]:
    a, b = tid("A"), tid("B")
    songs = [
        # One song in two playlists and in the other file: one track with every tag.
        song(a, "Same Song", "The Band", 60, "pop", "dance pop"),
        song(a, "Same Song", "The Band", 60, "rock", "album rock"),
        song(tid("X"), "NA", "Y", 1, "pop", "dance pop"),
        song("not-an-id", "X", "Y", 1, "pop", "dance pop"),
        song(tid("E"), "Z", "Y", 1, "pop", "dance pop", energy=""),
        song(tid("T"), "Z", "Y", 1, "pop", "dance pop", tempo=0),
        song(tid("V"), "Z", "Y", 1, "pop", "dance pop", valence=1.5),
    ]
    tracks = [
        track(a, "Same Song", "The Band", 70, "alt-rock", valence=0.9),  # more popular: wins
        track(b, "  same   SONG ", "the band", 50, "grunge"),  # the same song, another id
        track(tid("K1"), "Idol", "KBand", 50, "k-pop"),
        track(tid("K2"), "Idol 2", "KBand;Guest", 50, "k-pop"),
        track(tid("K3"), "Club", "KBand", 50, "dance"),  # KBand is k-pop wherever found
        track(tid("S1"), "Film Song", "Singer", 50, "k-pop"),  # a leak into the k-pop bucket
        track(tid("S2"), "Film Song 2", "Singer", 50, "pop-film"),
        track(tid("J1"), "夜に駆ける", "JBand", 50, "j-pop"),
        track(tid("J2"), "Moonlight", "Jazzman", 50, "j-pop"),  # no Japanese script: no pool
        track(tid("J3"), "Blue", "Jazzman", 50, "jazz"),
        track(tid("C1"), "Bit", "Comic", 50, "comedy"),
        track(tid("W1"), "Poem", "Poet", 50, "folk", speechiness=0.8),
        track(tid("W2"), "Bingo", "Kidz Bop Kids", 50, "pop"),
        track(tid("N1"), "Brown Noise 1", "Calm Co", 50, "sleep"),
        track(tid("N2"), "Brown Noise 2", "Calm Co", 50, "sleep"),
        track(tid("N3"), "Peace", "Calm Co", 50, "sleep", valence=0.3),  # its artist makes noise
        track(tid("N4"), "Thunder", "Band Two", 50, "rock", valence=0.29),  # a song, not noise
    ]
    return (
        write(tmp_path / "songs.csv", SONGS, songs),
        write(tmp_path / "tracks.csv", TRACKS, tracks),
        write(tmp_path / "moods.csv", MOODS, labelled_rows()),
    )


def test_build_merges_both_sources_and_applies_every_rule(sources, tmp_path: Path) -> None:
    out = tmp_path / "catalog.npz"
    report = build_catalog(*sources, out=out)
    assert dict(report.rows_read) == {"songs": 7, "tracks": 17}
    assert dict(report.dropped) == {
        "invalid_id": 1, "missing_title_artist": 1, "missing_features": 3, "duplicate_id": 2,
        "duplicate_title_artist": 1, "non_music_genre": 1, "spoken_word": 1,
        "children_name": 1, "noise": 3,
    }  # fmt: skip
    built = {t.title: t for t in Catalog.from_file(out)}
    assert sorted(built) == sorted(["Same Song", "Idol", "Idol 2", "Club", "Film Song",
                                    "Film Song 2", "夜に駆ける", "Moonlight", "Blue", "Thunder"])  # fmt: skip
    same = built["Same Song"]
    assert (same.id, same.popularity, same.valence) == (tid("A"), 70, 0.9)
    assert set(same.genres) == {"pop", "dance pop", "rock", "album rock", "alt-rock", "grunge"}
    assert same.genre == "rock" and same.subgenre in {"rock", "album rock", "alt-rock", "grunge"}
    assert [built[t].language for t in ("Idol", "Idol 2", "Club")] == ["ko"] * 3
    assert {built[t].genre for t in ("Idol", "Idol 2", "Club")} == {"k-pop"}
    assert built["Idol 2"].featuring == ("Guest",)
    assert (built["Film Song"].language, built["Film Song"].genre) == ("", "world")
    assert (built["夜に駆ける"].language, built["夜に駆ける"].genre) == ("ja", "j-pop")
    assert (built["Moonlight"].language, built["Moonlight"].genre) == ("", "jazz")
    assert report.model_cv and report.labelled == 48


def test_rebuilds_are_byte_identical(sources, tmp_path: Path) -> None:
    first, second = tmp_path / "one" / "catalog.npz", tmp_path / "two" / "catalog.npz"
    build_catalog(*sources, out=first)
    build_catalog(*sources, out=second)
    assert first.read_bytes() == second.read_bytes()
    model = first.with_name("mood_model.json")
    assert model.read_bytes() == second.with_name("mood_model.json").read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert load_model(model).trained_on == 48
    assert load_model(model).model_weight in WEIGHT_GRID


def test_mood_model_learns_and_round_trips() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(len(LABELS)), 30)
    features = rng.uniform(0, 1, (len(labels), 9)) * 0.2
    features[np.arange(len(labels)), labels] += 0.8  # label k: feature k is high
    model = fit(features, labels)
    assert (model.probabilities(features).argmax(axis=1) == labels).mean() == 1.0
    assert min(cross_validate(features, labels, repeats=2)) >= 0.9
    again = MoodModel.from_json(model.to_json())
    assert np.allclose(again.probabilities(features), model.probabilities(features), atol=1e-4)
    assert fit(features, labels).to_json() == model.to_json()  # deterministic


def test_each_outer_fold_chooses_weight_and_tempo_floor_without_its_held_out_tracks(
    monkeypatch,
) -> None:
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(len(LABELS)), 15)
    features = rng.uniform(0, 1, (len(labels), 9)).astype(np.float32)
    features[:, -1] = np.arange(len(labels))  # a row id the inner choice can report
    # Rows each outer fold's inner choice fit a model on or scored, and the training part it got.
    looked: list[set[int]] = []
    given: list[set[int]] = []
    choose, fit_, grid = mood_fit.choose, mood_fit.fit, mood_fit.classify_grid

    def ids(x: np.ndarray) -> set[int]:
        return {int(v) for v in x[:, -1]}

    def spy_choose(x: np.ndarray, y: np.ndarray, seed: int = 0) -> mood_fit.Choice:
        looked.append(set())
        given.append(ids(x))
        try:
            return choose(x, y, seed)
        finally:
            looked.append(set())  # the outer fit after the choice is not the inner choice's

    def spy_fit(x: np.ndarray, y: np.ndarray) -> MoodModel:
        if looked:
            looked[-1] |= ids(x)
        return fit_(x, y)

    def spy_grid(x: np.ndarray, *args) -> np.ndarray:
        if looked:
            looked[-1] |= ids(x)
        return grid(x, *args)

    monkeypatch.setattr(mood_fit, "choose", spy_choose)
    monkeypatch.setattr(mood_fit, "fit", spy_fit)
    monkeypatch.setattr(mood_fit, "classify_grid", spy_grid)
    folds = mood_fit.outer_folds(features, labels, folds=5, seed=0)
    inner = looked[0::2]
    assert len(folds) == len(given) == len(inner) == 5
    for fold, rows, seen in zip(folds, given, inner, strict=True):
        held_out = set(fold.held_out.tolist())
        assert fold.choice.weight in WEIGHT_GRID and fold.choice.floor_weight in WEIGHT_GRID
        assert fold.choice.floor in TEMPO_FLOORS
        assert rows.isdisjoint(held_out) and len(rows) + len(held_out) == len(labels)
        assert seen == rows  # every training row took part, no held-out one did
    assert choose(features, labels, 3) == choose(features, labels, 3)  # deterministic


def test_grid_scores_as_the_engine_and_moves_only_the_exercise_tempo_floor() -> None:
    rng = np.random.default_rng(2)
    features = rng.uniform(0, 1, (300, 9))
    probs = rng.dirichlet(np.ones(len(LABELS)), 300)
    served = mood_fit.served_floor()
    assert served == 90 and served in TEMPO_FLOORS
    grid = mood_fit.classify_grid(features, probs)
    assert grid.shape == (len(TEMPO_FLOORS), len(WEIGHT_GRID), 300)
    for j, weight in enumerate(WEIGHT_GRID):
        assert (
            grid[TEMPO_FLOORS.index(served), j] == mood_fit.classify(features, probs, weight)
        ).all()
    # An energetic 85 bpm song the model calls Energetic: exercise with no floor or at 80,
    # not from 90 bpm up.
    song = np.array([[0.6, 0.95, 0.7, 0.05, 0.0, 0.05, (85 - 50) / 150, 0.85, 1.0]])
    energetic = np.array([[0.0, 1.0, 0.0, 0.0]])
    picked = mood_fit.classify_grid(song, energetic, weights=(0.5,))[:, 0, 0]
    is_energetic = [int(label) == LABELS.index("Energetic") for label in picked]
    assert is_energetic == [floor is None or floor < 85 for floor in TEMPO_FLOORS]
    exercise = mood_fit.LABEL_REGIONS["Energetic"]
    assert mood_fit.with_tempo_floor(exercise, None).gates == (("energy", 0.7, None),)
    assert mood_fit.with_tempo_floor(exercise, 90) == exercise
