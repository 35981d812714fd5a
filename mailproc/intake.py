"""One message, one transaction: store, decide, act; only then touch the mailbox.

Exactly once across crashes
---------------------------
The database is the only memory; IMAP flags (\\Seen and the rest) belong to the librarians
and are never read or relied on. A message is named by (mailbox, UIDVALIDITY, UID) and its
row also keeps the content hash and Message-ID.

1. Before the commit nothing is visible. The message row, its Letter, the decision and every
   record the actions cause (orders, outbox rows ...) are written in ONE transaction. A crash
   (even SIGKILL) before the commit leaves nothing: the message is still in the intake
   folder and is processed again from scratch on the next pass. Actions never send or move
   anything themselves; the outbox is a table in the same transaction.
2. After the commit the row is in state ``decided`` (``review-pending`` for review) and the
   message is filed: keywords, then MOVE (RFC 6851), an atomic server-side operation, so the
   message is in exactly one folder at every moment. Then the row becomes ``done``
   (``review``) with the new UID from COPYUID. A crash between the commit and the MOVE, or
   between the MOVE and the last update, leaves a ``decided`` row: ``recover()`` (run first on
   every pass) files it again without deciding or acting again. MOVE of a UID that has
   already gone is a no-op, so filing twice is harmless; the new UID is then found by
   Message-ID in the target folder.
3. A UID is skipped when a row for (mailbox, UIDVALIDITY, UID) exists, so a row is never
   written twice for one message.
4. UIDVALIDITY change (RFC 3501 2.3.1.1: every UID was reassigned): a message in the intake
   folder with an unknown UID is matched on its content hash (which covers the Message-ID)
   against rows of other UIDVALIDITY values; a match takes over the new UID and is only
   re-filed (its actions already ran).
5. Any error while decoding, deciding or acting rolls the transaction back; the message is
   recorded in state ``review-pending`` with the reason, its raw bytes go to the spool, and it
   is moved to the review folder (step 2 applies). Mail that may hold documents (a decision
   with a ``personal`` action, or mail that could not be decided and has attachments or could
   not be decoded) is spooled only encrypted with the vault key (``*.eml.sealed``); without
   a key it is not spooled at all and its bytes stay only in the review folder, where
   ``raw_for`` finds them. Spool files are 0600. Oversized messages (RFC822.SIZE above
   ``mailbox.max_message_size``) go there untouched, never downloaded. The loop goes on.
6. A message expunged by someone else between listing and fetching is simply not returned
   by the fetch and is skipped.
7. Poison messages (mailproc.attempts): nothing of the above survives a process that dies in
   a message (memory, a crash) or a pass that fails on it, so its attempt is committed
   BEFORE its work starts, apart from its transaction. At ``max_attempts`` attempts it is
   filed for review untouched with the reason, and the next message is processed. A letter
   with no header, or with text no database can keep (NUL, lone surrogates:
   mailproc.letter.sanity), goes to review before any rule sees it; a database error is one
   message's error (5) with a one-line reason, and the review row itself is written without
   the letter's values if they are what failed.

Throughput
----------
Messages are fetched in batches; each still gets its own transaction, but filing is done per
batch (one STORE and one MOVE per target folder; rows stay ``decided`` until then, which (2)
already covers). Messages above ``partial_above`` bytes are, where the source can
(``fetch_partial``, IMAP), decided from header, BODYSTRUCTURE and text parts without
downloading attachments (mailproc.mailbox.partial); the attachments are fetched only when
the decision has actions (which read ``Attachment.data``). Their content hash is then a
fingerprint of header, structure and size, always the same for the same message.
While a batch is processed the next one is fetched on a second connection
(mailproc.mailbox.prefetch), so waiting for the server overlaps with decoding and deciding;
the filing stays on the intake's own connection, after each commit as above. A new message
whose decision has no actions (most mail) is written with plain INSERTs instead of through
the ORM's unit of work (same rows, a fraction of the cost), and the messages of one fetched
batch that are merely filed share one transaction (group commit): the commit was half of
SQLite's cost per message. Each message's rows are still all-or-nothing, the mailbox is still
touched only after that commit, and a kill before it leaves the whole batch unrecorded and
in the intake folder, to be processed again (1). If the shared INSERT fails, each message of
the group is written on its own, so one bad row goes to review alone. The attempts (7) cost
one committed INSERT per batch (its DELETE rides in the group commit); only a batch the
process died in is processed one message at a time.

The mailbox being unreachable (``SourceUnavailable``) is not the message's fault: it
propagates to the caller (the daemon reconnects with backoff), and the state above makes the
next pass pick up exactly where this one stopped. It still counts as an attempt of the
message being processed (a message whose part the server cannot send would otherwise fail
every pass); the others of its batch are then retried one at a time, each with its own count.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from mailproc import metrics
from mailproc.attempts import AttemptLedger, Tried, poison_reason
from mailproc.errors import MessageError, SourceUnavailable
from mailproc.faults import is_outage
from mailproc.faults import reason as fault_reason
from mailproc.letter import Letter, decode_letter
from mailproc.letter.sanity import refusal
from mailproc.logs import about, log_ids
from mailproc.mailbox.base import MailboxSource, MessageRef
from mailproc.mailbox.partial import load_attachments, release_attachments
from mailproc.mailbox.prefetch import prefetched
from mailproc.private import private_dir, write_private
from mailproc.registrations.sealed import seal
from mailproc.registrations.stub import MARKER_HEADER as STUB_MARKER
from mailproc.sorting.builtin import builtin_decide
from mailproc.sorting.decision import Decision
from mailproc.sorting.registry import is_personal
from mailproc.store.models import Decision as DecisionRow
from mailproc.store.base import utcnow
from mailproc.store.models import Message

log = logging.getLogger("mailproc.intake")

Decide = Callable[[Letter], Decision]
#: runs a decision's actions inside the message's transaction; returns their results
Act = Callable[[Session, Message, Letter, Decision], list[dict]]

#: states whose row still has to be filed in the mailbox
PENDING_STATES = ("decided", "review-pending")
REVIEW_STATES = ("review", "review-pending")
#: a spool file encrypted with the vault key (mail that may hold documents)
SEALED_SPOOL = ".eml.sealed"


@dataclass
class IntakeStats:
    processed: int = 0
    review: int = 0
    recovered: int = 0
    skipped: int = 0
    rematched: int = 0
    vanished: int = 0
    categories: dict[str, int] = field(default_factory=dict)


def no_actions(session: Session, row: Message, letter: Letter, decision: Decision) -> list[dict]:
    return [{"name": a.name, "result": "skipped: no action registry loaded"}
            for a in decision.actions]


class Intake:
    def __init__(self, db, source: MailboxSource, *, review_folder: str, spool_dir: Path,
                 max_size: int, decide: Decide = builtin_decide, act: Act = no_actions,
                 on_processed: Callable[[Message, Letter, Decision], None] | None = None,
                 should_stop: Callable[[], bool] | None = None, batch: int | None = None,
                 partial_above: int = 256 * 1024, vault: Callable[[], object] | None = None,
                 max_attempts: int = 3):
        self.db = db
        self.source = source
        self.review_folder = review_folder
        self.spool_dir = Path(spool_dir)
        self.max_size = max_size
        self.decide = decide
        self.act = act
        self.on_processed = on_processed
        #: checked between messages: the daemon's SIGTERM finishes the current one and stops
        self.should_stop = should_stop or (lambda: False)
        self.batch = batch or getattr(source, "fetch_batch", 50)
        #: messages larger than this are decided without downloading their attachments
        #: (sources with ``fetch_partial``; 0 turns it off)
        self.partial_above = partial_above
        #: attempts after which a message is given up and filed for review (0: never)
        self.max_attempts = max(0, max_attempts)
        self.attempts = AttemptLedger(db, source.name)
        self._deferred: list[tuple] | None = None
        #: inside a chunk: decided messages with no actions, written together at its end
        self._grouped: list[_Filed] | None = None
        self._foreign_uidvalidity = True
        #: the vault key (a Vault) for mail that may hold documents, or None when there is none
        self.vault = vault or (lambda: None)

    # -- the whole folder -----------------------------------------------------------------

    def run_once(self) -> IntakeStats:
        """Recover unfiled rows, then process every message waiting in the intake folder."""
        stats = IntakeStats()
        stats.recovered = self.recover()
        refs = self.source.list_uids()
        with self.db.session() as s:
            self._foreign_uidvalidity = s.scalar(select(Message.id).where(
                Message.mailbox == self.source.name,
                Message.uidvalidity != self.source.uidvalidity).limit(1)) is not None
        known = self._known_uids([r.uid for r in refs])
        todo = [r for r in refs if r.uid not in known]
        stats.skipped = len(refs) - len(todo)
        self.process_refs(todo, stats)
        return stats

    def process_refs(self, refs: list[MessageRef], stats: IntakeStats | None = None
                     ) -> IntakeStats:
        """Process listed messages in fetch batches (memory stays bounded by the batch)."""
        stats = stats or IntakeStats()
        small: list[MessageRef] = []
        for ref in refs:
            if self.max_size and ref.size > self.max_size:
                self._oversized(ref, stats)
            else:
                small.append(ref)
        chunks = [small[i:i + self.batch] for i in range(0, len(small), self.batch)]
        tried = self.attempts.pending(self.source.uidvalidity, [r.uid for r in small]) \
            if self.max_attempts and small else {}
        with contextlib.closing(prefetched(self.source, chunks, self._fetch_chunk)) as batches:
            for chunk, fetched in batches:
                if self.should_stop():
                    break
                if not self._chunk(chunk, fetched, tried, stats):
                    return stats
                stats.vanished += len(chunk) - len(fetched)  # expunged by someone else: skipped
        return stats

    def _chunk(self, chunk: list[MessageRef], fetched: list[tuple], tried: dict[str, Tried],
               stats: IntakeStats) -> bool:
        """One fetched chunk, its attempts recorded first (mailproc.attempts); False when
        told to stop half-way."""
        uidvalidity = self.source.uidvalidity
        uids = [r.uid for r in chunk]
        careful = self.max_attempts and any(uid in tried for uid in uids)
        if self.max_attempts and not careful:
            self.attempts.start_chunk(uidvalidity, uids)
        self._deferred = []  # committed rows of this chunk, filed together below
        # rows merely to be filed, committed together below; one by one when careful
        self._grouped = None if careful else []
        ended = False  # normally or stopped: not by an exception
        failure: Exception | None = None  # what failed the chunk, if anything did
        current = None
        try:
            for uid, raw, letter in fetched:
                current = uid
                if letter is not None and getattr(letter, "load_part", None):
                    # attachments load over this thread's connection, not the fetcher's
                    letter.load_part = functools.partial(self.source.load_part, uid)
                if careful:
                    self._carefully(uid, raw, letter, tried, stats)
                else:
                    self.process_message(uid, raw, letter, stats)
                current = None
                if self.should_stop():
                    ended = True
                    return False
            ended = True
            return True
        except Exception as exc:
            failure = exc
            if self.max_attempts and current is not None:
                if is_outage(exc):
                    self._not_an_attempt(current, uids, careful)
                else:
                    self._note_error(current, exc)
            raise
        finally:
            self._end_chunk(uids, ended and not careful, stats, failure)

    def _end_chunk(self, uids: list[str], clear: bool, stats: IntakeStats,
                   failure: Exception | None) -> None:
        """Commit the chunk's merely-filed rows, then file its committed rows (IMAP). When
        ``failure`` is already failing the chunk, an error here does not replace it: a
        database or disk error must not be reported as the mailbox's (issue 18) just because
        the filing after it found the mailbox gone, or the other way round. Rows left
        ``decided`` are filed by the next pass's ``recover``."""
        grouped, self._grouped = self._grouped, None
        pending, self._deferred = self._deferred, None
        try:
            self._commit_group(grouped, stats, uids if self.max_attempts and clear else [])
            self._file_many(pending)
        except Exception as exc:  # noqa: BLE001 - re-raised below unless one is failing
            if failure is None:
                raise
            log.warning("chunk ending after %s also failed: %s", fault_reason(failure),
                        fault_reason(exc))

    def _carefully(self, uid: str, raw: bytes | None, letter: Letter | None,
                   tried: dict[str, Tried], stats: IntakeStats) -> None:
        """A message of a chunk the process died in (or failed in): given up when its
        attempts reached ``max_attempts``, else one more attempt committed first."""
        uidvalidity = self.source.uidvalidity
        before = tried.get(uid, Tried(0))
        if before.attempts >= self.max_attempts:
            log.warning("message uid=%s: %d attempts did not finish; to review untouched",
                        uid, before.attempts)
            self._to_review(uid, raw, None, poison_reason(before),
                            size=letter.size if letter is not None else 0)
            stats.review += 1
        else:
            self.attempts.start_one(uidvalidity, uid, before.attempts)
            tried[uid] = Tried(before.attempts + 1, before.last_error)
            self.process_message(uid, raw, letter, stats)
        self.attempts.clear(uidvalidity, [uid])
        tried.pop(uid, None)

    def _not_an_attempt(self, uid: str, uids: list[str], careful: bool) -> None:
        """The database or the disk failed the pass (mailproc.faults.is_outage), not the
        message: take back the attempt committed for it (careful: ``uid``'s own; else the
        chunk's first ones), so an outage that lasts a few passes never gives up a good
        message as poison. Best effort: the database may still be away, and then the
        attempt stays counted."""
        try:
            if careful:
                self.attempts.take_back(self.source.uidvalidity, uid)
            else:
                self.attempts.clear(self.source.uidvalidity, uids)
        except Exception:  # noqa: BLE001 - the outage is the error to report
            log.warning("message uid=%s: its attempt could not be taken back after an "
                        "outage", uid)

    def _note_error(self, uid: str, exc: Exception) -> None:
        """Keep the error that failed the pass in ``uid``'s attempt row (best effort: the
        database may be what failed)."""
        try:
            self.attempts.note_error(self.source.uidvalidity, uid, _reason(exc))
        except Exception:  # noqa: BLE001 - the original error is the one to report
            log.warning("message uid=%s: could not record its failed attempt", uid)

    def _fetch_chunk(self, source: MailboxSource, chunk: list[MessageRef]
                     ) -> list[tuple[str, bytes | None, Letter | None]]:
        """One batch as (uid, raw, None) or, for big messages where the source can,
        (uid, None, Letter) decided from header, structure and text parts (fetched apart)."""
        partial = getattr(source, "fetch_partial", None) if self.partial_above else None
        whole = [r.uid for r in chunk if partial is None or r.size <= self.partial_above]
        parts = [r.uid for r in chunk if partial is not None and r.size > self.partial_above]
        got: list[tuple[str, bytes | None, Letter | None]] = \
            [(uid, None, letter) for uid, letter in (partial(parts) if parts else ())]
        got += [(uid, raw, None) for uid, raw in source.fetch(whole)]
        return got

    def _known_uids(self, uids: list[str]) -> set[str]:
        known: set[str] = set()
        with self.db.session() as s:
            for i in range(0, len(uids), 500):
                known.update(s.scalars(select(Message.uid).where(
                    Message.mailbox == self.source.name,
                    Message.uidvalidity == self.source.uidvalidity,
                    Message.uid.in_(uids[i:i + 500]))))
        return known

    def recover(self) -> int:
        """File messages whose transaction committed but whose move did not happen."""
        with self.db.session() as s:
            pending = list(s.scalars(select(Message).where(
                Message.mailbox == self.source.name,
                Message.uidvalidity == self.source.uidvalidity,
                Message.state.in_(PENDING_STATES))))
        for row in pending:
            log.info("message %s: filing after an interrupted run", row.id)
            self._file(row.id, row.uid, row.folder, row.keywords,
                       "review" if row.state == "review-pending" else "done",
                       message_id=row.message_id)
        return len(pending)

    # -- one message ----------------------------------------------------------------------

    def process_ref(self, ref: MessageRef, stats: IntakeStats | None = None) -> Message | None:
        stats = stats or IntakeStats()
        if self.max_size and ref.size > self.max_size:
            self._oversized(ref, stats)
            return None
        fetched = dict(self.source.fetch([ref.uid]))
        raw = fetched.get(ref.uid)
        if raw is None:  # expunged by someone else between listing and fetching
            stats.vanished += 1
            return None
        return self.process_raw(ref.uid, raw, stats)

    def _oversized(self, ref: MessageRef, stats: IntakeStats) -> None:
        self._to_review(ref.uid, None, None,
                        f"too large: {ref.size} bytes, the limit is {self.max_size}",
                        size=ref.size)
        stats.review += 1

    def process_raw(self, uid: str, raw: bytes, stats: IntakeStats | None = None) -> Message | None:
        return self.process_message(uid, raw, None, stats)

    def process_message(self, uid: str, raw: bytes | None, letter: Letter | None,
                        stats: IntakeStats | None = None) -> Message | None:
        """One message from its raw bytes, or from a Letter built without them (partial)."""
        with log_ids(uid=uid):  # every line logged while it is processed names its UID
            return self._process_message(uid, raw, letter, stats)

    def _process_message(self, uid: str, raw: bytes | None, letter: Letter | None,
                         stats: IntakeStats | None) -> Message | None:
        stats = stats or IntakeStats()
        started = metrics.clock()
        digest = letter.content_hash if letter is not None else ""
        decision = None
        if self._foreign_uidvalidity:  # only then is the hash needed before decoding
            digest = digest or hashlib.sha256(raw).hexdigest()
            if self._rematch(uid, digest, stats):
                return None
        try:
            if letter is None:
                letter = decode_letter(raw, content_hash=digest)
            refused = refusal(letter)
            if refused:
                raise MessageError(refused)
            if letter.header(STUB_MARKER) and self._our_stub(uid, letter, stats):
                return None
            decision = self.decide(letter)
            if decision.folder:  # a name the server cannot carry: to review, before any action
                self.source.check_folder(decision.folder)
            if decision.actions:
                load_attachments(letter)  # actions read attachment bytes; filing does not
            if not decision.actions and self._grouped is not None:
                # a new UID merely to be filed (most mail): written with the chunk's group
                self._grouped.append(_Filed(uid, raw, letter, decision, started))
                return None
            with self.db.transaction() as s:
                row = self._row(s, uid, letter)
                results = self.act(s, row, letter, decision)
                self._record(s, row, decision, results)
                s.flush()
                row_id = row.id
        except SourceUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - the loop never dies; the message goes to review
            if is_outage(exc):
                raise  # the database or the disk is away: the pass fails, the message waits
            self._failed(uid, raw, letter, exc, stats, started, decision)
            return None
        finally:
            release_attachments(letter)  # loaded for the actions only, not for the batch
        return self._done(row_id, row, _Filed(uid, raw, letter, decision, started), stats)

    def _our_stub(self, uid: str, letter: Letter, stats: IntakeStats) -> bool:
        """A redacted copy this mailbox's registrations tidy appended to the intake folder
        just before the process died (mailproc.registrations.redaction): recorded as
        handled and left where it is, never decided as new mail."""
        from mailproc.registrations.redaction import record_stub  # noqa: PLC0415 - cycle

        with self.db.transaction() as s:
            if not record_stub(s, letter.header(STUB_MARKER), self.source.name,
                               self.source.uidvalidity, uid):
                return False
        log.info("message uid=%s: our own redacted copy, recorded as handled", uid)
        stats.skipped += 1
        return True

    def _done(self, row_id: int, row: Message | dict, item: "_Filed",
              stats: IntakeStats) -> Message | dict:
        """A message's rows are committed: file it, count it. ``row`` is the column values
        when it was written without the ORM; a Message is made of them only for a listener
        (building one costs more than writing it)."""
        decision = item.decision
        log.info("message %s decided: category=%s rule=%s", row_id, decision.category,
                 decision.rule or "builtin", extra=about(message_pk=row_id, uid=item.uid))
        self._file(row_id, item.uid, decision.folder, decision.keywords, "done",
                   message_id=item.letter.message_id)
        stats.processed += 1
        stats.categories[decision.category] = stats.categories.get(decision.category, 0) + 1
        metrics.inc_message(decision.category, item.started)
        if self.on_processed is not None:
            if isinstance(row, dict):
                row = Message(id=row_id, **row)
            self.on_processed(row, item.letter, decision)
        return row

    def _failed(self, uid: str, raw: bytes | None, letter: Letter | None, exc: Exception,
                stats: IntakeStats, started: float, decision: Decision | None = None) -> None:
        """A message failed before its commit: nothing of it was written; to review."""
        reason = _reason(exc)
        log.warning("message uid=%s to review: %s", uid, type(exc).__name__)
        log.debug("%s", traceback.format_exc())
        if raw is None:  # a partial letter failed: keep the whole message for retry
            raw = dict(self.source.fetch([uid])).get(uid)
        self._to_review(uid, raw, letter, reason, decision=decision)
        stats.review += 1
        metrics.inc_message("review", started)

    def _commit_group(self, group: list["_Filed"] | None, stats: IntakeStats,
                      clear: list[str]) -> None:
        """Write the chunk's merely-filed messages in one transaction (see Throughput in the
        module docstring); if that fails, each on its own, a failing one to review. The
        attempts of ``clear`` are forgotten in that transaction (or alone)."""
        if not group:
            self.attempts.clear(self.source.uidvalidity, clear)
            return
        try:
            written = self._insert_filed_only(group, clear)
            clear = []
        except SourceUnavailable:
            raise
        except Exception:  # noqa: BLE001 - one bad row must not take the others to review
            log.warning("group of %d messages failed to commit; writing them one by one",
                        len(group))
            written = []
            for item in group:
                try:
                    written += self._insert_filed_only([item])
                except SourceUnavailable:
                    raise
                except Exception as exc:  # noqa: BLE001
                    if is_outage(exc):
                        raise
                    self._failed(item.uid, item.raw, item.letter, exc, stats, item.started,
                                 item.decision)
        self.attempts.clear(self.source.uidvalidity, clear)
        for (row_id, row), item in written:
            self._done(row_id, row, item, stats)

    def _rematch(self, uid: str, digest: str, stats: IntakeStats) -> bool:
        """After a UIDVALIDITY change: a message we already handled takes its new UID and is
        only filed again (RFC 3501 2.3.1.1). Matched on the content hash."""
        if not self._foreign_uidvalidity:
            return False
        match = select(Message.id).where(
            Message.mailbox == self.source.name,
            Message.uidvalidity != self.source.uidvalidity,
            Message.content_hash == digest).order_by(Message.id.desc()).limit(1)
        with self.db.session() as s:
            row_id = s.scalar(match)
        if row_id is None:
            return False
        with self.db.transaction() as s:
            row = s.get(Message, row_id)
            log.info("message %s: UIDVALIDITY changed %s -> %s; re-filing, not re-running",
                     row.id, row.uidvalidity, self.source.uidvalidity)
            row.uidvalidity = self.source.uidvalidity
            row.uid = uid
            final = "review" if row.state in REVIEW_STATES else "done"
            row.state = "review-pending" if final == "review" else "decided"
            row_id, folder, keywords, mid = row.id, row.folder, list(row.keywords), row.message_id
        self._file(row_id, uid, folder, keywords, final, message_id=mid)
        stats.rematched += 1
        return True

    def retry(self, row: Message, raw: bytes) -> str:
        """Decide and act again on a message from the review folder."""
        try:
            letter = decode_letter(raw)
            decision = self.decide(letter)
            if decision.folder:
                self.source.check_folder(decision.folder)
            with self.db.transaction() as s:
                fresh = s.get(Message, row.id)
                self._fill(fresh, letter)
                results = self.act(s, fresh, letter, decision)
                self._record(s, fresh, decision, results)
                fresh.state = "retry-pending"
        except Exception as exc:  # noqa: BLE001
            reason = _reason(exc)  # the same text the intake gives (Russian for MessageError)
            with self.db.transaction() as s:
                s.get(Message, row.id).reason = reason[:2000]
            return f"still failing: {reason}"
        new_uid = ""
        if decision.folder and decision.folder != self.review_folder and row.folder_uid:
            new_uid = self.source.move(row.folder_uid, decision.folder,
                                       from_folder=self.review_folder)
        with self.db.transaction() as s:
            fresh = s.get(Message, row.id)
            fresh.state = "done"
            fresh.reason = ""
            fresh.folder_uid = new_uid or fresh.folder_uid
        return f"processed: {decision.category}, filed in {decision.folder or '(left in place)'}"

    def raw_for(self, row: Message) -> bytes | None:
        """The kept bytes of a review message: the spool copy (a sealed one opened with the
        vault key, when there is one), else the review folder."""
        data = spooled_bytes(row.spool_path, self.vault)
        if data is not None:
            return data
        if row.folder_uid:
            try:
                got = dict(self.source.fetch([row.folder_uid], folder=row.folder
                                             or self.review_folder))
            except TypeError:  # a source without folder= (Maildir keeps the same key)
                got = {}
            return got.get(row.folder_uid)
        return None

    def _record(self, s: Session, row: Message, decision: Decision, results: list[dict]) -> None:
        for name, value in _decided_columns(decision).items():
            setattr(row, name, value)
        s.add(DecisionRow(message=row, **_decision_columns(decision, results)))

    def _insert_filed_only(self, group: list["_Filed"], clear: list[str] = ()
                           ) -> list[tuple[tuple[int, dict], "_Filed"]]:
        """The rows ``_row`` + ``_record`` write, for new UIDs whose decisions have no actions,
        in ONE transaction: two Core executemany INSERTs (and the DELETE of the chunk's
        attempts, ``clear``). Session and unit of work cost about 0.6 ms a message here
        (measured), and a commit each about 0.5 ms."""
        base = {"mailbox": self.source.name, "uidvalidity": self.source.uidvalidity,
                "attempts": 1, "spool_path": "", "folder_uid": ""}
        rows = [{**base, "uid": item.uid, **_letter_columns(item.letter),
                 **_decided_columns(item.decision)} for item in group]
        table = Message.__table__
        with self.db.engine.begin() as conn:
            # ids matched by UID, which is unique here: RETURNING in parameter order would
            # make SQLAlchemy send one INSERT a row to SQLite instead of batched ones
            by_uid = dict(conn.execute(insert(table).returning(table.c.uid, table.c.id),
                                       rows).all())
            ids = [by_uid[item.uid] for item in group]
            conn.execute(insert(DecisionRow.__table__),
                         [{"message_pk": row_id, **_decision_columns(item.decision, [])}
                          for row_id, item in zip(ids, group)])
            self.attempts.clear(self.source.uidvalidity, clear, conn)
        return [((row_id, values), item) for row_id, values, item in zip(ids, rows, group)]

    def _row(self, s: Session, uid: str, letter: Letter) -> Message:
        # inside a chunk the UID was just listed as unknown: no row to look for
        row = None if self._deferred is not None else self._find_row(s, uid)
        if row is None:
            row = Message(mailbox=self.source.name, uidvalidity=self.source.uidvalidity, uid=uid)
            s.add(row)
        self._fill(row, letter)
        return row

    def _find_row(self, s: Session, uid: str) -> Message | None:
        return s.scalar(select(Message).where(
            Message.mailbox == self.source.name,
            Message.uidvalidity == self.source.uidvalidity,
            Message.uid == uid))

    @staticmethod
    def _fill(row: Message, letter: Letter) -> None:
        for name, value in _letter_columns(letter).items():
            setattr(row, name, value)
        row.attempts = (row.attempts or 0) + 1

    # -- filing ---------------------------------------------------------------------------

    def _file(self, row_id: int, uid: str, folder: str, keywords: Iterable[str], final: str,
              message_id: str = "") -> None:
        """Move/flag after the commit, then record where the message went. Inside a chunk
        (``process_refs``) it is deferred to the chunk's end: one STORE and one MOVE per
        folder instead of one round trip per message. The row says ``decided`` meanwhile, so
        a crash in between is recovered like any other."""
        if self._deferred is not None:
            self._deferred.append((row_id, uid, folder, tuple(keywords or ()), final,
                                   message_id))
            return
        self._file_one(row_id, uid, folder, keywords, final, message_id)

    def _file_many(self, pending: list[tuple]) -> None:
        move_many = getattr(self.source, "move_many", None)
        if move_many is None or len(pending) < 2:
            for item in pending:
                self._file_one(*item)
            return
        groups: dict[tuple, list[tuple]] = {}
        for item in pending:
            groups.setdefault((item[2], item[3]), []).append(item)
        for (folder, keywords), items in groups.items():
            uids = [item[1] for item in items]
            if keywords and self.source.supports_keywords:
                self.source.add_keywords(uids, keywords)
            moved = move_many(uids, folder) if folder else {u: u for u in uids}
            updates = []
            for row_id, uid, _f, _k, final, message_id in items:
                new_uid = moved.get(uid, "")
                if not new_uid and folder and message_id:
                    found = self.source.search_header(folder, "Message-ID", message_id)
                    new_uid = found[-1] if found else ""
                updates.append({"id": row_id, "state": final, "folder_uid": new_uid,
                                "updated_at": utcnow()})
            with self.db.transaction() as s:
                s.execute(update(Message), updates)  # bulk UPDATE by primary key

    def _file_one(self, row_id: int, uid: str, folder: str, keywords: Iterable[str],
                  final: str, message_id: str = "") -> None:
        new_uid = uid
        keywords = list(keywords or ())
        if keywords and self.source.supports_keywords:
            self.source.add_keywords(uid, keywords)
        if folder:
            new_uid = self.source.move(uid, folder)
            if not new_uid and message_id and hasattr(self.source, "search_header"):
                # already moved by an interrupted run (or COPYUID missing): find it there
                found = self.source.search_header(folder, "Message-ID", message_id)
                new_uid = found[-1] if found else ""
        with self.db.transaction() as s:
            row = s.get(Message, row_id)
            row.state = final
            row.folder_uid = new_uid or ""

    def _to_review(self, uid: str, raw: bytes | None, letter: Letter | None, reason: str,
                   size: int = 0, decision: Decision | None = None) -> None:
        personal = decision is not None and is_personal(decision)
        # undecided mail may be registration mail too: with attachments, or not decodable
        documents = personal or decision is None and (
            letter is None or bool(letter.all_attachments()))
        box = self.vault() if documents else None
        spool = self._spool(raw, box, documents) if raw is not None else ""
        try:
            row_id, message_id = self._review_row(uid, raw, letter, reason, size, spool,
                                                  box, personal)
        except SourceUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - the letter's own values may be what fails
            log.warning("message uid=%s: review row with the letter's values failed (%s); "
                        "writing it without them", uid, type(exc).__name__)
            row_id, message_id = self._review_row(uid, raw, None, reason, size, spool,
                                                  box, personal)
        self._file(row_id, uid, self.review_folder, [], "review", message_id=message_id)

    def _review_row(self, uid: str, raw: bytes | None, letter: Letter | None, reason: str,
                    size: int, spool: str, box, personal: bool) -> tuple[int, str]:
        """Write (or update) the message's row for review; its id and Message-ID. A
        registration letter's subject is sealed with ``box`` (not kept without a key)."""
        with self.db.transaction() as s:
            row = self._find_row(s, uid)
            if row is None:
                row = Message(mailbox=self.source.name, uidvalidity=self.source.uidvalidity,
                              uid=uid, content_hash="")
                s.add(row)
            if letter is not None:
                row.content_hash = letter.content_hash
                row.message_id = letter.message_id[:998]
                row.from_addr = letter.sender.email[:320]
                # registration mail's subject sealed, or not kept without a vault key
                row.subject = (seal(box, letter.subject) if box is not None else "") \
                    if personal else letter.subject
                row.size = letter.size
            elif raw is not None:
                row.content_hash = hashlib.sha256(raw).hexdigest()
                row.size = len(raw)
            else:
                row.size = size
            row.state = "review-pending"
            row.category = "review"
            row.folder = self.review_folder
            row.reason = reason[:2000]
            row.spool_path = spool
            row.attempts = (row.attempts or 0) + 1
            s.flush()
            return row.id, row.message_id

    def _spool(self, raw: bytes, box, documents: bool) -> str:
        """Keep the raw bytes for a retry; "" when they may hold documents and there is no
        vault key (then only the review folder keeps them)."""
        if documents and box is None:
            return ""
        digest = hashlib.sha256(raw).hexdigest()
        private_dir(self.spool_dir)
        if documents:
            path = self.spool_dir / f"{digest}{SEALED_SPOOL}"
            write_private(path, box.encrypt(raw))  # Fernet is randomised: always written
            return str(path)
        path = self.spool_dir / f"{digest}.eml"
        if not path.exists():
            write_private(path, raw)
        return str(path)


