"""N webhook worker processes on one port, each listening on a socket of its own (SO_REUSEPORT).

uvicorn's multi-process mode hands all its workers one shared listening socket, and asyncio
accepts every connection waiting on it at once: whichever worker wakes first takes most of a
burst, and since Telegram keeps its connections open, that split lasts. Here every worker has
its own socket, all bound to the same port with SO_REUSEPORT, and the Linux kernel spreads new
connections over them (by a hash of each connection's addresses), whoever is awake.

The supervisor keeps what uvicorn's does: the workers are uvicorn servers in spawned processes;
SIGTERM or SIGINT is passed on to them and they drain (requests in flight finish, within
uvicorn's graceful timeout) before it exits; a worker that died is started again on the same
socket. The supervisor holds every socket open, so connections that reached a dead worker's
socket wait in its queue for the replacement instead of being reset. A worker whose app cannot
even be loaded (uvicorn exits with STARTUP_FAILURE) stops the lot, as in uvicorn: a restart
would fail the same way.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from multiprocessing.process import BaseProcess

import uvicorn
from uvicorn._subprocess import get_subprocess  # what uvicorn's own supervisors spawn with

log = logging.getLogger(__name__)

STARTUP_FAILURE = 3  # uvicorn's exit code when the app cannot be loaded (uvicorn.config)
CHECK_EVERY = 0.5  # seconds between looks at the workers, as uvicorn's supervisor


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port that other sockets may bind too (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class Supervisor:
    """Runs `config.workers` uvicorn workers, one socket each, until SIGTERM or SIGINT."""

    def __init__(self, config: uvicorn.Config) -> None:
        self.config = config
        self.sockets = [reuseport_socket(config.host, config.port) for _ in range(config.workers)]
        self.workers: list[BaseProcess] = []
        self.should_exit = threading.Event()

    def spawn(self, slot: int) -> BaseProcess:
        server = uvicorn.Server(self.config)
        worker = get_subprocess(self.config, target=server.run, sockets=[self.sockets[slot]])
        worker.start()
        log.info("worker %s started on socket %d", worker.pid, slot)
        return worker

    def run(self) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, frame: self.should_exit.set())
        self.workers = [self.spawn(slot) for slot in range(len(self.sockets))]
        failed = False
        while not self.should_exit.wait(CHECK_EVERY):
            failed = self.keep_alive()
        for worker in self.workers:
            if worker.exitcode is None:
                worker.terminate()  # SIGTERM: uvicorn's graceful drain in the worker
        for worker in self.workers:
            worker.join()
        for sock in self.sockets:
            sock.close()
        return 1 if failed else 0

    def keep_alive(self) -> bool:
        """Start a worker in place of each that died; True (and stop) if one could not start."""
        for slot, worker in enumerate(self.workers):
            if worker.is_alive() or self.should_exit.is_set():  # Ctrl-C reaches them all
                continue
            worker.join()
            if worker.exitcode == STARTUP_FAILURE:
                log.error("worker %s failed to start: stopping", worker.pid)
                self.should_exit.set()
                return True
            log.warning("worker %s died (exit code %s): starting another", worker.pid,
                        worker.exitcode)  # fmt: skip
            self.workers[slot] = self.spawn(slot)
        return False
