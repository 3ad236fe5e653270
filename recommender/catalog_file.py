"""The catalog file: `recommender/data/catalog.npz`, written by build_catalog, read by Catalog.

A zip of `.npy` arrays (ARRAYS) that `numpy.load` opens: no pickles, one array per column.
Text is UTF-8 joined by newlines; repeated text (artists, families, languages, genre lists) is
stored once and indexed; audio features are small integers (percent for the 0..1 features,
bpm, tenths of a dB). Entry order, timestamps and compression level are fixed, so the same
catalog always gives the same bytes. Parsing ~100k rows of CSV took 1.5 s and 240 MB at peak;
these arrays load in a fraction of that. `python -m recommender.catalog_file` prints the
packaged catalog as CSV for reading.
"""

from __future__ import annotations

import csv
import io
import sys
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import overload

import numpy as np

from recommender.errors import RecommenderError

FORMAT_VERSION = 2
ARRAYS: tuple[str, ...] = (
    "format",  # uint8 [FORMAT_VERSION]
    "id",  # S22, one per track
    "title",  # text, one per track
    "artists",  # text: distinct main artists; "artist" indexes it
    "artist",  # uint32
    "featuring",  # text, one per track: other credited artists, ";"-separated
    "families",  # text: family names; "family" indexes it
    "family",  # uint8
    "languages",  # text: language pool names ("" first); "language" indexes it
    "language",  # uint8
    "genre_lists",  # text: distinct ";"-separated raw genre lists; "genre_list" indexes it
    "genre_list",  # uint16
    "popularity",  # uint8, 0..100
    "unit",  # uint8 (n, 6): the 0..1 features in percent, UNIT_FEATURES order
    "tempo",  # uint8 bpm
    "loudness",  # int16, tenths of a dB
    "mode",  # uint8, 0 minor / 1 major
)
UNIT_FEATURES: tuple[str, ...] = (
    "valence",
    "energy",
    "danceability",
    "acousticness",
    "instrumentalness",
    "speechiness",
)


class Text(Sequence[str]):
    """Newline-joined UTF-8 text kept as one bytes object; items decoded on access."""

    def __init__(self, blob: bytes, count: int) -> None:
        self._blob = blob
        if count == 0:
            self._starts = np.zeros(1, dtype=np.int64)
        else:
            ends = np.flatnonzero(np.frombuffer(blob, dtype=np.uint8) == 10)
            self._starts = np.concatenate(([0], ends + 1, [len(blob) + 1])).astype(np.int64)
        if len(self._starts) != count + 1:
            raise RecommenderError(f"text column has {len(self._starts) - 1} items, not {count}")

    @classmethod
    def of(cls, values: Sequence[str]) -> Text:
        if any("\n" in v for v in values):
            raise ValueError("catalog text may not contain newlines")
        return cls("\n".join(values).encode("utf-8"), len(values))

    def __len__(self) -> int:
        return len(self._starts) - 1

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i %= len(self)
        return self._blob[self._starts[i] : self._starts[i + 1] - 1].decode("utf-8")

    def __iter__(self) -> Iterator[str]:
        yield from self._blob.decode("utf-8").split("\n") if len(self) else ()


def text_array(values: Iterable[str]) -> np.ndarray:
    """Strings -> one UTF-8 byte array, newline-separated (how the file stores text)."""
    return np.frombuffer("\n".join(values).encode("utf-8"), dtype=np.uint8)


def split_text(array: np.ndarray) -> list[str]:
    """The strings of a (short) text array."""
    return array.tobytes().decode("utf-8").split("\n")


def encode(columns: dict[str, np.ndarray]) -> bytes:
    """Named arrays (ARRAYS) -> deterministic .npz bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in ARRAYS:
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            array = io.BytesIO()
            np.lib.format.write_array(
                array, np.ascontiguousarray(columns[name]), allow_pickle=False
            )
            archive.writestr(info, array.getvalue(), compresslevel=9)
    return buffer.getvalue()


def read(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a catalog file, checked for names and version."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise RecommenderError(
            f"catalog file {path} not found; build it with `python -m recommender.build_catalog`"
        ) from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise RecommenderError(f"catalog file {path} is unreadable ({exc})") from None
    if set(arrays) != set(ARRAYS) or arrays["format"].tolist() != [FORMAT_VERSION]:
        raise RecommenderError(f"catalog file {path} is not a version {FORMAT_VERSION} catalog")
    return arrays


def main(argv: list[str] | None = None) -> int:
    """Print a catalog file (default: the packaged one) as CSV."""
    from recommender.catalog import FEATURES, load_catalog

    args = sys.argv[1:] if argv is None else argv
    catalog = load_catalog(args[0] if args else None)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    names = ("id", "title", "artist", "featuring", "genre", "genres", "language", "popularity")
    writer.writerow((*names, *FEATURES))
    for t in catalog:
        row = [getattr(t, n) for n in (*names, *FEATURES)]
        writer.writerow(";".join(v) if isinstance(v, tuple) else v for v in row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
