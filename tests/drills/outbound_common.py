"""Shared by the outbound drills: a queue of personalised messages and counting what arrived."""

from __future__ import annotations

import collections

from mailproc.outbound.models import OutboxMessage
from mailproc.outbound.outbox import enqueue


def fill_outbox(app, n: int) -> None:
    """``n`` personalised question acknowledgements to distinct readers, one transaction."""
    with app.db.transaction() as s:
        for i in range(n):
            enqueue(s, app.settings, to=f"Читатель {i} <reader{i}@example.org>",
                    template="reader/question_received",
                    context={"reader_name": f"Читатель №{i}",
                             "question": f"Вопрос номер {i}: есть ли книги о Якутске?",
                             "received_at": "2026-11-26T10:15:00+09:00"},
                    kind="reply", dedupe_key=f"drill-{i}")


def tally(app, received) -> dict:
    """Lost and duplicated messages: what the server got against what the outbox holds."""
    from sqlalchemy import select

    with app.db.session() as s:
        ids = set(s.scalars(select(OutboxMessage.message_id)))
        states = collections.Counter(s.scalars(select(OutboxMessage.state)))
    got = collections.Counter(m.message["Message-ID"] for m in received)
    return {
        "queued": len(ids),
        "arrived": sum(got.values()),
        "lost": len(ids - set(got)),
        "duplicates": sum(c - 1 for c in got.values() if c > 1),
        "strangers": len(set(got) - ids),
        "states": dict(states),
    }
