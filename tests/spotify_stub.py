"""A small, real HTTP server standing in for Spotify's accounts and Web API, for tests.

The server listens on 127.0.0.1 (a free port) in a daemon thread and answers the few calls
MoodTune makes, with the JSON shapes Spotify uses::

    POST {root_url}/api/token            client-credentials flow (Basic auth, form body)
    GET  {root_url}/v1/tracks?ids=a,b    {"tracks": [track | null, ...]}, at most 50 ids

so spotipy can be pointed at it (`token_url`, `api_url`). API calls need the Bearer token the
token endpoint issued. Every request is recorded (`requests`, `token_requests`, `api_requests`).

`mode` (for the API) and `token_mode` (for the token endpoint) say how to answer:

* ``"ok"``: normally.
* ``"429"``: 429 with ``Retry-After: {retry_after}`` (3600 by default), as Spotify rate-limits.
* ``"500"``: 500 with Spotify's error body.
* ``"hang"``: wait `hang_seconds` before answering; `stop()` cuts the wait short.
* ``"gone:<id>,<id>"``: those tracks are null in /tracks.

Every well-formed 22-character id exists unless it is gone, with a made-up name and artist.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["SpotifyStub", "StubRequest"]

JSONDict = dict[str, Any]

CLIENT_ID = "id"
CLIENT_SECRET = "secret"
MAX_IDS = 50
_ID = re.compile(r"^[0-9A-Za-z]{22}$")
_MODES = ("ok", "429", "500", "hang")


@dataclass(frozen=True, slots=True)
class StubRequest:
    """One request the stub received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str = ""
    at: float = field(default_factory=time.monotonic)


