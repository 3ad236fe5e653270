"""The embedded song catalog: loaded once, kept as columns (numpy arrays and text blobs).

The file is built offline by `python -m recommender.build_catalog` (see that module for the
sources and cleaning rules, `recommender.genres` for families and language pools, and
`recommender.catalog_file` for the format) and shipped as `recommender/data/catalog.npz`.
About 100k tracks would take ~80 MB as Track objects, so the catalog keeps columns and makes a
Track only when asked.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import overload

import numpy as np

from recommender import catalog_file
from recommender.catalog_file import UNIT_FEATURES, Text, split_text
from recommender.errors import RecommenderError
from recommender.genres import FAMILY_IDS, POOLS
from recommender.track import SPOTIFY_ID, Track

DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "catalog.npz"

# The audio features we rank on, in the column order of `Catalog.features`.
FEATURES: tuple[str, ...] = (
    "valence",
    "energy",
    "danceability",
    "acousticness",
    "instrumentalness",
    "speechiness",
    "tempo",
    "loudness",
    "mode",
)

# Tempo and loudness are the features not already on a 0..1 scale. 50..200 bpm maps onto 0..1
# so that a 30 bpm miss weighs like a 0.2 miss on valence; -40..0 dB likewise (8 dB ~ 0.2).
TEMPO_MIN = 50.0
TEMPO_SPAN = 150.0
LOUDNESS_MIN = -40.0
LOUDNESS_SPAN = 40.0
_TEMPO = FEATURES.index("tempo")
_LOUDNESS = FEATURES.index("loudness")


def normalise_tempo(bpm: float | np.ndarray) -> float | np.ndarray:
    """Beats per minute -> the 0..1 scale the ranking uses (clipped)."""
    return np.clip((np.asarray(bpm, dtype=float) - TEMPO_MIN) / TEMPO_SPAN, 0.0, 1.0)


def normalise_loudness(db: float | np.ndarray) -> float | np.ndarray:
    """Decibels (Spotify's integrated loudness) -> 0..1 (clipped)."""
    return np.clip((np.asarray(db, dtype=float) - LOUDNESS_MIN) / LOUDNESS_SPAN, 0.0, 1.0)


def normalise_features(raw: np.ndarray) -> np.ndarray:
    """A raw (n, len(FEATURES)) matrix -> float32, every column on a 0..1 scale."""
    out = np.array(raw, dtype=np.float32, copy=True).reshape(-1, len(FEATURES))
    out[:, _TEMPO] = normalise_tempo(out[:, _TEMPO])
    out[:, _LOUDNESS] = normalise_loudness(out[:, _LOUDNESS])
    return np.clip(out, 0.0, 1.0)


def normalise_key(text: str) -> str:
    """Case- and whitespace-insensitive key for artists, genres and titles."""
    return " ".join(text.casefold().split())


def feature_matrix(tracks: Iterable[Track]) -> np.ndarray:
    """Tracks -> float32 array of shape (n, len(FEATURES)), every column on a 0..1 scale."""
    rows = [[getattr(t, name) for name in FEATURES] for t in tracks]
    return normalise_features(np.asarray(rows, dtype=float).reshape(len(rows), len(FEATURES)))


def _readonly(array: np.ndarray) -> np.ndarray:
    # The catalog is shared by every request; nobody may scribble on its arrays.
    array.flags.writeable = False
    return array


class _Tracks(Sequence[Track]):
    """Read-only view making Track objects on access."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def __len__(self) -> int:
        return len(self._catalog)

    @overload
    def __getitem__(self, i: int) -> Track: ...
    @overload
    def __getitem__(self, i: slice) -> list[Track]: ...
    def __getitem__(self, i: int | slice) -> Track | list[Track]:
        if isinstance(i, slice):
            return [self._catalog.track(j) for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return self._catalog.track(i % len(self))


class _Indexed(Sequence[str]):
    """values[index[i]] for each i, without materialising the list."""

    def __init__(self, values: list[str], index: np.ndarray) -> None:
        self._values, self._index = values, index

    def __len__(self) -> int:
        return len(self._index)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self._values[j] for j in self._index[i]]
        return self._values[self._index[i]]


class Catalog:
    """An immutable, indexed set of tracks with vectorised features."""

    def __init__(self, tracks: Iterable[Track]) -> None:
        tracks = list(tracks)
        raw = np.asarray([[getattr(t, f) for f in FEATURES] for t in tracks], dtype=np.float64)
        names = sorted({t.artist for t in tracks})
        index = {a: i for i, a in enumerate(names)}
        self._setup(
            ids=[t.id for t in tracks],
            titles=Text.of([t.title for t in tracks]),
            artist_names=names,
            artist_index=np.asarray([index[t.artist] for t in tracks], dtype=np.uint32),
            featuring=Text.of([";".join(t.featuring) for t in tracks]),
            combos=[";".join(t.genres or ([t.subgenre] if t.subgenre else [])) for t in tracks],
            families=[t.genre for t in tracks],
            languages=[t.language for t in tracks],
            popularity=np.asarray([t.popularity for t in tracks], dtype=np.float32),
            raw=raw.reshape(len(tracks), len(FEATURES)),
            source="tracks",
        )

    @classmethod
    def from_file(cls, path: str | Path) -> Catalog:
        """Read a catalog file as written by build_catalog (see recommender.catalog_file)."""
        arrays = catalog_file.read(path)
        n = len(arrays["id"])
        families, languages = split_text(arrays["families"]), split_text(arrays["languages"])
        combos = split_text(arrays["genre_lists"])
        raw = np.empty((n, len(FEATURES)), dtype=np.float32)
        raw[:, : len(UNIT_FEATURES)] = arrays["unit"] / np.float32(100)
        raw[:, _TEMPO] = arrays["tempo"]
        raw[:, _LOUDNESS] = arrays["loudness"] / np.float32(10)
        raw[:, FEATURES.index("mode")] = arrays["mode"]
        catalog = cls.__new__(cls)
        try:
            catalog._setup(
                ids=arrays["id"],
                titles=Text(arrays["title"].tobytes(), n),
                artist_names=split_text(arrays["artists"]) if n else [],
                artist_index=arrays["artist"],
                featuring=Text(arrays["featuring"].tobytes(), n),
                combos=combos,
                combo_rows=arrays["genre_list"].astype(np.int32),
                families=[families[i] for i in arrays["family"]],
                languages=[languages[i] for i in arrays["language"]],
                popularity=arrays["popularity"].astype(np.float32),
                raw=raw,
                source=str(path),
            )
        except (IndexError, UnicodeDecodeError) as exc:
            raise RecommenderError(f"catalog file {path} is inconsistent ({exc})") from None
        return catalog

    def _setup(self, *, ids, titles: Text, artist_names: list[str], artist_index: np.ndarray,
               featuring: Text, combos: list[str], families, languages, popularity, raw,
               source: str, combo_rows: np.ndarray | None = None) -> None:  # fmt: skip
        """Columns -> indexed arrays. `combos` are per-row genre lists, or the distinct lists
        that `combo_rows` indexes."""
        n = len(ids)
        if not (len(titles) == len(featuring) == len(artist_index) == len(families) == n):
            raise RecommenderError(f"{source}: columns of different lengths")
        if isinstance(ids, np.ndarray):
            ok = np.char.isalnum(ids) & (np.char.str_len(ids) == 22) if n else np.ones(0, bool)
            if not ok.all():
                raise RecommenderError(f"{source}: bad track id {ids[~ok][0]!r}")
            self.ids = _readonly(ids.astype("S22"))
        else:
            bad = next((i for i in ids if not SPOTIFY_ID.match(i)), None)
            if bad is not None:
                raise RecommenderError(f"{source}: bad track id {bad!r}")
            self.ids = _readonly(np.asarray([i.encode("ascii") for i in ids], dtype="S22"))
        self._order = _readonly(np.argsort(self.ids, kind="stable").astype(np.int32))
        self._sorted = _readonly(self.ids[self._order])
        if n > 1 and np.any(self._sorted[1:] == self._sorted[:-1]):
            dup = self._sorted[1:][self._sorted[1:] == self._sorted[:-1]][0].decode()
            raise ValueError(f"duplicate track id {dup!r} in catalog")
        raw = np.asarray(raw, dtype=np.float32)
        if not np.all(np.isfinite(raw)) or not all(artist_names) or "" in titles:
            raise RecommenderError(f"{source}: a track with a missing title, artist or feature")
        self.titles = titles
        self.featuring = featuring
        self.artist_names = artist_names
        self.artist_index = _readonly(np.asarray(artist_index, dtype=np.uint32))
        # Artist codes come from the normalised name: "The Band" and "the  band" are one.
        self.artist_vocabulary: dict[str, int] = {}
        name_codes = np.fromiter(
            (self.artist_vocabulary.setdefault(normalise_key(a), len(self.artist_vocabulary))
             for a in artist_names),
            dtype=np.int32, count=len(artist_names),
        )  # fmt: skip
        self.artist_codes = _readonly(name_codes[self.artist_index])
        self.popularity = _readonly(np.asarray(popularity, dtype=np.float32) / 100.0)
        self.raw = _readonly(raw)
        self.features = _readonly(normalise_features(raw))
        self.family_codes = _readonly(self._codes(families, FAMILY_IDS, source))
        self.language_codes = _readonly(self._codes(languages, POOLS, source))
        # Genres and families share one vocabulary, so a preference like "rock", "k-pop" or
        # "tango" matches either level with one lookup. Rows point at their distinct tag list.
        if combo_rows is None:
            distinct: dict[str, int] = {}
            combo_rows = np.fromiter(
                (distinct.setdefault(c, len(distinct)) for c in combos), np.int32, n
            )
            combos = list(distinct)
        self.combo_rows = _readonly(combo_rows)
        self.genre_lists: list[str] = combos
        self.genre_vocabulary: dict[str, int] = {}
        for g in (*FAMILY_IDS, *sorted({t for c in combos for t in c.split(";") if t})):
            self.genre_vocabulary.setdefault(normalise_key(g), len(self.genre_vocabulary))
        # Genre code -> the tag lists carrying it, so a preference never scans every list.
        self._lists_with: dict[int, list[int]] = {}
        for i, c in enumerate(combos):
            for tag in {t for t in c.split(";") if t}:
                self._lists_with.setdefault(self.genre_vocabulary[normalise_key(tag)], []).append(i)

    @property
    def artists(self) -> Sequence[str]:
        """The main artist of every row."""
        return _Indexed(self.artist_names, self.artist_index)

    @staticmethod
    def _codes(values: Sequence[str], names: Sequence[str], source: str) -> np.ndarray:
        """Names -> uint8 codes (index in `names`; 255 for empty)."""
        index = {name: i for i, name in enumerate(names)} | {"": 255}
        try:
            return np.fromiter((index[v] for v in values), dtype=np.uint8, count=len(values))
        except KeyError as exc:
            raise RecommenderError(f"{source}: unknown family or language {exc}") from None

    @property
    def tracks(self) -> Sequence[Track]:
        """Every track, made on access."""
        return _Tracks(self)

    def track(self, i: int) -> Track:
        """The track in row `i`."""
        raw = self.raw[i].tolist()
        family, language = int(self.family_codes[i]), int(self.language_codes[i])
        genres = tuple(t for t in self.genre_lists[self.combo_rows[i]].split(";") if t)
        featuring = self.featuring[i]
        return Track(
            id=self.ids[i].decode(),
            title=self.titles[i],
            artist=self.artist_names[self.artist_index[i]],
            genre=FAMILY_IDS[family] if family != 255 else "",
            subgenre=genres[0] if genres else "",
            popularity=round(float(self.popularity[i]) * 100),
            **{f: round(v, 3) for f, v in zip(FEATURES[:-1], raw, strict=False)},
            mode=int(raw[-1]),
            genres=genres,
            language=POOLS[language] if language != 255 else "",
            featuring=tuple(featuring.split(";")) if featuring else (),
        )

    def rows_of(self, track_ids: Iterable[str]) -> np.ndarray:
        """Rows of the given ids that are in the catalog (unknown ids are skipped)."""
        keys = np.asarray([t.encode() for t in track_ids if len(t) == 22], dtype="S22")
        if len(keys) == 0 or len(self) == 0:
            return np.zeros(0, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self._sorted, keys), len(self) - 1)
        hit = self._sorted[pos] == keys
        return self._order[pos[hit]]

    def index_of(self, track_id: str) -> int | None:
        """Row of this track in the feature arrays, or None."""
        rows = self.rows_of([track_id])
        return int(rows[0]) if len(rows) else None

    def get(self, track_id: str) -> Track | None:
        """The track with this Spotify id, or None."""
        i = self.index_of(track_id)
        return None if i is None else self.track(i)

    def genre_mask(self, genres: Iterable[str], rows: np.ndarray | None = None) -> np.ndarray:
        """Whether each row (all, or `rows`) has one of `genres` as its family or any raw
        genre tag (case- and whitespace-insensitive)."""
        vocabulary = self.genre_vocabulary
        codes = {vocabulary[k] for k in map(normalise_key, genres) if k in vocabulary}
        lists = np.zeros(len(self.genre_lists), dtype=bool)
        for code in codes:
            lists[self._lists_with.get(code, [])] = True
        families = np.zeros(256, dtype=bool)
        families[[i for i, f in enumerate(FAMILY_IDS) if vocabulary[f] in codes]] = True
        if rows is None:
            return lists[self.combo_rows] | families[self.family_codes]
        return lists[self.combo_rows[rows]] | families[self.family_codes[rows]]

    def artist_mask(self, artists: Iterable[str], rows: np.ndarray | None = None) -> np.ndarray:
        """Whether each row's (all, or `rows`) main artist is one of `artists` (case- and
        whitespace-insensitive)."""
        vocabulary = self.artist_vocabulary
        codes = [vocabulary[k] for k in map(normalise_key, artists) if k in vocabulary]
        return np.isin(self.artist_codes if rows is None else self.artist_codes[rows], codes)

    def families(self) -> list[str]:
        """Family ids present in the catalog, in menu order (recommender.genres.FAMILIES)."""
        present = set(np.unique(self.family_codes).tolist())
        return [f for i, f in enumerate(FAMILY_IDS) if i in present]

    def genres(self) -> list[str]:
        """What a person can choose as favourite genres: the families."""
        return self.families()

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[Track]:
        return iter(self.tracks)

    def __contains__(self, track_id: object) -> bool:
        return isinstance(track_id, str) and self.index_of(track_id) is not None

    def __repr__(self) -> str:
        return f"Catalog({len(self)} tracks, {len(self.families())} families)"


@functools.lru_cache(maxsize=4)
def _load_cached(path: Path) -> Catalog:
    return Catalog.from_file(path)


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The catalog at `path` (default: the packaged file); each file is parsed once per process."""
    return _load_cached(Path(path).resolve() if path is not None else DEFAULT_PATH)
