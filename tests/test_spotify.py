"""Tests for the optional live Spotify enrichment, against a real local HTTP stub of Spotify."""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import Callable, Iterator

import pytest

from bot.settings import Settings
from models.emotion import Emotion
from models.errors import SpotifyUnavailable
from recommender.catalog import normalise_key
from recommender.engine import Recommender
from recommender.spotify import (
    MAX_RETRY_AFTER,
    BreakerState,
    CircuitBreaker,
    LiveRecommender,
    SpotifyClient,
    SpotifyRateLimited,
    build_recommender,
)
from recommender.track import Mood, Track
from tests.loopback import serving
from tests.spotify_stub import SpotifyStub

pytestmark = pytest.mark.timeout(30)

URL = re.compile(r"^https://open\.spotify\.com/track/[0-9A-Za-z]{22}$")
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
REPLY_BOUND = 2.5  # safety bound only: the person must get songs "within a couple of seconds"


@pytest.fixture
def spotify_stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[SpotifyStub]:
    """A running fake Spotify on 127.0.0.1; fails the test if it crashed or left requests."""
    for var in PROXY_VARS:  # a proxy from the environment must not reroute 127.0.0.1
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with serving(SpotifyStub()) as stub:
        yield stub


def stub_settings(stub: SpotifyStub, **overrides: object) -> Settings:
    """Settings that point spotipy at the stub, with a short HTTP timeout."""
    values: dict[str, object] = {
        "spotify_client_id": stub.client_id,
        "spotify_client_secret": stub.client_secret,
        "spotify_api_url": stub.api_url,
        "spotify_token_url": stub.token_url,
        "spotify_timeout": 0.5,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def make_live(
    spotify_stub: SpotifyStub, recommender: Recommender
) -> Iterator[Callable[..., LiveRecommender]]:
    """Factory for LiveRecommenders on the stub; closes them afterwards."""
    made: list[LiveRecommender] = []

    def make(clock: Callable[[], float] = time.monotonic, **kw: object) -> LiveRecommender:
        live = LiveRecommender(
            recommender,
            SpotifyClient(stub_settings(spotify_stub)),
            breaker=CircuitBreaker(clock=clock),
            **kw,  # type: ignore[arg-type]
        )
        made.append(live)
        return live

    yield make
    for live in made:
        live.close()


def check_reply(tracks: list[Track], recommender: Recommender, n: int = 5) -> None:
    """n catalog tracks with working links, no repeats, every artist different."""
    assert len(tracks) == n
    assert all(recommender.catalog.get(t.id) == t for t in tracks)
    assert all(URL.match(t.url) for t in tracks)
    assert len({t.id for t in tracks}) == n
    assert len({normalise_key(t.artist) for t in tracks}) == n


def asked_ids(stub: SpotifyStub) -> list[str]:
    """Track ids the stub was asked about in GET /tracks, in order."""
    return [
        i
        for r in stub.api_requests
        if r.path.rstrip("/") == "/v1/tracks"
        for i in r.query["ids"].split(",")
    ]


def timed(fn: Callable[[], list[Track]]) -> tuple[list[Track], float]:
    start = time.monotonic()
    result = fn()
    return result, time.monotonic() - start


# -- the reply is never late or empty -------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "api_calls"),
    [("ok", {1}), ("429", {1}), ("500", {2}), ("hang", {1, 2})],
)
def test_every_mode_gives_five_songs_in_time(
    spotify_stub: SpotifyStub,
    make_live: Callable[..., LiveRecommender],
    recommender: Recommender,
    mode: str,
    api_calls: set[int],
) -> None:
    spotify_stub.mode = mode
    live = make_live()
    expected = recommender.recommend(Emotion.HAPPY, seed=7)

    picks, elapsed = timed(lambda: live.recommend(Emotion.HAPPY, seed=7))

    assert elapsed < REPLY_BOUND
    check_reply(picks, recommender)
    assert picks == expected  # nothing gone (or no answer): the catalog picks, unaltered
    # spotipy went to the stub, and only there: one token, then /tracks (retried once on 500).
    assert len(spotify_stub.token_requests) == 1
    assert len(spotify_stub.api_requests) in api_calls
    assert set(asked_ids(spotify_stub)) >= {t.id for t in picks}
    status = live.status()
    if mode == "ok":
        assert status.breaker is BreakerState.CLOSED and status.last_error is None
    else:
        assert status.last_error and "secret" not in status.last_error


