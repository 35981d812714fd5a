"""Cluster drill: several ``mailproc run`` instances on one PostgreSQL database and several
Dovecot mailboxes; one instance SIGKILLed every few seconds and restarted at once.

    .venv/bin/python -m tests.drills.cluster_drill [--instances 3] [--mailboxes 3]
        [--messages 1000] [--contacts 300] [--kill-every 3] [--seed 1]

Every message asks for an automatic reply (one outbox row each), and one mailing is planned
for the minute after the start (one outbox row per contact), queued by the instances'
``mailings`` job in small batches. Checked at the end:

* every message processed once: one row per Message-ID, each in exactly one folder, INBOX
  empty;
* every outbox row sent once: each Message-ID the outbox sent arrived at the SMTP server,
  none arrived that the outbox does not know, and a second copy only where a kill fell
  between the final "." of DATA and the server's 250 reaching the sender's journal (RFC
  1047; no SMTP client can close that window, see mailproc.outbound.sender). Each second
  copy must be shown to be that: its first copy was the last message of its connection,
  the connection never said QUIT (it was cut), and a kill fell within 50 ms of the server
  taking that copy's final ".". Any other repeat fails the drill;
* each mailing delivered once per contact.

Printed: the counts, and the longest time a mailbox went unread after its holder was killed
(from the kill to the moment another database session held the mailbox's lease, sampled
from ``pg_locks`` every 20 ms).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.parser import BytesHeaderParser
from pathlib import Path

from tests.drills.outbound_common import window_gaps
from tests.servers.dovecot import DovecotServer
from tests.servers.mailproc import message_ids_by_folder, wait_for
from tests.servers.smtp import SmtpServer

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"

RULES = """\
- name: Ответ на всё
  description: Учебное правило учений кластера — на каждое письмо автоматический ответ.
  when: всегда
  then:
    - set-category: question
    - move-to-folder: Обработано
    - reply-with-template: reader/question_received
"""


def plan(at: datetime) -> str:
    return f"""\
groups:
  - name: учителя
    level: 2
    where: {{position: учитель}}
mailings:
  - name: новости
    template: mailing/el_services
    groups: [учителя]
    cron: "{at.minute} {at.hour} * * *"
    window: "00:00-23:59"
    context:
      event_title: Вебинар
      event_date: 2026-12-10 15:00:00+09:00
