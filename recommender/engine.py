"""Rank the catalog for an emotion and/or mood and pick a varied handful of songs.

Ranking, per request:

1. score = the target's audio score (feature distance + mood-model term + gates, see
   `recommender.moods`) - FAMILY_WEIGHT x the target's family leaning - a mild popularity
   prior (at most POPULARITY_WEIGHT), plus the person's preferences (liked/disliked genres and
   artists, favourite genres, the sound of liked tracks). Disliked artists and tracks are
   removed outright. The target-only part is computed once per target and cached.
2. shortlist = the SHORTLIST best-scoring tracks not in `exclude` (what the person was shown
   in the last 30 days).
3. Language pool: with a `language`, up to LANGUAGE_SHARE of the reply comes from that pool's
   best-fitting tracks (only tracks in the best POOL_FIT share of the whole catalog for this
   target count as fitting, so a pool never brings songs that do not suit the moment).
4. The shortlist is shuffled with Gumbel noise on the scores (sampling without replacement,
   better tracks more likely; `seed` makes it reproducible), then walked greedily: no track
   twice, no main artist twice, at most MAX_PER_FAMILY per genre family (families the person
   chose are exempt), so every reply spans several families.
5. If that yields fewer than n, we continue with the rest of the catalog in score order, then
   with excluded tracks, then relax the family cap, then the artist rule, so a reply is never
   short while the catalog (minus disliked artists and tracks) has n tracks.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection, Iterable

import numpy as np

from models.emotion import Emotion
from recommender.catalog import Catalog
from recommender.errors import RecommenderError
from recommender.genres import FAMILY_IDS, POOLS, pool_for_language
from recommender.mood_model import MoodModel, load_model
from recommender.moods import FAMILY_WEIGHT, Strategy, Target, target_for
from recommender.preferences import Preferences
from recommender.track import Mood, Track

SHORTLIST = 300
MAX_PER_FAMILY = 2
# Kept for recommender.spotify's reserve swaps, which cap raw genres per reply.
MAX_PER_SUBGENRE = MAX_PER_FAMILY
# Picks score ~0.05-0.15 while the catalog averages 0.4-0.8 (see bench), so these reorder
# songs that already fit but cannot pull in songs that don't.
POPULARITY_WEIGHT = 0.03
LIKED_ARTIST_BOOST = 0.04
LIKED_GENRE_BOOST = 0.04
FAVOURITE_GENRE_BOOST = 0.10  # chosen explicitly by the person, so it counts more
DISLIKED_GENRE_PENALTY = 0.10
LIKED_SOUND_WEIGHT = 0.15  # x RMS distance to the mean features of the person's liked tracks
LANGUAGE_SHARE = 0.4  # at most 2 of 5 songs from the listener's language pool
POOL_FIT = 0.10
POOL_SHORTLIST = 40
# Gumbel temperature on shortlist scores rescaled to 0..1: the best track is e^(1/T) ~ 55x as
# likely to come first as the 300th, which varies replies without straying from the target.
TEMPERATURE = 0.25
NO_PREFERENCES = Preferences()


class Recommender:
    """Picks songs from a catalog. Build once and share; calls keep no state, so threads are fine."""

    def __init__(self, catalog: Catalog, model: MoodModel | None = None) -> None:
        if len(catalog) == 0:
            raise RecommenderError("the song catalog is empty")
        self.catalog = catalog
        try:
            self.model = model or load_model()
        except (OSError, ValueError, KeyError) as exc:
            raise RecommenderError(f"mood model unreadable ({exc})") from None
        self.moods = self.model.probabilities(catalog.features).astype(np.float32)
        self.moods.flags.writeable = False
        # Base scores depend only on the target, and there are few distinct targets.
        self._base = functools.lru_cache(maxsize=16)(self._compute_base)

    def target(
        self,
        emotion: Emotion | str | None = None,
        mood: Mood | str | None = None,
        strategy: Strategy | str | None = None,
    ) -> Target:
        """The target a request with these arguments ranks against (accepts names too)."""
        return target_for(
            Emotion.parse(emotion) if isinstance(emotion, str) else emotion,
            Mood.parse(mood) if isinstance(mood, str) else mood,
            Strategy.parse(strategy) if isinstance(strategy, str) else strategy,
        )

    def families(self) -> list[str]:
        """Genre families a person can choose from (ids; labels in recommender.genres)."""
        return self.catalog.families()

    def recommend(
        self,
        emotion: Emotion | str | None = None,
        mood: Mood | str | None = None,
        n: int = 5,
        *,
        prefs: Preferences = NO_PREFERENCES,
        exclude: Collection[str] = (),
        seed: int | None = None,
    ) -> list[Track]:
        """n varied tracks for the emotion and/or mood (neither means neutral); see module doc."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        target = self.target(emotion, mood, prefs.strategy)
        base, order, fit_limit = self._base(target)
        adjust = _Adjustments(self.catalog, prefs)

        catalog = self.catalog
        allowed = np.ones(len(catalog), dtype=bool)
        if prefs.disliked_artists:
            allowed &= ~catalog.artist_mask(prefs.disliked_artists)
        allowed[catalog.rows_of(prefs.disliked_tracks)] = False
        fresh = allowed.copy()
        fresh[catalog.rows_of(exclude)] = False

        rng = np.random.default_rng(seed)
        exempt = {FAMILY_IDS.index(f) for f in FAMILY_IDS if f in _keys(prefs.favourite_genres)}
        picker = _Picker(catalog, n, exempt)
        pool = pool_for_language(prefs.language)
        slots = math.floor(n * LANGUAGE_SHARE)
        if pool is not None and slots:
            in_pool = fresh & (catalog.language_codes == POOLS.index(pool)) & (base <= fit_limit)
            best = _best(base, adjust, np.flatnonzero(in_pool), POOL_SHORTLIST)
            picker.take(best[_gumbel_order(base[best] + adjust(best), rng)], limit=slots)
        rows = _candidates(base, order, fresh, SHORTLIST, adjust)
        shortlist = _best(base, adjust, rows, SHORTLIST)
        picker.take(shortlist[_gumbel_order(base[shortlist] + adjust(shortlist), rng)])
        # Fallbacks, only reached when the shortlist cannot fill the reply.
        if not picker.full:
            if adjust.spread:
                order = np.argsort(base + adjust(np.arange(len(catalog))), kind="stable")
            picker.take(order[fresh[order]])
            picker.take(order[(allowed & ~fresh)[order]])
            picker.max_per_family = n
            picker.take(order[allowed[order]])
            picker.distinct_artists = False
            picker.take(order[allowed[order]])
        picked = picker.picked
        if pool is not None:  # so the pool's songs are not always the first ones
            picked = [picked[i] for i in rng.permutation(len(picked))]
        return [catalog.track(i) for i in picked]

    def _compute_base(self, target: Target) -> tuple[np.ndarray, np.ndarray, float]:
        """Target-only scores (float32), rows in score order, and the score that the best
        POOL_FIT share of the catalog reaches; all read-only."""
        catalog = self.catalog
        affinity = target.family_affinity()[np.minimum(catalog.family_codes, len(FAMILY_IDS))]
        scores = (
            target.audio_score(catalog.features, self.moods, self.model.model_weight)
            - FAMILY_WEIGHT * affinity
            - POPULARITY_WEIGHT * catalog.popularity
        ).astype(np.float32)
        order = np.argsort(scores, kind="stable").astype(np.int32)
        scores.flags.writeable = order.flags.writeable = False
        k = max(1, int(len(scores) * POOL_FIT))
        return scores, order, float(scores[order[k - 1]])


