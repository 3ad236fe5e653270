"""Time zones people recognise: city and country names, UTC offsets, and IANA names.

`/settings Seoul`, `/settings 서울`, `/settings Ciudad de México`, `/settings UTC+5:30` and
`/settings Europe/Madrid` all resolve to an IANA zone key, validated against the zone database
(so "Europe", a folder of it, is refused); `describe` shows a zone the way people read it
("Seoul · UTC+9"), never as "Etc/GMT-9".
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from datetime import datetime, timedelta
from functools import cache

MAX_LEN = 64  # the longest IANA key is 32 characters; anything much longer is not a zone

# Names the zone database doesn't spell: translations and countries, to a zone key.
ALIASES = {
    # Korean
    "서울": "Asia/Seoul", "부산": "Asia/Seoul", "인천": "Asia/Seoul", "대구": "Asia/Seoul",
    "한국": "Asia/Seoul", "대한민국": "Asia/Seoul", "도쿄": "Asia/Tokyo", "일본": "Asia/Tokyo",
    "베이징": "Asia/Shanghai", "중국": "Asia/Shanghai", "뉴욕": "America/New_York",
    "런던": "Europe/London", "파리": "Europe/Paris", "마드리드": "Europe/Madrid",
    "로스앤젤레스": "America/Los_Angeles", "엘에이": "America/Los_Angeles",
    "시드니": "Australia/Sydney", "방콕": "Asia/Bangkok", "하노이": "Asia/Bangkok",
    "호치민": "Asia/Ho_Chi_Minh", "싱가포르": "Asia/Singapore", "베를린": "Europe/Berlin",
    # Spanish
    "ciudad de mexico": "America/Mexico_City", "cdmx": "America/Mexico_City",
    "mexico": "America/Mexico_City", "guadalajara": "America/Mexico_City",
    "monterrey": "America/Monterrey", "espana": "Europe/Madrid", "barcelona": "Europe/Madrid",
    "sevilla": "Europe/Madrid", "valencia": "Europe/Madrid", "bilbao": "Europe/Madrid",
    "nueva york": "America/New_York", "londres": "Europe/London", "paris": "Europe/Paris",
    "seul": "Asia/Seoul", "corea": "Asia/Seoul", "tokio": "Asia/Tokyo", "japon": "Asia/Tokyo",
    "pekin": "Asia/Shanghai", "colombia": "America/Bogota", "peru": "America/Lima",
    "chile": "America/Santiago", "argentina": "America/Argentina/Buenos_Aires",
    "venezuela": "America/Caracas", "ecuador": "America/Guayaquil", "quito": "America/Guayaquil",
    "uruguay": "America/Montevideo", "cuba": "America/Havana", "la habana": "America/Havana",
    "medellin": "America/Bogota", "cali": "America/Bogota", "canarias": "Atlantic/Canary",
    # English and common names
    "korea": "Asia/Seoul", "south korea": "Asia/Seoul", "japan": "Asia/Tokyo",
    "spain": "Europe/Madrid", "china": "Asia/Shanghai", "beijing": "Asia/Shanghai",
    "india": "Asia/Kolkata", "delhi": "Asia/Kolkata", "new delhi": "Asia/Kolkata",
    "mumbai": "Asia/Kolkata", "bangalore": "Asia/Kolkata", "bengaluru": "Asia/Kolkata",
    "uk": "Europe/London", "england": "Europe/London", "france": "Europe/Paris",
    "germany": "Europe/Berlin", "san francisco": "America/Los_Angeles",
    "la": "America/Los_Angeles", "nyc": "America/New_York", "washington": "America/New_York",
    "boston": "America/New_York", "miami": "America/New_York", "seattle": "America/Los_Angeles",
    "texas": "America/Chicago", "houston": "America/Chicago", "dallas": "America/Chicago",
    "nepal": "Asia/Kathmandu", "sri lanka": "Asia/Colombo", "iran": "Asia/Tehran",
    "brazil": "America/Sao_Paulo", "brasil": "America/Sao_Paulo", "rio": "America/Sao_Paulo",
    "rio de janeiro": "America/Sao_Paulo", "hong kong": "Asia/Hong_Kong",
    "taiwan": "Asia/Taipei", "vietnam": "Asia/Ho_Chi_Minh", "philippines": "Asia/Manila",
}  # fmt: skip

OFFSET = re.compile(r"^(?:utc|gmt)?\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?$")
# Standard offsets the Etc/ zones (whole hours only) can't express, to a zone that keeps them.
PART_HOUR = {
    (3, 30): "Asia/Tehran", (4, 30): "Asia/Kabul", (5, 30): "Asia/Kolkata",
    (5, 45): "Asia/Kathmandu", (6, 30): "Asia/Yangon", (9, 30): "Australia/Darwin",
    (-3, -30): "America/St_Johns", (-9, -30): "Pacific/Marquesas", (12, 45): "Pacific/Chatham",
}  # fmt: skip


def _fold(text: str) -> str:
    """Lowercase, accents off (México -> mexico), NFC for Hangul, spaces collapsed."""
    text = unicodedata.normalize("NFKD", text.strip().lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(unicodedata.normalize("NFC", text).replace("_", " ").split())


@cache
def _keys() -> dict[str, str]:
    """Folded zone keys and their last part ("seoul", "mexico city") -> zone key."""
    found: dict[str, str] = {}
    for key in sorted(zoneinfo.available_timezones()):
        if key.startswith(("Etc/", "SystemV/", "posix/", "right/")) or "/" not in key:
            continue
        found.setdefault(_fold(key), key)
        found.setdefault(_fold(key.rsplit("/", 1)[1]), key)
    return found


def resolve(text: str) -> str | None:
    """An IANA zone key for what a person typed, or None if it names no zone."""
    if not text or len(text) > MAX_LEN:
        return None
    folded = _fold(text)
    if m := OFFSET.match(folded.replace(" ", "")):
        sign = 1 if m.group(1) == "+" else -1
        hours, minutes = int(m.group(2)), int(m.group(3) or 0)
        if not m.group(2).isascii() or hours > 14 or minutes >= 60:
            return None
        if minutes:
            return PART_HOUR.get((sign * hours, sign * minutes))
        return "UTC" if hours == 0 else f"Etc/GMT{'-' if sign > 0 else '+'}{hours}"  # POSIX sign
    if folded in ("utc", "gmt", "z"):
        return "UTC"
    exact = text.strip()
    if exact in zoneinfo.available_timezones():
        return exact
    return ALIASES.get(folded) or _keys().get(folded)


def offset_label(key: str, when: datetime | None = None) -> str:
    """'UTC+9', 'UTC-3:30', 'UTC' for the zone's offset at `when` (now by default)."""
    tz = zoneinfo.ZoneInfo(key)
    off = (when or datetime.now(tz)).astimezone(tz).utcoffset() or timedelta(0)
    minutes = int(off.total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    sign, minutes = ("+" if minutes > 0 else "-"), abs(minutes)
    return f"UTC{sign}{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "")


def describe(key: str, when: datetime | None = None) -> str:
    """How a zone reads to a person: 'Seoul · UTC+9', or just 'UTC+9' for a bare offset."""
    offset = offset_label(key, when)
    if key == "UTC" or key.startswith("Etc/"):
        return offset
    return f"{key.rsplit('/', 1)[1].replace('_', ' ')} · {offset}"
