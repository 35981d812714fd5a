"""What an action gets: the message's transaction and everything it may need, in one object."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailproc.sorting.limits import (caused_in_window, library_addresses, record_hit,
                                     refusal_text, to_librarians)


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

    def __post_init__(self) -> None:
        # every row queued for this letter, by any action or service, records its sender
        # (rules.responses_per_sender, mailproc.sorting.limits): wrap the enqueue once
        base = self.enqueue

        def enqueue(session, settings, **kw):
            real = base
            if real is None:
                from mailproc.outbound.outbox import enqueue as real  # noqa: PLC0415
            kw.setdefault("cause", "" if to_librarians(settings, kw.get("to")) else self.cause)
            return real(session, settings, **kw)

        self.enqueue = enqueue

    @property
    def cause(self) -> str:
        """The sender the limit counts for this letter; "" for the library's own addresses."""
        sender = (self.letter.sender.email or "").lower() if self.letter is not None else ""
        if not sender or sender in library_addresses(self.settings, self.directory):
            return ""
        return sender

    def outbox(self, **kw):
        """enqueue(session, settings, **kw): queue mail in this message's transaction."""
        return self.enqueue(self.session, self.settings, **kw)

    def refusal(self, withheld: str = "автоматический ответ") -> str:
        """Why automatic mail (``withheld`` says which, in Russian) must not go out for this
        message, or "". Reaching ``rules.responses_per_sender`` is recorded
        (``limits.ResponseLimit``) for the digest."""
        from mailproc.letter.marks import is_automatic
        from mailproc.sorting.conditions import is_bounce

        letter = self.letter
        if is_bounce(letter):
            return "недоставка: на такие письма не отвечаем"
        if is_automatic(letter):
            return "автоматическое письмо: на такие письма не отвечаем"
        limit = self.settings.rules.responses_per_sender
        if limit and self.cause and self.responses_today() >= limit:
            if self.session is not None:
                record_hit(self.session, sender=self.cause,
                           message_pk=getattr(self.message, "id", None), limit=limit,
                           withheld=withheld, now=self.now)
            return refusal_text(limit)
        return ""

    def responses_today(self) -> int:
        """Messages queued because of this sender's mail in the last 24 hours (replies,
        forwards, hand-offs: every outbox row, this letter's included)."""
        if not self.cause or self.session is None:
            return 0
        return caused_in_window(self.session, self.cause, self.now)

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
