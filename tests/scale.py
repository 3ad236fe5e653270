"""Scale benchmark: a burst of selfies on 1 vs 2 webhook workers on PostgreSQL, each worker held to
one core, beside polling on SQLite (one process, also held to one core).

    python -m tests.scale                        # bursts of 120 (40 x 3) and 240 (80 x 3)
    python -m tests.scale --runs webhook1 webhook2   # only the uncapped PostgreSQL pair
    python -m tests.scale --people 40 --selfies 3 --runs webhook1 webhook2

The stand-in queues the whole burst at once and pushes it to the workers over up to 40
connections kept open, as Telegram does (push mode), or hands it to getUpdates (polling).
Workers are pinned once /healthz says they are up: every thread of worker k is moved to CPU k
(os.sched_setaffinity on each thread, as `taskset -a -p -c k PID`; threads started later
inherit it). The stand-in, this script and PostgreSQL run unpinned on the same 2 cores, so
their CPU per reply is printed too: it shows where the cores went.

Telegram's limit of about 30 messages a second binds the whole bot (webhook workers each send
30/N): a burst of 120 answers takes at least 4 s however fast the workers are. So each webhook
setup runs twice: capped (TELEGRAM_MESSAGE_RATE=30, as in production) and UNCAPPED (1000, the
workers' own throughput; the stand-in enforces no limit). Polling sends unthrottled (it honours
429s only). Printed per burst: selfies a second to clear it (first selfie queued to last reply),
reply latency p50/p95/max from the update being queued, messages a second over the replies'
span and the most in any 1 s window, the updates each worker answered, CPU ms per reply of each
process, each worker's CPU seconds and the seconds its threads waited for a CPU (the machine is
shared), the CPU-bound ceiling (each worker's replies per second of its own CPU, summed: the
rate with each worker alone on its core), peak RSS, and the load average. A script, not a test:
nothing is asserted but that each selfie is answered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests import media
from tests.botproc import BotProcess
from tests.load import cpu_seconds, proc_status
from tests.loopback import serving
from tests.postgres import PostgresServer, find_bindir
from tests.telegram_stub import Call, TelegramStub
from tests.webhook import WorkerProcesses, healthy, set_webhook, until

CAP, UNCAPPED = 30.0, 1000.0
WARM_UP = 4  # selfies before the measured bursts: first inferences are slow


def children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        text = Path(f"/proc/{pid}/task/{task}/children").read_text()
        found += [int(c) for c in text.split()]
    return found


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of the process onto these CPUs (`taskset -a -p -c cpus pid`); threads it
    starts later inherit the mask."""
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):  # a thread that has just ended
            os.sched_setaffinity(int(task), cpus)


def cpu_wait(pid: int) -> float:
    """Seconds the process's threads waited, runnable, for a CPU (the machine is shared)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(FileNotFoundError):  # a thread that just ended
            total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[1])
    return total / 1e9


def process_tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live children (PostgreSQL's backends)."""
    total = 0.0
    for p in [pid, *children(pid)]:
        with contextlib.suppress(FileNotFoundError):  # a backend that just ended
            total += cpu_seconds(p)
    return total


@dataclass
class Burst:
    took: list[float]  # seconds from queued to answered, per selfie
    wall: float
    replies: list[Call]
    split: Counter[str]


async def burst(stub: TelegramStub, users: range, photo, selfies: int, pushed: bool) -> Burst:
    mark, sent = stub.mark(), time.monotonic()
    ids = set()
    for _ in range(selfies):
        for user in users:
            ids.add(stub.send_message(user, photo=photo)["update_id"])
    replies = await stub.wait_for(
        "sendMessage", lambda c: c.ok and c.params["chat_id"] in users,
        since=mark, timeout=900, count=len(ids),
    )  # fmt: skip
    wall = max(r.at for r in replies) - sent
    split: Counter[str] = Counter()
    if pushed:  # the worker's 200 is recorded just after its reply: wait for each
        done = await stub.wait_for(
            "push", lambda c: c.ok and c.params["update_id"] in ids,
            since=mark, timeout=60, count=len(ids),
        )  # fmt: skip
        split = Counter(c.result["worker"] for c in done)
    return Burst([r.at - sent for r in replies], wall, replies, split)