def spooled_bytes(spool_path: str, vault: Callable[[], object]) -> bytes | None:
    """A spool file's raw bytes, a sealed one opened with ``vault()``; None when there is no
    file, or it is sealed and there is no key."""
    if not spool_path or not Path(spool_path).exists():
        return None
    data = Path(spool_path).read_bytes()
    if not spool_path.endswith(SEALED_SPOOL):
        return data
    box = vault()
    return box.decrypt(data, f"spool file {Path(spool_path).name}") if box is not None else None


@dataclass(slots=True)
class _Filed:
    """A decided message waiting for its commit (alone or with its chunk's group)."""
    uid: str
    raw: bytes | None
    letter: Letter
    decision: Decision
    started: float


def _reason(exc: Exception) -> str:
    """A failure as the review reason: a MessageError's own (Russian) text; a database
    error's first line without the statement and its values (they hold the letter's text);
    else the exception's type and text."""
    if isinstance(exc, MessageError):
        return str(exc)
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        detail = (str(exc.orig).strip().splitlines() or [""])[0]
        return f"база данных не приняла запись письма: {type(exc.orig).__name__}: {detail}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _letter_columns(letter: Letter) -> dict:
    """What a message row keeps of its Letter."""
    return {"content_hash": letter.content_hash, "size": letter.size,
            "message_id": letter.message_id[:998], "in_reply_to": letter.in_reply_to[:998],
            "from_addr": letter.sender.email[:320], "subject": letter.subject,
            "sent_at": letter.date, "letter": letter.to_json(), "reason": ""}


def _decided_columns(decision: Decision) -> dict:
    """What a message row keeps of its decision."""
    return {"category": decision.category, "rule": decision.rule, "folder": decision.folder,
            "keywords": list(decision.keywords), "state": "decided"}


def _decision_columns(decision: Decision, results: list[dict]) -> dict:
    """The decision row (everything but its message)."""
    return {"category": decision.category, "rule": decision.rule, "trace": decision.trace,
            "actions": [a.to_json() for a in decision.actions], "results": results,
            "rules_version": decision.rules_version}