def _keys(names: Iterable[str]) -> set[str]:
    return {" ".join(name.casefold().split()) for name in names}


def _candidates(
    base: np.ndarray, order: np.ndarray, fresh: np.ndarray, k: int, adjust: _Adjustments
) -> np.ndarray:
    """Fresh rows that can be among the k best once the person's adjustments are added.

    The k-th best adjusted score is at most M, the k-th best among the first 4k fresh rows by
    base score; a row whose base score minus the largest possible boost is above M cannot
    beat it. So a request walks the cached base order and touches a few thousand rows.
    """
    size = len(order)
    end = min(size, 4 * k)
    while True:
        head = order[:end][fresh[order[:end]]]
        if len(head) >= 4 * k or end == size:
            break
        end = min(size, end * 2)
    if len(head) <= k or not adjust.spread:
        return head[:k] if not adjust.spread else head
    limit = np.partition(base[head] + adjust(head), k - 1)[k - 1] + adjust.boost
    while end < size and base[order[end - 1]] <= limit:
        end = min(size, end * 2)
    rows = order[:end]
    return rows[fresh[rows] & (base[rows] <= limit)]


def _best(base: np.ndarray, adjust: _Adjustments, rows: np.ndarray, k: int) -> np.ndarray:
    """The k rows (of `rows`) with the best (lowest) adjusted scores, best first."""
    scores = base[rows] + adjust(rows)
    if len(rows) > k:
        keep = np.argpartition(scores, k - 1)[:k]
        rows, scores = rows[keep], scores[keep]
    return rows[np.argsort(scores, kind="stable")]