def test_deadline_shorter_than_http_timeout_is_kept(
    spotify_stub: SpotifyStub, make_live: Callable[..., LiveRecommender], recommender: Recommender
) -> None:
    spotify_stub.mode = "hang"
    live = make_live(deadline=0.3)

    picks, elapsed = timed(lambda: live.recommend(mood=Mood.FOCUS, seed=3))

    assert elapsed < 0.3 + 0.4  # the deadline plus catalog time, not the 0.5 s HTTP timeout
    assert picks == recommender.recommend(mood=Mood.FOCUS, seed=3)
    assert "no answer within" in (live.status().last_error or "")
    assert live.status().consecutive_failures == 1


# -- gone tracks ----------------------------------------------------------------------------------


def test_gone_tracks_are_replaced_in_place(
    spotify_stub: SpotifyStub, make_live: Callable[..., LiveRecommender], recommender: Recommender
) -> None:
    catalog_picks = recommender.recommend(Emotion.SAD, seed=11)
    gone = {catalog_picks[1].id, catalog_picks[3].id}
    spotify_stub.mode = "gone:" + ",".join(gone)
    live = make_live()

    picks, elapsed = timed(lambda: live.recommend(Emotion.SAD, seed=11))

    assert elapsed < REPLY_BOUND
    check_reply(picks, recommender)
    assert [picks[i] for i in (0, 2, 4)] == [catalog_picks[i] for i in (0, 2, 4)]
    assert not gone & {t.id for t in picks}
    # Replacements come from the same single request, so Spotify confirmed them too.
    assert len(spotify_stub.api_requests) == 1
    assert {picks[1].id, picks[3].id} <= set(asked_ids(spotify_stub))


def test_replacement_falls_back_to_catalog_when_reserves_are_gone(
    spotify_stub: SpotifyStub, make_live: Callable[..., LiveRecommender], recommender: Recommender
) -> None:
    live = make_live()
    live.recommend(Emotion.ANGRY, seed=5)  # learn which ids (picks + reserves) get checked
    checked = asked_ids(spotify_stub)
    assert len(checked) == 10
    survivor = checked[-1]  # one reserve stays; the other four slots need the catalog again
    gone = set(checked) - {survivor}
    spotify_stub.mode = "gone:" + ",".join(gone)

    picks = live.recommend(Emotion.ANGRY, seed=5)

    check_reply(picks, recommender)
    assert survivor in {t.id for t in picks}
    assert not gone & {t.id for t in picks}


def test_everything_gone_is_distrusted(
    spotify_stub: SpotifyStub, make_live: Callable[..., LiveRecommender], recommender: Recommender
) -> None:
    live = make_live()
    first = live.recommend(Emotion.FEAR, seed=2)
    spotify_stub.mode = "gone:" + ",".join(asked_ids(spotify_stub))

    assert live.recommend(Emotion.FEAR, seed=2) == first
    assert "none of the checked tracks" in (live.status().last_error or "")


# -- circuit breaker ------------------------------------------------------------------------------


def test_429_opens_breaker_and_next_call_stays_local(
    spotify_stub: SpotifyStub, make_live: Callable[..., LiveRecommender], recommender: Recommender
) -> None:
    clock = FakeClock()
    spotify_stub.mode = "429"  # Retry-After: 3600
    live = make_live(clock=clock)

    picks, elapsed = timed(lambda: live.recommend(Emotion.SURPRISE, seed=1))
    assert elapsed < 1.0  # Retry-After was not slept on
    check_reply(picks, recommender)
    assert len(spotify_stub.api_requests) == 1  # and 429 is not retried
    status = live.status()
    assert status.breaker is BreakerState.OPEN
    assert status.retry_in == pytest.approx(MAX_RETRY_AFTER)  # min(3600, 300)
    assert "429" in (status.last_error or "")

    spotify_stub.clear()
    spotify_stub.mode = "ok"
    check_reply(live.recommend(Emotion.SURPRISE, seed=2), recommender)
    clock.advance(MAX_RETRY_AFTER - 1)
    check_reply(live.recommend(Emotion.SURPRISE, seed=3), recommender)
    assert spotify_stub.requests == []

    clock.advance(2)
    assert live.status().breaker is BreakerState.HALF_OPEN
    check_reply(live.recommend(Emotion.SURPRISE, seed=4), recommender)
    assert len(spotify_stub.api_requests) == 1
    assert live.status().breaker is BreakerState.CLOSED


