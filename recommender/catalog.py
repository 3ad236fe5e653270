"""The embedded song catalog: loaded once, kept as Track objects plus numpy arrays for scoring.

The file is built offline by `python -m recommender.build_catalog` (see that module for the
cleaning rules) and shipped inside the package as `recommender/data/catalog.csv.gz`.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from models.errors import RecommenderError
from recommender.track import SPOTIFY_ID, Track

DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "catalog.csv.gz"

# Column order of the catalog file; also the order build_catalog writes.
COLUMNS: tuple[str, ...] = (
    "id",
    "title",
    "artist",
    "genre",
    "subgenre",
    "popularity",
    "valence",
    "energy",
    "danceability",
    "acousticness",
    "instrumentalness",
    "speechiness",
    "tempo",
)

# The audio features we rank on, in the column order of `Catalog.features`.
FEATURES: tuple[str, ...] = (
    "valence",
    "energy",
    "danceability",
    "acousticness",
    "instrumentalness",
    "speechiness",
    "tempo",
)

# Tempo is the only feature not already on a 0..1 scale; map 50..200 bpm onto 0..1 so that a
# 30 bpm miss weighs like a 0.2 miss on valence. Almost every song in the data lies in 60..210.
TEMPO_MIN = 50.0
TEMPO_SPAN = 150.0


def normalise_tempo(bpm: float | np.ndarray) -> float | np.ndarray:
    """Beats per minute -> the 0..1 scale the ranking uses (clipped)."""
    return np.clip((np.asarray(bpm, dtype=float) - TEMPO_MIN) / TEMPO_SPAN, 0.0, 1.0)


def normalise_key(text: str) -> str:
    """Case- and whitespace-insensitive key for artists, genres and titles."""
    return " ".join(text.casefold().split())


def feature_matrix(tracks: Iterable[Track]) -> np.ndarray:
    """Tracks -> float array of shape (n, len(FEATURES)), every column on a 0..1 scale."""
    rows = [[getattr(t, name) for name in FEATURES] for t in tracks]
    matrix = np.asarray(rows, dtype=float).reshape(len(rows), len(FEATURES))
    tempo = FEATURES.index("tempo")
    matrix[:, tempo] = normalise_tempo(matrix[:, tempo])
    return matrix


def _codes(keys: Iterable[str], vocabulary: dict[str, int]) -> np.ndarray:
    """Map keys to small ints, growing `vocabulary`; int arrays make np.isin fast."""
    return np.fromiter((vocabulary.setdefault(k, len(vocabulary)) for k in keys), dtype=np.int32)


def _readonly(array: np.ndarray) -> np.ndarray:
    # The catalog is shared by every request; nobody may scribble on its arrays.
    array.flags.writeable = False
    return array


class Catalog:
    """An immutable, indexed set of tracks with vectorised features."""

    def __init__(self, tracks: Iterable[Track]) -> None:
        self.tracks: tuple[Track, ...] = tuple(tracks)
        self._index: dict[str, int] = {}
        for i, track in enumerate(self.tracks):
            if track.id in self._index:
                raise ValueError(f"duplicate track id {track.id!r} in catalog")
            self._index[track.id] = i
        self.features = _readonly(feature_matrix(self.tracks))
        self.popularity = _readonly(
            np.fromiter((t.popularity for t in self.tracks), dtype=float, count=len(self.tracks))
            / 100.0
        )
        self.artist_vocabulary: dict[str, int] = {}
        self.artist_codes = _readonly(
            _codes((normalise_key(t.artist) for t in self.tracks), self.artist_vocabulary)
        )
        # Genres and subgenres share one vocabulary so a preference like "pop" or "trap" can
        # be matched against either level with a single lookup.
        self.genre_vocabulary: dict[str, int] = {}
        self.genre_codes = _readonly(
            _codes((normalise_key(t.genre) for t in self.tracks), self.genre_vocabulary)
        )
        self.subgenre_codes = _readonly(
            _codes((normalise_key(t.subgenre) for t in self.tracks), self.genre_vocabulary)
        )

    @classmethod
    def from_csv(cls, path: str | Path) -> Catalog:
        """Read a catalog file as written by build_catalog (gzip or plain CSV)."""
        path = Path(path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise RecommenderError(
                f"catalog file {path} not found; build it with `python -m recommender.build_catalog`"
            ) from None
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        reader = csv.reader(io.StringIO(raw.decode("utf-8"), newline=""))
        header = tuple(next(reader, ()))
        if header != COLUMNS:
            raise RecommenderError(f"catalog file {path} has unexpected columns {header}")
        return cls(_parse_row(row, path, line) for line, row in enumerate(reader, start=2))

    def get(self, track_id: str) -> Track | None:
        """The track with this Spotify id, or None."""
        i = self._index.get(track_id)
        return None if i is None else self.tracks[i]

    def index_of(self, track_id: str) -> int | None:
        """Row of this track in the feature arrays, or None."""
        return self._index.get(track_id)

    def genres(self) -> list[str]:
        """Sorted distinct top-level genres."""
        return sorted({t.genre for t in self.tracks if t.genre})

    def subgenres(self) -> list[str]:
        """Sorted distinct subgenres."""
        return sorted({t.subgenre for t in self.tracks if t.subgenre})

    def __len__(self) -> int:
        return len(self.tracks)

    def __iter__(self) -> Iterator[Track]:
        return iter(self.tracks)

    def __contains__(self, track_id: object) -> bool:
        return track_id in self._index

    def __repr__(self) -> str:
        return f"Catalog({len(self)} tracks, {len(self.genres())} genres)"


def _parse_row(row: list[str], path: Path, line: int) -> Track:
    try:
        (tid, title, artist, genre, subgenre, popularity, *features) = row
        if not SPOTIFY_ID.match(tid):
            raise ValueError(f"bad track id {tid!r}")
        valence, energy, dance, acoustic, instrumental, speech, tempo = map(float, features)
        return Track(
            id=tid,
            title=title,
            artist=artist,
            genre=genre,
            subgenre=subgenre,
            popularity=int(popularity),
            valence=valence,
            energy=energy,
            danceability=dance,
            acousticness=acoustic,
            instrumentalness=instrumental,
            speechiness=speech,
            tempo=tempo,
        )
    except ValueError as exc:
        raise RecommenderError(f"{path}:{line}: malformed catalog row ({exc})") from None


@functools.lru_cache(maxsize=4)
def _load_cached(path: Path) -> Catalog:
    return Catalog.from_csv(path)


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The catalog at `path` (default: the packaged file); each file is parsed once per process."""
    return _load_cached(Path(path).resolve() if path is not None else DEFAULT_PATH)
