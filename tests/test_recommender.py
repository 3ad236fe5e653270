"""Tests for the offline recommender: catalog, mood targets, ranking, picking and preferences."""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections import Counter

import numpy as np
import pytest

from models.emotion import Emotion
from recommender import genres, moods
from recommender.catalog import Catalog, load_catalog, normalise_key
from recommender.engine import MAX_PER_FAMILY, Recommender
from recommender.errors import RecommenderError
from recommender.genres import FAMILY_IDS
from recommender.mood_model import load_model
from recommender.moods import Strategy, Target, default_strategy, target_for
from recommender.preferences import Preferences
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
    kw.setdefault("genre", FAMILY_IDS[i % len(FAMILY_IDS)])
    return Track(id=make_id(i), **kw)


def check_reply(picks: list[Track], n: int) -> None:
    assert len(picks) == n
    assert all(URL.match(t.url) for t in picks)
    assert len({t.id for t in picks}) == n
    assert len({normalise_key(t.artist) for t in picks}) == n
    assert max(Counter(t.genre for t in picks).values()) <= MAX_PER_FAMILY


def picks_over(rec: Recommender, **kw) -> list[Track]:
    """Ten replies each for SEEDS users (as in the bot: each excludes what that user saw)."""
    out: list[Track] = []
    for user in SEEDS:
        shown: list[str] = []
        for request in range(10):
            reply = rec.recommend(**kw, exclude=shown, seed=user * 100 + request)
            shown += [t.id for t in reply]
            out += reply
    return out


def mean(picks: list[Track], feature: str) -> float:
    return float(np.mean([getattr(t, feature) for t in picks]))


# --- catalog -------------------------------------------------------------------------------


