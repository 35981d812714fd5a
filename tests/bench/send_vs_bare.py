"""Benchmark: mailproc's outbox (render, queue, send) against a bare aiosmtplib loop.

    .venv/bin/python -m tests.bench.send_vs_bare [--messages 10000] [--connections 4]

Both send to Postfix's ``smtp-sink`` on a free loopback port with the same number of
connections. The baseline sends the very same messages pre-rendered (the bytes mailproc built),
so the ratio shows what rendering, the database and the delivery bookkeeping cost. Printed:
messages a second for each and the ratios (whole pipeline = enqueue with rendering + send;
send only = ``deliver_due`` alone). Figures from one run only; compare ratios, not rates.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiosmtplib

SINK = "/usr/sbin/smtp-sink"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sink(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([SINK, "-u", "nobody", f"127.0.0.1:{port}", "1000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("smtp-sink did not start")


async def bare_loop(port: int, messages: list[tuple[str, str, bytes]], connections: int) -> float:
    queue: asyncio.Queue = asyncio.Queue()
    for m in messages:
        queue.put_nowait(m)

    async def worker():
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60, start_tls=False)
        await smtp.connect()
        while not queue.empty():
            sender, rcpt, raw = queue.get_nowait()
            await smtp.sendmail(sender, [rcpt], raw)
        await smtp.quit()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return time.perf_counter() - started


def run(n: int, connections: int, rounds: int = 5) -> dict:
    """``rounds`` rounds of n/rounds messages, each: mailproc queues (rendering) and sends
    them, then the bare loop sends the very same bytes again. Interleaving keeps load from
    other processes on a shared machine from favouring one side; the ratios printed are the
    medians over the rounds."""
    import statistics

    from sqlalchemy import select

    from mailproc.app import App
    from mailproc.outbound.models import OutboxMessage
    from mailproc.outbound.sender import Sender
    from tests.servers.smtp import outbound_settings

    if not Path(SINK).exists():
        raise SystemExit(f"{SINK} not found: run tests/install-system-packages.sh")
    work = Path(tempfile.mkdtemp(prefix="send-bench-"))
    port = free_port()
    sink = start_sink(port)
    per_round = n // rounds
    figures = []
    try:
        app = App(outbound_settings(work / "data", f"smtp://127.0.0.1:{port}",
                                    smtp={"connections": connections},
                                    outbox={"batch": 500}))
        app.db  # open and migrate before timing
        sender = Sender(app.settings, app.db, source=None)  # no Sent copies: bare makes none
        for r in range(rounds):
            first = r * per_round
            t0 = time.perf_counter()
            for start in range(first, first + per_round, 1000):
                fill_part(app, start, min(first + per_round, start + 1000))
            t1 = time.perf_counter()
            stats = asyncio.run(sender.run_once())
            t2 = time.perf_counter()
            assert stats.sent == per_round, stats
            with app.db.session() as s:
                rows = s.scalars(select(OutboxMessage).where(
                    OutboxMessage.id > first, OutboxMessage.id <= first + per_round))
                msgs = [(x.sender, next(iter(x.recipients)), sender.raw_of(x)) for x in rows]
            bare = asyncio.run(bare_loop(port, msgs, connections))
            figures.append({"enqueue": t1 - t0, "send": t2 - t1, "bare": bare})
    finally:
        sink.terminate()
        sink.wait()
        shutil.rmtree(work, ignore_errors=True)
    med = statistics.median
    return {
        "messages": per_round * rounds, "connections": connections, "rounds": rounds,
        "bare_per_s": round(per_round / med(f["bare"] for f in figures)),
        "mailproc_send_per_s": round(per_round / med(f["send"] for f in figures)),
        "enqueue_render_per_s": round(per_round / med(f["enqueue"] for f in figures)),
        "ratio_send_only": round(med(f["bare"] / f["send"] for f in figures), 2),
        "ratio_pipeline": round(med(f["bare"] / (f["enqueue"] + f["send"])
                                    for f in figures), 2),
        "ratio_pipeline_of_median_rates": round(
            med(f["bare"] for f in figures)
            / (med(f["enqueue"] for f in figures) + med(f["send"] for f in figures)), 2),
        "ratios_pipeline_each_round": [round(f["bare"] / (f["enqueue"] + f["send"]), 2)
                                       for f in figures],
    }


def sender_child(data: str, url: str, connections: int, total: int) -> int:
    """The daemon's part in the concurrent mode: send passes until ``total`` rows are sent."""
    from sqlalchemy import func, select

    from mailproc.app import App
    from mailproc.outbound.models import OutboxMessage
    from mailproc.outbound.sender import Sender
    from tests.servers.smtp import outbound_settings

    app = App(outbound_settings(data, url, smtp={"connections": connections},
                                outbox={"batch": 500}))
    sender = Sender(app.settings, app.db, source=None)
    print("ready", flush=True)
    while True:
        asyncio.run(sender.run_once())
        with app.db.session() as s:
            sent = s.scalar(select(func.count()).select_from(OutboxMessage)
                            .where(OutboxMessage.state == "sent"))
        if sent >= total:
            return 0
        time.sleep(0.01)


