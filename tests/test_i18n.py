"""The catalogs: complete, current and consistent; choosing a language; plurals and dates."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot import i18n, notices, replies
from bot.history import short_date
from bot.vocabulary import adjective, mood_label
from models.emotion import Emotion
from recommender.track import Mood

LOCALES = Path(i18n.__file__).with_name("locale")
TRANSLATED = [lang for lang in i18n.LANGUAGES if lang != "en"]
PLACEHOLDER = re.compile(r"\{(\w*)\}")  # str.format fields: {count}, {emotion}, ...
# HTML tags a translation must keep (Telegram refuses a message whose tags don't balance).
TAG = re.compile(r"</?(?:b|i|code)>")


def catalog(lang: str):
    with (LOCALES / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=lang)


def template():
    with (LOCALES / "messages.pot").open("rb") as f:
        return read_po(f)


def _ids(message) -> tuple[str, ...]:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def _strings(message) -> tuple[str, ...]:
    return message.string if isinstance(message.string, tuple) else (message.string,)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_message_is_translated_and_none_is_fuzzy(lang):
    cat = catalog(lang)
    wanted = {(m.context, m.id) for m in template() if m.id}
    have = {(m.context, m.id): m for m in cat if m.id}
    assert wanted - set(have) == set(), f"{lang}: run `make messages` and translate"
    assert not cat.fuzzy
    for key in wanted:
        m = have[key]
        assert not m.fuzzy, f"{lang}: fuzzy {m.id!r}"
        assert all(s.strip() for s in _strings(m)), f"{lang}: untranslated {m.id!r}"
        assert len(_strings(m)) == cat.num_plurals if m.pluralizable else 1


@pytest.mark.parametrize("lang", TRANSLATED)
def test_placeholders_and_tags_match_the_english(lang):
    for m in catalog(lang):
        if not m.id:
            continue
        english = set().union(*(PLACEHOLDER.findall(i) for i in _ids(m)))
        forms = [set(PLACEHOLDER.findall(s)) for s in _strings(m)]
        # Each form uses only the English fields, and together they use all of them ("a day"
        # may say "un día" for one, where "{count} days" needs the number).
        assert all(f <= english for f in forms), f"{lang}: {m.id!r}"
        assert set().union(*forms) == english, f"{lang}: {m.id!r}"
        tags = sorted(TAG.findall(_ids(m)[-1]))
        assert all(sorted(TAG.findall(s)) == tags for s in _strings(m)), f"{lang}: {m.id!r}"


def test_the_template_is_current(tmp_path):
    """Every text in bot/ is in messages.pot: `make messages` was run after the last edit."""
    pot = tmp_path / "now.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "--mapping-file",
         "babel.cfg", "--no-location", "--output-file", str(pot), "bot"],
        check=True, capture_output=True, cwd=LOCALES.parents[1],
    )  # fmt: skip
    with pot.open("rb") as f:
        now = {(m.context, m.id) for m in read_po(f) if m.id}
    assert now == {(m.context, m.id) for m in template() if m.id}


@pytest.mark.parametrize("lang", TRANSLATED)
def test_compiled_catalogs_match_the_sources(lang):
    """The committed .mo files are compiled from the current .po files (`make translations`)."""
    compiled = i18n.translations(lang)
    for m in catalog(lang):
        if not m.id:
            continue
        if m.pluralizable:
            assert compiled.ngettext(m.id[0], m.id[1], 1) == m.string[0]
        elif m.context:
            assert compiled.pgettext(m.context, m.id) == m.string
        else:
            assert compiled.gettext(m.id) == m.string, m.id


@pytest.mark.parametrize(
    ("code", "lang"),
    [("ko", "ko"), ("ko-KR", "ko"), ("es", "es"), ("es-419", "es"), ("es-MX", "es"),
     ("ES_es", "es"), ("en", "en"), ("en-GB", "en"), ("de", "en"), ("", "en"), (None, "en"),
     ("kor", "en")],
)  # fmt: skip
def test_language_from_a_telegram_code(code, lang):
    assert i18n.language_for(code) == lang


def test_words_plurals_and_dates_per_language():
    i18n.use("ko")
    assert replies.streak_text(3) == "\n\n🔥 3일 연속이에요. 내일 또 만나요!"
    assert adjective(Emotion.SAD) == "슬픔" and mood_label(Mood.FOCUS) == "🎧 집중"
    assert short_date(date(2026, 3, 9)) == "3월 9일"
    i18n.use("es-MX")
    assert "1 día seguido" in replies.streak_text(1) or "Vuelve mañana" in replies.streak_text(1)
    assert replies.streak_text(2) == "\n\n🔥 2 días seguidos. ¡Nos vemos mañana!"
    assert short_date(date(2026, 3, 9)) == "9 mar"
    assert notices._days(365) == "un año" and notices._days(14) == "2 semanas"
    i18n.use("en")
    assert replies.streak_text(2) == "\n\n🔥 2 days in a row. See you tomorrow!"
    assert notices._days(7) == "a week" and short_date(date(2026, 3, 9)) == "9 Mar"
