"""Optional live Spotify check: do the catalog's picks still exist? Swap the ones that are gone.

Spotify closed /recommendations and /audio-features to new apps (Nov 2024), so ranking stays
with the embedded catalog. With credentials set, `LiveRecommender` asks Spotify (client-
credentials flow, GET /tracks) which of its picks still exist and replaces the gone ones.
Spotify may only ever improve a reply: the call runs in a worker thread under a hard
deadline, behind a circuit breaker, and any failure or delay leaves the catalog picks as
they are.

spotipy (2.26) needs three things handled:

* Its own session retries 429/5xx and sleeps for Retry-After (an hour, if Spotify says so).
  A plain requests session never retries, so we hand it one and retry ourselves: a 5xx or
  timeout once, briefly; a 429 never (it pauses Spotify instead, for at most MAX_PAUSE).
* The token URL is read as `self.OAUTH_TOKEN_URL` and the API root is the `prefix`
  attribute, so instance attributes redirect both without touching spotipy globally.
* Its DEBUG records print request headers (the client secret, the bearer token) and its
  ERROR records repeat failures we log once ourselves, so its records are dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
import spotipy
from spotipy.cache_handler import MemoryCacheHandler
from spotipy.oauth2 import SpotifyClientCredentials

from recommender.catalog import Catalog
from recommender.engine import Recommender
from recommender.errors import SpotifyError, SpotifyRateLimited
from recommender.track import Track

__all__ = [
    "CircuitBreaker",
    "LiveRecommender",
    "SpotifyClient",
    "SpotifyError",
    "SpotifyRateLimited",
]

log = logging.getLogger(__name__)

MAX_IDS = 50  # GET /tracks refuses more
RETRY_BACKOFF = 0.2  # seconds before the one retry of a 5xx or timeout
MAX_PAUSE = 300.0  # a 429 pauses Spotify for its Retry-After, but never longer than this
FAILURES_TO_OPEN = 3
COOLDOWN = 60.0
DEADLINE = 1.5  # a reply never waits longer than this for Spotify


class CircuitBreaker:
    """Stops calling a failing service for a while.

    Closed: calls go ahead; `failures_to_open` consecutive failures open it. Open: no calls
    for `cooldown` seconds (or as long as `pause` asked). Then half-open: one trial call goes
    ahead; its success closes the breaker, its failure opens it again. Thread-safe; `clock`
    (monotonic seconds) is injectable for tests.
    """

    def __init__(
        self,
        failures_to_open: int = FAILURES_TO_OPEN,
        cooldown: float = COOLDOWN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures_to_open = failures_to_open
        self.cooldown = cooldown
        self.clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._open_until: float | None = None  # set while open or half-open
        self._trial = False  # the half-open trial call is running

    def allow(self) -> bool:
        """May a call go ahead? A True must be followed by `success()` or `failure()`."""
        with self._lock:
            if self._open_until is None:
                return True
            if self._trial or self.clock() < self._open_until:
                return False
            self._trial = True
            return True

    def success(self) -> None:
        with self._lock:
            if self._open_until is not None and self.clock() < self._open_until:
                return  # a call from before the breaker opened; the pause still stands
            self._failures, self._open_until, self._trial = 0, None, False

    def failure(self) -> bool:
        """Count a failure; True if it opened the breaker."""
        with self._lock:
            if self._open_until is not None and self.clock() < self._open_until:
                return False  # already open; stragglers don't extend the pause
            self._failures += 1
            if self._open_until is None and self._failures < self.failures_to_open:
                return False
            self._open_until, self._trial = self.clock() + self.cooldown, False
            return True

    def pause(self, seconds: float) -> None:
        """Open now for `seconds`, whatever the failure count; never shortens a longer pause."""
        with self._lock:
            self._open_until = max(self._open_until or 0.0, self.clock() + seconds)
            self._trial = False


def _drop(record: logging.LogRecord) -> bool:
    """A logging filter that lets nothing through (for spotipy's records, see above)."""
    return False


class SpotifyClient:
    """Asks Spotify which tracks still exist; never waits past `deadline`, never raises.

    The blocking spotipy calls run in a small thread pool so the caller can stop waiting;
    the circuit breaker stops calls for a while after failures or a 429. Building one makes
    no network call: spotipy fetches its token on the first request.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        api_url: str,
        token_url: str,
        timeout: float,
        deadline: float = DEADLINE,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        for name in ("spotipy.client", "spotipy.oauth2"):
            logging.getLogger(name).addFilter(_drop)  # addFilter skips one already there
        self.deadline = deadline
        self.breaker = breaker or CircuitBreaker()
        self._http = requests.Session()
        self._auth = SpotifyClientCredentials(
            client_id,
            client_secret,
            requests_session=self._http,
            requests_timeout=timeout,
            cache_handler=MemoryCacheHandler(),  # not spotipy's default `.cache` file
        )
        self._auth.OAUTH_TOKEN_URL = token_url
        self._sp = spotipy.Spotify(
            auth_manager=self._auth, requests_session=self._http, requests_timeout=timeout
        )
        self._sp.prefix = api_url.rstrip("/") + "/"
        # Two workers, so one call stuck until its HTTP timeout does not hold up the next.
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="spotify")

    def close(self) -> None:
        """Stop the workers (a call still running ends within its HTTP timeout)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._http.close()

    def available(self, ids: Sequence[str]) -> set[str] | None:
        """The ids Spotify still has, or None if it failed, was too slow or is paused."""
        if not self.breaker.allow():
            return None
        try:
            future = self._pool.submit(self._fetch, list(ids), time.monotonic() + self.deadline)
        except RuntimeError:
            return None  # closed
        try:
            found = future.result(timeout=self.deadline)
        except TimeoutError:
            future.cancel()  # if it never started, it never will
            error = SpotifyError(f"no answer within {self.deadline:.1f} s")
        except SpotifyError as exc:
            error = exc
        except Exception as exc:  # an odd answer or a bug: still only a failed check
            error = SpotifyError(f"unexpected {type(exc).__name__}")
        else:
            self.breaker.success()
            return found
        # A 429 has paused the breaker already (see _error); other failures count towards it.
        paused = isinstance(error, SpotifyRateLimited) or self.breaker.failure()
        log.warning("%s; %s", error, "pausing Spotify" if paused else "using catalog picks")
        return None

    def _fetch(self, ids: list[str], give_up_at: float) -> set[str]:
        """Runs in a worker: GET /tracks, MAX_IDS a request."""
        found: set[str] = set()
        for start in range(0, len(ids), MAX_IDS):
            batch = ids[start : start + MAX_IDS]
            items = self._tracks(batch, give_up_at)
            if len(items) != len(batch):
                raise SpotifyError("GET /tracks: unexpected answer")
            # In request order, with null for ids Spotify no longer has.
            found.update(i for i, item in zip(batch, items, strict=True) if item)
        return found

    def _tracks(self, batch: list[str], give_up_at: float) -> list[Any]:
        """GET /tracks, retried once after RETRY_BACKOFF on a 5xx or timeout if time allows."""
        retried = False
        while True:
            try:
                return self._sp.tracks(batch)["tracks"]
            except Exception as exc:
                error = self._error(exc)
                if retried or not error.retry or time.monotonic() + RETRY_BACKOFF >= give_up_at:
                    raise error from exc
            retried = True
            time.sleep(RETRY_BACKOFF)

    def _error(self, exc: Exception) -> SpotifyError:
        """`exc` as a SpotifyError whose message holds no secrets; acts on a 401 or 429."""
        # spotipy raises token endpoint errors while handling the HTTPError that holds them.
        response = getattr(exc.__context__, "response", None)
        if isinstance(exc, spotipy.SpotifyException):
            status, headers = exc.http_status, exc.headers
        elif isinstance(response, requests.Response):
            status, headers = response.status_code, response.headers
        else:
            retry = isinstance(exc, requests.Timeout | requests.ConnectionError)
            return SpotifyError(type(exc).__name__, retry=retry)
        if status == 429:
            # Honoured here, in the worker, even if the caller has stopped waiting.
            error = SpotifyRateLimited(_seconds(headers.get("Retry-After")))
            wait = COOLDOWN if error.retry_after is None else error.retry_after
            self.breaker.pause(min(wait, MAX_PAUSE))
            return error
        if status == 401:  # token revoked or expired early: fetch a fresh one next time
            self._auth.cache_handler.save_token_to_cache(None)
        return SpotifyError(f"HTTP {status}", retry=status >= 500)


def _seconds(retry_after: str | None) -> float | None:
    """Retry-After in seconds (Spotify sends delta-seconds), or None if unusable."""
    try:
        return max(0.0, float(retry_after)) if retry_after else None
    except ValueError:
        return None


class LiveRecommender(Recommender):
    """The catalog Recommender, with its picks checked on Spotify and the gone ones swapped.

    It ranks 2n tracks in one greedy pass: the first n are the catalog's picks (exactly what
    Recommender.recommend gives, as the walk only goes on longer) and the rest reserves that
    keep the reply's artists and subgenres varied. One Spotify check covers them all; each
    gone pick is replaced in place by the next confirmed reserve or, once those run out, by
    the next catalog track after them (unchecked, but likelier there than one known gone).
    If Spotify fails, is slow or paused, or calls every track gone (a broken answer, not a
    mass removal), the catalog picks stand. Blocking: call it off the event loop; pass `n`
    by keyword.
    """

    def __init__(self, catalog: Catalog, spotify: SpotifyClient) -> None:
        super().__init__(catalog)
        self.spotify = spotify

    def recommend(self, *args: Any, n: int = 5, **kwargs: Any) -> list[Track]:
        def rank(count: int) -> list[Track]:
            return Recommender.recommend(self, *args, **{**kwargs, "n": count})

        ranked = rank(2 * n)
        picks = ranked[:n]
        available = self.spotify.available([t.id for t in ranked])
        if available is None or all(t.id in available for t in picks):
            return picks
        if not available:
            log.warning("Spotify called all %d checked tracks gone; ignoring that", len(ranked))
            return picks

        def spares() -> Iterator[Track]:
            yield from (t for t in ranked[n:] if t.id in available)
            yield from rank(4 * n)[2 * n :]

        spare = spares()
        log.info("Spotify: %d of %d picks gone", sum(t.id not in available for t in picks), n)
        return [t if t.id in available else next(spare, t) for t in picks]
