"""The photo download reads at most MAX_IMAGE_BYTES, however much the server would send."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.download import Downloader
from models.errors import ImageTooLarge

CAP = 256 * 1024


class _Endless(BaseHTTPRequestHandler):
    """A body that never ends (no Content-Length): only a reader that stops can return."""

    sent = 0

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        if self.path == "/announced":
            self.send_header("Content-Length", str(10 * CAP))
        self.end_headers()
        chunk = b"\xff" * 65536
        try:
            while type(self).sent < 1000 * CAP:
                self.wfile.write(chunk)
                type(self).sent += len(chunk)
        except OSError:
            pass  # the reader hung up: what we want


@pytest.fixture
def endless() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endless)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    _Endless.sent = 0
    try:
        yield "http://{}:{}".format(*server.server_address[:2])
    finally:
        server.shutdown()
        server.server_close()


async def test_an_endless_body_is_cut_at_the_cap(endless: str):
    downloader = Downloader(CAP)
    try:
        with pytest.raises(ImageTooLarge):
            await downloader.download(f"{endless}/photo")
    finally:
        await downloader.close()
    assert _Endless.sent < 100 * CAP  # stopped long before the server would have


async def test_an_announced_size_over_the_cap_is_refused_before_the_body(endless: str):
    downloader = Downloader(CAP)
    try:
        with pytest.raises(ImageTooLarge, match="announced"):
            await downloader.download(f"{endless}/announced")
    finally:
        await downloader.close()