def test_catalog_loads_both_sources(catalog: Catalog) -> None:
    assert len(catalog) > 90_000
    assert catalog.families() == [f for f in FAMILY_IDS]  # every family is represented
    assert catalog.genres() == catalog.families()  # what /genres offers
    first = catalog.tracks[0]
    assert catalog.get(first.id) == first and first.id in catalog
    assert catalog.get("0" * 22) is None and "0" * 22 not in catalog
    assert catalog.features.shape == (len(catalog), 9)
    assert load_catalog() is catalog  # parsed once per process
    tags = {g for t in catalog.tracks[:: len(catalog) // 3000] for g in t.genres}
    assert {"pop", "k-pop", "classical", "tango"} <= tags  # from both files


def test_catalog_ids_valid_unique(catalog: Catalog) -> None:
    ids = [i.decode() for i in catalog.ids]
    assert all(SPOTIFY_ID.match(i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_catalog_has_no_duplicate_songs(catalog: Catalog) -> None:
    titles, artists = map(normalise_key, catalog.titles), map(normalise_key, catalog.artists)
    keys = Counter(zip(titles, artists, strict=True))
    assert keys.most_common(1)[0][1] == 1


def test_catalog_features_in_range(catalog: Catalog) -> None:
    assert np.all((catalog.features >= 0) & (catalog.features <= 1))
    assert np.all(catalog.raw[:, 6] > 0)  # tempo
    assert all(catalog.titles) and all(catalog.artists)


def test_catalog_has_no_comedy_kids_spoken_word_or_noise(catalog: Catalog) -> None:
    banned = set(genres.NON_MUSIC_GENRES)
    assert not any(banned & set(c.split(";")) for c in catalog.genre_lists)
    assert catalog.raw[:, 5].max() <= genres.SPOKEN_WORD_SPEECHINESS  # 0.655.. rounds to 0.66
    noise = re.compile(r"white noise|brown noise|pink noise|rain sounds|binaural|\d+ ?hz\b", re.I)
    names = (f"{t} | {a}" for t, a in zip(catalog.titles, catalog.artists, strict=True))
    assert not [n for n in names if noise.search(n)]
    for artist in ("Peppa Pig", "CoComelon", "Pinkfong", "White Noise Baby Sleep"):
        assert not catalog.artist_mask([artist]).any()


def test_language_pools_are_confirmed_by_artist(catalog: Catalog) -> None:
    ko = catalog.language_codes == genres.POOLS.index("ko")
    assert 200 <= ko.sum() <= 2000
    assert {catalog.artists[i] for i in np.flatnonzero(ko)} >= {"BTS", "BLACKPINK", "TWICE"}
    assert set(catalog.family_codes[ko]) == {FAMILY_IDS.index("k-pop")}
    # Indian film singers and an American rapper fill half of the "k-pop" search bucket.
    for artist in ("Alka Yagnik", "Jubin Nautiyal", "Jack Harlow", "Yuvan Shankar Raja"):
        rows = np.flatnonzero(catalog.artist_mask([artist]))
        assert len(rows) and not ko[rows].any() and catalog.track(rows[0]).genre != "k-pop"
    es = catalog.artist_mask(["Bad Bunny"])
    assert set(catalog.language_codes[es]) == {genres.POOLS.index("es")}


def test_missing_catalog_file_is_a_recommender_error(tmp_path) -> None:
    with pytest.raises(RecommenderError):
        load_catalog(tmp_path / "nope.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(RecommenderError):
        load_catalog(tmp_path / "bad.npz")


def test_packaged_mood_model_records_its_held_out_accuracy() -> None:
    model = load_model()
    assert model.trained_on == 686
    assert model.cv_accuracy is not None and model.cv_accuracy >= 0.75


# --- targets -------------------------------------------------------------------------------


def check_target(target: Target) -> None:
    assert 0 <= target.valence <= 1 and 0 <= target.energy <= 1
    vector, weights = target.vector(), target.weight_vector()
    assert vector.shape == weights.shape == (9,)
    assert np.all((vector >= 0) & (vector <= 1))
    assert weights[0] > 0 and weights[1] > 0
    assert all(f in FAMILY_IDS for f, _ in target.families)
    assert target.name


@pytest.mark.parametrize(("emotion", "strategy"), itertools.product(Emotion, [*Strategy, None]))
def test_target_for_every_emotion_and_strategy(emotion: Emotion, strategy: Strategy | None) -> None:
    check_target(target_for(emotion, None, strategy))


@pytest.mark.parametrize("mood", list(Mood))
def test_target_for_every_mood(mood: Mood) -> None:
    target = target_for(None, mood)
    check_target(target)
    assert target.weight_vector()[2:].sum() > 0  # moods use more than valence/energy
    assert target.profile is not None and target.families and target.gates
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
            assert lift == dataclasses.replace(match, name=lift.name)


def test_emotion_pulls_mood_target() -> None:
    plain = target_for(None, Mood.EXERCISE)
    sad = target_for(Emotion.SAD, Mood.EXERCISE, Strategy.MATCH)
    assert sad.valence < plain.valence and sad.energy < plain.energy
    assert (sad.tempo, sad.gates, sad.profile) == (plain.tempo, plain.gates, plain.profile)


def test_audio_score_uses_the_mood_model_and_gates() -> None:
    target = target_for(None, Mood.EXERCISE)
    fast = np.array([[0.6, 0.9, 0.7, 0.05, 0.0, 0.05, 0.57, 0.88, 1.0]])
    ballad = np.array([[0.6, 0.3, 0.7, 0.05, 0.0, 0.05, 0.2, 0.88, 1.0]])
    energetic, calm = np.array([[0, 1, 0, 0]]), np.array([[1, 0, 0, 0]])
    assert target.audio_score(fast, energetic, 0.5) < target.audio_score(fast, calm, 0.5)
    assert target.audio_score(fast, energetic, 0.0) == target.audio_score(fast, calm, 0.0)
    assert target.gate_violations(ballad)[0] == 1 and target.gate_violations(fast)[0] == 0
    assert target.audio_score(ballad, energetic, 0.5) > target.audio_score(fast, calm, 0.5)


@pytest.mark.parametrize("weight", [0.25, 1.0, 8.0])
def test_gates_are_hard_at_any_model_weight(weight: float) -> None:
    target = target_for(None, Mood.EXERCISE)
    # Inside the gates but as far from the target as a song gets, and sure to be Calm.
    worst = np.array([[0.0, 0.7, 0.0, 1.0, 1.0, 1.0, 0.27, 0.0, 0.0]])
    # On target and sure to be Energetic, but soft: a ballad whatever the model says.
    soft = target.vector()[None, :].copy()
    soft[0, 1] = 0.69
    energetic, calm = np.array([[0, 1, 0, 0]]), np.array([[1, 0, 0, 0]])
    assert target.gate_violations(worst)[0] == 0 and target.gate_violations(soft)[0] == 1
    assert target.audio_score(soft, energetic, weight) > target.audio_score(worst, calm, weight)


def test_exercise_takes_energetic_songs_from_90_bpm_never_ballads() -> None:
    target = target_for(None, Mood.EXERCISE)

    def track(energy: float, bpm: float) -> np.ndarray:
        return np.array([[0.6, energy, 0.6, 0.05, 0.0, 0.05, (bpm - 50) / 150, 0.85, 1.0]])

    assert target.gate_violations(track(0.9, 95))[0] == 0  # gym hip-hop, rock
    assert target.gate_violations(track(0.9, 75))[0] == 1  # power ballad
    assert target.gate_violations(track(0.5, 128))[0] == 1  # soft


def test_table_lists_every_input() -> None:
    table = moods.table_markdown()
    assert all(f"| {e.value} |" in table for e in Emotion)
    assert all(f"| {m.value} |" in table for m in Mood)


# --- recommend -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [{"emotion": e} for e in Emotion] + [{"mood": m} for m in Mood] + [{}],
    ids=[e.value for e in Emotion] + [m.value for m in Mood] + ["none"],
)
def test_recommend_returns_n_varied_tracks(rec: Recommender, args: dict) -> None:
    check_reply(rec.recommend(**args, seed=1), 5)


@pytest.mark.parametrize("n", [1, 3, 10])
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


def test_string_names_are_accepted(rec: Recommender) -> None:
    assert rec.recommend("sad", "focus", seed=3) == rec.recommend(Emotion.SAD, Mood.FOCUS, seed=3)


def test_preferences_are_one_frozen_value() -> None:
    prefs = Preferences(language="ko")
    with pytest.raises(dataclasses.FrozenInstanceError):
        prefs.language = "es"  # type: ignore[misc]
    assert hash(prefs) == hash(Preferences(language="ko"))


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
    same = [make_track(i, artist="Solo", genre="rock") for i in range(3)]
    tiny = Recommender(Catalog([*same, make_track(9, artist="Other", genre="rock")]))
    picks = tiny.recommend(Emotion.SAD, n=4, seed=0)
    assert len({t.id for t in picks}) == 4
    assert {t.artist for t in picks[:2]} == {"Solo", "Other"}


def test_no_artist_twice_and_at_most_two_per_family_in_a_reply(rec: Recommender) -> None:
    for mood in Mood:
        for seed in range(5):
            check_reply(rec.recommend(mood=mood, seed=seed), 5)


@pytest.mark.parametrize("mood", list(Mood))
def test_ten_replies_span_several_families(rec: Recommender, mood: Mood) -> None:
    shown: list[str] = []
    families: set[str] = set()
    for request in range(10):
        reply = rec.recommend(mood=mood, exclude=shown, seed=request)
        shown += [t.id for t in reply]
        families |= {t.genre for t in reply}
    assert len(families) >= 4


def test_relaxing_is_calm_acoustic_and_never_noise(rec: Recommender) -> None:
    picks = picks_over(rec, mood=Mood.RELAXING)
    assert mean(picks, "energy") <= 0.35
    assert max(mean(picks, "acousticness"), mean(picks, "instrumentalness")) >= 0.5
    assert not [t for t in picks if "sleep" in t.genres and t.valence == 0]


def test_focus_is_instrumental_without_words(rec: Recommender) -> None:
    picks = picks_over(rec, mood=Mood.FOCUS)
    assert mean(picks, "instrumentalness") >= 0.5 and mean(picks, "speechiness") <= 0.08


def test_exercise_is_energetic_and_fast_never_a_ballad(rec: Recommender) -> None:
    picks = picks_over(rec, mood=Mood.EXERCISE)
    assert mean(picks, "energy") >= 0.8 and mean(picks, "tempo") >= 115
    assert min(t.energy for t in picks) >= 0.7


def test_party_is_danceable(rec: Recommender) -> None:
    assert mean(picks_over(rec, mood=Mood.PARTY), "danceability") >= 0.7


def test_sad_match_is_low_valence_and_lift_is_warmer(rec: Recommender) -> None:
    match = picks_over(rec, emotion=Emotion.SAD, prefs=Preferences(strategy=Strategy.MATCH))
    lift = picks_over(rec, emotion=Emotion.SAD)
    assert mean(match, "valence") <= 0.35
    assert mean(lift, "valence") > mean(match, "valence") + 0.15


def test_happy_is_high_valence(rec: Recommender) -> None:
    assert mean(picks_over(rec, emotion=Emotion.HAPPY), "valence") >= 0.65


def test_language_pool_is_likelier_without_taking_over(rec: Recommender) -> None:
    def shares(language: str | None, pool: str) -> list[float]:
        prefs = Preferences(language=language)
        replies = [rec.recommend(Emotion.HAPPY, prefs=prefs, seed=s) for s in SEEDS]
        return [sum(t.language == pool for t in reply) / 5 for reply in replies]

    korean = shares("ko", "ko")
    assert sum(s > 0 for s in korean) >= 15  # most replies carry some k-pop
    assert max(korean) <= 0.4  # never more than 2 of 5
    assert np.mean(shares(None, "ko")) < np.mean(korean) / 4
    spanish = shares("es-MX", "es")
    assert sum(s > 0 for s in spanish) >= 15


def test_favourite_and_liked_genres_appear_more_often(rec: Recommender) -> None:
    def share(family: str, **kw) -> float:
        picks = [t for s in SEEDS for t in rec.recommend(Emotion.HAPPY, seed=s, **kw)]
        return sum(t.genre == family for t in picks) / len(picks)

    assert share("rock", prefs=Preferences(favourite_genres=frozenset({"rock"}))) > 0.5
    rock, pop = share("rock"), share("pop")
    assert share("rock", prefs=Preferences(liked_genres=frozenset({"Rock"}))) > rock + 0.1
    assert share("pop", prefs=Preferences(disliked_genres=frozenset({"pop"}))) < pop - 0.1
    tango = Preferences(favourite_genres=frozenset({"tango"}))  # a raw genre works too
    assert any("tango" in t.genres for s in SEEDS for t in rec.recommend(prefs=tango, seed=s))


def test_disliked_artist_and_track_never_appear(rec: Recommender) -> None:
    picks = [t for s in SEEDS for t in rec.recommend(None, Mood.PARTY, seed=s)]
    top_artist = Counter(t.artist for t in picks).most_common(1)[0][0]
    prefs = Preferences(
        disliked_artists=frozenset({f" {top_artist.upper()} "}),
        disliked_tracks=frozenset(t.id for t in picks),
    )
    for s in SEEDS:
        again = rec.recommend(None, Mood.PARTY, seed=s, prefs=prefs)
        assert top_artist not in {t.artist for t in again}
        assert not {t.id for t in again} & set(prefs.disliked_tracks)


def test_liked_artist_is_boosted(rec: Recommender) -> None:
    picks = [t for s in SEEDS for t in rec.recommend(Emotion.HAPPY, seed=s)]
    artist = picks[-1].artist
    prefs = Preferences(liked_artists=frozenset({artist}))
    liked = [t for s in SEEDS for t in rec.recommend(Emotion.HAPPY, seed=s, prefs=prefs)]
    assert sum(t.artist == artist for t in liked) > sum(t.artist == artist for t in picks)


def test_liked_tracks_pull_picks_toward_their_sound(rec: Recommender) -> None:
    plain = [t for s in SEEDS for t in rec.recommend(Emotion.NEUTRAL, seed=s)]
    acoustic = [t for t in plain if t.acousticness > 0.6][:3]
    prefs = Preferences(liked_tracks=frozenset(t.id for t in acoustic))
    liked = [t for s in SEEDS for t in rec.recommend(Emotion.NEUTRAL, seed=s, prefs=prefs)]
    assert mean(liked, "acousticness") > mean(plain, "acousticness") + 0.1


def test_families_are_offered(rec: Recommender) -> None:
    assert rec.families() == list(FAMILY_IDS)
    assert all(genres.family_label(f) for f in rec.families())


# --- bench ---------------------------------------------------------------------------------


def test_bench_prints_every_section(tmp_path, capsys) -> None:
    from recommender import bench
    from tests.test_catalog_build import MOODS, labelled_rows, write

    a, b, c = (make_track(i) for i in range(3))
    assert bench.repeat_rate([[a, b], [b, c], [c, a]]) == 0.75
    labels = write(tmp_path / "moods.csv", MOODS, labelled_rows())
    assert bench.main(["--users", "1", "--requests", "2", "--labels", str(labels)]) == 0
    out = capsys.readouterr().out
    assert "catalog: " in out and "MiB" in out
    assert all(f"\n{name} " in out for name, _ in bench.cases())
    assert "p95" in out and "\nko " in out and "engine score" in out and "model alone" in out