class SpotifyStub:
    """Fake Spotify; see the module docstring. Use `start()`/`stop()` or a `with` block."""

    def __init__(
        self,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        *,
        hang_seconds: float = 10.0,
        retry_after: int = 3600,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.hang_seconds = hang_seconds
        self.retry_after = retry_after
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._mode = "ok"
        self._token_mode = "ok"
        self._requests: list[StubRequest] = []
        self._errors: list[BaseException] = []
        self._tokens: set[str] = set()
        self._in_flight = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> SpotifyStub:
        stub = self

        class Handler(_Handler):
            pass

        Handler.stub = stub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="spotify-stub",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> int:
        """Stop serving, cut hangs short; returns how many requests were still running."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
        end = time.monotonic() + timeout
        with self._idle:
            while self._in_flight and time.monotonic() < end:
                self._idle.wait(end - time.monotonic())
            return self._in_flight

    def __enter__(self) -> SpotifyStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        assert self._server is not None, "stub not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.root_url}/v1/"

    @property
    def token_url(self) -> str:
        return f"{self.root_url}/api/token"

    # -- behaviour ------------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        with self._lock:
            return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        value = _check_mode(value)
        with self._lock:
            self._mode = value

    @property
    def token_mode(self) -> str:
        with self._lock:
            return self._token_mode

    @token_mode.setter
    def token_mode(self, value: str) -> None:
        value = _check_mode(value)
        with self._lock:
            self._token_mode = value

    # -- what happened --------------------------------------------------------------------------

    @property
    def requests(self) -> list[StubRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def token_requests(self) -> list[StubRequest]:
        return [r for r in self.requests if r.path == "/api/token"]

    @property
    def api_requests(self) -> list[StubRequest]:
        return [r for r in self.requests if r.path.startswith("/v1/")]

    def clear(self) -> None:
        """Forget recorded requests (tokens stay valid)."""
        with self._lock:
            self._requests.clear()

    def check_errors(self) -> None:
        """Re-raise the first exception a handler hit, so a broken stub fails the test."""
        with self._lock:
            if self._errors:
                raise AssertionError("spotify stub crashed") from self._errors[0]

    # -- used by the handler --------------------------------------------------------------------

    def _record(self, request: StubRequest) -> None:
        with self._lock:
            self._requests.append(request)
            self._in_flight += 1

    def _done(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def _gone(self) -> set[str]:
        mode = self.mode
        return set(mode[5:].split(",")) if mode.startswith("gone:") else set()

    def _issue_token(self) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens.add(token)
        return token

    def _valid_token(self, token: str) -> bool:
        with self._lock:
            return token in self._tokens

    def _track_json(self, track_id: str) -> JSONDict:
        name, artist = f"Song {track_id[:6]}", f"Artist {track_id[:6]}"
        return track_json(self.api_url, track_id, name, artist, 40)


def _check_mode(value: str) -> str:
    if value in _MODES or value.startswith("gone:"):
        return value
    raise ValueError(f"unknown stub mode {value!r}")


def _made_up_id(seed: str, i: int) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    number = int(hashlib.sha256(f"{seed}:{i}".encode()).hexdigest(), 16)
    chars = []
    for _ in range(22):
        number, r = divmod(number, 62)
        chars.append(alphabet[r])
    return "".join(chars)


def track_json(api_url: str, track_id: str, name: str, artist: str, popularity: int) -> JSONDict:
    """A full track object, shaped like Spotify's (client-credentials view, no market)."""
    artist_id = _made_up_id(artist, 0)
    album_id = _made_up_id(f"album:{track_id}", 0)
    artist_obj = {
        "external_urls": {"spotify": f"https://open.spotify.com/artist/{artist_id}"},
        "href": f"{api_url}artists/{artist_id}",
        "id": artist_id,
        "name": artist,
        "type": "artist",
        "uri": f"spotify:artist:{artist_id}",
    }
    return {
        "album": {
            "album_type": "album",
            "artists": [artist_obj],
            "available_markets": ["DE", "GB", "US"],
            "external_urls": {"spotify": f"https://open.spotify.com/album/{album_id}"},
            "href": f"{api_url}albums/{album_id}",
            "id": album_id,
            "images": [{"height": 640, "url": f"https://i.scdn.co/image/{album_id}", "width": 640}],
            "name": f"{name} (Album)",
            "release_date": "2019-05-17",
            "release_date_precision": "day",
            "total_tracks": 12,
            "type": "album",
            "uri": f"spotify:album:{album_id}",
        },
        "artists": [artist_obj],
        "available_markets": ["DE", "GB", "US"],
        "disc_number": 1,
        "duration_ms": 200_000 + sum(map(ord, track_id)) * 7,
        "explicit": False,
        "external_ids": {"isrc": f"USXX1{track_id[:7].upper()}"},
        "external_urls": {"spotify": f"https://open.spotify.com/track/{track_id}"},
        "href": f"{api_url}tracks/{track_id}",
        "id": track_id,
        "is_local": False,
        "name": name,
        "popularity": popularity,
        "preview_url": None,
        "track_number": 1,
        "type": "track",
        "uri": f"spotify:track:{track_id}",
    }


class _Handler(BaseHTTPRequestHandler):
    stub: SpotifyStub
    # HTTP/1.0: one request per connection, so no handler thread lingers on a kept-alive socket.
    protocol_version = "HTTP/1.0"
    server_version = "SpotifyStub/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # keep test output clean

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        request = StubRequest(
            method=method,
            path=url.path,
            query=dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        self.stub._record(request)
        try:
            self._route(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout); nothing to answer
        except Exception as exc:  # pragma: no cover - reported by check_errors
            with self.stub._lock:
                self.stub._errors.append(exc)
            raise
        finally:
            self.stub._done()

    # -- routing --------------------------------------------------------------------------------

    def _route(self, request: StubRequest) -> None:
        if request.path == "/api/token":
            if request.method != "POST":
                return self._json(405, {"error": {"status": 405, "message": "Method not allowed"}})
            if not self._apply_mode(self.stub.token_mode, token=True):
                return None
            return self._token(request)
        if request.path.startswith("/v1/"):
            if request.method != "GET":
                return self._json(405, {"error": {"status": 405, "message": "Method not allowed"}})
            if not self._authorised(request):
                return self._json(
                    401, {"error": {"status": 401, "message": "Invalid access token"}}
                )
            if not self._apply_mode(self.stub.mode, token=False):
                return None
            parts = [p for p in request.path.split("/") if p]
            # spotipy asks for "tracks/?ids=..." (trailing slash), which Spotify also accepts.
            if parts == ["v1", "tracks"]:
                return self._tracks(request)
        return self._json(404, {"error": {"status": 404, "message": "Service not found"}})

    def _apply_mode(self, mode: str, *, token: bool) -> bool:
        """Answer per the failure mode; True when the request should be served normally."""
        if mode == "429":
            self._json(
                429,
                {"error": {"status": 429, "message": "API rate limit exceeded"}},
                headers={"Retry-After": str(self.stub.retry_after)},
            )
            return False
        if mode == "500":
            if token:
                self._json(500, {"error": "server_error", "error_description": "Server error"})
            else:
                self._json(500, {"error": {"status": 500, "message": "Server error"}})
            return False
        # Hang on the stop event, not time.sleep, so stopping the stub ends the hang at once.
        return not (mode == "hang" and self.stub._stopping.wait(self.stub.hang_seconds))

    def _authorised(self, request: StubRequest) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme == "Bearer" and self.stub._valid_token(token)

    def _token(self, request: StubRequest) -> None:
        expected = base64.b64encode(
            f"{self.stub.client_id}:{self.stub.client_secret}".encode()
        ).decode("ascii")
        if request.headers.get("authorization", "") != f"Basic {expected}":
            return self._json(
                400, {"error": "invalid_client", "error_description": "Invalid client"}
            )
        form = dict(urllib.parse.parse_qsl(request.body))
        if form.get("grant_type") != "client_credentials":
            return self._json(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant_type parameter is missing",
                },
            )
        token = self.stub._issue_token()
        return self._json(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    def _tracks(self, request: StubRequest) -> None:
        ids = [i for i in request.query.get("ids", "").split(",") if i]
        if not ids:
            return self._bad_request("invalid id")
        if len(ids) > MAX_IDS:
            return self._bad_request("Too many ids requested")
        if not all(_ID.match(i) for i in ids):
            return self._bad_request("invalid id")
        gone = self.stub._gone()
        tracks = [None if i in gone else self.stub._track_json(i) for i in ids]
        return self._json(200, {"tracks": tracks})

    # -- responses ------------------------------------------------------------------------------

    def _bad_request(self, message: str) -> None:
        self._json(400, {"error": {"status": 400, "message": message}})

    def _json(self, status: int, payload: JSONDict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
