"""Load benchmark: people sending selfies at once to a real bot process, against the stand-in.

    python -m tests.load                 # 40 people x 3 selfies, then 100 x 2
    python -m tests.load --people 40 --selfies 3 --burst
    python -m tests.load --people 40 --selfies 3 --keep-alive   # connections reused, as Telegram

Each person sends a selfie, waits for the answer, sends the next (``--burst``: all of them at
once). Latency is from the update being offered to the bot to the stand-in answering the reply
message. Prints p50/p95/max, the bot's peak RSS (VmHWM), its CPU time (and the event loop
thread's share: the part the GIL serialises), and the load average:
the machine is shared, so read the figures beside it. A script, not a test: nothing is asserted
but that every selfie is answered.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from tests import media
from tests.botproc import ROOT, BotProcess
from tests.loopback import serving
from tests.telegram_stub import TelegramStub


def proc_status(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """CPU time of a process, or of one of its threads (the main thread's id is the pid)."""
    stat = f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat"
    parts = Path(stat).read_text().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


Photo = list[dict]  # PhotoSizes, made once: the stand-in's thumbnailing is not the bot's cost


async def one_person(stub: TelegramStub, user: int, photo: Photo, selfies: int) -> list[float]:
    took = []
    for _ in range(selfies):
        mark, sent = stub.mark(), time.monotonic()
        stub.send_message(user, photo=photo)
        (reply,) = await stub.wait_for(
            "sendMessage", lambda c, u=user: c.ok and c.params["chat_id"] == u,
            since=mark, timeout=300,
        )  # fmt: skip
        took.append(reply.at - sent)
    return took


async def burst(stub: TelegramStub, users: range, photo: Photo, selfies: int) -> list[float]:
    mark, sent = stub.mark(), time.monotonic()
    for _ in range(selfies):
        for user in users:
            stub.send_message(user, photo=photo)
    replies = await stub.wait_for(
        "sendMessage", lambda c: c.ok and c.params["chat_id"] in users,
        since=mark, timeout=600, count=len(users) * selfies,
    )  # fmt: skip
    return [r.at - sent for r in replies]


async def scenario(
    people: int, selfies: int, at_once: bool, image: bytes, root: Path, keep_alive: bool = False
) -> None:
    stand_in = TelegramStub(keep_alive=keep_alive)
    with tempfile.TemporaryDirectory() as tmp, serving(stand_in) as stub:
        bot = BotProcess(stub, Path(tmp) / "load.sqlite3", root, PYTHONDONTWRITEBYTECODE="1")
        try:
            await bot.start()
            photo = stub.user_photo_sizes(image)
            assert bot.proc is not None
            pid = bot.proc.pid
            idle_rss = proc_status(pid)["VmRSS"]
            load_before, cpu_before = os.getloadavg(), cpu_seconds(pid)
            loop_before = cpu_seconds(pid, thread=pid)
            own_before = time.process_time()
            users = range(10_000, 10_000 + people)
            started = time.monotonic()
            if at_once:
                took = await burst(stub, users, photo, selfies)
            else:
                runs = [one_person(stub, u, photo, selfies) for u in users]
                took = [t for person in await asyncio.gather(*runs) for t in person]
            wall = time.monotonic() - started
            status, cpu = proc_status(pid), cpu_seconds(pid) - cpu_before
            loop = cpu_seconds(pid, thread=pid) - loop_before
            own = time.process_time() - own_before
        finally:
            bot.stop()
    took.sort()
    p95 = took[min(len(took) - 1, round(0.95 * (len(took) - 1)))]
    mode = "all at once" if at_once else "each waits for its answer"
    print(
        f"{people} people x {selfies} selfies ({mode}): {len(took)} replies in {wall:.1f} s\n"
        f"  reply latency  first {took[0]:.2f} s  p50 {statistics.median(took):.2f} s  "
        f"p95 {p95:.2f} s  "
        f"max {took[-1]:.2f} s\n"
        f"  bot process    peak RSS {status['VmHWM']} (idle {idle_rss}), "
        f"CPU {cpu:.1f} s ({cpu / len(took) * 1000:.0f} ms a reply, of which "
        f"{loop / len(took) * 1000:.1f} ms on the event loop); stand-in CPU {own:.1f} s\n"
        f"  load average   before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} "
        f"({os.cpu_count()} CPUs)",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, help="one scenario: this many people")
    p.add_argument("--selfies", type=int, default=3, help="selfies per person")
    p.add_argument("--burst", action="store_true", help="send every selfie at once")
    p.add_argument(
        "--keep-alive", action="store_true",
        help="the stand-in keeps connections open, as Telegram does (default: one per call)",
    )  # fmt: skip
    p.add_argument(
        "--bot-root", type=Path, default=ROOT,
        help="run the bot from this checkout (e.g. an older commit, to compare)",
    )  # fmt: skip
    args = p.parse_args(argv)
    photo = media.selfie_1000x750()
    plan = [(args.people, args.selfies)] if args.people else [(40, 3), (100, 2)]
    for people, selfies in plan:
        asyncio.run(scenario(people, selfies, args.burst, photo, args.bot_root, args.keep_alive))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