class _Adjustments:
    """A person's preferences as score adjustments (negative is better), computed only for
    the rows a request looks at; `spread` bounds max - min over any rows, `boost` -min."""

    def __init__(self, catalog: Catalog, prefs: Preferences) -> None:
        self.catalog = catalog
        self.prefs = prefs
        self.terms = [
            (weight, names, kind)
            for weight, names, kind in (
                (-LIKED_ARTIST_BOOST, prefs.liked_artists, "artist"),
                (-LIKED_GENRE_BOOST, prefs.liked_genres, "genre"),
                (-FAVOURITE_GENRE_BOOST, prefs.favourite_genres, "genre"),
                (DISLIKED_GENRE_PENALTY, prefs.disliked_genres, "genre"),
            )
            if names
        ]
        liked = catalog.rows_of(prefs.liked_tracks)
        self.centroid = catalog.features[liked].mean(axis=0) if len(liked) else None
        self.boost = -sum(w for w, _, _ in self.terms if w < 0)  # the most any row gains
        self.spread = sum(abs(w) for w, _, _ in self.terms) + (
            LIKED_SOUND_WEIGHT if self.centroid is not None else 0.0
        )

    def __call__(self, rows: np.ndarray) -> np.ndarray | float:
        if not self.spread:
            return 0.0
        out = np.zeros(len(rows), dtype=np.float32)
        for weight, names, kind in self.terms:
            mask = self.catalog.artist_mask if kind == "artist" else self.catalog.genre_mask
            out += weight * mask(names, rows)
        if self.centroid is not None:
            diff = self.catalog.features[rows] - self.centroid
            out += LIKED_SOUND_WEIGHT * np.sqrt((diff * diff).mean(axis=1))
        return out


def _gumbel_order(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random order of `scores` (lower is better), sampled without replacement by quality."""
    if len(scores) == 0:
        return np.arange(0)
    spread = float(scores.max() - scores.min()) or 1.0
    keys = -(scores - scores.min()) / (spread * TEMPERATURE) + rng.gumbel(size=len(scores))
    return np.argsort(-keys, kind="stable")


class _Picker:
    """Greedy selection under the per-reply diversity rules, which callers may relax."""

    def __init__(self, catalog: Catalog, n: int, exempt_families: set[int]) -> None:
        self.catalog = catalog
        self.n = n
        self.picked: list[int] = []
        self.distinct_artists = True
        self.max_per_family = MAX_PER_FAMILY
        self._exempt = exempt_families
        self._seen: set[int] = set()
        self._artists: set[int] = set()
        self._families: dict[int, int] = {}

    @property
    def full(self) -> bool:
        return len(self.picked) >= self.n

    def take(self, candidates: Iterable[int], limit: int | None = None) -> None:
        """Add candidates that keep the rules, in order, until full (or `limit` added)."""
        artist_codes, family_codes = self.catalog.artist_codes, self.catalog.family_codes
        added = 0
        for i in map(int, candidates):
            if self.full or (limit is not None and added >= limit):
                return
            artist, family = int(artist_codes[i]), int(family_codes[i])
            if (
                i in self._seen
                or (self.distinct_artists and artist in self._artists)
                or (
                    family not in self._exempt
                    and self._families.get(family, 0) >= self.max_per_family
                )
            ):
                continue
            self.picked.append(i)
            self._seen.add(i)
            self._artists.add(artist)
            self._families[family] = self._families.get(family, 0) + 1
            added += 1
