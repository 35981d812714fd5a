"""Throughput: ``mailproc run --once`` over realistic messages (most with 0.1-2 MB photo and
PDF attachments, about 650 KB on average) against a bare imapclient loop that merely fetches
the same messages (BODY.PEEK[] in batches of 100, imaplib debug off), in the same run.

    .venv/bin/python -m tests.bench.intake_throughput [--messages 10000]

Prints both rates and their ratio (the target: run --once at least 25% of the bare fetch).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tests.bench.corpus import corpus
from tests.servers.dovecot import DovecotServer
from tests.servers.mailproc import MailprocSetup


def bare_fetch_rate(server: DovecotServer, batch: int = 100) -> tuple[int, float]:
    """Messages/s of a bare imapclient fetch of INBOX (debug off, as it should be)."""
    c = server.client()
    try:
        c.select_folder("INBOX", readonly=True)
        uids = c.search("ALL")
        started = time.perf_counter()
        total = 0
        for i in range(0, len(uids), batch):
            data = c.fetch(uids[i:i + batch], [b"BODY.PEEK[]"])
            total += sum(len(v[b"BODY[]"]) for v in data.values())
        elapsed = time.perf_counter() - started
    finally:
        c.logout()
    return len(uids), len(uids) / elapsed


def run_once_rate(setup: MailprocSetup, n: int) -> tuple[float, str]:
    started = time.perf_counter()
    res = setup.command("run", "--once", timeout=3600)
    elapsed = time.perf_counter() - started
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-2000:])
    return n / elapsed, res.stdout.strip()


def measure(messages: int = 10000, seed: int = 1) -> dict:
    with DovecotServer() as server:
        started = time.perf_counter()
        server.deliver_many(corpus(messages, seed))
        fill = time.perf_counter() - started
        size = sum(p.stat().st_size for p in (server.maildir / "cur").iterdir())
        # twice, the second warm, as run --once also reads a warm page cache
        bare_fetch_rate(server)
        n, bare = bare_fetch_rate(server)
        setup = MailprocSetup(Path(tempfile.mkdtemp(prefix="mailproc-bench-")), server)
        rate, summary = run_once_rate(setup, n)
        left = server.count("INBOX")
    return {"messages": n, "average_kb": size / n / 1024, "fill_s": fill,
            "bare_fetch_per_s": bare, "run_once_per_s": rate, "ratio": rate / bare,
            "left_in_inbox": left, "summary": summary}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    r = measure(args.messages, args.seed)
    print(f"messages {r['messages']}, average {r['average_kb']:.0f} KB "
          f"(filled in {r['fill_s']:.0f} s)")
    print(f"bare imapclient BODY.PEEK[] fetch: {r['bare_fetch_per_s']:.0f} messages/s")
    print(f"mailproc run --once:               {r['run_once_per_s']:.0f} messages/s "
          f"({r['summary']}; left in INBOX {r['left_in_inbox']})")
    print(f"ratio run --once / bare fetch:     {r['ratio']:.2f} (target >= 0.25)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
