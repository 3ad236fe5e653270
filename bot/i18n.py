"""The person's language: gettext catalogs (bot/locale, managed with Babel) and Babel dates.

Each update is handled in its own asyncio task (concurrent updates), so the language is a
context variable: `use(code)` at the start of an update (bot/app.py) or a job sets it for that
task only, and `_`, `ngettext` and the date helpers read it. English is the source language;
anything we have no catalog for reads English.
"""

from __future__ import annotations

import gettext as _gettext
from contextvars import ContextVar
from datetime import date
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date as _format_date
from babel.dates import get_day_names, get_month_names, get_timezone_location

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "messages"
LANGUAGES = ("en", "ko", "es")  # English first: the source language and the fallback
# Each language's name in itself, for the /language buttons.
NATIVE_NAMES = {"en": "English", "ko": "한국어", "es": "Español"}
# Babel locale per language: English dates as "9 Mar" (day first, as the bot always wrote
# them), Spanish the Latin-American way most of our Spanish speakers read.
_BABEL = {"en": "en_GB", "ko": "ko", "es": "es_419"}

_current: ContextVar[str] = ContextVar("language", default="en")


def language_for(code: str | None) -> str:
    """Our language for a Telegram language_code: 'ko' -> ko; 'es', 'es-419', 'es-MX' -> es;
    anything else (or nothing) -> en."""
    base = (code or "").strip().lower().replace("_", "-").split("-", 1)[0]
    return base if base in LANGUAGES else "en"


def use(code: str | None) -> str:
    """Speak `code`'s language in this task from now on; returns the language chosen."""
    lang = language_for(code)
    _current.set(lang)
    return lang


def current() -> str:
    return _current.get()


@cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The compiled catalog for `lang` (English: the ids themselves)."""
    if lang == "en":
        return _gettext.NullTranslations()
    return _gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang])


def _(message: str) -> str:
    """`message` in the current language."""
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a message for `n`, by the current language's plural rule."""
    return translations(_current.get()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """`message` in the current language, where the same English word needs two translations."""
    return translations(_current.get()).pgettext(context, message)


def N_(message: str) -> str:
    """Marks a message for extraction; translated later, where it is shown."""
    return message


def locale() -> Locale:
    return Locale.parse(_BABEL[_current.get()])


def format_date(day: date, skeleton: str) -> str:
    """`day` the way the current language writes it, from a CLDR skeleton: 'MMMd' gives
    '9 Mar' / '3월 9일' / '9 mar'; 'yMMMd' adds the year."""
    from babel.dates import format_skeleton

    return format_skeleton(skeleton, day, locale=locale())


def long_date(day: date) -> str:
    return _format_date(day, "long", locale=locale())


def weekday_abbr(weekday: int) -> str:
    """'Mon' / '월' / 'lun' for 0 = Monday."""
    return str(get_day_names("abbreviated", locale=locale())[weekday])


def weekday_name(weekday: int) -> str:
    """'Monday' / '월요일' / 'lunes' for 0 = Monday."""
    return str(get_day_names("wide", locale=locale())[weekday])


def month_abbr(month: int) -> str:
    return str(get_month_names("abbreviated", locale=locale())[month])


def zone_city(key: str) -> str:
    """The city a zone is named after, as the current language writes it: 'Seoul', '서울',
    'Seúl' (CLDR's exemplar cities)."""
    return str(get_timezone_location(key, locale=locale(), return_city=True))