def test_breaker_opens_after_three_failures_and_half_opens_after_cooldown(
    spotify_stub: SpotifyStub, make_live: Callable[..., LiveRecommender], recommender: Recommender
) -> None:
    clock = FakeClock()
    spotify_stub.mode = "500"
    live = make_live(clock=clock)

    for seed in range(3):
        check_reply(live.recommend(Emotion.NEUTRAL, seed=seed), recommender)
    assert len(spotify_stub.api_requests) == 6  # each call: one try plus one retry
    assert live.status().breaker is BreakerState.OPEN

    spotify_stub.clear()
    check_reply(live.recommend(Emotion.NEUTRAL, seed=9), recommender)
    assert spotify_stub.requests == []

    clock.advance(60)  # half-open: one trial, which fails and opens the breaker again
    check_reply(live.recommend(Emotion.NEUTRAL, seed=9), recommender)
    assert len(spotify_stub.api_requests) == 2
    assert live.status().breaker is BreakerState.OPEN
    assert live.status().retry_in == pytest.approx(60)

    spotify_stub.clear()
    spotify_stub.mode = "ok"
    clock.advance(60)  # the next trial succeeds and closes it
    check_reply(live.recommend(Emotion.NEUTRAL, seed=9), recommender)
    assert len(spotify_stub.api_requests) == 1
    assert live.status().breaker is BreakerState.CLOSED
    assert live.status().consecutive_failures == 0


def test_circuit_breaker_states() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, cooldown=60, clock=clock)
    assert breaker.allow() and breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # a success resets the count: failures must be consecutive
    assert not breaker.record_failure() and not breaker.record_failure()
    assert breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    assert not breaker.record_failure()  # stragglers don't extend the pause
    assert breaker.retry_in() == 60

    clock.advance(60)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()  # the one trial
    assert not breaker.allow()  # nobody else while it runs
    assert breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()

    breaker.open_for(300)
    breaker.open_for(10)  # never shortens a longer pause
    assert breaker.retry_in() == 300
    clock.advance(300)
    assert breaker.allow()
    assert breaker.record_failure()  # a failed trial reopens at once
    assert breaker.state is BreakerState.OPEN and breaker.retry_in() == 60


# -- wiring ---------------------------------------------------------------------------------------


def test_no_credentials_means_catalog_only_and_no_http(
    spotify_stub: SpotifyStub, recommender: Recommender
) -> None:
    for missing in ({"spotify_client_id": ""}, {"spotify_client_secret": ""}):
        built = build_recommender(stub_settings(spotify_stub, **missing), recommender)
        assert built is recommender
        check_reply(built.recommend(Emotion.HAPPY, seed=1), recommender)
    assert spotify_stub.requests == []


def test_credentials_give_live_recommender_that_is_lazy(
    spotify_stub: SpotifyStub, recommender: Recommender
) -> None:
    live = build_recommender(stub_settings(spotify_stub), recommender)
    try:
        assert isinstance(live, LiveRecommender)
        assert live.catalog is recommender.catalog  # what the bot uses for feedback lookups
        assert spotify_stub.requests == []  # building fetches no token
        check_reply(live.recommend(Emotion.HAPPY, seed=1), recommender)
        assert len(spotify_stub.token_requests) == 1
        assert str(live.status()).startswith("spotify=closed")
    finally:
        live.close()


