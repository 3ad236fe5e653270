"""A small, real HTTP server standing in for Spotify, for tests: only the two calls we make.

It listens on 127.0.0.1 (a free port) and answers in Spotify's JSON shapes, so spotipy can
be pointed at it (`token_url`, `api_url`)::

    POST /api/token          client-credentials flow (Basic auth, form body) -> bearer token
    GET  /v1/tracks?ids=a,b  {"tracks": [track | null, ...]}, at most 50 ids, bearer token

`mode` (for /v1/tracks) and `token_mode` (for /api/token) say how to answer: "ok"; "429"
with `Retry-After: {retry_after}`; "500"; "hang" (hold the request until the stub stops);
"gone:<id>,<id>" (/v1/tracks only: those tracks are null, every other id exists).
Every request is recorded in `requests`.
"""

from __future__ import annotations

import base64
import functools
import json
import secrets
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["SpotifyStub", "StubRequest"]

Answer = tuple[int, dict[str, Any], dict[str, str]]


@dataclass(frozen=True, slots=True)
class StubRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    body: str


class SpotifyStub:
    """Fake Spotify; see the module docstring. `start()`/`stop()` or a `with` block."""

    def __init__(self, client_id: str = "id", client_secret: str = "secret") -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.mode = "ok"
        self.token_mode = "ok"
        self.retry_after = 3600
        self.tokens: set[str] = set()  # issued and still valid
        self._lock = threading.Condition()
        self._requests: list[StubRequest] = []
        self._errors: list[BaseException] = []
        self._in_flight = 0
        self._stopping = threading.Event()
        handler = functools.partial(_Handler, stub=self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> SpotifyStub:
        self._thread.start()
        return self

    def stop(self) -> int:
        """Stop serving and end hangs; returns how many requests were still being answered."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            self._lock.wait_for(lambda: not self._in_flight, timeout=5)
            return self._in_flight

    def __enter__(self) -> SpotifyStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def check_errors(self) -> None:
        """Re-raise the first exception the stub hit, so a broken stub fails the test."""
        with self._lock:
            if self._errors:
                raise AssertionError("spotify stub crashed") from self._errors[0]

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def api_url(self) -> str:
        return f"{self.root_url}/v1/"

    @property
    def token_url(self) -> str:
        return f"{self.root_url}/api/token"

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
        """Forget the recorded requests (tokens stay valid)."""
        with self._lock:
            self._requests.clear()

    def _answer(self, request: StubRequest) -> Answer | None:
        """Status, JSON body and headers for `request`; None to hang up without answering."""
        with self._lock:
            self._requests.append(request)
            tokens = {f"Bearer {t}" for t in self.tokens}
        token = request.path == "/api/token"
        if not token and request.headers.get("authorization") not in tokens:
            return 401, _error(401, "Invalid access token"), {}
        mode = self.token_mode if token else self.mode
        if mode == "hang":
            self._stopping.wait()
            return None
        if mode == "429":
            return (
                429,
                _error(429, "API rate limit exceeded"),
                {"Retry-After": str(self.retry_after)},
            )
        if mode == "500":
            return 500, _error(500, "Server error"), {}
        if mode != "ok" and not mode.startswith("gone:"):
            raise ValueError(f"unknown stub mode {mode!r}")
        if token:
            return self._token(request)
        if request.path.rstrip("/") != "/v1/tracks":  # spotipy asks for "tracks/?ids="
            return 404, _error(404, "Service not found"), {}
        ids = request.query.get("ids", "").split(",")
        if len(ids) > 50:
            return 400, _error(400, "Too many ids requested"), {}
        gone = set(mode.removeprefix("gone:").split(",")) if mode != "ok" else set()
        tracks = [
            None if i in gone else {"id": i, "name": f"Song {i}", "type": "track"} for i in ids
        ]
        return 200, {"tracks": tracks}, {}

    def _token(self, request: StubRequest) -> Answer:
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        form = dict(urllib.parse.parse_qsl(request.body))
        if request.headers.get("authorization") != f"Basic {basic}":
            return 400, {"error": "invalid_client", "error_description": "Invalid client"}, {}
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}, {}
        token = secrets.token_urlsafe(16)
        with self._lock:
            self.tokens.add(token)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600}, {}


def _error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"status": status, "message": message}}


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so no handler thread lingers on a kept-alive socket.
    protocol_version = "HTTP/1.0"

    def __init__(self, *args: Any, stub: SpotifyStub) -> None:
        self.stub = stub
        super().__init__(*args)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # keep test output clean

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        request = StubRequest(
            self.command,
            url.path,
            dict(urllib.parse.parse_qsl(url.query)),
            {k.lower(): v for k, v in self.headers.items()},
            self.rfile.read(length).decode(),
        )
        stub = self.stub
        with stub._lock:
            stub._in_flight += 1
        try:
            answer = stub._answer(request)
            if answer is not None:
                status, payload, headers = answer
                data = json.dumps(payload).encode()
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout); nothing to answer
        except Exception as exc:  # reported by check_errors
            with stub._lock:
                stub._errors.append(exc)
            raise
        finally:
            with stub._lock:
                stub._in_flight -= 1
                stub._lock.notify_all()

    do_POST = do_GET
