"""One message, one transaction: store, decide, act; only then touch the mailbox.

The order is what makes "nothing lost, nothing twice" hold across crashes:

1. The message row, its Letter, the decision and every record the actions cause are written
   in one transaction. A crash before the commit leaves nothing: the message is still in the
   intake folder and is processed again from scratch.
2. After the commit the message is filed (MOVE, keywords). A crash between the commit and the
   move leaves a row in state ``decided``; ``recover()`` files it on the next start without
   deciding or acting again.
3. Any error while deciding or acting rolls the transaction back; the message is recorded in
   state ``review`` with the reason, its raw bytes are kept in the spool, and it is moved to
   the review folder. The loop goes on.
"""

from __future__ import annotations

import hashlib
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailproc.letter import Letter, decode_letter
from mailproc.mailbox.base import MailboxSource, MessageRef
from mailproc.sorting.builtin import builtin_decide
from mailproc.sorting.decision import Decision
from mailproc.store.models import Decision as DecisionRow
from mailproc.store.models import Message

log = logging.getLogger("mailproc.intake")

Decide = Callable[[Letter], Decision]
#: runs a decision's actions inside the message's transaction; returns their results
Act = Callable[[Session, Message, Letter, Decision], list[dict]]


@dataclass
class IntakeStats:
    processed: int = 0
    review: int = 0
    recovered: int = 0
    skipped: int = 0
    categories: dict[str, int] = field(default_factory=dict)


def no_actions(session: Session, row: Message, letter: Letter, decision: Decision) -> list[dict]:
    return [{"name": a.name, "result": "skipped: no action registry loaded"}
            for a in decision.actions]


