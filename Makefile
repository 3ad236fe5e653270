# Quick start:  make run   (set up, then start the bot)    make test   (set up, then run the tests)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup run test lint format catalog bench messages translations
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: setup
	$(BIN)/moodtune run

# The storage tests also run on PostgreSQL (a throwaway server, tests/postgres.py): its binaries
# are installed when missing and we are root (CI), and once they are here no test may skip them.
test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m tests.postgres install
	MOODTUNE_REQUIRE_POSTGRES=$$($(BIN)/python -m tests.postgres found) $(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

format: setup
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

catalog: setup
	$(BIN)/python -m recommender.build_catalog

# Translations (bot/locale, gettext catalogs managed with Babel; README "Adding a language").
# `make messages`: extract the texts from bot/ into messages.pot and merge them into each .po;
# translate the new or fuzzy entries; `make translations` compiles the .mo files, which are
# committed, so a fresh checkout needs no step of its own.
LOCALES := bot/locale
messages: setup
	$(BIN)/pybabel extract --mapping-file babel.cfg --no-location --sort-output \
		--project MoodTune --copyright-holder "MoodTune" \
		--width 100 --output-file $(LOCALES)/messages.pot bot
	$(BIN)/pybabel update --input-file $(LOCALES)/messages.pot --output-dir $(LOCALES) \
		--width 100 --no-fuzzy-matching --ignore-obsolete

translations: setup
	$(BIN)/pybabel compile --directory $(LOCALES) --statistics
