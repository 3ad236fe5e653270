"""Offline benchmark of the recommender: `python -m recommender.bench [--users 100]`.

Prints numbers; it is not a test. Sections:

* Catalog: tracks, families, file size, load time and the process memory it adds (RSS from
  /proc, in a process that has imported numpy and nothing else heavy).
* Per target (every emotion with its default strategy, MATCH for those that default to LIFT,
  every mood): `users` simulated people each make `requests` consecutive requests of `n` songs,
  each excluding what that person was shown before (as the bot does). Reported: the mean of the
  audio features over all picks (valence, energy, danceability, acousticness,
  instrumentalness, speechiness, tempo), fam: distinct genre families per person over the
  session, top: the commonest family's share, artists: distinct main artists / picks,
  rep/ex: share of picks in requests 2..R already shown earlier (should be 0), rep/no: the same
  without exclusion (how much the randomness alone varies replies), and recommend() latency
  (wall time; the summary adds CPU time, which waiting for a busy machine's cores leaves out).
* Language pools: for each listener language and a few targets, the share of picks from the
  language's pool and the share of replies with at least one; "none" is a listener without a
  language, for scale.
* Feedback: simulated listeners who like one family and dislike a song of another in each
  reply; the share of later picks from the liked family against the same listeners giving no
  feedback (at most MAX_PER_FAMILY of n: liked families stay under the diversity cap, only
  families chosen with /genres are exempt), and disliked songs or artists coming back.
* Agreement with the human labels of data_moods.csv (Happy / Sad / Energetic / Calm), each
  label mapped before any measurement to the one target that means the same thing
  (`recommender.mood_fit.LABEL_REGIONS`). Every track is scored by each of the four targets
  exactly as the engine scores it (feature distance + mood-model term + gates; genre families
  and popularity are not known for these tracks), with a mood model fit on the other folds and
  the model weight those other folds chose by their own inner cross-validation (nested
  stratified 5-fold CV, repeated over fold shuffles; the chosen weights are printed), and
  classified to the best-scoring target. The served exercise tempo floor (90 bpm) was set from
  the full-data confusion matrix, so that figure saw its held-out labels; the fully nested
  figure also chooses the floor inside each training part (from mood_fit.TEMPO_FLOORS, with
  its weight, from the same inner folds; the floors chosen, and what the procedure chooses on
  all labels, are printed). Also shown: the served floor at the old hand-set weight, the mood
  fit without gates, the model alone, the feature distance alone, the majority label, and the
  section's time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from models.emotion import Emotion
from recommender.catalog import DEFAULT_PATH, load_catalog
from recommender.engine import Recommender
from recommender.mood_fit import (
    INNER_FOLDS,
    INNER_REPEATS,
    LABEL_REGIONS,
    TEMPO_FLOORS,
    WEIGHT_GRID,
    Choice,
    choose,
    classify,
    classify_grid,
    outer_folds,
    served_floor,
)
from recommender.mood_model import LABELS, load_model, read_labelled
from recommender.moods import NEGATIVE_EMOTIONS, Strategy, target_for
from recommender.preferences import Preferences
from recommender.track import Mood, Track

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LABELS = PROJECT_ROOT.parent / "shared" / "datasets" / "music" / "data_moods.csv"
SHOWN = ("valence", "energy", "danceability", "acousticness", "instrumentalness", "speechiness")
LANGUAGES = ("ko", "es", "ja", "pt", "zh")
CPU_MS: list[float] = []  # CPU time of every timed reply: wall time minus waiting for a core


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux), or 0 where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cases() -> list[tuple[str, dict]]:
    """(name, recommend() arguments) for every emotion, the MATCH variants and every mood."""
    out: list[tuple[str, dict[str, Any]]] = [(target_for(e).name, {"emotion": e}) for e in Emotion]
    for e in Emotion:
        if e in NEGATIVE_EMOTIONS:
            match = Preferences(strategy=Strategy.MATCH)
            out.append((target_for(e, None, Strategy.MATCH).name, {"emotion": e, "prefs": match}))
    return out + [(m.value, {"mood": m}) for m in Mood]


def session(
    rec: Recommender, args: dict, user: int, requests: int, n: int, exclude: bool = True
) -> tuple[list[list[Track]], list[float]]:
    """One person's consecutive replies, and each reply's latency in ms."""
    shown: list[str] = []
    replies, times = [], []
    for r in range(requests):
        start, cpu = time.perf_counter(), time.thread_time()
        reply = rec.recommend(**args, n=n, exclude=shown if exclude else (), seed=user * 1000 + r)
        times.append((time.perf_counter() - start) * 1000)
        CPU_MS.append((time.thread_time() - cpu) * 1000)
        shown += [t.id for t in reply]
        replies.append(reply)
    return replies, times


def repeat_rate(replies: list[list[Track]]) -> float:
    """Share of picks after the first reply that an earlier reply already had."""
    seen = {t.id for t in replies[0]}
    later = repeats = 0
    for reply in replies[1:]:
        later += len(reply)
        repeats += sum(t.id in seen for t in reply)
        seen.update(t.id for t in reply)
    return repeats / max(later, 1)


def bench_targets(rec: Recommender, users: int, requests: int, n: int) -> list[float]:
    """Print one row per target; returns every latency measured."""
    head = "".join(f"{f[:5]:>6}" for f in SHOWN)
    print(f"{'target':<20}{head}{'tempo':>6}{'fam':>5}{'top':>5}{'artists':>8}"
          f"{'rep/ex':>7}{'rep/no':>7}{'p50ms':>7}{'p95ms':>7}")  # fmt: skip
    all_times: list[float] = []
    for name, args in cases():
        picks, families, artists, rep_ex, rep_no, times = [], [], [], [], [], []
        for user in range(users):
            replies, t = session(rec, args, user, requests, n)
            times += t
            mine = [x for reply in replies for x in reply]
            picks += mine
            families.append(len({x.genre for x in mine}))
            artists.append(len({x.artist for x in mine}) / len(mine))
            rep_ex.append(repeat_rate(replies))
            rep_no.append(repeat_rate(session(rec, args, user, requests, n, exclude=False)[0]))
        means = "".join(f"{np.mean([getattr(x, f) for x in picks]):>6.2f}" for f in SHOWN)
        top = Counter(x.genre for x in picks).most_common(1)[0]
        print(
            f"{name:<20}{means}{np.mean([x.tempo for x in picks]):>6.0f}"
            f"{np.mean(families):>5.1f}{top[1] / len(picks):>5.0%}{np.mean(artists):>8.2f}"
            f"{np.mean(rep_ex):>7.1%}{np.mean(rep_no):>7.1%}"
            f"{np.percentile(times, 50):>7.2f}{np.percentile(times, 95):>7.2f}  {top[0]}"
        )
        all_times += times
    return all_times


def bench_languages(rec: Recommender, users: int, requests: int, n: int) -> None:
    """Share of picks (and of replies with at least one) from each listener's pool."""
    targets: list[tuple[str, dict[str, Any]]] = [("happy", {"emotion": Emotion.HAPPY}), ("sad/lift", {"emotion": Emotion.SAD}),
               ("relaxing", {"mood": Mood.RELAXING}), ("party", {"mood": Mood.PARTY})]  # fmt: skip
    print(f"{'language':<10}" + "".join(f"{name:>22}" for name, _ in targets))
    for language in (*LANGUAGES, None):
        cells = []
        for _, args in targets:
            pool = language or "ko"
            shares, with_pool = [], []
            for user in range(users):
                prefs = Preferences(language=language)
                for reply in session(rec, {**args, "prefs": prefs}, user, requests, n)[0]:
                    k = sum(t.language == pool for t in reply)
                    shares.append(k / len(reply))
                    with_pool.append(k > 0)
            cells.append(f"{np.mean(shares):>6.0%} picks {np.mean(with_pool):>4.0%} replies")
        label = language or "none (ko)"
        print(f"{label:<10}" + "".join(f"{c:>22}" for c in cells))


