"""What an action gets: the message's transaction and everything it may need, in one object."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from mailproc.sorting.registry import ACTIONS


@dataclass
class ActionContext:
    session: Any  # the message's transaction
    settings: Any
    letter: Any
    message: Any  # the Message row
    decision: Any
    directory: Any
    tokens: Any
    now: datetime
    results: list[dict] = field(default_factory=list)  # results of earlier actions, this message
    folder: str | None = None  # set by an action to file the message elsewhere
    keywords: list[str] = field(default_factory=list)  # added by actions
    enqueue: Any = None  # the outbox's enqueue; None: import mailproc.outbound.outbox lazily

    def outbox(self, **kw):
        """enqueue(session, settings, **kw): queue mail in this message's transaction."""
        enqueue = self.enqueue
        if enqueue is None:
            from mailproc.outbound.outbox import enqueue  # noqa: PLC0415 - built in parallel
        return enqueue(self.session, self.settings, **kw)

    def refusal(self) -> str:
        """Why an automatic reply or forward must not go out for this message, or ""."""
        from mailproc.sorting.conditions import is_automatic, is_bounce

        letter = self.letter
        if is_bounce(letter):
            return "недоставка: на такие письма не отвечаем"
        if is_automatic(letter):
            return "автоматическое письмо: на такие письма не отвечаем"
        limit = self.settings.rules.responses_per_sender
        if limit and self.responses_today() >= limit:
            return f"лимит автоматических ответов этому отправителю ({limit} за сутки)"
        return ""

    def responses_today(self) -> int:
        """Automatic replies and forwards caused by this sender's mail in the last 24 hours."""
        from mailproc.store.models import Decision, Message

        count = sum(1 for r in self.results if r.get("queued"))
        sender = self.letter.sender.email
        if not sender or self.session is None:
            return count
        since = self.now - timedelta(hours=24)
        rows = self.session.execute(
            select(Decision.results).join(Message, Decision.message_pk == Message.id).where(
                Message.from_addr == sender, Decision.decided_at >= since))
        responding = {name for name, spec in ACTIONS.items() if spec.responds}
        for (results,) in rows:
            count += sum(1 for r in results or ()
                         if isinstance(r, dict) and r.get("name") in responding and r.get("queued"))
        return count

    def template_context(self, **extra) -> dict:
        """What templates see about the message: no raw bytes, no attachments' contents;
        attachment names rebuilt (``outbound.filenames``), never as the sender wrote them."""
        from mailproc.outbound.filenames import safe_name  # noqa: PLC0415 - stdlib only

        letter = self.letter
        return {
            "reader_name": letter.sender.name, "reader_email": letter.sender.email,
            "subject": letter.subject, "question": letter.text, "received_at": letter.date,
            "message": {"id": getattr(self.message, "id", None), "subject": letter.subject,
                        "from": letter.sender.email, "from_name": letter.sender.name,
                        "date": letter.date.isoformat() if letter.date else "",
                        "text": letter.text,
                        "attachments": [safe_name(a.name, a.type)
                                        for a in letter.all_attachments()]},
            "category": self.decision.category,
            "rule": self.decision.rule,
            **extra,
        }