class Intake:
    def __init__(self, db, source: MailboxSource, *, review_folder: str, spool_dir: Path,
                 max_size: int, decide: Decide = builtin_decide, act: Act = no_actions,
                 on_processed: Callable[[Message, Letter, Decision], None] | None = None):
        self.db = db
        self.source = source
        self.review_folder = review_folder
        self.spool_dir = Path(spool_dir)
        self.max_size = max_size
        self.decide = decide
        self.act = act
        self.on_processed = on_processed

    # -- the whole folder -----------------------------------------------------------------

    def run_once(self) -> IntakeStats:
        """Recover unfiled rows, then process every message waiting in the intake folder."""
        stats = IntakeStats()
        stats.recovered = self.recover()
        refs = self.source.list_uids()
        known = self._known_uids()
        todo = [r for r in refs if r.uid not in known]
        stats.skipped = len(refs) - len(todo)
        for ref in todo:
            self.process_ref(ref, stats)
        return stats

    def _known_uids(self) -> set[str]:
        with self.db.session() as s:
            return set(s.scalars(select(Message.uid).where(
                Message.mailbox == self.source.name,
                Message.uidvalidity == self.source.uidvalidity)))

    def recover(self) -> int:
        """File messages whose transaction committed but whose move did not happen."""
        with self.db.session() as s:
            pending = list(s.scalars(select(Message).where(
                Message.mailbox == self.source.name,
                Message.uidvalidity == self.source.uidvalidity,
                Message.state.in_(("decided", "review-pending")))))
        for row in pending:
            self._file(row.id, row.uid, row.folder, row.keywords,
                       "review" if row.state == "review-pending" else "done")
        return len(pending)

    # -- one message ----------------------------------------------------------------------

    def process_ref(self, ref: MessageRef, stats: IntakeStats | None = None) -> Message | None:
        stats = stats or IntakeStats()
        if self.max_size and ref.size > self.max_size:
            self._to_review(ref.uid, None, None,
                            f"too large: {ref.size} bytes, the limit is {self.max_size}")
            stats.review += 1
            return None
        fetched = dict(self.source.fetch([ref.uid]))
        raw = fetched.get(ref.uid)
        if raw is None:  # expunged by someone else between listing and fetching
            return None
        return self.process_raw(ref.uid, raw, stats)

    def process_raw(self, uid: str, raw: bytes, stats: IntakeStats | None = None) -> Message | None:
        stats = stats or IntakeStats()
        letter: Letter | None = None
        try:
            letter = decode_letter(raw)
            decision = self.decide(letter)
            with self.db.transaction() as s:
                row = self._row(s, uid, letter)
                results = self.act(s, row, letter, decision)
                self._record(s, row, decision, results)
                s.flush()
                row_id = row.id
            log.info("message %s decided: category=%s rule=%s", row_id, decision.category,
                     decision.rule or "builtin")
        except Exception as exc:  # noqa: BLE001 - the loop never dies; the message goes to review
            reason = f"{type(exc).__name__}: {exc}"
            log.warning("message uid=%s to review: %s", uid, reason)
            log.debug("%s", traceback.format_exc())
            self._to_review(uid, raw, letter, reason)
            stats.review += 1
            return None
        self._file(row_id, uid, decision.folder, decision.keywords, "done")
        stats.processed += 1
        stats.categories[decision.category] = stats.categories.get(decision.category, 0) + 1
        if self.on_processed is not None:
            self.on_processed(row, letter, decision)
        return row

    def retry(self, row: Message, raw: bytes) -> str:
        """Decide and act again on a message from the review folder."""
        try:
            letter = decode_letter(raw)
            decision = self.decide(letter)
            with self.db.transaction() as s:
                fresh = s.get(Message, row.id)
                self._fill(fresh, letter)
                results = self.act(s, fresh, letter, decision)
                self._record(s, fresh, decision, results)
        except Exception as exc:  # noqa: BLE001
            with self.db.transaction() as s:
                s.get(Message, row.id).reason = f"{type(exc).__name__}: {exc}"[:2000]
            return f"still failing: {type(exc).__name__}: {exc}"
        new_uid = self.source.move(row.folder_uid or row.uid, decision.folder,
                                   from_folder=self.review_folder) if decision.folder else ""
        with self.db.transaction() as s:
            fresh = s.get(Message, row.id)
            fresh.state = "done"
            fresh.folder_uid = new_uid or fresh.folder_uid
        return f"processed: {decision.category}, filed in {decision.folder or '(left in place)'}"

    def _record(self, s: Session, row: Message, decision: Decision, results: list[dict]) -> None:
        row.category = decision.category
        row.rule = decision.rule
        row.folder = decision.folder
        row.keywords = list(decision.keywords)
        row.state = "decided"
        s.add(DecisionRow(message=row, category=decision.category, rule=decision.rule,
                          trace=decision.trace, actions=[a.to_json() for a in decision.actions],
                          results=results, rules_version=decision.rules_version))

    def _row(self, s: Session, uid: str, letter: Letter) -> Message:
        row = s.scalar(select(Message).where(
            Message.mailbox == self.source.name,
            Message.uidvalidity == self.source.uidvalidity,
            Message.uid == uid))
        if row is None:
            row = Message(mailbox=self.source.name, uidvalidity=self.source.uidvalidity, uid=uid)
            s.add(row)
        self._fill(row, letter)
        return row

    @staticmethod
    def _fill(row: Message, letter: Letter) -> None:
        row.content_hash = letter.content_hash
        row.size = letter.size
        row.message_id = letter.message_id
        row.in_reply_to = letter.in_reply_to
        row.from_addr = letter.sender.email
        row.subject = letter.subject
        row.sent_at = letter.date
        row.letter = _letter_summary(letter)
        row.reason = ""
        row.attempts = (row.attempts or 0) + 1

    # -- filing ---------------------------------------------------------------------------

    def _file(self, row_id: int, uid: str, folder: str, keywords: list[str], final: str) -> None:
        """Move/flag after the commit, then record where the message went."""
        new_uid = uid
        if keywords and self.source.supports_keywords:
            self.source.add_keywords(uid, keywords)
        if folder:
            new_uid = self.source.move(uid, folder)
        with self.db.transaction() as s:
            row = s.get(Message, row_id)
            row.state = final
            row.folder_uid = new_uid or ""

    def _to_review(self, uid: str, raw: bytes | None, letter: Letter | None, reason: str) -> None:
        spool = ""
        if raw is not None:
            digest = hashlib.sha256(raw).hexdigest()
            self.spool_dir.mkdir(parents=True, exist_ok=True)
            path = self.spool_dir / f"{digest}.eml"
            if not path.exists():
                tmp = path.with_suffix(".tmp")
                tmp.write_bytes(raw)
                tmp.replace(path)
            spool = str(path)
        with self.db.transaction() as s:
            row = s.scalar(select(Message).where(
                Message.mailbox == self.source.name,
                Message.uidvalidity == self.source.uidvalidity,
                Message.uid == uid))
            if row is None:
                row = Message(mailbox=self.source.name, uidvalidity=self.source.uidvalidity,
                              uid=uid, content_hash="")
                s.add(row)
            if letter is not None:
                row.content_hash = letter.content_hash
                row.message_id = letter.message_id
                row.from_addr = letter.sender.email
                row.subject = letter.subject
                row.size = letter.size
            elif raw is not None:
                row.content_hash = hashlib.sha256(raw).hexdigest()
                row.size = len(raw)
            row.state = "review-pending"
            row.category = "review"
            row.folder = self.review_folder
            row.reason = reason[:2000]
            row.spool_path = spool
            row.attempts = (row.attempts or 0) + 1
            s.flush()
            row_id = row.id
        self._file(row_id, uid, self.review_folder, [], "review")


def _letter_summary(letter: Letter) -> dict:
    """What the message row keeps of the Letter: enough to list and replay, not the bytes."""
    data = letter.to_json()
    return data