def feedback_session(
    rec: Recommender, args: dict, user: int, requests: int, n: int, react: bool
) -> tuple[list[list[Track]], str, int]:
    """A listener whose taste is the family of their first song: they 👍 every pick of it
    and 👎 the first pick of another family in each reply (if `react`), as the bot turns
    feedback into Preferences (bot/taste.py: artists by net vote, families by two votes).
    Returns the replies, the taste family and how many picks were songs or artists the
    preferences of the time disliked (an artist with as many 👍 as 👎 is not disliked)."""
    shown: list[str] = []
    votes: dict[str, tuple[Track, int]] = {}
    replies: list[list[Track]] = []
    taste, back = "", 0
    for r in range(requests):
        prefs = _feedback_prefs(args.get("prefs", Preferences()), list(votes.values()))
        reply = rec.recommend(**{**args, "prefs": prefs}, n=n, exclude=shown, seed=user * 1000 + r)
        back += sum(
            t.id in prefs.disliked_tracks or t.artist in prefs.disliked_artists for t in reply
        )
        taste = taste or reply[0].genre
        shown += [t.id for t in reply]
        replies.append(reply)
        if react:
            votes.update((t.id, (t, 1)) for t in reply if t.genre == taste)
            other = next((t for t in reply if t.genre != taste), None)
            if other is not None:
                votes[other.id] = (other, -1)
    return replies, taste, back