def most_in_a_second(times: list[float]) -> int:
    times, best, start = sorted(times), 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


@dataclass
class Usage:
    """What each process spent on a burst."""

    cpu: dict[str, float]  # CPU seconds, by process (workers, stand-in, PostgreSQL)
    wait: dict[str, float]  # seconds the workers' threads waited for a CPU
    rss: dict[str, str]  # the workers' peak RSS
    handled: dict[str, int]  # updates each worker answered 200


def report(name: str, b: Burst, use: Usage) -> None:
    took, n = sorted(b.took), len(b.took)
    p95 = took[min(n - 1, round(0.95 * (n - 1)))]
    at = [r.at for r in b.replies]
    span = max(at) - min(at)
    # Each worker's replies per second of its own CPU: the rate if it had its core to itself.
    ceiling = sum(use.handled[k] / use.cpu[k] for k in use.handled if use.cpu[k])
    load = os.getloadavg()
    print(
        f"  {name}: {n} selfies in {b.wall:.1f} s = {n / b.wall:.1f} selfies/s; reply p50 "
        f"{statistics.median(took):.2f} s p95 {p95:.2f} s max {took[-1]:.2f} s\n"
        f"    messages {n / max(span, 1e-9):.1f}/s over the replies' span, most in any 1 s "
        f"{most_in_a_second(at)}; answered by worker "
        + "/".join(str(v) for v in use.handled.values())
        + "\n    CPU ms a reply: "
        + ", ".join(f"{k} {v / n * 1000:.0f}" for k, v in use.cpu.items())
        + "\n    workers' CPU (ran / waited for a CPU, s): "
        + ", ".join(f"{k} {use.cpu[k]:.1f} / {w:.1f}" for k, w in use.wait.items())
        + f"; CPU-bound ceiling (each worker alone on its core) {ceiling:.0f} selfies/s\n"
        f"    peak RSS: {', '.join(f'{k} {v}' for k, v in use.rss.items())}; "
        f"load average {load[0]:.2f} {load[1]:.2f}",
        flush=True,
    )


class Meter:
    """CPU seconds of the named processes between two looks."""

    def __init__(self, procs: dict[str, int], pg: int | None) -> None:
        self.procs, self.pg = procs, pg

    def waits(self) -> dict[str, float]:
        return {k: cpu_wait(p) for k, p in self.procs.items()}

    def now(self) -> dict[str, float]:
        cpu = {k: cpu_seconds(p) for k, p in self.procs.items()}
        cpu["stand-in+bench"] = time.process_time()
        if self.pg is not None:
            cpu["postgres"] = process_tree_cpu(self.pg)
        return cpu


async def measure(stub: TelegramStub, meter: Meter, plan, image: bytes, label: str) -> None:
    photo = stub.user_photo_sizes(image)  # made once: the stand-in's thumbnails are not measured
    users = iter(range(20_000, 10**9, 1000))
    warm = next(users)
    pushed = bool(stub.calls("setWebhook", since=0))  # webhook mode, not polling
    await burst(stub, range(warm, warm + WARM_UP), photo, 1, pushed)
    for people, selfies in plan:
        first = next(users)
        before, waited = meter.now(), meter.waits()
        b = await burst(stub, range(first, first + people), photo, selfies, pushed)
        after = meter.now()
        use = Usage(
            cpu={k: after[k] - before[k] for k in after},
            wait={k: w - waited[k] for k, w in meter.waits().items()},
            rss={k: proc_status(p)["VmHWM"] for k, p in meter.procs.items()},
            handled={k: b.split.get(str(p), 0) for k, p in meter.procs.items()},
        )
        if not pushed:  # polling: the one process answered all
            use.handled = dict.fromkeys(meter.procs, len(b.took))
        report(f"{label}, {people} x {selfies}", b, use)


