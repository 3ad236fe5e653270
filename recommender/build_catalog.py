"""Build the embedded catalog from the Spotify songs dataset.

    python -m recommender.build_catalog [--source CSV] [--out recommender/data/catalog.csv.gz]

Cleaning rules, applied in this order (each dropped row is counted under one reason):

1. `invalid_id`: the track id is not a 22-character base62 Spotify id.
2. `missing_title_artist`: title or artist is empty (or R's `NA` marker, which the source uses).
3. `missing_features`: a feature is empty or not a number, a 0..1 feature is outside 0..1,
   popularity is outside 0..100, or tempo is not positive (tempo 0 marks a failed analysis).
4. `duplicate_id`: the same track appears in several playlists. We keep one row (the most
   popular; the rows are identical in practice) and take its genre from the playlists the track
   appears in: the most common genre, ties going to the first playlist in the file; the subgenre
   likewise among that genre's rows.
5. `duplicate_title_artist`: the same song under another id (single vs album vs compilation),
   compared case- and whitespace-insensitively. We keep the most popular id, ties going to the
   row seen first.

Floats are rounded to 3 decimals, rows sorted by id, and the gzip header carries no name or
timestamp, so rebuilding from the same source gives a byte-identical file.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import math
import os
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from recommender.catalog import COLUMNS, DEFAULT_PATH, normalise_key
from recommender.track import SPOTIFY_ID

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = PROJECT_ROOT.parent / "shared" / "datasets" / "music" / "spotify_songs.csv"

# Features that Spotify reports on a 0..1 scale (tempo is in bpm and checked separately).
UNIT_FEATURES = (
    "valence",
    "energy",
    "danceability",
    "acousticness",
    "instrumentalness",
    "speechiness",
)
DROP_REASONS = (
    "invalid_id",
    "missing_title_artist",
    "missing_features",
    "duplicate_id",
    "duplicate_title_artist",
)
_MISSING = {"", "NA", "NaN", "nan", "null", "None"}


@dataclass
class BuildReport:
    """What a build read, dropped (per reason) and wrote."""

    rows_read: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    written: int = 0
    out: Path | None = None
    bytes_written: int = 0

    def lines(self) -> list[str]:
        """Human-readable summary, one fact per line."""
        out = [f"rows read:                 {self.rows_read:>6}"]
        out += [f"dropped {reason + ':':<26}{self.dropped[reason]:>6}" for reason in DROP_REASONS]
        out.append(f"written:                   {self.written:>6}")
        if self.out is not None:
            out.append(f"file: {self.out} ({self.bytes_written / 1024:.0f} KiB)")
        return out


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return None if value in _MISSING else value


def _number(value: str | None, low: float, high: float) -> float | None:
    text = _text(value)
    if text is None:
        return None
    try:
        x = float(text)
    except ValueError:
        return None
    return x if math.isfinite(x) and low <= x <= high else None


def _fmt(x: float) -> str:
    """Round to 3 decimals without trailing zeros: keeps the file small and stable."""
    s = f"{x:.3f}".rstrip("0").rstrip(".")
    return "0" if s in ("", "-0") else s


def _clean(row: dict[str, str], report: BuildReport) -> dict[str, object] | None:
    """One source row -> catalog record, or None (counted in the report) if unusable."""
    tid = (row.get("track_id") or "").strip()
    if not SPOTIFY_ID.match(tid):
        report.dropped["invalid_id"] += 1
        return None
    title, artist = _text(row.get("track_name")), _text(row.get("track_artist"))
    if title is None or artist is None:
        report.dropped["missing_title_artist"] += 1
        return None
    values = {name: _number(row.get(name), 0.0, 1.0) for name in UNIT_FEATURES}
    tempo = _number(row.get("tempo"), 0.0, 400.0)
    popularity = _number(row.get("track_popularity"), 0.0, 100.0)
    if any(v is None for v in values.values()) or not tempo or popularity is None:
        report.dropped["missing_features"] += 1
        return None
    return {
        "id": tid,
        "title": title,
        "artist": artist,
        "genre": _text(row.get("playlist_genre")) or "",
        "subgenre": _text(row.get("playlist_subgenre")) or "",
        "popularity": int(round(popularity)),
        **{name: round(v, 3) for name, v in values.items()},
        "tempo": round(tempo, 3),
    }


def _most_common_first(values: list[str]) -> str:
    """Most common value; ties go to the one seen first (Counter keeps insertion order)."""
    counts = Counter(v for v in values if v)
    return max(counts, key=counts.__getitem__) if counts else ""


def clean_records(rows: list[dict[str, str]], report: BuildReport) -> list[dict[str, object]]:
    """Validate and dedupe source rows; returns catalog records sorted by id."""
    by_id: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        report.rows_read += 1
        record = _clean(row, report)
        if record is not None:
            by_id.setdefault(str(record["id"]), []).append(record)

    unique: list[dict[str, object]] = []
    for group in by_id.values():
        report.dropped["duplicate_id"] += len(group) - 1
        # max() returns the first of equals, so ties keep the first playlist's row.
        best = dict(max(group, key=lambda r: r["popularity"]))
        genre = _most_common_first([str(r["genre"]) for r in group])
        best["genre"] = genre
        best["subgenre"] = _most_common_first(
            [str(r["subgenre"]) for r in group if r["genre"] == genre]
        )
        unique.append(best)

    # by_id preserves first-seen order, so "first seen" below means first in the source file.
    by_song: dict[tuple[str, str], dict[str, object]] = {}
    for record in unique:
        key = (normalise_key(str(record["title"])), normalise_key(str(record["artist"])))
        kept = by_song.get(key)
        if kept is None:
            by_song[key] = record
        else:
            report.dropped["duplicate_title_artist"] += 1
            if record["popularity"] > kept["popularity"]:  # type: ignore[operator]
                by_song[key] = record

    records = sorted(by_song.values(), key=lambda r: str(r["id"]))
    report.written = len(records)
    return records


def encode(records: list[dict[str, object]]) -> bytes:
    """Catalog records -> deterministic gzip CSV bytes (no name, mtime 0)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in records:
        writer.writerow([_fmt(v) if isinstance(v, float) else v for v in (r[c] for c in COLUMNS)])
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(text.getvalue().encode("utf-8"))
    return buffer.getvalue()


def build_catalog(
    source: str | Path = DEFAULT_SOURCE, out: str | Path = DEFAULT_PATH
) -> BuildReport:
    """Read `source` (spotify_songs.csv layout), clean it and write the catalog to `out`."""
    source, out = Path(source), Path(out)
    report = BuildReport()
    with source.open(newline="", encoding="utf-8") as f:
        records = clean_records(list(csv.DictReader(f)), report)
    data = encode(records)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Write to a temp file and rename so a running bot never sees a half-written catalog.
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=out.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    report.out, report.bytes_written = out, len(data)
    return report


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="spotify_songs.csv")
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH, help="catalog .csv.gz to write")
    args = parser.parse_args(argv)
    if not args.source.is_file():
        print(f"source {args.source} not found", file=sys.stderr)
        return 2
    report = build_catalog(args.source, args.out)
    print("\n".join(report.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