def test_client_talks_only_to_the_stub_with_client_credentials(
    spotify_stub: SpotifyStub,
    recommender: Recommender,
    tmp_path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # spotipy's default token cache would write ./.cache here
    client = SpotifyClient(stub_settings(spotify_stub))
    ids = [t.id for t in recommender.catalog.tracks[:120]]
    try:
        assert client.available(ids) == set(ids)
        assert client.available(ids[:3]) == set(ids[:3])
    finally:
        client.close()

    (token,) = spotify_stub.token_requests  # fetched once, then reused from memory
    basic = base64.b64encode(b"id:secret").decode()
    assert token.method == "POST"
    assert token.headers["authorization"] == f"Basic {basic}"
    assert token.body == "grant_type=client_credentials"
    api = spotify_stub.api_requests
    assert [len(r.query["ids"].split(",")) for r in api] == [50, 50, 20, 3]
    assert all(r.headers["authorization"].startswith("Bearer ") for r in api)
    assert len(spotify_stub.requests) == 1 + len(api)
    assert not (tmp_path / ".cache").exists()


def test_client_errors_are_fast_and_typed(spotify_stub: SpotifyStub) -> None:
    client = SpotifyClient(stub_settings(spotify_stub))
    ids = ["0017A6SJgTbfQVU2EtsPNo"]
    try:
        spotify_stub.mode = "429"
        start = time.monotonic()
        with pytest.raises(SpotifyRateLimited) as info:
            client.available(ids)
        assert info.value.retry_after == 3600
        assert time.monotonic() - start < 1.0
        assert len(spotify_stub.api_requests) == 1

        spotify_stub.clear()
        spotify_stub.mode = "500"
        with pytest.raises(SpotifyUnavailable, match="HTTP 500") as info:
            client.available(ids)
        assert not isinstance(info.value, SpotifyRateLimited)
        assert len(spotify_stub.api_requests) == 2  # one retry, no more
    finally:
        client.close()

    fresh = SpotifyClient(stub_settings(spotify_stub))
    try:
        spotify_stub.token_mode = "429"  # the token endpoint's 429 is recognised as well
        with pytest.raises(SpotifyRateLimited):
            fresh.available(ids)
        spotify_stub.token_mode = "ok"
        bad = SpotifyClient(stub_settings(spotify_stub, spotify_client_secret="wrong"))
        with pytest.raises(SpotifyUnavailable, match="HTTP 400"):
            bad.available(ids)
        bad.close()
    finally:
        fresh.close()


def test_logs_hold_no_secrets(
    spotify_stub: SpotifyStub,
    make_live: Callable[..., LiveRecommender],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    live = make_live()
    live.recommend(Emotion.HAPPY, seed=1)
    spotify_stub.mode = "500"
    live.recommend(Emotion.HAPPY, seed=1)

    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.levelname for r in warnings] == ["WARNING"]
    assert "HTTP 500" in warnings[0].getMessage()
    secrets = [base64.b64encode(b"id:secret").decode(), *spotify_stub._tokens]
    assert not [s for s in secrets if s in caplog.text]


def test_unexpected_client_errors_and_closed_recommender_fall_back(
    spotify_stub: SpotifyStub,
    make_live: Callable[..., LiveRecommender],
    recommender: Recommender,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    live = make_live()
    expected = recommender.recommend(mood=Mood.PARTY, seed=4)

    def broken(*args: object, **kwargs: object) -> set[str]:
        raise KeyError("tracks")

    assert live.client is not None
    monkeypatch.setattr(live.client, "available", broken)
    assert live.recommend(mood=Mood.PARTY, seed=4) == expected
    assert live.status().consecutive_failures == 1
    assert "KeyError" in (live.status().last_error or "")

    monkeypatch.undo()
    live.close()
    assert live.recommend(mood=Mood.PARTY, seed=4) == expected
    assert spotify_stub.requests == []


def test_retry_after_forms() -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    from recommender.spotify import _retry_after

    assert _retry_after("3600") == 3600
    assert _retry_after(None) is None and _retry_after("soon") is None
    in_two_minutes = format_datetime(datetime.now(UTC) + timedelta(minutes=2), usegmt=True)
    assert 100 < (_retry_after(in_two_minutes) or 0) <= 120
