"""Memory: peak RSS of ``mailproc run --once`` processing one 40 MB message (target under
300 MB), against the peak RSS of the same command on an empty mailbox (the baseline); and the
RSS of a running daemon after N1 vs N2 ordinary messages (target: within 20%).

    .venv/bin/python -m tests.bench.intake_memory [--first 1000] [--second 10000]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from tests.servers.dovecot import DovecotServer
from tests.servers.mailproc import MailprocSetup, wait_for


def big_message(mb: int = 40, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    msg = EmailMessage(policy=SMTP)
    msg["From"] = "reader@example.org"
    msg["To"] = "personbibl@nlrs.example"
    msg["Subject"] = "Большой скан"
    msg["Message-ID"] = "<big@example.org>"
    msg.set_content("Во вложении скан книги.")
    part = mb * 1024 * 1024 * 3 // 4 // 2
    for k in range(2):
        msg.add_attachment(b"%PDF-1.4\n" + rng.randbytes(part), maintype="application",
                           subtype="pdf", filename=f"scan{k}.pdf")
    return msg.as_bytes()


def small_message(i: int) -> bytes:
    return (f"From: reader{i}@example.org\r\nTo: personbibl@nlrs.example\r\n"
            f"Subject: обычное письмо {i}\r\nMessage-ID: <mem-{i}@example.org>\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "Текст письма.\r\n" * 20
            ).encode()


def peak_rss_mb(setup: MailprocSetup, *args: str) -> float:
    """Peak RSS (VmHWM, read from /proc while it runs) of one ``mailproc`` run. Not wait4's
    ru_maxrss: that counts the pages of this (big) process the child had before exec."""
    proc = subprocess.Popen([sys.executable, "-m", "mailproc", *args], env=setup.run_env(),
                            cwd=setup.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _status_mb(proc.pid, "VmHWM:"))
        time.sleep(0.005)
    if proc.returncode != 0:
        raise RuntimeError(f"mailproc {' '.join(args)} exited {proc.returncode}")
    return peak


def _status_mb(pid: int, key: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmRSS:")


def big_message_rss(mb: int = 40) -> dict:
    with DovecotServer() as server:
        setup = MailprocSetup(Path(tempfile.mkdtemp(prefix="mailproc-bench-")), server)
        baseline = peak_rss_mb(setup, "run", "--once")
        raw = big_message(mb)
        server.deliver_many([raw])
        peak = peak_rss_mb(setup, "run", "--once")
        done = setup.sql("SELECT state FROM messages")
    return {"size_mb": len(raw) / 1024 / 1024, "baseline_mb": baseline, "peak_mb": peak,
            "states": [s for (s,) in done]}


def growth_rss(first: int = 1000, second: int = 10000) -> dict:
    with DovecotServer() as server:
        setup = MailprocSetup(Path(tempfile.mkdtemp(prefix="mailproc-bench-")), server)
        proc = setup.spawn("run")
        try:
            wait_for(lambda: setup.daemon_state().get("mailbox") == "connected", timeout=60)

            def done(n: int) -> bool:
                got = setup.sql("SELECT count(*) FROM messages WHERE state = 'done'")
                return bool(got) and got[0][0] >= n

            server.deliver_many(small_message(i) for i in range(first))
            wait_for(lambda: done(first), timeout=1800, interval=0.5)
            time.sleep(2)
            after_first = rss_mb(proc.pid)
            server.deliver_many(small_message(i) for i in range(first, second))
            wait_for(lambda: done(second), timeout=3600, interval=0.5)
            time.sleep(2)
            after_second = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return {"first": first, "second": second, "rss_first_mb": after_first,
            "rss_second_mb": after_second, "ratio": after_second / after_first}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=40)
    ap.add_argument("--first", type=int, default=1000)
    ap.add_argument("--second", type=int, default=10000)
    ap.add_argument("--skip-growth", action="store_true")
    args = ap.parse_args()
    r = big_message_rss(args.size_mb)
    print(f"{r['size_mb']:.0f} MB message: peak RSS {r['peak_mb']:.0f} MB (empty mailbox "
          f"{r['baseline_mb']:.0f} MB; ratio {r['peak_mb'] / r['baseline_mb']:.2f}; target "
          f"under 300 MB); row state {r['states']}")
    if not args.skip_growth:
        g = growth_rss(args.first, args.second)
        print(f"daemon RSS after {g['first']} messages {g['rss_first_mb']:.0f} MB, after "
              f"{g['second']} {g['rss_second_mb']:.0f} MB: ratio {g['ratio']:.2f} "
              f"(target <= 1.20)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
