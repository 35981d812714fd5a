"""Order states and the moves allowed between them.

``new -> requested -> (photographed | sent_to_lod) -> received -> delivered``, plus
``needs_details`` (the reader must say more), ``overdue`` (the department missed its deadline
and was reminded once), and the ends ``cannot_fulfil`` and ``cancelled``. Keeping the table here
lets a wrong move fail loudly instead of silently rewriting history.
"""

from __future__ import annotations

NEW = "new"
NEEDS_DETAILS = "needs_details"
REQUESTED = "requested"
PHOTOGRAPHED = "photographed"
SENT_TO_LOD = "sent_to_lod"
RECEIVED = "received"
DELIVERED = "delivered"
CANNOT_FULFIL = "cannot_fulfil"
CANCELLED = "cancelled"
OVERDUE = "overdue"

ALL = (NEW, NEEDS_DETAILS, REQUESTED, PHOTOGRAPHED, SENT_TO_LOD, RECEIVED, DELIVERED,
       CANNOT_FULFIL, CANCELLED, OVERDUE)

#: states in which a department's reply may still arrive
AWAITING_DEPARTMENT = (REQUESTED, PHOTOGRAPHED, SENT_TO_LOD, OVERDUE)
#: states in which nothing more happens
FINAL = (DELIVERED, CANNOT_FULFIL, CANCELLED)
#: states that count against the 30% cap (pages promised or given)
COUNTS_FOR_CAP = (NEW, REQUESTED, PHOTOGRAPHED, SENT_TO_LOD, RECEIVED, DELIVERED, OVERDUE)

_WAITING_MOVES = {PHOTOGRAPHED, SENT_TO_LOD, RECEIVED, CANNOT_FULFIL, CANCELLED}
ALLOWED: dict[str, set[str]] = {
    NEW: {REQUESTED, NEEDS_DETAILS, CANNOT_FULFIL, CANCELLED},
    NEEDS_DETAILS: {NEW, REQUESTED, CANNOT_FULFIL, CANCELLED},
    REQUESTED: _WAITING_MOVES | {OVERDUE},
    OVERDUE: set(_WAITING_MOVES),
    PHOTOGRAPHED: {SENT_TO_LOD, RECEIVED, CANNOT_FULFIL, CANCELLED, OVERDUE},
    SENT_TO_LOD: {RECEIVED, CANNOT_FULFIL, CANCELLED, OVERDUE},
    RECEIVED: {DELIVERED, CANNOT_FULFIL, CANCELLED},
    DELIVERED: set(),
    CANNOT_FULFIL: set(),
    CANCELLED: set(),
}

#: Russian names for what readers and librarians see
TITLES = {
    NEW: "новый", NEEDS_DETAILS: "нужны уточнения", REQUESTED: "запрошен в отделе",
    PHOTOGRAPHED: "сфотографирован", SENT_TO_LOD: "передан в ЛОД", RECEIVED: "получен",
    DELIVERED: "отправлен читателю", CANNOT_FULFIL: "не может быть выполнен",
    CANCELLED: "отменён", OVERDUE: "просрочен",
}


def can_move(old: str, new: str) -> bool:
    return new in ALLOWED.get(old, set())
