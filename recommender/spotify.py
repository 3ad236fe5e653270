"""Optional live Spotify enrichment: check that catalog picks still exist, and search tracks.

Spotify closed /recommendations and /audio-features to new apps (Nov 2024), so ranking stays
with the embedded catalog. With credentials set, `LiveRecommender` asks Spotify (client-
credentials flow, GET /tracks) whether the catalog's picks still exist and swaps out the gone
ones. Spotify may only ever improve a reply: it runs in a worker thread under a hard deadline,
behind a circuit breaker, and any failure or delay leaves the catalog picks as they are.

spotipy quirks handled here (spotipy 2.26):

* `Spotify()` takes no `prefix` argument; the API root is the `prefix` attribute.
* The token URL is the class attribute `OAUTH_TOKEN_URL`, read through `self`, so an instance
  attribute on our own credentials object redirects it without touching spotipy globally.
* spotipy's own session retries 429/5xx through urllib3 and sleeps for Retry-After (an hour,
  if Spotify says so). Even with retries=0 it turns a 500 into "429 Max Retries" and drops the
  response headers. We therefore hand it a plain session that never retries and retry
  ourselves (once, briefly, and never on 429).
* The default token cache is a `.cache` file in the working directory; we keep it in memory.
* Its DEBUG logs print request headers, i.e. the Basic client credentials and Bearer token;
  those records are dropped (see `_SpotipyLogFilter`).
"""

from __future__ import annotations

import concurrent.futures
import email.utils
import enum
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import requests
import spotipy
from requests.adapters import HTTPAdapter
from spotipy.cache_handler import MemoryCacheHandler
from spotipy.oauth2 import SpotifyClientCredentials, SpotifyOauthError
from urllib3.util.retry import Retry

from models.errors import SpotifyUnavailable
from recommender.catalog import Catalog, normalise_key
from recommender.engine import MAX_PER_SUBGENRE, NO_PREFERENCES, Recommender
from recommender.preferences import Preferences
from recommender.track import SPOTIFY_ID, Track

if TYPE_CHECKING:
    from bot.settings import Settings
    from models.emotion import Emotion
    from recommender.moods import Strategy, Target
    from recommender.track import Mood

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "LiveRecommender",
    "LiveStatus",
    "SpotifyClient",
    "SpotifyRateLimited",
    "build_recommender",
]

log = logging.getLogger(__name__)

MAX_IDS_PER_REQUEST = 50  # GET /tracks refuses more
MAX_SEARCH_LIMIT = 50
RETRY_BACKOFF = 0.2  # seconds before our single retry of a 5xx or timeout
MAX_RETRY_AFTER = 300.0  # a 429 pauses Spotify for its Retry-After, but never longer than this
FAILURE_THRESHOLD = 3
COOLDOWN = 60.0
DEFAULT_DEADLINE = 1.5  # the reply never waits longer than this for Spotify

T = TypeVar("T")