def _feedback_prefs(base: Preferences, votes: list[tuple[Track, int]]) -> Preferences:
    artists: Counter[str] = Counter()
    families: Counter[str] = Counter()
    for track, value in votes:
        artists[track.artist] += value
        families[track.genre] += value
    return replace(
        base,
        liked_tracks=frozenset(t.id for t, v in votes if v > 0),
        disliked_tracks=frozenset(t.id for t, v in votes if v < 0),
        liked_artists=frozenset(a for a, v in artists.items() if v > 0),
        disliked_artists=frozenset(a for a, v in artists.items() if v < 0),
        liked_genres=frozenset(f for f, v in families.items() if v >= 2),
        disliked_genres=frozenset(f for f, v in families.items() if v <= -2),
    )


def bench_feedback(rec: Recommender, users: int, requests: int, n: int) -> None:
    """How 👍/👎 move one person's later picks (replies 2..R), against the same person
    giving no feedback: share of picks from the family they like, and disliked songs or
    artists coming back (should be 0)."""
    targets: list[tuple[str, dict]] = [
        ("happy", {"emotion": Emotion.HAPPY}), ("sad/lift", {"emotion": Emotion.SAD}),
        ("relaxing", {"mood": Mood.RELAXING}), ("party", {"mood": Mood.PARTY}),
    ]  # fmt: skip
    print(f"{'target':<12}{'liked family, no feedback -> with':>36}{'disliked back':>15}")
    for name, args in targets:
        shares: dict[bool, list[float]] = {False: [], True: []}
        back = 0
        for user in range(users):
            for react in (False, True):
                replies, taste, came_back = feedback_session(rec, args, user, requests, n, react)
                later = [t for reply in replies[1:] for t in reply]
                shares[react].append(float(np.mean([t.genre == taste for t in later])))
                back += came_back
        print(
            f"{name:<12}{np.mean(shares[False]):>29.0%} -> {np.mean(shares[True]):>4.0%}{back:>15}"
        )


