"""Tests for the offline recommender: catalog build/load, mood targets, ranking and picking."""

from __future__ import annotations

import csv
import gzip
import itertools
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from models.emotion import Emotion
from models.errors import RecommenderError
from recommender import moods
from recommender.bench import LABEL_REGIONS, agreement_with_labels
from recommender.build_catalog import build_catalog
from recommender.catalog import Catalog, load_catalog, normalise_key
from recommender.engine import MAX_PER_SUBGENRE, Recommender
from recommender.moods import Strategy, Target, default_strategy, target_for
from recommender.track import SPOTIFY_ID, Mood, Track

URL = re.compile(r"^https://open\.spotify\.com/track/[0-9A-Za-z]{22}$")
SEEDS = range(20)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def rec(catalog: Catalog) -> Recommender:
    return Recommender(catalog)


def make_id(i: int) -> str:
    return f"{i:022d}"


def make_track(i: int, **kw) -> Track:
    kw.setdefault("title", f"Song {i}")
    kw.setdefault("artist", f"Artist {i}")
    kw.setdefault("subgenre", f"sub{i}")
    return Track(id=make_id(i), **kw)


def check_reply(picks: list[Track], n: int) -> None:
    assert len(picks) == n
    assert all(URL.match(t.url) for t in picks)
    assert len({t.id for t in picks}) == n
    assert len({normalise_key(t.artist) for t in picks}) == n
    assert max(Counter(t.subgenre for t in picks).values()) <= MAX_PER_SUBGENRE


def mean(picks: list[Track], feature: str) -> float:
    return float(np.mean([getattr(t, feature) for t in picks]))


# --- catalog -------------------------------------------------------------------------------


def test_catalog_loads(catalog: Catalog) -> None:
    assert len(catalog) > 20_000
    assert catalog.genres() == ["edm", "latin", "pop", "r&b", "rap", "rock"]
    first = catalog.tracks[0]
    assert catalog.get(first.id) is first
    assert catalog.get("0" * 22) is None
    assert catalog.features.shape == (len(catalog), 7)
    assert load_catalog() is catalog  # parsed once per process