async def webhook_run(
    workers: int, rate: float, pg: PostgresServer, url: str, plan, photo, confined: bool
) -> None:
    stand_in = TelegramStub(push_keep_alive=True)  # Telegram keeps its connections open
    with tempfile.TemporaryDirectory() as tmp, serving(stand_in) as stub:
        procs = WorkerProcesses(
            stub, Path(tmp), workers, DATABASE_URL=url,
            TELEGRAM_MESSAGE_RATE=str(rate), PYTHONDONTWRITEBYTECODE="1",
        )  # fmt: skip
        procs.start()
        try:
            await stub.wait_for("setMyCommands", count=3 * workers, timeout=600)
            await until(lambda: healthy(procs.base), 120)
            pids = procs.worker_pids()
            assert len(pids) == workers, pids
            for cpu, pid in enumerate(pids):
                pin(pid, {cpu})
            if confined:
                # The harness onto the workers' CPUs: this process (the stand-in) and PostgreSQL
                # (new backends inherit the postmaster's mask).
                pg_tree = [pg_pid(pg), *children(pg_pid(pg))] if url.startswith("postgres") else []
                for pid in [os.getpid(), *pg_tree]:
                    pin(pid, set(range(workers)))
            set_webhook(stub, procs.url, max_connections=40)
            meter = Meter({f"worker{i}@cpu{i}": p for i, p in enumerate(pids)}, pg_pid(pg))
            cap = "capped at 30 msg/s" if rate == CAP else f"UNCAPPED ({rate:.0f} msg/s allowed)"
            db = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
            where = ", harness on the workers' cores" if confined else ""
            await measure(stub, meter, plan, photo, f"webhook {workers}w {db} {cap}{where}")
        finally:
            procs.stop()


async def polling_run(plan, photo) -> None:
    with tempfile.TemporaryDirectory() as tmp, serving(TelegramStub()) as stub:
        bot = BotProcess(stub, Path(tmp) / "scale.sqlite3", PYTHONDONTWRITEBYTECODE="1")
        try:
            await bot.start()
            assert bot.proc is not None
            pin(bot.proc.pid, {0})
            meter = Meter({"bot@cpu0": bot.proc.pid}, None)
            await measure(stub, meter, plan, photo, "polling 1 process SQLite (unthrottled)")
        finally:
            bot.stop()


def pg_pid(pg: PostgresServer) -> int:
    return int((pg.data / "postmaster.pid").read_text().split()[0])


# webhookN: N workers on PostgreSQL; -capped: at 30 msg/s; -sqlite: on a SQLite file instead (to
# tell the database's round trips from the rest).
RUNS = ["polling", "webhook1", "webhook2", "webhook1-capped", "webhook2-capped",
        "webhook1-sqlite", "webhook2-sqlite"]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, help="one burst: this many people")
    p.add_argument("--selfies", type=int, default=3, help="selfies per person")
    p.add_argument("--runs", nargs="+", choices=RUNS, default=RUNS)
    p.add_argument(
        "--confine", action="store_true",
        help="also hold the stand-in and PostgreSQL to the workers' cores, so 1 and 2 workers "
        "pay for the harness alike (unconfined, 1 worker gets the other core for it free)",
    )  # fmt: skip
    args = p.parse_args(argv)
    plan = [(args.people, args.selfies)] if args.people else [(40, 3), (80, 3)]
    photo = media.selfie_1000x750()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL server binaries not found: apt-get install postgresql")
    pg = PostgresServer(bindir)
    pg.start()
    try:
        for run in args.runs:
            if run == "polling":
                asyncio.run(polling_run(plan, photo))
            elif run.endswith("sqlite"):
                with tempfile.TemporaryDirectory() as tmp:
                    url = f"sqlite:///{tmp}/scale.sqlite3"
                    asyncio.run(
                        webhook_run(int(run[7]), UNCAPPED, pg, url, plan, photo, args.confine)
                    )
            else:
                workers, rate = int(run[7]), CAP if run.endswith("capped") else UNCAPPED
                url = pg.fresh_url()
                asyncio.run(webhook_run(workers, rate, pg, url, plan, photo, args.confine))
    finally:
        pg.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
