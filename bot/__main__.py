"""`python -m bot` starts the bot, like `moodtune run`."""

from bot.cli import main

raise SystemExit(main(["run"]))