def test_catalog_ids_valid_unique_and_sorted(catalog: Catalog) -> None:
    ids = [t.id for t in catalog]
    assert all(SPOTIFY_ID.match(i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_catalog_has_no_duplicate_songs(catalog: Catalog) -> None:
    keys = Counter((normalise_key(t.title), normalise_key(t.artist)) for t in catalog)
    assert keys.most_common(1)[0][1] == 1


def test_catalog_features_in_range(catalog: Catalog) -> None:
    assert np.all((catalog.features >= 0) & (catalog.features <= 1))
    assert all(t.tempo > 0 and 0 <= t.popularity <= 100 and t.title and t.artist for t in catalog)


def test_missing_catalog_file_is_a_recommender_error(tmp_path: Path) -> None:
    with pytest.raises(RecommenderError):
        load_catalog(tmp_path / "nope.csv.gz")


# --- targets -------------------------------------------------------------------------------


def check_target(target: Target) -> None:
    assert 0 <= target.valence <= 1 and 0 <= target.energy <= 1
    vector, weights = target.vector(), target.weight_vector()
    assert vector.shape == weights.shape == (7,)
    assert np.all((vector >= 0) & (vector <= 1))
    assert weights[0] > 0 and weights[1] > 0
    assert target.name


@pytest.mark.parametrize(("emotion", "strategy"), itertools.product(Emotion, [*Strategy, None]))
def test_target_for_every_emotion_and_strategy(emotion: Emotion, strategy: Strategy | None) -> None:
    check_target(target_for(emotion, None, strategy))


@pytest.mark.parametrize("mood", list(Mood))
def test_target_for_every_mood(mood: Mood) -> None:
    target = target_for(None, mood)
    check_target(target)
    assert target.weight_vector()[2:].sum() > 0  # moods use more than valence/energy
    assert target_for(Emotion.NEUTRAL, mood) == target


def test_default_strategy() -> None:
    lift = {Emotion.SAD, Emotion.ANGRY, Emotion.FEAR, Emotion.DISGUST}
    for emotion in Emotion:
        expected = Strategy.LIFT if emotion in lift else Strategy.MATCH
        assert default_strategy(emotion) is expected
    assert default_strategy(None) is Strategy.MATCH


def test_lift_moves_negative_emotions_toward_pleasant() -> None:
    for emotion in Emotion:
        match = target_for(emotion, None, Strategy.MATCH)
        lift = target_for(emotion, None, Strategy.LIFT)
        if default_strategy(emotion) is Strategy.LIFT:
            assert lift.valence > match.valence
        else:
            assert (lift.valence, lift.energy) == (match.valence, match.energy)


def test_emotion_pulls_mood_target() -> None:
    plain = target_for(None, Mood.EXERCISE)
    sad = target_for(Emotion.SAD, Mood.EXERCISE, Strategy.MATCH)
    assert sad.valence < plain.valence and sad.energy < plain.energy
    assert sad.tempo == plain.tempo


def _dec(x: float) -> str:
    return f"{x:.2f}".removeprefix("0")


def test_docstring_table_matches_targets() -> None:
    # The module docstring is quoted in the README, so it must not drift from the code.
    lines: dict[str, str] = {}
    for line in moods.__doc__.splitlines():
        lines.setdefault(line.split(" ")[0], line)  # table rows come before the prose
    for emotion in Emotion:
        for strategy in Strategy:
            t = target_for(emotion, None, strategy)
            assert f"V {_dec(t.valence)}  E {_dec(t.energy)}" in lines[emotion.value]
    for mood in Mood:
        t = target_for(None, mood)
        assert f"{_dec(t.valence)} / {_dec(t.energy)}" in lines[mood.value]
    assert "| focus | - |" in moods.table_markdown()


def test_neither_emotion_nor_mood_means_neutral() -> None:
    assert target_for(None, None, None) == target_for(Emotion.NEUTRAL)


# --- recommend -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [{"emotion": e} for e in Emotion] + [{"mood": m} for m in Mood] + [{}],
    ids=[e.value for e in Emotion] + [m.value for m in Mood] + ["none"],
)
def test_recommend_returns_n_varied_tracks(rec: Recommender, args: dict) -> None:
    check_reply(rec.recommend(**args, seed=1), 5)


@pytest.mark.parametrize("n", [1, 3, 12])
def test_recommend_any_n(rec: Recommender, n: int) -> None:
    check_reply(rec.recommend(Emotion.HAPPY, Mood.PARTY, n, seed=2), n)


def test_recommend_rejects_bad_n(rec: Recommender) -> None:
    with pytest.raises(ValueError):
        rec.recommend(Emotion.HAPPY, n=0)


def test_none_and_none_is_neutral(rec: Recommender) -> None:
    assert rec.recommend(seed=5) == rec.recommend(Emotion.NEUTRAL, seed=5)


def test_seed_makes_replies_reproducible_and_varied(rec: Recommender) -> None:
    assert rec.recommend(Emotion.SAD, seed=42) == rec.recommend(Emotion.SAD, seed=42)
    replies = {tuple(t.id for t in rec.recommend(Emotion.SAD, seed=s)) for s in range(5)}
    assert len(replies) > 1


def test_exclude_prevents_repeats_over_ten_requests(rec: Recommender) -> None:
    shown: list[str] = []
    for request in range(10):
        picks = rec.recommend(Emotion.FEAR, n=5, exclude=shown, seed=request)
        check_reply(picks, 5)
        assert not set(shown) & {t.id for t in picks}
        shown += [t.id for t in picks]
    assert len(set(shown)) == 50


def test_exclude_falls_back_rather_than_returning_fewer() -> None:
    tiny = Recommender(Catalog(make_track(i, valence=i / 10) for i in range(6)))
    picks = tiny.recommend(Emotion.HAPPY, n=4, exclude=[make_id(i) for i in range(5)], seed=0)
    assert len(picks) == 4
    assert make_id(5) in {t.id for t in picks}  # the one fresh track comes first
    assert len(tiny.recommend(Emotion.HAPPY, n=9)) == 6  # never more than the catalog has


def test_diversity_rules_relax_only_when_needed() -> None:
    same = [make_track(i, artist="Solo", subgenre="one") for i in range(3)]
    tiny = Recommender(Catalog([*same, make_track(9, artist="Other", subgenre="one")]))
    picks = tiny.recommend(Emotion.SAD, n=4, seed=0)
    assert len({t.id for t in picks}) == 4
    assert {t.artist for t in picks[:2]} == {"Solo", "Other"}


def test_liked_and_favourite_genres_appear_more_often(rec: Recommender) -> None:
    def share(**kw) -> float:
        picks = [t for s in SEEDS for t in rec.recommend(Emotion.HAPPY, seed=s, **kw)]
        return sum(t.genre == "rock" for t in picks) / len(picks)

    base = share()
    assert share(liked_genres=["Rock"]) > base + 0.1
    assert share(favourite_genres=["rock"]) > base + 0.1
    assert share(disliked_genres=["rock"]) < base


def test_disliked_artist_never_appears(rec: Recommender) -> None:
    picks = [t for s in SEEDS for t in rec.recommend(None, Mood.PARTY, seed=s)]
    top_artist = Counter(t.artist for t in picks).most_common(1)[0][0]
    for s in SEEDS:
        again = rec.recommend(
            None, Mood.PARTY, seed=s, disliked_artists=[f" {top_artist.upper()} "]
        )
        assert top_artist not in {t.artist for t in again}


def test_liked_artist_is_boosted(rec: Recommender) -> None:
    picks = [t for s in SEEDS for t in rec.recommend(Emotion.HAPPY, seed=s)]
    artist = picks[-1].artist
    liked = [t for s in SEEDS for t in rec.recommend(Emotion.HAPPY, seed=s, liked_artists=[artist])]
    assert sum(t.artist == artist for t in liked) > sum(t.artist == artist for t in picks)


def test_lift_raises_valence_for_sad(rec: Recommender) -> None:
    lift = [t for s in SEEDS for t in rec.recommend(Emotion.SAD, seed=s)]
    match = [t for s in SEEDS for t in rec.recommend(Emotion.SAD, seed=s, strategy=Strategy.MATCH)]
    assert mean(lift, "valence") > mean(match, "valence") + 0.15


def test_exercise_is_more_energetic_and_faster_than_relaxing(rec: Recommender) -> None:
    exercise = [t for s in SEEDS for t in rec.recommend(mood=Mood.EXERCISE, seed=s)]
    relaxing = [t for s in SEEDS for t in rec.recommend(mood=Mood.RELAXING, seed=s)]
    assert mean(exercise, "energy") > mean(relaxing, "energy") + 0.4
    assert mean(exercise, "tempo") > mean(relaxing, "tempo") + 20


def test_string_names_are_accepted(rec: Recommender) -> None:
    assert rec.recommend("sad", "focus", seed=3) == rec.recommend(Emotion.SAD, Mood.FOCUS, seed=3)


# --- build ---------------------------------------------------------------------------------

SOURCE_COLUMNS = [
    "track_id",
    "track_name",
    "track_artist",
    "track_popularity",
    "playlist_genre",
    "playlist_subgenre",
    "danceability",
    "energy",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "valence",
    "tempo",
]


def source_row(tid: str, title: str, artist: str, pop: int, genre: str, sub: str, **kw) -> dict:
    row = dict(zip(SOURCE_COLUMNS, [tid, title, artist, pop, genre, sub], strict=False))
    features = {"danceability": 0.5, "energy": 0.5, "speechiness": 0.05, "acousticness": 0.2}
    features |= {"instrumentalness": 0, "valence": 0.5, "tempo": 120.0}
    return row | features | kw


def test_build_catalog_cleans_and_dedupes(tmp_path: Path) -> None:
    a, b, c, h = "A" * 22, "B" * 22, "C" * 22, "H" * 22
    rows = [
        # One song in three playlists: most common genre wins.
        source_row(a, "Same Song", "The Band", 60, "pop", "dance pop", valence=0.12345),
        source_row(a, "Same Song", "The Band", 60, "rock", "hard rock", valence=0.12345),
        source_row(a, "Same Song", "The Band", 60, "rock", "album rock", valence=0.12345),
        # The same song under another id, less popular: dropped.
        source_row(b, "  same   SONG ", "the band", 50, "pop", "dance pop"),
        # Genre tie: the first playlist wins.
        source_row(h, "Other", "Someone", 5, "edm", "big room"),
        source_row(h, "Other", "Someone", 5, "latin", "tropical"),
        source_row("not-an-id", "X", "Y", 1, "pop", "dance pop"),
        source_row(c, "NA", "Y", 1, "pop", "dance pop"),
        source_row(c, "Z", "Y", 1, "pop", "dance pop", energy=""),
        source_row(c, "Z", "Y", 1, "pop", "dance pop", tempo=0),
        source_row(c, "Z", "Y", 1, "pop", "dance pop", valence=1.5),
    ]
    source = tmp_path / "songs.csv"
    with source.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=SOURCE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)

    out = tmp_path / "catalog.csv.gz"
    report = build_catalog(source, out)
    assert report.rows_read == len(rows)
    assert dict(report.dropped) == {
        "duplicate_id": 3,
        "duplicate_title_artist": 1,
        "invalid_id": 1,
        "missing_title_artist": 1,
        "missing_features": 3,
    }
    assert report.written == 2

    built = Catalog.from_csv(out)
    assert [t.id for t in built] == [a, h]
    song, other = built.tracks
    assert (song.title, song.genre, song.subgenre, song.popularity) == (
        "Same Song",
        "rock",
        "hard rock",
        60,
    )
    assert song.valence == 0.123
    assert (other.genre, other.subgenre) == ("edm", "big room")

    first = out.read_bytes()
    assert first[4:8] == b"\0\0\0\0"  # gzip mtime 0
    assert gzip.decompress(first).decode().splitlines()[0].startswith("id,title,artist")
    build_catalog(source, out)
    assert out.read_bytes() == first  # rebuilds are byte-identical


# --- bench helper --------------------------------------------------------------------------


def test_agreement_with_labels_on_region_centres() -> None:
    tracks, labels = [], []
    for i, (label, target) in enumerate(LABEL_REGIONS.items()):
        features = {
            f: getattr(target, f)
            for f in ("valence", "energy", "danceability", "acousticness", "tempo")
            if getattr(target, f) is not None
        }
        tracks.append(make_track(i, **features))
        labels.append(label)
    agreement = agreement_with_labels(tracks, labels)
    assert agreement.accuracy == 1.0
    assert agreement.total == 4