"""


def letter(box: int, i: int) -> bytes:
    return (f"From: Reader {i} <reader{box}x{i}@example.org>\r\n"
            f"To: box{box}@nlrs.example\r\n"
            f"Subject: question {box}/{i}\r\n"
            f"Message-ID: <cl-{box}-{i}@example.org>\r\n"
            f"Date: Thu, 26 Nov 2026 10:00:00 +0900\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Question number {i} for mailbox {box}.\r\n").encode()


@dataclass
class ClusterResult:
    instances: int
    mailboxes: int
    messages: int  # per mailbox
    contacts: int
    kills: int = 0
    rows: int = 0
    recorded_twice: int = 0
    lost: int = 0
    in_two_folders: int = 0
    left_in_inbox: int = 0
    not_done: int = 0
    outbox_rows: int = 0
    outbox_sent: int = 0
    outbox_unsent: int = 0
    received: int = 0
    received_twice: int = 0
    received_unknown: int = 0
    mailing_per_contact: Counter = field(default_factory=Counter)  # outbox rows
    mailing_received: Counter = field(default_factory=Counter)  # arrivals at the server
    takeovers: list[float] = field(default_factory=list)
    kill_times: list[float] = field(default_factory=list)  # time.time() of each SIGKILL
    #: for each second copy explained by the RFC 1047 window: seconds from the server taking
    #: the first copy's final "." to the nearest kill (negative: the kill came first and the
    #: dot, written just before it, reached the server after)
    window_gaps: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        total = self.mailboxes * self.messages
        once = set(self.mailing_per_contact.values()) == {1} \
            and len(self.mailing_per_contact) == self.contacts \
            and set(self.mailing_received) == set(self.mailing_per_contact)
        return (self.rows == total and not self.recorded_twice and not self.lost
                and not self.in_two_folders and not self.left_in_inbox and not self.not_done
                and self.outbox_rows == total + self.contacts and not self.outbox_unsent
                and self.received - self.received_twice == self.outbox_rows
                and len(self.window_gaps) == self.received_twice
                and not self.received_unknown and once)

    def summary(self) -> str:
        per = Counter(self.mailing_per_contact.values())
        got = Counter(self.mailing_received.values())
        longest = f"{max(self.takeovers):.2f} s" if self.takeovers else "n/a"
        return (f"instances {self.instances}, mailboxes {self.mailboxes} x {self.messages} "
                f"messages, kills {self.kills}, {self.seconds:.0f} s\n"
                f"messages: rows {self.rows}, recorded twice {self.recorded_twice}, lost "
                f"{self.lost}, in two folders {self.in_two_folders}, left in INBOX "
                f"{self.left_in_inbox}, not done {self.not_done}\n"
                f"outbox: rows {self.outbox_rows}, sent {self.outbox_sent}, unsent "
                f"{self.outbox_unsent}; SMTP received {self.received}, twice "
                f"{self.received_twice}{self._window()}, unknown {self.received_unknown}\n"
                f"mailing: contacts {self.contacts}, outbox rows per contact {dict(per)}, "
                f"arrivals per contact {dict(got)} (second arrivals are among the SMTP-window "
                f"ones above)\n"
                f"takeovers measured {len(self.takeovers)}, longest time a mailbox went "
                f"unread after its holder died: {longest}\n"
                f"{'OK' if self.ok else 'FAILED'}")

    def _window(self) -> str:
        if not self.received_twice:
            return ""
        return (f", of which {len(self.window_gaps)} in the RFC 1047 window (the first copy "
                f"the last message of a connection that a kill cut, "
                f"{', '.join(f'{g * 1000:+.1f}' for g in self.window_gaps)} ms from its final "
                f"'.')")


class LeaseWatch(threading.Thread):
    """Samples which database session holds each mailbox's advisory lock."""

    def __init__(self, url: str, keys: dict[str, int]):
        super().__init__(daemon=True)
        import psycopg

        self.con = psycopg.connect(url, autocommit=True)
        self.keys = keys
        self.samples: list[tuple[float, dict[str, int | None]]] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def holders(self) -> dict[str, int | None]:
        rows = self.con.execute(
            "SELECT (classid::bigint << 32) | objid::bigint, pid FROM pg_locks "
            "WHERE locktype = 'advisory' AND objsubid = 1 AND granted").fetchall()
        by_key = {}
        for key, pid in rows:
            by_key[key if key < 2 ** 63 else key - 2 ** 64] = pid
        return {name: by_key.get(k) for name, k in self.keys.items()}

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                h = self.holders()
            except Exception:  # noqa: BLE001 - keep sampling
                h = {}
            with self.lock:
                self.samples.append((time.monotonic(), h))
            time.sleep(0.02)

    def latest(self) -> dict[str, int | None]:
        with self.lock:
            return dict(self.samples[-1][1]) if self.samples else {}

    def takeover(self, name: str, old_pid: int, since: float) -> float | None:
        """Seconds from ``since`` until a session other than ``old_pid`` held ``name``."""
        with self.lock:
            for t, h in self.samples:
                if t >= since and h.get(name) not in (None, old_pid):
                    return t - since
        return None