class SpotifyRateLimited(SpotifyUnavailable):
    """Spotify answered 429; `retry_after` is its Retry-After in seconds (None if absent)."""

    def __init__(self, detail: str, retry_after: float | None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class _Transient(SpotifyUnavailable):
    """A failure worth one quick retry (5xx, timeout, connection refused)."""


# -- circuit breaker ------------------------------------------------------------------------------


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Stops calling a failing service for a while.

    Closed: calls go ahead; `failure_threshold` consecutive failures open it. Open: no calls
    until `cooldown` seconds (or the time given to `open_for`) have passed. Half-open: exactly
    one trial call goes ahead; its success closes the breaker, its failure opens it again.
    Thread-safe; `clock` (monotonic seconds) is injectable for tests.
    """

    def __init__(
        self,
        failure_threshold: int = FAILURE_THRESHOLD,
        cooldown: float = COOLDOWN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self.clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._open_until: float | None = None  # set while open or half-open
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    @property
    def consecutive_failures(self) -> int:
        with self._lock:
            return self._failures

    def retry_in(self) -> float:
        """Seconds until the breaker half-opens (0 unless open)."""
        with self._lock:
            if self._open_until is None:
                return 0.0
            return max(0.0, self._open_until - self.clock())

    def allow(self) -> bool:
        """May a call go ahead now? In half-open state this hands out the single trial call,
        so a caller that got True must report back with record_success/record_failure."""
        with self._lock:
            state = self._state()
            if state is BreakerState.CLOSED:
                return True
            if state is BreakerState.HALF_OPEN and not self._trial_running:
                self._trial_running = True
                return True
            return False

    def record_success(self) -> bool:
        """A call succeeded; returns True if that closed an open/half-open breaker."""
        with self._lock:
            state = self._state()
            if state is BreakerState.OPEN:
                return False  # a call from before the breaker opened; the pause still stands
            self._failures = 0
            self._trial_running = False
            reopened = self._open_until is not None
            self._open_until = None
            return reopened

    def record_failure(self) -> bool:
        """A call failed; returns True if that opened the breaker."""
        with self._lock:
            state = self._state()
            if state is BreakerState.OPEN:
                return False  # already paused; don't extend the pause for stragglers
            self._failures += 1
            if state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
                self._trip(self.cooldown)
                return True
            return False

    def open_for(self, seconds: float) -> None:
        """Open now for `seconds` whatever the failure count (e.g. Spotify said Retry-After)."""
        with self._lock:
            self._failures = max(self._failures, self.failure_threshold)
            until = self.clock() + max(0.0, seconds)
            # Never shorten a longer pause that is already running.
            if self._open_until is None or until > self._open_until:
                self._open_until = until
            self._trial_running = False

    def _trip(self, seconds: float) -> None:
        self._open_until = self.clock() + seconds
        self._trial_running = False

    def _state(self) -> BreakerState:
        if self._open_until is None:
            return BreakerState.CLOSED
        if self.clock() < self._open_until:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN


# -- spotipy client -------------------------------------------------------------------------------


class _TokenClientCredentials(SpotifyClientCredentials):
    """Client-credentials flow against a configurable token URL.

    spotipy reads `self.OAUTH_TOKEN_URL`, so an instance attribute is enough and the class
    constant (shared by every spotipy user in the process) stays untouched.
    """

    def __init__(self, token_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.OAUTH_TOKEN_URL = token_url

    def forget_token(self) -> None:
        self.cache_handler.save_token_to_cache(None)


class _SpotipyLogFilter(logging.Filter):
    """Drops spotipy records that leak secrets or duplicate our own warnings.

    "Sending ..." (DEBUG) prints request headers: base64 client id:secret and the Bearer token.
    "HTTP Error ..." / "Max Retries ..." / "...rate/request limit..." repeat, at ERROR, failures
    we already log once at WARNING with the endpoint and status.
    """

    _DROP = ("Sending ", "HTTP Error", "Max Retries", "Your application has reached")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        return not message.startswith(self._DROP)


_LOG_FILTER = _SpotipyLogFilter()


def _install_log_filter() -> None:
    for name in ("spotipy.client", "spotipy.oauth2", "spotipy.util"):
        logger = logging.getLogger(name)
        if _LOG_FILTER not in logger.filters:
            logger.addFilter(_LOG_FILTER)


def _session() -> requests.Session:
    """A session that never retries and never sleeps: no status retries, no Retry-After."""
    session = requests.Session()
    no_retry = Retry(total=0, read=False, redirect=False, respect_retry_after_header=False)
    adapter = HTTPAdapter(max_retries=no_retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class SpotifyClient:
    """The few Spotify Web API calls we use, via spotipy and the client-credentials flow.

    Methods block (up to about 2 x timeout + RETRY_BACKOFF); call them off the event loop.
    They raise SpotifyUnavailable (SpotifyRateLimited for 429) and never sleep on Retry-After.
    """

    def __init__(self, settings: Settings, *, retry_backoff: float = RETRY_BACKOFF) -> None:
        if not settings.spotify_enabled:
            raise ValueError("Spotify client id and secret are not set")
        _install_log_filter()
        self.timeout = settings.spotify_timeout
        self.retry_backoff = min(retry_backoff, 0.3)
        self._http = _session()
        self._auth = _TokenClientCredentials(
            settings.spotify_token_url,
            client_id=settings.spotify_client_id,
            client_secret=settings.spotify_client_secret,
            requests_session=self._http,
            requests_timeout=self.timeout,
            cache_handler=MemoryCacheHandler(),  # not spotipy's default `.cache` file
        )
        # Our session replaces spotipy's retrying one; the retry arguments are moot then but
        # say what we mean should spotipy ever build its own session.
        self._sp = spotipy.Spotify(
            auth_manager=self._auth,
            requests_session=self._http,
            requests_timeout=self.timeout,
            retries=0,
            status_retries=0,
            backoff_factor=0,
        )
        # spotipy prepends `prefix` to relative paths by plain concatenation.
        api_url = settings.spotify_api_url
        self._sp.prefix = api_url if api_url.endswith("/") else api_url + "/"

    def close(self) -> None:
        self._http.close()

    def available(self, track_ids: Iterable[str], *, give_up_at: float | None = None) -> set[str]:
        """The ids among `track_ids` that Spotify still has (GET /tracks, 50 ids a request).

        Malformed ids are never sent and never reported available. `give_up_at` (a
        time.monotonic() value) stops us starting a retry that would finish too late.
        """
        ids = list(dict.fromkeys(i for i in track_ids if SPOTIFY_ID.match(i)))
        found: set[str] = set()
        for start in range(0, len(ids), MAX_IDS_PER_REQUEST):
            batch = ids[start : start + MAX_IDS_PER_REQUEST]
            data = self._call("tracks", give_up_at, self._sp.tracks, batch)
            items = data.get("tracks") if isinstance(data, dict) else None
            if not isinstance(items, list) or len(items) != len(batch):
                raise SpotifyUnavailable("Spotify tracks: unexpected response shape")
            # Spotify answers in request order with null for unknown ids. Match by position:
            # with a market, a relinked track comes back under a different id.
            for asked, item in zip(batch, items, strict=True):
                if isinstance(item, dict) and item.get("is_playable") is not False:
                    found.add(asked)
        return found

    def search(
        self, query: str, limit: int = 10, *, give_up_at: float | None = None
    ) -> list[Track]:
        """Tracks matching `query` (Spotify search syntax), best first; genre is unknown ("")
        and audio features keep Track's neutral defaults, as Spotify no longer serves them."""
        if not query.strip():
            return []
        limit = max(1, min(int(limit), MAX_SEARCH_LIMIT))
        data = self._call("search", give_up_at, self._sp.search, q=query, limit=limit, type="track")
        page = data.get("tracks") if isinstance(data, dict) else None
        items = page.get("items") if isinstance(page, dict) else None
        if not isinstance(items, list):
            raise SpotifyUnavailable("Spotify search: unexpected response shape")
        # Spotify search occasionally returns null items; skip anything we can't use.
        return [t for t in map(_track_from_json, items) if t is not None][:limit]

    def _call(
        self,
        what: str,
        give_up_at: float | None,
        fn: Callable[..., T],
        /,
        *args: Any,
        **kwargs: Any,
    ) -> T:
        """fn(*args, **kwargs), retried once after a short pause on 5xx/timeouts only."""
        for attempt in (1, 2):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                error = self._translate(what, exc)
                late = give_up_at is not None and (
                    time.monotonic() + self.retry_backoff >= give_up_at
                )
                if attempt == 2 or not isinstance(error, _Transient) or late:
                    raise error from exc
                log.debug("%s; retrying once", error)
            time.sleep(self.retry_backoff)
        raise AssertionError("unreachable")  # pragma: no cover

    def _translate(self, what: str, exc: Exception) -> SpotifyUnavailable:
        """Any failure -> SpotifyUnavailable with a short message that holds no secrets."""
        if isinstance(exc, SpotifyUnavailable):
            return exc
        status, headers = _status_and_headers(exc)
        if status == 429:
            retry_after = _retry_after(headers.get("Retry-After"))
            return SpotifyRateLimited(
                f"Spotify {what}: HTTP 429 (Retry-After {headers.get('Retry-After')})",
                retry_after,
            )
        if status == 401:
            # Token revoked or expired early: fetch a fresh one next time.
            self._auth.forget_token()
        if status is not None:
            kind = _Transient if status >= 500 else SpotifyUnavailable
            return kind(f"Spotify {what}: HTTP {status}")
        if isinstance(exc, requests.Timeout | requests.ConnectionError):
            return _Transient(f"Spotify {what}: {type(exc).__name__}")
        return SpotifyUnavailable(f"Spotify {what}: {type(exc).__name__}")


def _status_and_headers(exc: BaseException) -> tuple[int | None, Any]:
    """HTTP status and headers behind a spotipy/requests error, if there was a response.

    SpotifyOauthError (token endpoint) keeps neither; the requests HTTPError it was raised
    while handling does, as its __context__.
    """
    if isinstance(exc, spotipy.SpotifyException):
        return exc.http_status, exc.headers or {}
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        response = getattr(current, "response", None)
        if isinstance(response, requests.Response):
            return response.status_code, response.headers
        if not isinstance(current, SpotifyOauthError | requests.RequestException):
            break
        current = current.__cause__ or current.__context__
    return None, {}


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None if unusable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _track_from_json(item: Any) -> Track | None:
    """A Spotify track object -> Track (primary artist, as in the catalog), or None."""
    if not isinstance(item, dict):
        return None
    track_id, name, artists = item.get("id"), item.get("name"), item.get("artists")
    if not (isinstance(track_id, str) and SPOTIFY_ID.match(track_id) and isinstance(name, str)):
        return None
    names = [a.get("name") for a in artists or () if isinstance(a, dict)]
    artist = next((n for n in names if isinstance(n, str) and n.strip()), None)
    if not name.strip() or artist is None:
        return None
    popularity = item.get("popularity")
    if not isinstance(popularity, int) or isinstance(popularity, bool):
        popularity = 0
    return Track(
        id=track_id,
        title=name.strip(),
        artist=artist.strip(),
        genre="",
        popularity=max(0, min(100, popularity)),
    )


# -- live recommender -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveStatus:
    """What LiveRecommender.status() reports, for logs and /health-style output."""

    enabled: bool
    breaker: BreakerState
    consecutive_failures: int
    retry_in: float
    last_error: str | None

    def __str__(self) -> str:
        if not self.enabled:
            return "spotify=off"
        text = f"spotify={self.breaker.value} failures={self.consecutive_failures}"
        if self.retry_in:
            text += f" retry_in={self.retry_in:.0f}s"
        if self.last_error:
            text += f" last_error={self.last_error!r}"
        return text


class _Once:
    """Lets exactly one of the caller (deadline passed) and the worker (call finished)
    report a call's outcome to the breaker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claimed = False

    def claim(self) -> bool:
        with self._lock:
            if self._claimed:
                return False
            self._claimed = True
            return True


class LiveRecommender:
    """The catalog Recommender, with picks checked against live Spotify when that is quick.

    `recommend` always computes the catalog picks first. If a client is configured and the
    breaker lets a call through, it also ranks n reserve tracks (same request, other artists),
    asks Spotify in one GET /tracks which of picks + reserves still exist, and replaces gone
    picks in place with available reserves (the catalog again as a last resort). Spotify gets
    at most `deadline` seconds from the start of the call; on any failure, timeout or open
    breaker the catalog picks are returned unaltered. Blocking: run it off the event loop.
    """

    def __init__(
        self,
        recommender: Recommender,
        client: SpotifyClient | None = None,
        *,
        breaker: CircuitBreaker | None = None,
        deadline: float = DEFAULT_DEADLINE,
        max_workers: int = 2,
    ) -> None:
        self.recommender = recommender
        self.client = client
        self.breaker = breaker or CircuitBreaker()
        self.deadline = deadline
        self._lock = threading.Lock()
        self._last_error: str | None = None
        self._closed = False
        self._executor = (
            concurrent.futures.ThreadPoolExecutor(max_workers, thread_name_prefix="spotify")
            if client is not None
            else None
        )

    @property
    def catalog(self) -> Catalog:
        return self.recommender.catalog

    def target(
        self,
        emotion: Emotion | str | None = None,
        mood: Mood | str | None = None,
        strategy: Strategy | str | None = None,
    ) -> Target:
        return self.recommender.target(emotion, mood, strategy)

    def status(self) -> LiveStatus:
        with self._lock:
            last_error = self._last_error
        return LiveStatus(
            enabled=self.client is not None,
            breaker=self.breaker.state,
            consecutive_failures=self.breaker.consecutive_failures,
            retry_in=self.breaker.retry_in(),
            last_error=last_error,
        )

    def close(self) -> None:
        """Stop the worker threads (a call still running finishes within its HTTP timeout)."""
        self._closed = True
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self.client is not None:
            self.client.close()

    def recommend(
        self,
        emotion: Emotion | None = None,
        mood: Mood | None = None,
        n: int = 5,
        *,
        prefs: Preferences = NO_PREFERENCES,
        exclude: Collection[str] = (),
        seed: int | None = None,
        deadline: float | None = None,
    ) -> list[Track]:
        """As Recommender.recommend, with gone tracks swapped out if Spotify answers in time."""
        give_up_at = time.monotonic() + (self.deadline if deadline is None else deadline)

        def pick(
            count: int, avoid_ids: Collection[str], avoid_artists: Collection[str]
        ) -> list[Track]:
            avoid = replace(prefs, disliked_artists=frozenset(avoid_artists))
            return self.recommender.recommend(
                emotion, mood, count, prefs=avoid, exclude=avoid_ids, seed=seed
            )

        disliked_artists = prefs.disliked_artists
        picks = pick(n, exclude, disliked_artists)
        if self.client is None or self._closed or not picks:
            return picks
        try:
            return self._enrich(picks, pick, exclude, disliked_artists, give_up_at)
        except Exception:
            # Only reachable through a bug in the enrichment; the catalog reply still stands.
            log.exception("live Spotify enrichment failed; using catalog picks")
            return picks

    def _enrich(
        self,
        picks: list[Track],
        pick: Callable[[int, Collection[str], Collection[str]], list[Track]],
        exclude: Collection[str],
        disliked_artists: Collection[str],
        give_up_at: float,
    ) -> list[Track]:
        """`picks` with the tracks Spotify says are gone replaced (see the class docstring)."""
        if self.breaker.state is BreakerState.OPEN:
            return picks  # cheap early exit: no reserves, no thread, no HTTP
        # Reserves: the next-best tracks by other artists, checked in the same request so a
        # gone pick can be replaced by a track Spotify has just confirmed.
        pick_ids = {t.id for t in picks}
        reserves = pick(
            len(picks),
            set(exclude) | pick_ids,
            set(disliked_artists) | {t.artist for t in picks},
        )
        reserves = [t for t in reserves if t.id not in pick_ids]
        checked = picks + reserves
        available = self._check([t.id for t in checked], give_up_at)
        if available is None or pick_ids <= available:
            return picks
        if not available:
            # Every id we asked about "gone" is far likelier a broken answer than mass removal.
            self._note_error("Spotify said none of the checked tracks exist; ignoring that")
            log.warning(
                "Spotify said none of %d checked tracks exist; keeping catalog picks",
                len(checked),
            )
            return picks
        gone = {t.id for t in checked if t.id not in available}
        replaced = _replace_gone(picks, available, (t for t in reserves if t.id in available))
        if any(t.id in gone for t in replaced):
            # Not enough confirmed reserves: fall back to unchecked catalog picks.
            kept = [t for t in replaced if t.id not in gone]
            more = pick(
                len(picks) * 2,
                set(exclude) | gone | {t.id for t in kept},
                set(disliked_artists) | {t.artist for t in kept},
            )
            replaced = _replace_gone(replaced, available, (t for t in more if t.id not in gone))
        log.info("Spotify: %d of %d picks gone, replaced", len(pick_ids - available), len(picks))
        return replaced

    def _check(self, ids: Sequence[str], give_up_at: float) -> set[str] | None:
        """Spotify's available subset of `ids`, or None if it failed or missed the deadline."""
        assert self._executor is not None and self.client is not None
        remaining = give_up_at - time.monotonic()
        if remaining <= 0 or not self.breaker.allow():
            return None
        once = _Once()
        try:
            future = self._executor.submit(self._work, ids, give_up_at, once)
        except RuntimeError:  # closed meanwhile; release a half-open trial we may hold
            self._outcome(once, SpotifyUnavailable("Spotify client closed"))
            return None
        try:
            return future.result(timeout=max(0.0, give_up_at - time.monotonic()))
        except concurrent.futures.TimeoutError:
            future.cancel()  # if it never started, it never will
            self._outcome(once, SpotifyUnavailable(f"Spotify: no answer within {remaining:.1f}s"))
            return None
        except Exception:
            return None  # the worker has reported it

    def _work(self, ids: Sequence[str], give_up_at: float, once: _Once) -> set[str]:
        """Runs in a worker thread: the Spotify call, with its outcome reported to the breaker."""
        assert self.client is not None
        try:
            result = self.client.available(ids, give_up_at=give_up_at)
        except SpotifyUnavailable as exc:
            self._outcome(once, exc)
            raise
        except Exception as exc:  # a bug or an odd response; still only an enrichment failure
            self._outcome(once, SpotifyUnavailable(f"Spotify: unexpected {type(exc).__name__}"))
            raise
        self._outcome(once, None)
        return result

    def _outcome(self, once: _Once, error: SpotifyUnavailable | None) -> None:
        """Tell the breaker how a call went (once per call), and log failures."""
        if isinstance(error, SpotifyRateLimited):
            # Always honour a 429, even if the caller stopped waiting: it is Spotify asking us
            # to back off. Capped, so a huge Retry-After cannot switch Spotify off for good.
            pause = min(
                error.retry_after if error.retry_after is not None else self.breaker.cooldown,
                MAX_RETRY_AFTER,
            )
            self.breaker.open_for(pause)
            if once.claim():
                self._note_error(str(error))
                log.warning("%s; pausing Spotify for %.0f s", error, pause)
            return
        if not once.claim():
            if error is not None:
                log.debug("late Spotify failure after the deadline: %s", error)
            return
        if error is None:
            if self.breaker.record_success():
                log.info("Spotify answers again; breaker closed")
            return
        self._note_error(str(error))
        if self.breaker.record_failure():
            log.warning("%s; pausing Spotify for %.0f s", error, self.breaker.retry_in())
        else:
            log.warning("%s; using catalog picks", error)

    def _note_error(self, message: str) -> None:
        with self._lock:
            self._last_error = message


def _replace_gone(
    picks: Sequence[Track], available: Collection[str], candidates: Iterable[Track]
) -> list[Track]:
    """`picks` with each track not in `available` replaced, in place, by the first candidate
    that keeps artists distinct and subgenres within MAX_PER_SUBGENRE (relaxing the subgenre
    cap before keeping a gone track). A slot with no usable candidate keeps its track."""
    result = list(picks)
    gone_slots = [i for i, t in enumerate(result) if t.id not in available]
    pool = list(candidates)
    for relax in (False, True):
        for slot in list(gone_slots):
            others = [t for i, t in enumerate(result) if i not in gone_slots]
            artists = {normalise_key(t.artist) for t in others}
            subgenres = Counter(t.subgenre for t in others if t.subgenre)
            ids = {t.id for t in others}
            for j, c in enumerate(pool):
                if c.id in ids or normalise_key(c.artist) in artists:
                    continue
                if not relax and c.subgenre and subgenres[c.subgenre] >= MAX_PER_SUBGENRE:
                    continue
                result[slot] = pool.pop(j)
                gone_slots.remove(slot)
                break
    return result


def build_recommender(
    settings: Settings, catalog_recommender: Recommender
) -> Recommender | LiveRecommender:
    """LiveRecommender when Spotify credentials are set, else the catalog Recommender itself.

    Makes no network call: spotipy fetches its token on the first request.
    """
    if not settings.spotify_enabled:
        return catalog_recommender
    return LiveRecommender(catalog_recommender, SpotifyClient(settings))