def agreement(labels_path: Path, repeats: int = 5) -> None:
    """Held-out agreement of the engine's scores with data_moods.csv (see module doc)."""
    started, cpu = time.perf_counter(), time.process_time()
    features, labels, _ = read_labelled(labels_path)
    nested = "engine score, tempo floor + weight chosen inside"
    views: dict[str, Any] = {
        "engine score (distance + model + gates)": lambda x, p, c: classify(x, p, c.weight),
        "  the same at the old hand-set weight 0.5": lambda x, p, c: classify(x, p, 0.5),
        nested: lambda x, p, c: classify_grid(x, p, (c.floor,), (c.floor_weight,))[0, 0],
        "mood fit (distance + model, no gates)": lambda x, p, c: classify(x, p, c.weight, False),
        "feature distance + gates (no model)": lambda x, p, c: classify(x, None, c.weight),
        "model alone": lambda x, p, c: p.argmax(axis=1),
    }
    confusion = np.zeros((len(LABELS), len(LABELS)), dtype=int)
    results: dict[str, list[float]] = {name: [] for name in views}
    chosen: list[list[Choice]] = []
    for seed in range(repeats):
        right: Counter[str] = Counter()
        chosen.append([])
        for fold in outer_folds(features, labels, folds=5, seed=seed):
            chosen[-1].append(fold.choice)
            x, probs = features[fold.held_out], fold.model.probabilities(features[fold.held_out])
            truth = labels[fold.held_out]
            for name, view in views.items():
                ours = view(x, probs, fold.choice)
                right[name] += int((ours == truth).sum())
                if seed == 0 and name.startswith("engine score ("):
                    np.add.at(confusion, (truth, ours), 1)
        for name in results:
            results[name].append(right[name] / len(labels))
    majority = np.bincount(labels).max() / len(labels)
    mapping = ", ".join(f"{lab}={LABEL_REGIONS[lab].name}" for lab in LABELS)
    served = served_floor()
    print(f"{len(labels)} labelled tracks; regions {mapping}; stratified 5-fold CV x {repeats}")
    print(
        f"  chosen inside each outer training part only (inner {INNER_FOLDS}-fold CV x "
        f"{INNER_REPEATS}): model weight by the one-SE rule from {_grid(WEIGHT_GRID)}; "
        f"exercise tempo floor from {_grid(TEMPO_FLOORS)} bpm (best inner agreement)"
    )
    print(f"    weight at the served floor ({_bpm(served)}), then floor/weight chosen together:")
    for seed, choices in enumerate(chosen):
        weights = " ".join(f"{c.weight:g}" for c in choices)
        pairs = " ".join(f"{_bpm(c.floor)}/{c.floor_weight:g}" for c in choices)
        print(f"    repeat {seed}: folds {weights:<20} | {pairs}")
    floors = Counter(_bpm(c.floor) for choices in chosen for c in choices)
    print("    floors chosen: " + ", ".join(f"{f} in {k}" for f, k in floors.most_common()))
    try:
        served_weight = f"{load_model().model_weight:g}"
    except (OSError, ValueError, KeyError):
        served_weight = "mood model unreadable"
    everything = choose(features, labels)
    print(
        f"  on all labels the same procedure chooses weight {everything.weight:g} at the served "
        f"floor (served weight {served_weight}), and floor {_bpm(everything.floor)} with weight "
        f"{everything.floor_weight:g}; the served floor is a product decision (recommender.moods)"
    )
    for name, accs in results.items():
        spread = f"{min(accs):.1%}-{max(accs):.1%}"
        print(f"  {name:<48} {np.mean(accs):>6.1%}  (repeats {spread})")
    print(f"  {'majority label':<48} {majority:>6.1%}")
    print(
        f"  the served floor ({_bpm(served)}) was set from the full-data confusion matrix, so the "
        f"first figure saw its held-out labels; the fully nested one ({np.mean(results[nested]):.1%}) "
        "chose nothing on them"
    )
    print("  engine score at the served floor, first repeat (rows: label, columns: ours):")
    print("    " + " " * 10 + "".join(f"{lab:>10}" for lab in LABELS) + "    recall")
    for i, lab in enumerate(LABELS):
        cells = "".join(f"{v:>10}" for v in confusion[i])
        print(f"    {lab:<10}{cells}    {confusion[i, i] / confusion[i].sum():>6.1%}")
    print(
        f"  agreement section: {time.perf_counter() - started:.1f} s wall, "
        f"{time.process_time() - cpu:.1f} s CPU"
    )


def _bpm(floor: float | None) -> str:
    return "none" if floor is None else f"{floor:g}"


def _grid(values: tuple[float | None, ...]) -> str:
    return ", ".join(_bpm(v) for v in values)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("-n", type=int, default=5)
    parser.add_argument(
        "--catalog", type=Path, default=None, help="catalog file (default: packaged)"
    )
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS, help="data_moods.csv")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    before = rss_mb()
    catalog = load_catalog(args.catalog)
    rec = Recommender(catalog)
    loaded = time.perf_counter() - started
    after = rss_mb()
    path = args.catalog or DEFAULT_PATH
    print(
        f"catalog: {len(catalog)} tracks, {len(catalog.families())} families, "
        f"{path.stat().st_size / 2**20:.1f} MiB file; catalog + mood model loaded in "
        f"{loaded:.2f} s, process memory {before:.0f} -> {after:.0f} MiB "
        f"(+{after - before:.0f} MiB)"
    )
    print(f"\n{args.users} users x {args.requests} requests x {args.n} songs per target")
    times = bench_targets(rec, args.users, args.requests, args.n)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"latency over all {len(times)} replies: p50 {np.percentile(times, 50):.2f} ms, "
        f"p95 {np.percentile(times, 95):.2f} ms, p99 {np.percentile(times, 99):.2f} ms "
        f"(CPU time p50 {np.percentile(CPU_MS, 50):.2f}, p95 {np.percentile(CPU_MS, 95):.2f} ms; "
        f"load average {load:.1f} on {os.cpu_count()} cores); "
        f"memory now {rss_mb():.0f} MiB (target caches filled)"
    )
    print(f"\nlanguage pools ({args.users // 4 or 1} users x {args.requests} requests)")
    bench_languages(rec, args.users // 4 or 1, args.requests, args.n)
    print(f"\nfeedback ({args.users // 4 or 1} users x {args.requests} requests)")
    bench_feedback(rec, args.users // 4 or 1, args.requests, args.n)
    print()
    if args.labels.is_file():
        agreement(args.labels)
    else:
        print(f"labels file {args.labels} not found; skipping agreement")
    print(f"\nbench took {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