class Cluster:
    def __init__(self, root: Path, db_url: str, servers: list[DovecotServer], smtp: SmtpServer):
        self.root = root
        self.db_url = db_url
        self.servers = servers
        self.rules = root / "rules"
        self.rules.mkdir(parents=True, exist_ok=True)
        (self.rules / "50-all.yaml").write_text(RULES, encoding="utf-8")
        self.config = root / "mailproc.toml"
        boxes = "".join(
            f'[mailboxes.box{b}]\nurl = "{s.url}"\nfrom_address = "box{b}@nlrs.example"\n'
            for b, s in enumerate(servers))
        self.config.write_text(
            f'[database]\nurl = "{db_url}"\n'
            f'[paths]\ndata = "{root / "data"}"\nrules = "{self.rules}"\n'
            f'templates = "{ROOT / "templates"}"\n'
            f'[smtp]\nurl = "{smtp.url}"\n'
            f'[mail]\ntimezone = "UTC"\n'
            f'[outreach]\nbatch = 20\n'
            f'[jobs]\nmailings_every = "2s"\n'
            f'[cluster]\nlease_retry = "1s"\nlease_check = "2s"\n'
            f'[rules]\nresponses_per_sender = 100\n'
            f'[digest]\nenabled = false\n'
            f'[log]\nformat = "text"\n' + boxes, encoding="utf-8")
        self.env = {**os.environ, "MAILPROC_CONFIG": str(self.config), "PYTHONUNBUFFERED": "1",
                    "MAILPROC_MAIL_TOKEN_SECRET": "cluster-drill",
                    **{f"MAILPROC_MAILBOXES_BOX{b}_PASSWORD": s.password
                       for b, s in enumerate(servers)}}
        self.procs: dict[int, subprocess.Popen] = {}

    def command(self, *args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "mailproc", *args], env=self.env,
                              cwd=self.root, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"mailproc {' '.join(args)}: {done.stderr[-2000:]}")
        return done

    def start(self, i: int) -> None:
        log = open(self.root / f"instance{i}.log", "ab")
        self.procs[i] = subprocess.Popen([sys.executable, "-m", "mailproc", "run"],
                                         env=self.env, cwd=self.root, stdout=log,
                                         stderr=subprocess.STDOUT)

    def kill(self, i: int) -> None:
        proc = self.procs[i]
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop_all(self) -> list[int]:
        codes = []
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                codes.append(proc.wait(timeout=15))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
        return codes