def run_concurrent(n: int, connections: int) -> dict:
    """A mailing queued by one process (``enqueue_many`` in chunks of 500, as the mailing
    command does) while the daemon's sender, another process, sends: the wall time from the
    first row queued to the last message accepted, against the bare loop on the same bytes."""
    import os

    from sqlalchemy import select

    from mailproc.app import App
    from mailproc.outbound.models import OutboxMessage
    from mailproc.outbound.sender import Sender
    from tests.servers.smtp import outbound_settings

    work = Path(tempfile.mkdtemp(prefix="send-bench-"))
    port = free_port()
    sink = start_sink(port)
    url = f"smtp://127.0.0.1:{port}"
    try:
        app = App(outbound_settings(work / "data", url, smtp={"connections": connections}))
        app.db
        root = Path(__file__).resolve().parents[2]
        child = subprocess.Popen([sys.executable, "-m", "tests.bench.send_vs_bare",
                                  "--sender-child", str(work / "data"), url, str(connections),
                                  str(n)], cwd=root, stdout=subprocess.PIPE, text=True,
                                 env=dict(os.environ, PYTHONPATH=str(root)))
        child.stdout.readline()
        t0 = time.perf_counter()
        for start in range(0, n, 500):
            fill_part(app, start, min(n, start + 500))
        child.wait()
        wall = time.perf_counter() - t0
        sender = Sender(app.settings, app.db)
        with app.db.session() as s:
            msgs = [(x.sender, next(iter(x.recipients)), sender.raw_of(x))
                    for x in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
        bare = asyncio.run(bare_loop(port, msgs, connections))
    finally:
        sink.terminate()
        sink.wait()
        shutil.rmtree(work, ignore_errors=True)
    return {"concurrent_pipeline_per_s": round(n / wall), "concurrent_bare_per_s": round(n / bare),
            "ratio_pipeline_concurrent": round(bare / wall, 2)}


def fill_part(app, start: int, end: int, _fill=None) -> None:
    """Queue messages ``start``..``end`` (personalised, rendered) in one transaction, as a
    mailing is queued: ``enqueue_many``."""
    from mailproc.outbound.outbox import enqueue_many

    with app.db.transaction() as s:
        enqueue_many(s, app.settings, [dict(
            to=f"Читатель {i} <reader{i}@example.org>", template="reader/question_received",
            context={"reader_name": f"Читатель №{i}",
                     "question": f"Вопрос номер {i}: есть ли книги о Якутске?",
                     "received_at": "2026-11-26T10:15:00+09:00"},
            kind="reply", dedupe_key=f"bench-{i}") for i in range(start, end)])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, default=10_000)
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--sender-child", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.sender_child:
        data, url, conns, total = args.sender_child
        return sender_child(data, url, int(conns), int(total))
    result = run(args.messages, args.connections)
    result.update(run_concurrent(args.messages, args.connections))
    for k, v in result.items():
        print(f"{k:28} {v}")
    ok = result["ratio_pipeline"] >= 0.5
    print("OK: queue+render+send in one process at least 50% of the bare loop" if ok
          else "BELOW 50% of the bare loop for queue+render+send in one process")
    ok_c = result["ratio_pipeline_concurrent"] >= 0.5
    print("OK: queued while the sender sends, at least 50% of the bare loop" if ok_c
          else "BELOW 50% of the bare loop with queueing concurrent to sending")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
