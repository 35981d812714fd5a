"""Latency: a message delivered while ``mailproc run`` idles, until it has been moved out of
INBOX (median and p90 of 20 deliveries). Dovecot 2.3 itself waits about 0.5 s before it tells
an IDLE session (a fixed delay in its mailbox watcher: a bare imapclient IDLE loop saw the
EXISTS 503-506 ms after each delivery, while a NOOP answers at once); the bare IDLE notice is
measured in the same run as the baseline.

    .venv/bin/python -m tests.bench.intake_latency [--deliveries 20]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import tempfile
import time
from pathlib import Path

from tests.servers.dovecot import DovecotServer
from tests.servers.mailproc import MailprocSetup, wait_for


def message(i: int) -> bytes:
    return (f"From: reader{i}@example.org\r\nTo: personbibl@nlrs.example\r\n"
            f"Subject: latency {i}\r\nMessage-ID: <lat-{i}@example.org>\r\n\r\n"
            f"Текст {i}\r\n").encode()


def _quantiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]


def bare_idle_latency(server: DovecotServer, n: int) -> list[float]:
    """Delivery acknowledged -> EXISTS seen by a bare imapclient IDLE loop."""
    watcher = server.client()
    watcher.select_folder("INBOX")
    poster = server.client()
    out = []
    try:
        for i in range(n):
            watcher.idle()
            time.sleep(0.05)
            poster.append("INBOX", message(10_000 + i))
            t0 = time.perf_counter()
            while True:
                got = watcher.idle_check(timeout=5)
                if any(isinstance(r, tuple) and len(r) > 1 and r[1] == b"EXISTS" for r in got):
                    break
            out.append(time.perf_counter() - t0)
            watcher.idle_done()
    finally:
        watcher.logout()
        poster.logout()
    return out


def daemon_latency(server: DovecotServer, n: int) -> list[float]:
    setup = MailprocSetup(Path(tempfile.mkdtemp(prefix="mailproc-bench-")), server)
    proc = setup.spawn("run")
    poster = server.client()
    out = []
    try:
        wait_for(lambda: setup.daemon_state().get("mailbox") == "connected", timeout=60)
        for i in range(n):
            time.sleep(1.0)  # let the daemon settle back into IDLE (and old notices pass)
            poster.append("INBOX", message(i))
            t0 = time.perf_counter()
            wait_for(lambda i=i: setup.sql(
                "SELECT count(*) FROM messages WHERE message_id = ? AND state = 'done'",
                f"<lat-{i}@example.org>")[0][0] == 1, timeout=30, interval=0.005)
            out.append(time.perf_counter() - t0)
    finally:
        poster.logout()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    return out


def measure(deliveries: int = 20) -> dict:
    with DovecotServer() as server:
        bare = bare_idle_latency(server, deliveries)
        server.doveadm("expunge", "-u", server.user, "mailbox", "INBOX", "all")
        ours = daemon_latency(server, deliveries)
    return {"bare": _quantiles(bare), "daemon": _quantiles(ours)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deliveries", type=int, default=20)
    args = ap.parse_args()
    r = measure(args.deliveries)
    (bm, bp), (dm, dp) = r["bare"], r["daemon"]
    print(f"bare IDLE notice:            median {bm * 1000:.0f} ms, p90 {bp * 1000:.0f} ms")
    print(f"delivery -> moved by daemon: median {dm * 1000:.0f} ms, p90 {dp * 1000:.0f} ms "
          f"(target: median under 1000 ms)")
    print(f"ratio daemon / bare IDLE (median): {dm / bm:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
