"""Build the embedded catalog from both Spotify datasets, and the mood model from data_moods.csv.

    python -m recommender.build_catalog [--songs CSV] [--tracks CSV] [--moods CSV] [--out NPZ]

Sources, in `../shared/datasets/music/`: `spotify_songs.csv` (TidyTuesday 2020-01-21: 6 playlist
genres, 24 subgenres) and `spotify_tracks_114k.csv` (the "Spotify Tracks Dataset": 114 search
buckets of 1,000 rows). Rules, in this order; every row or track dropped counts under one reason:

1. `invalid_id`: the track id is not a 22-character base62 Spotify id.
2. `missing_title_artist`: title or artist is empty (or R's `NA` marker).
3. `missing_features`: a feature is empty or not a number, a 0..1 feature is outside 0..1,
   popularity is outside 0..100, mode is not 0/1, or tempo is not positive (tempo 0 marks a
   failed analysis).
4. `duplicate_id`: the same id in several rows (playlists, buckets, or both files) is one track.
   It keeps every genre tag of every row and the features and names of its most popular row
   (ties: the row seen first, `spotify_songs.csv` first).
5. Not music for this product (`recommender.genres.not_music`): `non_music_genre` (comedy,
   children, kids), `spoken_word`, `children_name`, `noise` (including the other tracks of an
   artist whose tracks are mostly noise).
6. `duplicate_title_artist`: the same song under another id (single, album, compilation),
   compared by case- and whitespace-insensitive title and main artist. The most popular id stays
   (ties: seen first) and takes the other ids' genre tags.

Then each track gets its language pool and family (`recommender.genres`: pools confirmed per
artist, families by a vote of the track's tags). Unit features are rounded to 2 decimals, tempo
to 1 bpm, loudness to 0.1 dB; rows are sorted by artist, title and id; the archive has fixed
entry order and timestamps (`catalog_file.encode`); so rebuilding from the same sources gives
byte-identical files.

The mood model (`recommender.mood_model`) is fit on all of `data_moods.csv` and written beside
the catalog with its cross-validated accuracy and the weight the engine gives it, chosen by
cross-validation on the same labels (`recommender.mood_fit`).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recommender import genres as G
from recommender import mood_fit, mood_model
from recommender.catalog import DEFAULT_PATH, normalise_key
from recommender.catalog_file import FORMAT_VERSION, UNIT_FEATURES, encode, text_array
from recommender.track import SPOTIFY_ID

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared" / "datasets" / "music"
DEFAULT_SONGS = SHARED / "spotify_songs.csv"
DEFAULT_TRACKS = SHARED / "spotify_tracks_114k.csv"
DEFAULT_MOODS = SHARED / "data_moods.csv"

DROP_REASONS = (
    "invalid_id",
    "missing_title_artist",
    "missing_features",
    "duplicate_id",
    "non_music_genre",
    "spoken_word",
    "children_name",
    "noise",
    "duplicate_title_artist",
)
_MISSING = {"", "NA", "NaN", "nan", "null", "None"}
# Column names per source layout: (title, artists, album, popularity, genre columns).
_LAYOUTS = {
    "songs": ("track_name", "track_artist", "track_album_name", "track_popularity",
              ("playlist_genre", "playlist_subgenre")),
    "tracks": ("track_name", "artists", "album_name", "popularity", ("track_genre",)),
}  # fmt: skip


@dataclass
class BuildReport:
    """What a build read, dropped (per reason) and wrote."""

    rows_read: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    written: int = 0
    families: Counter[str] = field(default_factory=Counter)
    pools: Counter[str] = field(default_factory=Counter)
    out: Path | None = None
    bytes_written: int = 0
    model_cv: list[float] = field(default_factory=list)
    labelled: int = 0
    model_weight: float | None = None

    def lines(self) -> list[str]:
        """Human-readable summary, one fact per line."""
        out = [f"rows read from {name}: {n:>7}" for name, n in sorted(self.rows_read.items())]
        out += [f"dropped {reason + ':':<24}{self.dropped[reason]:>7}" for reason in DROP_REASONS]
        out.append(f"written:                        {self.written:>7}")
        out.append("families: " + ", ".join(f"{f} {n}" for f, n in self.families.most_common()))
        out.append("language pools: " + ", ".join(f"{p} {n}" for p, n in self.pools.most_common()))
        if self.out is not None:
            out.append(f"file: {self.out} ({self.bytes_written / 1024:.0f} KiB)")
        if self.model_cv:
            cv = ", ".join(f"{a:.1%}" for a in self.model_cv)
            out.append(
                f"mood model: {self.labelled} labelled tracks, held-out accuracy "
                f"{np.mean(self.model_cv):.1%} (5-fold CV x {len(self.model_cv)}: {cv})"
            )
        if self.model_weight is not None:
            out.append(f"model weight in the engine's score: {self.model_weight:g} (inner CV)")
        return out


@dataclass
class _Track:
    """A track while it is being built: merged rows, every tag, the text the rules read."""

    id: str
    title: str
    artists: list[str]
    popularity: int
    features: dict[str, float]
    tags: list[str]
    albums: set[str] = field(default_factory=set)
    language: str = ""
    family: str = ""


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


def _clean(row: dict[str, str], layout: str, report: BuildReport) -> _Track | None:
    """One source row -> a track, or None (counted in the report) if unusable."""
    title_col, artist_col, album_col, pop_col, genre_cols = _LAYOUTS[layout]
    tid = (row.get("track_id") or "").strip()
    if not SPOTIFY_ID.match(tid):
        report.dropped["invalid_id"] += 1
        return None
    title, artist_text = _text(row.get(title_col)), _text(row.get(artist_col))
    artists = [a.strip() for a in (artist_text or "").split(";") if a.strip()]
    if title is None or not artists:
        report.dropped["missing_title_artist"] += 1
        return None
    values = {name: _number(row.get(name), 0.0, 1.0) for name in UNIT_FEATURES}
    values["tempo"] = _number(row.get("tempo"), 0.0, 400.0)
    values["loudness"] = _number(row.get("loudness"), -80.0, 10.0)
    values["mode"] = _number(row.get("mode"), 0.0, 1.0)
    popularity = _number(row.get(pop_col), 0.0, 100.0)
    if any(v is None for v in values.values()) or not values["tempo"] or popularity is None:
        report.dropped["missing_features"] += 1
        return None
    if values["mode"] not in (0.0, 1.0):
        report.dropped["missing_features"] += 1
        return None
    album = _text(row.get(album_col)) or ""
    tags = [t.lower() for c in genre_cols if (t := _text(row.get(c)))]
    features = {k: float(v) for k, v in values.items() if v is not None}
    return _Track(tid, title, artists, round(popularity), features, tags, {album})


def _merge(kept: _Track, other: _Track) -> None:
    """Fold `other` (same id or same song) into `kept`: tags and albums always, the rest if
    `other` is strictly more popular."""
    kept.tags += [t for t in other.tags if t not in kept.tags]
    kept.albums |= other.albums
    if other.popularity > kept.popularity:
        kept.title, kept.artists = other.title, other.artists
        kept.popularity, kept.features = other.popularity, other.features


def clean_tracks(
    sources: list[tuple[str, list[dict[str, str]]]], report: BuildReport
) -> list[_Track]:
    """Validate, merge, filter and dedupe source rows (rules 1-6 of the module doc)."""
    by_id: dict[str, _Track] = {}
    for layout, rows in sources:
        for row in rows:
            report.rows_read[layout] += 1
            track = _clean(row, layout, report)
            if track is None:
                continue
            if track.id in by_id:
                report.dropped["duplicate_id"] += 1
                _merge(by_id[track.id], track)
            else:
                by_id[track.id] = track

    reasons: dict[str, str | None] = {}
    for track in by_id.values():
        f = track.features
        reasons[track.id] = G.not_music(
            track.tags, track.title, ";".join(track.artists), " | ".join(sorted(track.albums)),
            f["valence"], f["danceability"], f["speechiness"],
        )  # fmt: skip
    # Sound-effect artists give some tracks bland names: at least half noise means all noise.
    noise = Counter(t.artists[0] for t in by_id.values() if reasons[t.id] == "noise")
    total = Counter(t.artists[0] for t in by_id.values())
    for track in by_id.values():
        artist = track.artists[0]
        if not reasons[track.id] and noise[artist] >= 2 and 2 * noise[artist] >= total[artist]:
            reasons[track.id] = "noise"

    by_song: dict[tuple[str, str], _Track] = {}
    for track in by_id.values():  # first-seen order
        reason = reasons[track.id]
        if reason:
            report.dropped[reason] += 1
            continue
        key = (normalise_key(track.title), normalise_key(track.artists[0]))
        if key in by_song:
            report.dropped["duplicate_title_artist"] += 1
            kept = by_song[key]
            # Same song, other id: the more popular id wins, and either way keeps all tags.
            winner, loser = (track, kept) if track.popularity > kept.popularity else (kept, track)
            winner.tags += [t for t in loser.tags if t not in winner.tags]
            winner.albums |= loser.albums
            by_song[key] = winner
        else:
            by_song[key] = track
    return list(by_song.values())


def assign_pools_and_families(tracks: list[_Track]) -> None:
    """Language pool and family for every track (see recommender.genres)."""
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    japanese: set[str] = set()
    for t in tracks:
        script = G.JAPANESE_SCRIPT.search(" ".join([t.title, *t.artists, *t.albums]))
        for artist in t.artists:
            for tag in t.tags:
                votes[artist][G.POOL_OF_GENRE.get(tag, "")] += 1
            if script:
                japanese.add(artist)

    def home(artist: str) -> str:
        pools = Counter({p: n for p, n in votes[artist].items() if p})
        if not pools:
            return ""
        pool, n = pools.most_common(1)[0]
        if n < G.POOL_MAJORITY * pools.total() or n < votes[artist][""]:
            return ""
        return "" if pool == "ja" and artist not in japanese else pool

    homes = {a: home(a) for a in votes}
    for t in tracks:
        main = homes[t.artists[0]]
        others = {homes[a] for a in t.artists[1:]} - {"", main}
        t.language = main if main and not others else ""
        usable = [tag for tag in t.tags if G.POOL_OF_GENRE.get(tag, t.language) == t.language]
        t.family = G.FAMILY_OF_POOL.get(t.language) or G.family_of(usable)

    # Tracks whose only tags named an unconfirmed pool take their main artist's usual family.
    by_artist: dict[str, Counter[str]] = defaultdict(Counter)
    for t in tracks:
        if t.family:
            by_artist[t.artists[0]][t.family] += 1
    for t in tracks:
        if not t.family:
            usual = by_artist[t.artists[0]].most_common(1)
            t.family = usual[0][0] if usual else "world"


def _clean_text(text: str) -> str:
    # The file joins text with newlines, and ";" separates artists and tags.
    return " ".join(text.split())


def columns(tracks: list[_Track]) -> dict[str, np.ndarray]:
    """Tracks -> the catalog file's arrays (catalog_file.ARRAYS), sorted by artist, title, id."""
    order = sorted(
        tracks, key=lambda t: (normalise_key(t.artists[0]), normalise_key(t.title), t.id)
    )

    def main(t: _Track) -> str:
        return _clean_text(t.artists[0]).replace(";", ",")

    artists = sorted({main(t) for t in order})
    artist_index = {a: i for i, a in enumerate(artists)}
    families = sorted({t.family for t in order})
    languages = ["", *sorted({t.language for t in order} - {""})]
    lists: list[str] = []
    for t in order:
        # The tag that decided the family goes first (it is the track's `subgenre`).
        first = next((g for g in sorted(t.tags) if G.FAMILY_OF_GENRE.get(g) == t.family), None)
        lists.append(";".join(([first] if first else []) + sorted(g for g in t.tags if g != first)))
    distinct = sorted(set(lists))
    if len(distinct) > np.iinfo(np.uint16).max:
        raise ValueError(f"{len(distinct)} distinct genre lists do not fit the file's uint16")
    index = {c: i for i, c in enumerate(distinct)}

    def feature(name: str) -> list[float]:
        return [t.features[name] for t in order]

    return {
        "format": np.asarray([FORMAT_VERSION], dtype=np.uint8),
        "id": np.asarray([t.id.encode("ascii") for t in order], dtype="S22"),
        "title": text_array(_clean_text(t.title) for t in order),
        "artists": text_array(artists),
        "artist": np.asarray([artist_index[main(t)] for t in order], dtype=np.uint32),
        "featuring": text_array(
            ";".join(_clean_text(a).replace(";", ",") for a in t.artists[1:]) for t in order
        ),
        "families": text_array(families),
        "family": np.asarray([families.index(t.family) for t in order], dtype=np.uint8),
        "languages": text_array(languages),
        "language": np.asarray([languages.index(t.language) for t in order], dtype=np.uint8),
        "genre_lists": text_array(distinct),
        "genre_list": np.asarray([index[c] for c in lists], dtype=np.uint16),
        "popularity": np.asarray([t.popularity for t in order], dtype=np.uint8),
        "unit": np.rint(np.asarray([feature(f) for f in UNIT_FEATURES]).T * 100).astype(np.uint8),
        "tempo": np.clip(np.rint(feature("tempo")), 1, 255).astype(np.uint8),
        "loudness": np.rint(np.asarray(feature("loudness")) * 10).astype(np.int16),
        "mode": np.asarray(feature("mode"), dtype=np.uint8),
    }