def create_database() -> tuple[str, str]:
    import psycopg

    name = f"mp_cluster_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True, connect_timeout=3) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    return name, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_drill(workdir: Path, *, instances: int = 3, mailboxes: int = 3, messages: int = 1000,
              contacts: int = 300, kill_every: float = 3.0, seed: int = 1,
              timeout: float = 900.0, log=print) -> ClusterResult:
    sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "registry"))
    from make_registry import staff_list

    from mailproc.cluster import lock_key

    rng = random.Random(seed)
    result = ClusterResult(instances, mailboxes, messages, contacts)
    started = time.monotonic()
    db_name, db_url = create_database()
    servers = [DovecotServer().start() for _ in range(mailboxes)]
    smtp = SmtpServer().start()
    watch = None
    try:
        for b, server in enumerate(servers):
            server.deliver_many(letter(b, i) for i in range(messages))
        cluster = Cluster(workdir / "mp", db_url, servers, smtp)
        staff_list(workdir / "staff.csv", contacts)
        cluster.command("contacts", "import", str(workdir / "staff.csv"))  # migrates, too
        at = datetime.now(timezone.utc) + timedelta(minutes=1)
        (cluster.rules / "mailings.yaml").write_text(plan(at), encoding="utf-8")
        watch = LeaseWatch(db_url.replace("+psycopg", ""),
                           {f"box{b}": lock_key("mailbox:" + s.url)
                            for b, s in enumerate(servers)})
        watch.start()
        for i in range(instances):
            cluster.start(i)
        total = mailboxes * messages

        def done_count() -> int:
            return watch.con.execute(
                "SELECT count(*) FROM messages WHERE state = 'done'").fetchone()[0]

        def mailing_pending() -> int:
            try:
                return watch.con.execute(
                    "SELECT count(*) FROM mailing_deliveries WHERE status = 'planned'"
                ).fetchone()[0] + (0 if watch.con.execute(
                    "SELECT count(*) FROM mailing_issues").fetchone()[0] else 1)
            except Exception:  # noqa: BLE001
                return 1

        # kill while there is work: messages to process or the mailing to queue
        deadline = time.monotonic() + timeout
        while (done_count() < total or mailing_pending()) and time.monotonic() < deadline:
            time.sleep(kill_every * rng.uniform(0.7, 1.3))
            victim = rng.randrange(instances)
            pids = _backend_pids(watch, cluster.procs[victim].pid)
            held = {name: pid for name, pid in watch.latest().items() if pid in pids}
            t = time.monotonic()
            result.kill_times.append(time.time())
            cluster.kill(victim)
            result.kills += 1
            cluster.start(victim)
            for name, old in held.items():
                wait_for(lambda name=name, old=old: watch.takeover(name, old, t) is not None,
                         timeout=60, interval=0.05)
                result.takeovers.append(watch.takeover(name, old, t))
            log(f"kill {result.kills}: instance {victim} held {sorted(held)}; done "
                f"{done_count()}/{total}")

        def settled() -> bool:
            outbox = dict(watch.con.execute(
                "SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
            return (done_count() >= total and not mailing_pending()
                    and not outbox.get("queued") and not outbox.get("sending")
                    and all(s.count("INBOX") == 0 for s in servers))

        wait_for(settled, timeout=max(60.0, deadline - time.monotonic()), interval=0.5)
        codes = cluster.stop_all()
        if any(codes):
            log(f"exit codes at the end: {codes}")
        _count(result, watch, servers, smtp, contacts)
    finally:
        if watch is not None:
            watch.stop.set()
            watch.join(timeout=2)
            watch.con.close()
        smtp.stop()
        for s in servers:
            s.stop()
            s.cleanup()
        drop_database(db_name)
    result.seconds = time.monotonic() - started
    return result


def _backend_pids(watch: LeaseWatch, client_pid: int) -> set[int]:
    """The database sessions opened by one mailproc process (pg_stat_activity.client_port
    does not name the process; the lease sessions are found by the client's open sockets)."""
    ports = _client_ports(client_pid)
    rows = watch.con.execute("SELECT pid, client_port FROM pg_stat_activity "
                             "WHERE client_port IS NOT NULL").fetchall()
    return {pid for pid, port in rows if port in ports}


def _client_ports(pid: int) -> set[int]:
    """Local TCP ports of ``pid``'s sockets to 127.0.0.1:5432, from /proc."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, remote, inode = parts[1], parts[2], parts[9]
            if inode in inodes and remote.endswith(":1538"):  # 5432 in hex
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


def _count(result: ClusterResult, watch: LeaseWatch, servers, smtp: SmtpServer,
           contacts: int) -> None:
    con = watch.con
    per_id = con.execute("SELECT mailbox, message_id, count(*) FROM messages "
                         "GROUP BY mailbox, message_id").fetchall()
    result.rows = sum(n for _m, _i, n in per_id)
    result.recorded_twice = sum(1 for _m, _i, n in per_id if n > 1)
    result.not_done = con.execute(
        "SELECT count(*) FROM messages WHERE state != 'done'").fetchone()[0]
    for b, server in enumerate(servers):
        folders = message_ids_by_folder(server)
        result.left_in_inbox += len(folders.get("INBOX", []))
        seen = Counter(mid for name, ids in folders.items()
                       if name not in ("Sent", "Drafts") for mid in ids)
        expected = {f"<cl-{b}-{i}@example.org>" for i in range(result.messages)}
        result.lost += len(expected - set(seen))
        result.in_two_folders += sum(1 for mid in expected if seen[mid] > 1)
    rows = con.execute("SELECT message_id, state, kind, dedupe_key FROM outbox").fetchall()
    result.outbox_rows = len(rows)
    result.outbox_sent = sum(1 for r in rows if r[1] == "sent")
    result.outbox_unsent = result.outbox_rows - result.outbox_sent
    known = {r[0].strip() for r in rows}
    parser = BytesHeaderParser()
    got = Counter((parser.parsebytes(m.raw).get("Message-ID") or "").strip()
                  for m in smtp.messages)
    result.received = sum(got.values())
    result.received_twice = sum(n - 1 for n in got.values() if n > 1)
    result.window_gaps = window_gaps(smtp.messages, smtp.quits, result.kill_times)
    result.received_unknown = sum(1 for mid in got if mid not in known)
    mailing_ids = {r[0].strip(): r[3].rsplit(":", 1)[1] for r in rows if r[2] == "mailing"}
    result.mailing_per_contact = Counter(mailing_ids.values())
    result.mailing_received = Counter()
    for mid, n in got.items():
        if mid in mailing_ids:
            result.mailing_received[mailing_ids[mid]] += n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--instances", type=int, default=3)
    p.add_argument("--mailboxes", type=int, default=3)
    p.add_argument("--messages", type=int, default=1000)
    p.add_argument("--contacts", type=int, default=300)
    p.add_argument("--kill-every", type=float, default=3.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = p.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="mp-cluster-")
    try:
        result = run_drill(Path(tmp), instances=args.instances, mailboxes=args.mailboxes,
                           messages=args.messages, contacts=args.contacts,
                           kill_every=args.kill_every, seed=args.seed)
    finally:
        if args.keep:
            print(f"work folder kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(result.summary())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
