"""Throughput of two instances on two mailboxes against one instance on one mailbox, both on
one PostgreSQL database (issue 12: target ratio >= 1.6).

    .venv/bin/python -m tests.bench.two_instances [--messages 1000] [--rounds 1]

Each case starts its ``mailproc run`` instances on empty mailboxes, waits until every mailbox
is held (two instances split two mailboxes by their fair share), fills each mailbox's "Hold"
folder, then moves every mailbox's messages into INBOX at once and measures from that move to
the last message recorded ``done``. (Filling INBOX directly, one mailbox after the other, let
the first instance start before the clock did and overstated the ratio: 2.3-2.6 instead of
1.2-1.4.) Each instance's log is kept beside its settings while the case runs. Throughput is messages
per second over all mailboxes; the ratio is the two-instance figure over the one-instance
figure, measured minutes apart in the same run. The rules folder is empty (built-in
decisions) so the figure is the intake's, not the templates'.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.drills.cluster_drill import create_database, drop_database, letter  # noqa: E402
from tests.servers.dovecot import DovecotServer  # noqa: E402
from tests.servers.mailproc import wait_for  # noqa: E402

TARGET = 1.6


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine() -> list[int]:
    return [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]


def machine_busy(before: list[int], after: list[int]) -> float:
    """Share of all cores busy between two /proc/stat samples (idle + iowait are not)."""
    delta = [b - a for a, b in zip(before, after)]
    total = sum(delta) or 1
    return 1 - (delta[3] + delta[4]) / total


def measure(workdir: Path, instances: int, mailboxes: int, messages: int) -> float:
    """Messages per second for ``instances`` on ``mailboxes`` (each with ``messages``)."""
    import psycopg

    from mailproc.cluster import lock_key

    workdir.mkdir(parents=True, exist_ok=True)
    db_name, url = create_database()
    servers = [DovecotServer().start() for _ in range(mailboxes)]
    procs: list[subprocess.Popen] = []
    con = psycopg.connect(url.replace("+psycopg", ""), autocommit=True)
    try:
        rules = workdir / "rules"
        rules.mkdir(exist_ok=True)
        config = workdir / "mailproc.toml"
        config.write_text(
            f'[database]\nurl = "{url}"\n[paths]\ndata = "{workdir / "data"}"\n'
            f'rules = "{rules}"\n[digest]\nenabled = false\n[log]\nlevel = "warning"\n'
            '[cluster]\nlease_retry = "1s"\nlease_check = "1s"\n'
            + "".join(f'[mailboxes.box{b}]\nurl = "{s.url}"\n' for b, s in enumerate(servers)),
            encoding="utf-8")
        env = {**os.environ, "MAILPROC_CONFIG": str(config),
               **{f"MAILPROC_MAILBOXES_BOX{b}_PASSWORD": s.password
                  for b, s in enumerate(servers)}}
        subprocess.run([sys.executable, "-m", "mailproc", "db", "upgrade"], env=env, check=True,
                       cwd=workdir, capture_output=True, timeout=120)
        for i in range(instances):
            with open(workdir / f"instance{i}.log", "ab") as log:  # the child keeps its copy
                procs.append(subprocess.Popen([sys.executable, "-m", "mailproc", "run"],
                                              env=env, cwd=workdir, stdout=log,
                                              stderr=subprocess.STDOUT))
        keys = [lock_key("mailbox:" + s.url) for s in servers]

        def holders() -> list:
            rows = dict(con.execute(
                "SELECT (classid::bigint << 32) | objid::bigint, pid FROM pg_locks "
                "WHERE locktype = 'advisory' AND objsubid = 1 AND granted").fetchall())
            rows = {(k if k < 2 ** 63 else k - 2 ** 64): pid for k, pid in rows.items()}
            return [rows.get(k) for k in keys]

        # every mailbox held, spread over every instance (fair share settles within seconds)
        wait_for(lambda: None not in holders()
                 and len(set(holders())) == min(instances, mailboxes), timeout=60, interval=0.2)
        total = mailboxes * messages
        # every mailbox filled in a folder mailproc does not read, then all moved into INBOX
        # at once (a rename per message inside Dovecot), with the clock started just before:
        # filled one after the other, the first mailbox's instance would start early
        for b, server in enumerate(servers):
            server.deliver_many((letter(b, i) for i in range(messages)), folder="Hold")
        movers = [threading.Thread(target=server.doveadm, args=(
            "move", "-u", server.user, "INBOX", "mailbox", "Hold", "all")) for server in servers]
        start, cpu0, box0 = time.monotonic(), sum(cpu_seconds(p.pid) for p in procs), machine()
        for mover in movers:
            mover.start()
        for mover in movers:
            mover.join()
        wait_for(lambda: con.execute("SELECT count(*) FROM messages WHERE state = 'done'")
                 .fetchone()[0] >= total, timeout=1800, interval=0.1)
        wall = time.monotonic() - start
        cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu0
        busy = machine_busy(box0, machine())
        print(f"  {instances} instance(s), {mailboxes} mailbox(es): {total / wall:.1f} "
              f"messages/s, mailproc CPU {cpu / total * 1000:.1f} ms a message, "
              f"{cpu / wall:.2f} cores busy in mailproc, machine {busy:.0%} busy, load "
              f"{os.getloadavg()[0]:.1f}")
        return total / wall
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        con.close()
        for s in servers:
            s.stop()
            s.cleanup()
        drop_database(db_name)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=1000, help="per mailbox")
    p.add_argument("--rounds", type=int, default=1, help="alternate the cases this many times")
    args = p.parse_args(argv)
    one, two = [], []
    with tempfile.TemporaryDirectory(prefix="mp-bench-") as tmp:
        for r in range(args.rounds):
            one.append(measure(Path(tmp) / f"one{r}", 1, 1, args.messages))
            two.append(measure(Path(tmp) / f"two{r}", 2, 2, args.messages))
    best_one, best_two = max(one), max(two)
    ratio = best_two / best_one
    print(f"one instance, one mailbox:    {best_one:8.1f} messages/s  (rounds {one})")
    print(f"two instances, two mailboxes: {best_two:8.1f} messages/s  (rounds {two})")
    print(f"ratio {ratio:.2f} (target >= {TARGET}) {'OK' if ratio >= TARGET else 'BELOW TARGET'}")
    print(f"cores: {os.cpu_count()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
