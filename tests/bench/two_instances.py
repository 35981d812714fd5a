"""Throughput of two instances on two mailboxes against one instance on one mailbox, both on
one PostgreSQL database (issue 12: target ratio >= 1.6).

    .venv/bin/python -m tests.bench.two_instances [--messages 5000] [--rounds 3]

Each case starts its ``mailproc run`` instances on empty mailboxes and waits until every
mailbox is held (two instances split two mailboxes by their fair share). It fills each
mailbox's "Hold" folder, stops the instances (SIGSTOP), moves every mailbox's messages into
INBOX (``doveadm move``), waits until Dovecot has sent its IDLE notices, then lets all
instances continue at once (SIGCONT) with the clock started, and waits for the last message
recorded ``done``. No rules folder (``paths.rules = ""``: built-in decisions) so the figure is the
intake's, not the templates'.

Why the release: with the instances running during the move, each mailbox started when
Dovecot's IDLE notice came (500 ms after a change, and a check once a second in the test
server), up to a second apart, and ``doveadm move`` itself (0.25 s for 10,000 messages, twice
that for two mailboxes at once on two cores) was on the clock: the figure measured Dovecot's
timing as much as mailproc's. (Earlier still, filling INBOX directly, one mailbox after the
other, let the first instance start before the clock did and overstated the ratio.)

Two figures per case, each with its ratio:

- **throughput** (the one the target is judged on): messages over the time from the release
  to the last message ``done``: listing, fetching, deciding, recording and filing, everything.
- **processing only**: messages over the time from the first message row written to the last
  message filed (the database's own timestamps), for comparison.

Each case also prints where the machine's CPU went (by program, per message) and how busy it
was: two instances on two cores share them with Dovecot and PostgreSQL. Each instance's log
is kept beside its settings while the case runs.
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


def _cpu_of(stat: str) -> float:
    """User plus system CPU seconds from a /proc/PID/stat line (all the process's threads)."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time of one process so far."""
    try:
        return _cpu_of(Path(f"/proc/{pid}/stat").read_text())
    except OSError:
        return 0.0


def cpu_by_program() -> dict[str, float]:
    """CPU seconds used so far by every process on the machine, summed by program name."""
    out: dict[str, float] = {}
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = path.read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        out[name] = out.get(name, 0.0) + _cpu_of(stat)
    return out


def machine() -> list[int]:
    return [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]


def machine_busy(before: list[int], after: list[int]) -> float:
    """Share of all cores busy between two /proc/stat samples (idle + iowait are not)."""
    delta = [b - a for a, b in zip(before, after)]
    total = sum(delta) or 1
    return 1 - (delta[3] + delta[4]) / total


def measure(workdir: Path, instances: int, mailboxes: int, messages: int
            ) -> tuple[float, float]:
    """(throughput, processing only) in messages per second for ``instances`` on ``mailboxes``
    (each with ``messages``); see the module docstring."""
    import psycopg

    from mailproc.cluster import lock_key

    workdir.mkdir(parents=True, exist_ok=True)
    db_name, url = create_database()
    servers = [DovecotServer().start() for _ in range(mailboxes)]
    procs: list[subprocess.Popen] = []
    con = psycopg.connect(url.replace("+psycopg", ""), autocommit=True)
    try:
        config = workdir / "mailproc.toml"
        config.write_text(
            f'[database]\nurl = "{url}"\n[paths]\ndata = "{workdir / "data"}"\n'
            f'templates = "{Path(__file__).resolve().parents[2] / "templates"}"\n'
            'rules = ""\n[digest]\nenabled = false\n[log]\nlevel = "warning"\n'
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
        # every mailbox filled in a folder mailproc does not read ...
        for b, server in enumerate(servers):
            server.deliver_many((letter(b, i) for i in range(messages)), folder="Hold")
        # ... then released at once: the instances are stopped (SIGSTOP) while every mailbox's
        # messages move into INBOX; Dovecot's IDLE notices wait in their sockets; then all
        # instances continue together with the clock started. Otherwise Dovecot's notice
        # (500 ms after the change, and a check once a second here) started one mailbox up to
        # a second after the other, and the measure was of Dovecot's timing.
        for p in procs:
            p.send_signal(signal.SIGSTOP)
        movers = [threading.Thread(target=server.doveadm, args=(
            "move", "-u", server.user, "INBOX", "mailbox", "Hold", "all")) for server in servers]
        for mover in movers:
            mover.start()
        for mover in movers:
            mover.join()
        wait_for(lambda: all(s.count("INBOX") == messages for s in servers), timeout=60)
        time.sleep(2.5)  # two of Dovecot's once-a-second checks: the notices are sent
        programs0 = cpu_by_program()
        start, cpu0, box0 = time.monotonic(), sum(cpu_seconds(p.pid) for p in procs), machine()
        for p in procs:
            p.send_signal(signal.SIGCONT)
        wait_for(lambda: con.execute("SELECT count(*) FROM messages WHERE state = 'done'")
                 .fetchone()[0] >= total, timeout=1800, interval=0.1)
        wall = time.monotonic() - start
        cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu0
        busy = machine_busy(box0, machine())
        programs = cpu_by_program()
        spans = con.execute(
            "SELECT extract(epoch FROM min(received_at)), extract(epoch FROM max(updated_at)) "
            "FROM messages GROUP BY mailbox").fetchall()
        first = min(float(row[0]) for row in spans)
        span = max(float(row[1]) for row in spans) - first
        spent = sorted(((programs[k] - programs0.get(k, 0.0), k) for k in programs),
                       reverse=True)
        print(f"  {instances} instance(s), {mailboxes} mailbox(es): throughput "
              f"{total / wall:.1f} messages/s ({wall:.2f} s from the release); processing only "
              f"{total / span:.1f} messages/s ({span:.2f} s; mailboxes "
              + ", ".join(f"+{float(a) - first:.2f}..{float(b) - first:.2f} s"
                          for a, b in spans) + ")")
        print(f"    mailproc CPU {cpu / total * 1000:.2f} ms a message, {cpu / wall:.2f} cores "
              f"busy in mailproc, machine {busy:.0%} busy, load {os.getloadavg()[0]:.1f}; "
              "CPU by program, ms a message: " + ", ".join(
                  f"{name} {sec / total * 1000:.2f}" for sec, name in spent[:4] if sec > 0))
        return total / wall, total / span
    finally:
        for p in procs:
            p.send_signal(signal.SIGCONT)  # an error while they were stopped
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
    p.add_argument("--messages", type=int, default=5000, help="per mailbox")
    p.add_argument("--rounds", type=int, default=3, help="alternate the cases this many times")
    args = p.parse_args(argv)
    one, two = [], []
    with tempfile.TemporaryDirectory(prefix="mp-bench-") as tmp:
        for r in range(args.rounds):
            one.append(measure(Path(tmp) / f"one{r}", 1, 1, args.messages))
            two.append(measure(Path(tmp) / f"two{r}", 2, 2, args.messages))
    print(f"{args.messages} messages a mailbox, {args.rounds} round(s), best of each case; "
          f"cores: {os.cpu_count()}")
    ratio = 0.0
    for i, what in enumerate(("throughput", "processing only")):
        best_one, best_two = max(r[i] for r in one), max(r[i] for r in two)
        print(f"{what}: one instance {best_one:.1f} messages/s, two instances "
              f"{best_two:.1f} messages/s, ratio {best_two / best_one:.2f} (rounds: "
              f"{', '.join(f'{b[i] / a[i]:.2f}' for a, b in zip(one, two))})")
        ratio = ratio or best_two / best_one
    print(f"ratio {ratio:.2f} (target >= {TARGET}) {'OK' if ratio >= TARGET else 'BELOW TARGET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