def _write_atomic(out: Path, data: bytes) -> None:
    """Write to a temp file and rename so a running bot never sees a half-written file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=out.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def build_catalog(
    songs: str | Path = DEFAULT_SONGS,
    tracks: str | Path = DEFAULT_TRACKS,
    moods: str | Path = DEFAULT_MOODS,
    out: str | Path = DEFAULT_PATH,
    model_out: str | Path | None = None,
) -> BuildReport:
    """Read both track sources, clean them and write the catalog to `out`; fit the mood model
    on `moods` and write it to `model_out` (default: mood_model.json beside `out`)."""
    out = Path(out)
    model_out = Path(model_out) if model_out else out.with_name("mood_model.json")
    report = BuildReport()
    built = clean_tracks([("songs", _read(Path(songs))), ("tracks", _read(Path(tracks)))], report)
    assign_pools_and_families(built)
    report.written = len(built)
    report.families = Counter(t.family for t in built)
    report.pools = Counter(t.language for t in built if t.language)
    data = encode(columns(built))
    _write_atomic(out, data)
    report.out, report.bytes_written = out, len(data)

    features, labels, _ = mood_model.read_labelled(moods)
    report.labelled = len(labels)
    report.model_cv = mood_model.cross_validate(features, labels)
    report.model_weight = mood_fit.choose_weight(features, labels)
    model = mood_model.fit(features, labels)
    model = mood_model.MoodModel(
        **{
            **vars(model),
            "cv_accuracy": float(np.mean(report.model_cv)),
            "model_weight": report.model_weight,
        }
    )
    _write_atomic(model_out, model.to_json().encode("utf-8"))
    return report


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=Path, default=DEFAULT_SONGS, help="spotify_songs.csv")
    parser.add_argument("--tracks", type=Path, default=DEFAULT_TRACKS, help="114k tracks CSV")
    parser.add_argument("--moods", type=Path, default=DEFAULT_MOODS, help="data_moods.csv")
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH, help="catalog .npz to write")
    args = parser.parse_args(argv)
    for source in (args.songs, args.tracks, args.moods):
        if not source.is_file():
            print(f"source {source} not found", file=sys.stderr)
            return 2
    report = build_catalog(args.songs, args.tracks, args.moods, args.out)
    print("\n".join(report.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
