"""Delivering due outbox rows: claim, send, record; then copy to the Sent folder.

The double-send window, stated exactly. A row moves ``queued`` -> ``sending`` (committed,
with this process's claim, before any byte goes to the server) -> ``sent``. The moment the
server answers 250 to DATA, the result is written to this sender's journal file (one
``write(2)`` to an append-only file under ``data/outbox-journal/``: it survives the process
being killed, it needs no database commit), and only then committed to the database, in
batches. A row found in ``sending`` after a crash is sent again unless the journal records
it as accepted. So a message is sent twice only when the process dies between the server's
250 arriving on the socket and that ``write`` (microseconds plus the time the event loop takes
to get to it), or when the connection breaks after the server took the final "." but before
its 250 reached us (RFC 1047; no SMTP client can close that one), or on a power loss that
takes the unsynced journal with it. A crash anywhere else loses nothing and repeats nothing.

Stale claims are recovered at start: rows claimed by a process on this host that no longer
runs (its journal applied first), and rows whose claim is older than the lease (another host
died; its journal is on that host, so those may be sent twice).

A pass claims and loads the next batch while the current one is being sent, and commits the
results of each batch in one executemany UPDATE: a row claimed ahead and never handed to a
connection is released (or recovered after a crash) as ``queued``, never recorded as sent, so
neither adds to the window above. What does widen it is a busy event loop: a 250 on the
socket waits until the loop has run the callbacks ahead of it (building and writing other
connections' messages), so a sender working flat out with 4 connections has one of them in
the window most of the time, and now and then two: a kill repeats at most one message per
connection. The kill drill (tests/drills/sender_kill_drill.py), which kills right after
arrivals while 1,000 messages are being sent, counted 2-9 duplicates in 10 kills and 9-21 in
20 (a lower Python switch interval, and journalling inside the reply's read instead of after
it, made no measurable difference). A daemon that sends replies as they come is rarely in
the window: the cluster drill (tests/drills/cluster_drill.py), which shows each second copy
to be a kill inside it, counted 4 in 101 kills every 1.5-3 s, each kill within 1.1 ms of the
server taking the final ".".

Sent copies are appended after ``sent`` is committed and flagged ``copied`` after the append;
a crash between the two gives at most one extra copy in Sent, never a second letter to a
reader. A row queued with ``copied`` already true wants no copy: the recipients of a mailing
issue after the first (one copy stands for the issue, ``outreach.sentcopy``), hand-offs of
registration documents. The copy of a row may carry headers the recipient's message does
not (``headers["copy_extra"]``: ``X-Mailproc-Recipients``), added after the others.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy import bindparam, select, update

from mailproc import metrics
from mailproc.errors import PermanentDeliveryError, TemporaryDeliveryError
from mailproc.logs import about
from mailproc.outbound.blobs import BlobStore
from mailproc.outbound.due import Due, load_due
from mailproc.outbound.mime import build_message
from mailproc.outbound.models import OutboxMessage
from mailproc.outbound.transport import FileConnection, SendResult, connection_factory
from mailproc.private import private_dir
from mailproc.store.base import utcnow

log = logging.getLogger("mailproc.outbound.sender")


@dataclass
class SendStats:
    sent: int = 0
    deferred: int = 0  # temporary failure, will be retried
    failed: int = 0
    recovered: int = 0  # stale claims put back in the queue
    copied: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"sent {self.sent}, deferred {self.deferred}, failed {self.failed}, "
                f"copied to Sent {self.copied}")


def backoff(settings, attempts: int) -> float:
    """Seconds to wait before attempt ``attempts + 1``: doubling, capped, with jitter so that
    many messages deferred together do not all return in the same second."""
    o = settings.outbox
    delay = min(o.retry_backoff * (2 ** max(0, attempts - 1)), o.retry_backoff_max)
    return delay * random.uniform(0.8, 1.2)


class Journal:
    """Append-only record of what the server accepted, written before the database knows.

    One file per sender (claim id). ``os.write`` on an ``O_APPEND`` descriptor puts a line in
    the kernel's page cache in one call: a SIGKILL right after it loses nothing.
    """

    def __init__(self, folder: Path, claim_id: str):
        self.folder = folder
        self.path = folder / (claim_id.replace(":", "~").replace("/", "_") + ".jsonl")
        self.fd: int | None = None

    def write(self, row_id: int, result: SendResult) -> None:
        if self.fd is None:
            private_dir(self.folder)
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        line = json.dumps({"id": row_id, "accepted": result.accepted,
                           "refused": result.refused, "answer": result.answer},
                          ensure_ascii=False) + "\n"
        os.write(self.fd, line.encode())

    def remove(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.path.unlink(missing_ok=True)

    @staticmethod
    def read(path: Path) -> dict[int, SendResult]:
        out: dict[int, SendResult] = {}
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                d = json.loads(line)
            except ValueError:
                continue  # a line cut by a crash: that message was not recorded
            out[int(d["id"])] = SendResult(d["accepted"],
                                           {k: tuple(v) for k, v in d["refused"].items()},
                                           d["answer"])
        return out


class Sender:
    def __init__(self, settings, db, source=None):
        self.settings = settings
        self.db = db
        self.source = source
        self.blobs = BlobStore.from_settings(settings)
        self._sealing_box = None  # the vault's cipher, opened on the first sealed blob
        self.connect = connection_factory(settings)
        self.claim_id = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
        self.lease = max(300.0, settings.smtp.timeout * 5)
        self.journal_dir = Path(settings.paths.data) / "outbox-journal"
        self.journal = Journal(self.journal_dir, self.claim_id)
        self._next_slot: dict[str, float] = {}
        self._server_down = False  # a pass stops claiming once the server refuses service
        self._stop: asyncio.Event | None = None  # the daemon's stop, during run_once
        self._results: list[tuple[str, int, object]] = []
        self._copier = ThreadPoolExecutor(1, thread_name_prefix="sent-copy") if source else None
        self._claimer = ThreadPoolExecutor(1, thread_name_prefix="outbox-claim")
        #: called after each batch of results is recorded (the daemon's heartbeat)
        self.on_progress = None

    @classmethod
    def from_app(cls, app, source=None) -> "Sender":
        return cls(app.settings, app.db, source)

    # -- claims -----------------------------------------------------------------------------

    def _owner_gone(self, claim: str) -> bool:
        host, _, rest = claim.partition(":")
        pid = int(rest.partition(":")[0] or 0) if rest.partition(":")[0].isdigit() else 0
        return host == socket.gethostname() and (
            not _alive(pid) or (pid == os.getpid() and claim != self.claim_id))

    def recover(self) -> int:
        """Put back rows left in ``sending`` by a sender that is gone, after applying what its
        journal says the server accepted."""
        journals: dict[int, SendResult] = {}
        used: list[Path] = []
        if self.journal_dir.exists():
            for path in self.journal_dir.glob("*.jsonl"):
                owner = path.stem.replace("~", ":")
                if path != self.journal.path and self._owner_gone(owner):
                    journals.update(Journal.read(path))
                    used.append(path)
        now = utcnow()
        back, done = [], []
        stats = SendStats()
        stuck = select(OutboxMessage).where(OutboxMessage.state == "sending")
        if not self.db.is_sqlite:  # two instances recovering at once: each row by one
            stuck = stuck.with_for_update(skip_locked=True)
        with self.db.transaction() as s:
            for row in s.scalars(stuck):
                expired = row.claimed_at is None or \
                    (now - row.claimed_at).total_seconds() > self.lease
                if row.id in journals and (expired or self._owner_gone(row.claim)):
                    self._apply_result(row, journals[row.id], now, stats)
                    done.append(row.id)
                elif expired or self._owner_gone(row.claim):
                    row.state, row.claim = "queued", ""
                    back.append(row.id)
        for path in used:
            path.unlink(missing_ok=True)
        if done:
            log.info("outbox: %d rows recorded from a stopped sender's journal", len(done))
        if back:
            log.warning("outbox: %d rows left in sending by a stopped sender are queued again: "
                        "ids %s", len(back), back[:20])
        return len(back)

    def claim(self, limit: int) -> list[int]:
        """Mark up to ``limit`` due rows ``sending`` under our claim, in one transaction."""
        now = utcnow()
        with self.db.transaction() as s:
            q = (select(OutboxMessage.id)
                 .where(OutboxMessage.state == "queued", OutboxMessage.next_attempt_at <= now)
                 .order_by(OutboxMessage.id).limit(limit))
            if not self.db.is_sqlite:
                q = q.with_for_update(skip_locked=True)
            ids = list(s.scalars(q))
            if ids:
                s.execute(update(OutboxMessage)
                          .where(OutboxMessage.id.in_(ids), OutboxMessage.state == "queued")
                          .values(state="sending", claim=self.claim_id, claimed_at=now))
        return ids

    def _claim_load(self) -> list[Due]:
        ids = self.claim(self.settings.outbox.batch)
        return self.load(ids) if ids else []

    def load(self, ids: list[int]) -> list[Due]:
        with self.db.session() as s:
            return load_due(s, ids)

    def release(self, delay: float = 0.0) -> None:
        """Our claims not handed to a connection back to ``queued``. Called only after every
        result was committed, so a row released here was certainly not sent."""
        with self.db.transaction() as s:
            s.execute(update(OutboxMessage)
                      .where(OutboxMessage.state == "sending",
                             OutboxMessage.claim == self.claim_id)
                      .values(state="queued", claim="",
                              next_attempt_at=utcnow() + timedelta(seconds=delay)))

    # -- building ---------------------------------------------------------------------------

    def raw_of(self, row: OutboxMessage, sent_copy: bool = False) -> bytes:
        """The message's bytes; sealed (sensitive) attachments decrypted in memory only, and
        left out of the copy for the Sent folder (``sent_copy``): personal data must not sit
        in every librarian's mail client."""
        sealed = set(row.headers.get("sealed", ()))
        # a generator: build_message takes one file's bytes at a time
        data = ((a, self.blobs.get(a.sha256, self._box() if a.sha256 in sealed else None))
                for a in row.attachments if not (sent_copy and a.sha256 in sealed))
        return build_message(row, data, self.settings.mail.from_name, sent_copy)

    def _box(self):
        if self._sealing_box is None:
            from mailproc.outbound.outbox import sealing_box

            self._sealing_box = sealing_box(self.settings)
        return self._sealing_box

    # -- sending ----------------------------------------------------------------------------

    async def run_once(self, stop: asyncio.Event | None = None) -> SendStats:
        """Send everything due now, then append Sent copies; returns what happened.

        ``stop`` (the daemon's SIGTERM) ends the pass early: each connection finishes the
        message it is sending and records it, nothing more is sent, and the rows claimed
        ahead go back to the queue. So a stop never cuts a message between the server's 250
        and its record (the double-send window above)."""
        stats = SendStats()
        self._stop = stop
        started = metrics.clock()
        stats.recovered = await asyncio.to_thread(self.recover)
        self._server_down = False
        queue: asyncio.Queue = asyncio.Queue(maxsize=self.settings.smtp.connections * 4)
        workers = [asyncio.create_task(self._worker(queue))
                   for _ in range(max(1, self.settings.smtp.connections))]
        stop_recorder = asyncio.Event()
        recorder = asyncio.create_task(self._recorder(stop_recorder, stats))
        # the next batch is claimed and loaded (in a thread) while this one is being sent,
        # so the connections do not wait for the database between batches
        ahead = self._claimer.submit(self._claim_load)
        try:
            while not self._halted():
                rows = await asyncio.wrap_future(ahead)
                if not rows:
                    break
                ahead = self._claimer.submit(self._claim_load)
                for row in rows:
                    if self._halted():
                        break
                    await queue.put(row)
            await asyncio.wrap_future(ahead)  # its claims committed before any release
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
            stop_recorder.set()
            await recorder
            if self._server_down:  # claimed but never tried: back, due after a first backoff
                self.release(delay=backoff(self.settings, 1))
            elif self._halted():  # stopping: what was claimed but not sent is due at once
                self.release()
        except BaseException:
            for w in workers:
                w.cancel()
            stop_recorder.set()
            recorder.cancel()
            try:
                ahead.result()  # a claim in flight commits before the release below
            except Exception:  # noqa: BLE001 - nothing claimed then
                pass
            self._flush(stats)  # what the journal holds is committed; the rest goes back
            self.release()
            raise
        self.journal.remove()
        if self.source is not None and not self._stopping():
            stats.copied = await self.copy_sent()  # when stopping: on the next start
        metrics.observe_send_pass(stats, started)
        return stats

    async def _worker(self, queue: asyncio.Queue) -> None:
        conn = self.connect()
        try:
            while True:
                row = await queue.get()
                if row is None:
                    return
                if self._halted():
                    continue  # left claimed; released when the pass ends
                await self._send_one(conn, row)
        finally:
            await conn.quit()

    async def _send_one(self, conn, row: OutboxMessage) -> None:
        recipients = row.pending()
        if not recipients:
            self._results.append(("record", row.id, SendResult()))
            return
        try:
            raw = self.raw_of(row)
        except OSError as exc:  # a lost blob: nothing can send this message
            self._results.append(("fail", row.id, f"вложение не найдено: {exc}"))
            return
        await self._pace(recipients)
        try:
            if isinstance(conn, FileConnection):
                result = await conn.send_file(row.id, recipients, raw)
            else:
                result = await conn.send(row.sender, recipients, raw)
        except TemporaryDeliveryError as exc:
            if str(exc).startswith(("421", "SMTPConnect", "ConnectionRefused")):
                self._server_down = True  # no point claiming more in this pass
            self._results.append(("defer", row.id, str(exc)))
            return
        except PermanentDeliveryError as exc:
            self._results.append(("fail", row.id, str(exc)))
            return
        if result.accepted:
            self.journal.write(row.id, result)  # first thing after the 250: see the docstring
        if not result.refused and set(result.accepted) == set(recipients):
            recips = dict(row.recipients)
            for addr in recipients:
                recips[addr] = {"state": "sent", "answer": result.answer}
            failed = [r["answer"] for r in recips.values() if r.get("state") == "failed"]
            error = ("не доставлено части получателей: " + "; ".join(failed)) if failed else ""
            self._results.append(("sent-all", row.id, (recips, error)))
            log.info("outbox %d: sent", row.id, extra=about(outbox=row.id))
        else:
            self._results.append(("record", row.id, result))

    def _stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def _halted(self) -> bool:
        """No more messages this pass: the server refuses service, or the daemon stops."""
        return self._server_down or self._stopping()

    async def _pace(self, recipients: list[str]) -> None:
        """Per-recipient-domain rate limit (smtp.domain_rate messages a second)."""
        rate = self.settings.smtp.domain_rate
        if rate <= 0:
            return
        wait = 0.0
        now = time.monotonic()
        for domain in {r.rpartition("@")[2] for r in recipients}:
            slot = max(now, self._next_slot.get(domain, now))
            self._next_slot[domain] = slot + 1.0 / rate
            wait = max(wait, slot - now)
        if wait > 0:
            await asyncio.sleep(wait)

    # -- recording: results committed in batches, off the event loop -------------------------

    async def _recorder(self, stop: asyncio.Event, stats: SendStats) -> None:
        while True:
            stopping = stop.is_set()
            if self._results:
                await asyncio.to_thread(self._flush, stats)
            if stopping:
                return
            try:
                await asyncio.wait_for(stop.wait(), timeout=0.05)
            except asyncio.TimeoutError:
                pass

    def _flush(self, stats: SendStats) -> None:
        batch, self._results = self._results, []
        if not batch:
            return
        now = utcnow()
        # the common case, every pending recipient accepted: one executemany UPDATE
        simple = [(row_id, payload) for what, row_id, payload in batch
                  if what == "sent-all"]
        rest = [b for b in batch if b[0] != "sent-all"]
        with self.db.transaction() as s:
            if simple:
                s.connection().execute(
                    update(OutboxMessage.__table__)
                    .where(OutboxMessage.__table__.c.id == bindparam("row_id"))
                    .values(state="sent", sent_at=now, claim="", error=bindparam("error"),
                            updated_at=now,
                            attempts=OutboxMessage.__table__.c.attempts + 1,
                            recipients=bindparam("recips")),
                    [{"row_id": row_id, "recips": recips, "error": error}
                     for row_id, (recips, error) in simple])
                stats.sent += len(simple)
            if rest:
                self._flush_rows(s, rest, now, stats)
        if self.on_progress is not None:
            self.on_progress()

    def _flush_rows(self, s, batch, now, stats: SendStats) -> None:
        rows = {r.id: r for r in s.scalars(select(OutboxMessage).where(
            OutboxMessage.id.in_([row_id for _, row_id, _ in batch])))}
        for what, row_id, payload in batch:
            row = rows[row_id]
            row.claim = ""
            if what == "record":
                self._apply_result(row, payload, now, stats)
            elif what == "defer":
                row.attempts += 1
                self._reschedule(row, payload, now)
                stats.deferred += row.state == "queued"
                stats.failed += row.state == "failed"
            else:
                row.attempts += 1
                row.state, row.error = "failed", payload
                row.recipients = {a: ({"state": "failed", "answer": payload}
                                      if r.get("state") == "queued" else r)
                                  for a, r in row.recipients.items()}
                stats.failed += 1
            log.info("outbox %d: %s", row_id, row.state, extra=about(outbox=row_id))

    def _apply_result(self, row: OutboxMessage, result: SendResult, now, stats: SendStats) -> None:
        """The server answered DATA (or refused every recipient): per-recipient states."""
        recips = {a: dict(r) for a, r in row.recipients.items()}
        for addr in result.accepted:
            recips[addr] = {"state": "sent", "answer": result.answer}
        for addr, (code, text) in result.refused.items():
            recips[addr] = {"state": "failed" if code >= 500 else "queued",
                            "answer": f"{code} {text}"}
        row.recipients = recips
        row.claim = ""
        row.attempts += 1
        pending = [a for a, r in recips.items() if r["state"] == "queued"]
        if pending:
            self._reschedule(row, "; ".join(recips[a]["answer"] for a in pending), now)
        elif any(r["state"] == "sent" for r in recips.values()):
            row.state, row.sent_at = "sent", now
            failed = [r["answer"] for r in recips.values() if r["state"] == "failed"]
            row.error = ("не доставлено части получателей: " + "; ".join(failed)) \
                if failed else ""
        else:
            row.state = "failed"
            row.error = "; ".join(r["answer"] for r in recips.values() if r["answer"])
        stats.sent += bool(result.accepted)
        stats.failed += row.state == "failed"
        stats.deferred += row.state == "queued"

    def _reschedule(self, row: OutboxMessage, answer: str, now) -> None:
        deadline = row.created_at + timedelta(seconds=self.settings.smtp.retry_deadline)
        if now >= deadline:
            row.state = "failed"
            row.error = f"временные отказы до конца срока повторов; последний ответ: {answer}"
            row.recipients = {a: ({"state": "failed", "answer": r.get("answer", "")}
                                  if r.get("state") == "queued" else r)
                              for a, r in row.recipients.items()}
            return
        row.state = "queued"
        row.error = f"повтор позже: {answer}"
        row.next_attempt_at = now + timedelta(seconds=backoff(self.settings, row.attempts))

    # -- Sent copies ------------------------------------------------------------------------

    async def copy_sent(self, limit: int = 10_000) -> int:
        """Append each sent, not yet copied message to the Sent folder (RFC 3501 APPEND)."""
        with self.db.session() as s:
            ids = list(s.scalars(select(OutboxMessage.id)
                                 .where(OutboxMessage.state == "sent",
                                        OutboxMessage.copied.is_(False))
                                 .order_by(OutboxMessage.id).limit(limit)))
        folder = self.settings.mailbox.sent_folder
        loop = asyncio.get_running_loop()
        done = 0
        for row_id in ids:
            if self.db.is_sqlite:
                with self.db.session() as s:
                    row = s.get(OutboxMessage, row_id)
                    raw, mailbox = self.raw_of(row, sent_copy=True), row.mailbox
                if not await self._append_copy(loop, folder, row_id, raw, mailbox):
                    break
                with self.db.transaction() as s:
                    s.execute(update(OutboxMessage).where(OutboxMessage.id == row_id)
                              .values(copied=True))
                done += 1
                continue
            # several instances: the row stays locked while its copy is appended, so another
            # instance's pass skips it instead of appending a second copy
            with self.db.transaction() as s:
                row = s.scalar(select(OutboxMessage).where(
                    OutboxMessage.id == row_id, OutboxMessage.copied.is_(False))
                    .with_for_update(skip_locked=True))
                if row is None:
                    continue
                if not await self._append_copy(loop, folder, row_id,
                                               self.raw_of(row, sent_copy=True), row.mailbox):
                    break
                row.copied = True
            done += 1
        return done

    async def _append_copy(self, loop, folder: str, row_id: int, raw: bytes,
                           mailbox: str = "") -> bool:
        """APPEND one copy. A source that files copies of several mailboxes
        (mailproc.cluster.SentRouter, ``routes_by_mailbox``) is told the row's mailbox; a
        plain source is the one mailbox and files it in ``folder``."""
        source = self.source
        by_mailbox = {"mailbox": mailbox} if getattr(source, "routes_by_mailbox", False) else {}
        try:
            await loop.run_in_executor(
                self._copier, lambda: source.append(folder, raw, ["\\Seen"], **by_mailbox))
            return True
        except Exception as exc:  # noqa: BLE001 - the mailbox may be down; retry next run
            log.warning("outbox %d: Sent copy failed (%s); will retry", row_id,
                        type(exc).__name__, extra=about(outbox=row_id))
            return False

    async def run_forever(self, stop: asyncio.Event, interval: float = 5.0, beat=None) -> None:
        """The daemon's sender task: a pass whenever something may be due, until ``stop``.
        ``beat`` (mailproc.heartbeat.Beat) is marked after every pass: progress, or what
        failed (the pass is tried again ``interval`` later; the rows stay queued)."""
        from mailproc.faults import reason

        while not stop.is_set():
            try:
                stats = await self.run_once(stop)
                if stats.sent or stats.failed:
                    log.info("outbox pass: %s", stats)
                if beat is not None:
                    beat.progress("working" if stats.sent or stats.failed else "idle")
            except Exception as exc:  # noqa: BLE001 - the loop never dies; the rows stay queued
                log.warning("outbox pass failed (%s); retrying", reason(exc))
                log.debug("outbox pass traceback", exc_info=True)
                if beat is not None:
                    beat.failing(reason(exc))
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except asyncio.TimeoutError:
                pass


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def deliver_due(app, source=None) -> SendStats:
    """Send everything due (``run --once``, tests, cron). Opens the mailbox source for Sent
    copies when none is given and one can be opened; without it copies wait for a later run."""
    opened = None
    if source is None:
        try:
            if app.settings.mailboxes:  # several: each row's copy goes to its own mailbox
                from mailproc.cluster import SentRouter  # noqa: PLC0415 - several mailboxes only

                opened = source = SentRouter(list(app.mailbox_apps().values()))
            else:
                opened = source = app.source()
                source.open()
        except Exception as exc:  # noqa: BLE001 - sending must not wait for the mailbox
            log.warning("outbox: mailbox not available for Sent copies (%s)", type(exc).__name__)
            opened = source = None
    try:
        return asyncio.run(Sender.from_app(app, source).run_once())
    finally:
        if opened is not None:
            opened.close()


def sender_task(app, stop: asyncio.Event, source=None) -> asyncio.Task:
    """The asyncio task form for the daemon."""
    return asyncio.create_task(Sender.from_app(app, source).run_forever(stop))
