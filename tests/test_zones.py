"""Time zones people recognise, validated against the zone database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.zones import describe, resolve

JAN = datetime(2026, 1, 15, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "zone"),
    [
        ("Seoul", "Asia/Seoul"), ("seoul", "Asia/Seoul"), ("서울", "Asia/Seoul"),
        ("Madrid", "Europe/Madrid"), ("Ciudad de México", "America/Mexico_City"),
        ("ciudad de mexico", "America/Mexico_City"), ("Mexico City", "America/Mexico_City"),
        ("Europe/Madrid", "Europe/Madrid"), ("new york", "America/New_York"),
        ("Nueva York", "America/New_York"), ("Bogotá", "America/Bogota"),
        ("Buenos Aires", "America/Argentina/Buenos_Aires"), ("India", "Asia/Kolkata"),
        ("UTC+9", "Etc/GMT-9"), ("utc-3", "Etc/GMT+3"), ("+2", "Etc/GMT-2"), ("UTC", "UTC"),
        ("UTC+5:30", "Asia/Kolkata"), ("GMT+0545", "Asia/Kathmandu"), ("utc+0", "UTC"),
    ],
)  # fmt: skip
def test_names_people_type_resolve_to_zones(typed, zone):
    assert resolve(typed) == zone


@pytest.mark.parametrize(
    "typed",
    ["Europe", "America", "", "x" * 300, "Atlantis", "UTC+15", "UTC+5:17", "+٩", "../etc/passwd"],
)
def test_what_names_no_zone_is_refused(typed):
    assert resolve(typed) is None


def test_zones_are_shown_as_offsets_people_read():
    assert describe("Etc/GMT-9", JAN) == "UTC+9"
    assert describe("Asia/Seoul", JAN) == "Seoul · UTC+9"
    assert describe("Asia/Kolkata", JAN) == "Kolkata · UTC+5:30"
    assert describe("America/St_Johns", JAN) == "St Johns · UTC-3:30"
    assert describe("UTC", JAN) == "UTC"
    assert describe("Europe/Madrid", datetime(2026, 7, 1, tzinfo=UTC)) == "Madrid · UTC+2"
