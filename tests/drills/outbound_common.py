"""Shared by the outbound drills: a queue of personalised messages and counting what arrived."""

from __future__ import annotations

import collections
from email.parser import BytesHeaderParser

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


def window_gaps(received, quits: set, kills: list[float], near: float = 0.05) -> list[float]:
    """Which second copies at the SMTP server are the RFC 1047 window (see
    mailproc.outbound.sender): the copy sent again was the last message of its connection,
    that connection never said QUIT (it was cut), and a kill (``time.time()`` values) fell
    within ``near`` seconds of the server taking that copy's final ".". Returns the kill's
    offset for each such copy (negative: the kill came first and the dot, written just before
    it, reached the server after). A repeat not so explained (by the claims or the recovery)
    is left out, and the drills fail on it."""
    parser = BytesHeaderParser()
    by_peer: dict[tuple, list] = {}
    copies: dict[str, list] = {}
    for m in received:
        by_peer.setdefault(m.peer, []).append(m)
        mid = (parser.parsebytes(m.raw).get("Message-ID") or "").strip()
        copies.setdefault(mid, []).append(m)
    gaps = []
    for sent in copies.values():
        for m in sent[:-1]:  # every copy that was sent again
            if by_peer[m.peer][-1] is not m or m.peer in quits:
                continue
            gap = min((k - m.at for k in kills), key=abs, default=None)
            if gap is not None and abs(gap) <= near:
                gaps.append(gap)
    return gaps
