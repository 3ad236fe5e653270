"""Tests for the optional live Spotify check, against a real local HTTP stub of Spotify."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator

import pytest

from models.emotion import Emotion
from recommender.catalog import normalise_key
from recommender.engine import Recommender
from recommender.spotify import MAX_PAUSE, CircuitBreaker, LiveRecommender, SpotifyClient
from recommender.track import Mood, Track
from tests.loopback import serving
from tests.spotify_stub import SpotifyStub

pytestmark = pytest.mark.timeout(30)

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def spotify_stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[SpotifyStub]:
    """A running fake Spotify on 127.0.0.1; fails the test if it crashed or left requests."""
    for var in PROXY_VARS:  # a proxy from the environment must not reroute 127.0.0.1
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with serving(SpotifyStub()) as stub:
        yield stub


@pytest.fixture
def connect(spotify_stub: SpotifyStub) -> Iterator[Callable[..., SpotifyClient]]:
    """Factory for SpotifyClients on the stub (breaker on a fake clock); closed afterwards.

    The deadline is generous so that a busy machine cannot skip a retry the test counts;
    calls that fail return at once, so it costs no time.
    """
    made: list[SpotifyClient] = []

    def connect(**kw: object) -> SpotifyClient:
        kw = {"timeout": 5, "deadline": 10, "breaker": CircuitBreaker(clock=FakeClock()), **kw}
        client = SpotifyClient(
            spotify_stub.client_id,
            spotify_stub.client_secret,
            api_url=spotify_stub.api_url,
            token_url=spotify_stub.token_url,
            **kw,  # type: ignore[arg-type]
        )
        made.append(client)
        return client

    yield connect
    for client in made:
        client.close()


def check_reply(tracks: list[Track], recommender: Recommender, n: int = 5) -> None:
    """n catalog tracks, no repeats, every artist different."""
    assert len(tracks) == n
    assert all(recommender.catalog.get(t.id) == t for t in tracks)
    assert len({normalise_key(t.artist) for t in tracks}) == n


def asked_ids(stub: SpotifyStub) -> list[str]:
    """Track ids the stub was asked about in GET /tracks, in order."""
    return [i for r in stub.api_requests for i in r.query["ids"].split(",")]


# -- the reply is the catalog's unless Spotify says a pick is gone ------------------------------


@pytest.mark.parametrize(("mode", "api_calls"), [("ok", 1), ("429", 1), ("500", 2)])
def test_catalog_picks_stand_unless_spotify_says_one_is_gone(
    spotify_stub: SpotifyStub,
    connect: Callable[..., SpotifyClient],
    recommender: Recommender,
    mode: str,
    api_calls: int,
) -> None:
    spotify_stub.mode = mode
    live = LiveRecommender(recommender.catalog, connect())

    picks = live.recommend(emotion=Emotion.HAPPY, seed=7)

    assert picks == recommender.recommend(emotion=Emotion.HAPPY, seed=7)
    # spotipy went to the stub, and only there: one token, then /tracks (a 500 retried once).
    assert len(spotify_stub.token_requests) == 1
    assert len(spotify_stub.api_requests) == api_calls
    assert set(asked_ids(spotify_stub)) > {t.id for t in picks}  # reserves asked about too


def test_a_spotify_that_never_answers_is_not_waited_for(
    spotify_stub: SpotifyStub, connect: Callable[..., SpotifyClient], recommender: Recommender
) -> None:
    spotify_stub.mode = "hang"  # held until the stub stops
    # The HTTP timeout outlasts this test's, so only the deadline can end the wait.
    client = connect(timeout=60, deadline=0.2, breaker=CircuitBreaker(failures_to_open=1))
    live = LiveRecommender(recommender.catalog, client)

    assert live.recommend(mood=Mood.FOCUS, seed=3) == recommender.recommend(mood=Mood.FOCUS, seed=3)
    assert not client.breaker.allow()  # the missed deadline counted as a failure


def test_gone_picks_are_replaced_in_place_by_confirmed_reserves(
    spotify_stub: SpotifyStub, connect: Callable[..., SpotifyClient], recommender: Recommender
) -> None:
    catalog_picks = recommender.recommend(emotion=Emotion.SAD, seed=11)
    gone = {catalog_picks[1].id, catalog_picks[3].id}
    spotify_stub.mode = "gone:" + ",".join(gone)
    live = LiveRecommender(recommender.catalog, connect())

    picks = live.recommend(emotion=Emotion.SAD, seed=11)

    check_reply(picks, recommender)
    assert [picks[i] for i in (0, 2, 4)] == [catalog_picks[i] for i in (0, 2, 4)]
    assert not gone & {t.id for t in picks}
    # The replacements were in the same single request, so Spotify confirmed them too.
    assert len(spotify_stub.api_requests) == 1
    assert {picks[1].id, picks[3].id} <= set(asked_ids(spotify_stub))


def test_unchecked_catalog_tracks_fill_in_when_the_reserves_are_gone(
    spotify_stub: SpotifyStub, connect: Callable[..., SpotifyClient], recommender: Recommender
) -> None:
    live = LiveRecommender(recommender.catalog, connect())
    live.recommend(emotion=Emotion.ANGRY, seed=5)  # learn which ids (picks + reserves) get checked
    checked = asked_ids(spotify_stub)
    assert len(checked) == 10
    survivor = checked[-1]  # one reserve stays; the other four slots need the catalog again
    gone = set(checked) - {survivor}
    spotify_stub.mode = "gone:" + ",".join(gone)

    picks = live.recommend(emotion=Emotion.ANGRY, seed=5)

    check_reply(picks, recommender)
    assert picks[0].id == survivor
    assert not gone & {t.id for t in picks}


def test_everything_gone_is_distrusted(
    spotify_stub: SpotifyStub, connect: Callable[..., SpotifyClient], recommender: Recommender
) -> None:
    live = LiveRecommender(recommender.catalog, connect())
    first = live.recommend(emotion=Emotion.FEAR, seed=2)
    spotify_stub.mode = "gone:" + ",".join(asked_ids(spotify_stub))

    assert live.recommend(emotion=Emotion.FEAR, seed=2) == first


# -- circuit breaker and back-off -----------------------------------------------------------------


def test_429_pauses_spotify_for_its_retry_after_but_at_most_max_pause(
    spotify_stub: SpotifyStub, connect: Callable[..., SpotifyClient], recommender: Recommender
) -> None:
    clock = FakeClock()
    spotify_stub.mode = "429"  # Retry-After: 3600, neither slept on (the test would time out)
    live = LiveRecommender(recommender.catalog, connect(breaker=CircuitBreaker(clock=clock)))
    expected = recommender.recommend(emotion=Emotion.SURPRISE, seed=1)

    assert live.recommend(emotion=Emotion.SURPRISE, seed=1) == expected
    assert len(spotify_stub.api_requests) == 1  # nor retried

    spotify_stub.clear()
    spotify_stub.mode = "ok"
    clock.advance(MAX_PAUSE - 1)
    check_reply(live.recommend(emotion=Emotion.SURPRISE, seed=2), recommender)
    assert spotify_stub.requests == []

    clock.advance(2)  # half-open: one trial, which succeeds and closes the breaker
    check_reply(live.recommend(emotion=Emotion.SURPRISE, seed=3), recommender)
    check_reply(live.recommend(emotion=Emotion.SURPRISE, seed=4), recommender)
    assert len(spotify_stub.api_requests) == 2


def test_breaker_opens_after_three_failures_and_half_opens_after_cooldown(
    spotify_stub: SpotifyStub, connect: Callable[..., SpotifyClient], recommender: Recommender
) -> None:
    clock = FakeClock()
    spotify_stub.mode = "500"
    live = LiveRecommender(recommender.catalog, connect(breaker=CircuitBreaker(clock=clock)))

    for seed in range(3):
        check_reply(live.recommend(seed=seed), recommender)
    assert len(spotify_stub.api_requests) == 6  # each call: one try plus one retry
    spotify_stub.clear()
    check_reply(live.recommend(seed=9), recommender)
    assert spotify_stub.requests == []  # open

    clock.advance(60)  # half-open: one trial, which fails and opens the breaker again
    check_reply(live.recommend(seed=9), recommender)
    check_reply(live.recommend(seed=9), recommender)
    assert len(spotify_stub.api_requests) == 2

    spotify_stub.clear()
    spotify_stub.mode = "ok"
    clock.advance(60)  # the next trial succeeds and closes it
    check_reply(live.recommend(seed=9), recommender)
    check_reply(live.recommend(seed=9), recommender)
    assert len(spotify_stub.api_requests) == 2


def test_circuit_breaker_states() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failures_to_open=3, cooldown=60, clock=clock)
    assert breaker.allow()
    assert not breaker.failure() and not breaker.failure()
    breaker.success()  # a success resets the count: failures must be consecutive
    assert not breaker.failure() and not breaker.failure()
    assert breaker.failure()
    assert not breaker.allow()
    clock.advance(30)
    assert not breaker.failure()  # stragglers don't extend the pause
    clock.advance(30)
    assert breaker.allow()  # the one trial
    assert not breaker.allow()  # nobody else while it runs
    breaker.success()
    assert breaker.allow() and breaker.allow()

    breaker.pause(300)
    breaker.pause(10)  # never shortens a longer pause
    clock.advance(299)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()
    assert breaker.failure()  # a failed trial reopens at once, for the cooldown
    clock.advance(59)
    assert not breaker.allow()


# -- the client -----------------------------------------------------------------------------------


def test_client_credentials_token_once_and_fifty_ids_a_request(
    spotify_stub: SpotifyStub,
    connect: Callable[..., SpotifyClient],
    recommender: Recommender,
    tmp_path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # spotipy's default token cache would write ./.cache here
    client = connect()
    assert spotify_stub.requests == []  # building fetches no token
    ids = [t.id for t in recommender.catalog.tracks[:120]]

    assert client.available(ids) == set(ids)
    assert client.available(ids[:3]) == set(ids[:3])

    (token,) = spotify_stub.token_requests  # fetched once, then reused from memory
    basic = base64.b64encode(b"id:secret").decode()
    assert token.method == "POST"
    assert token.headers["authorization"] == f"Basic {basic}"
    assert token.body == "grant_type=client_credentials"
    api = spotify_stub.api_requests
    assert [len(r.query["ids"].split(",")) for r in api] == [50, 50, 20, 3]
    assert all(r.headers["authorization"].startswith("Bearer ") for r in api)
    assert not (tmp_path / ".cache").exists()


def test_token_endpoint_failures(
    spotify_stub: SpotifyStub, connect: Callable[..., SpotifyClient]
) -> None:
    ids = ["0017A6SJgTbfQVU2EtsPNo"]
    spotify_stub.token_mode = "429"  # recognised as a 429 too: Spotify is paused
    limited = connect()
    assert limited.available(ids) is None
    spotify_stub.token_mode = "ok"
    assert limited.available(ids) is None
    assert len(spotify_stub.token_requests) == 1 and not spotify_stub.api_requests

    spotify_stub.clear()
    refused = connect(breaker=CircuitBreaker(failures_to_open=2))
    spotify_stub.client_secret = "changed"  # a 400, not retried, counted as a failure
    assert refused.available(ids) is None
    assert refused.breaker.allow()
    assert len(spotify_stub.token_requests) == 1


def test_revoked_token_is_fetched_again(
    spotify_stub: SpotifyStub, connect: Callable[..., SpotifyClient]
) -> None:
    client = connect()
    ids = ["0017A6SJgTbfQVU2EtsPNo"]
    assert client.available(ids) == set(ids)
    spotify_stub.tokens.clear()

    assert client.available(ids) is None  # 401
    assert client.available(ids) == set(ids)
    assert len(spotify_stub.token_requests) == 2


def test_logs_hold_no_secrets_and_one_warning_a_failure(
    spotify_stub: SpotifyStub,
    connect: Callable[..., SpotifyClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = connect()
    ids = ["0017A6SJgTbfQVU2EtsPNo"]
    client.available(ids)
    spotify_stub.mode = "500"
    client.available(ids)

    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.levelname for r in warnings] == ["WARNING"]
    assert "HTTP 500" in warnings[0].getMessage()
    secrets = [base64.b64encode(b"id:secret").decode(), *spotify_stub.tokens]
    assert not [s for s in secrets if s in caplog.text]


def test_odd_answers_and_a_closed_client_fall_back(
    spotify_stub: SpotifyStub,
    connect: Callable[..., SpotifyClient],
    recommender: Recommender,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = connect()
    live = LiveRecommender(recommender.catalog, client)
    expected = recommender.recommend(mood=Mood.PARTY, seed=4)
    monkeypatch.setattr(client._sp, "tracks", lambda ids: {"tracks": []})
    assert live.recommend(mood=Mood.PARTY, seed=4) == expected
    assert "unexpected answer" in caplog.text

    monkeypatch.undo()
    client.close()
    spotify_stub.clear()
    assert live.recommend(mood=Mood.PARTY, seed=4) == expected
    assert spotify_stub.requests == []
