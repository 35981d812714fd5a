"""Is this letter written by a machine? The first reason found, in a fixed order.

Automatic letters must never get an automatic answer (RFC 3834 section 2: responders must not
reply to messages marked Auto-Submitted, to list traffic, or to bounces), or two robots talk
to each other for ever.
"""

from __future__ import annotations

import re

_MACHINES = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.I)
#: senders of notifications (no-reply@...): not an RFC 3834 mark, so the decoder leaves them
#: out of ``Letter.automatic``; ``is_automatic`` counts them
_ROBOTS = ("noreply", "no-reply", "do-not-reply", "donotreply", "notifications", "notification")


def automatic_reason(header, sender: str, return_paths: list[str]) -> str:
    """The reason as one short line, e.g. ``Auto-Submitted: auto-replied``; "" for a person.

    ``header(name)`` returns the first decoded header of that name ("" when absent).
    """
    auto = header("Auto-Submitted").split(";")[0].split("(")[0].strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"  # RFC 3834 section 5
    precedence = header("Precedence").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"):
        if header(name).strip():
            return f"{name}: {header(name).strip()[:40]}"
    for name in ("List-Id", "List-Unsubscribe"):
        if header(name).strip():
            return name
    if any(path.replace(" ", "") == "<>" for path in return_paths):
        return "Return-Path: <>"  # null reverse-path: a delivery report (RFC 5321 4.5.5)
    if _MACHINES.match(sender):
        return f"sender {sender.split('@')[0].lower()}"
    return ""


def robot_sender(address: str) -> bool:
    """A no-reply or notification address (``noreply@``, ``no-reply-…@``, ``notifications@``)."""
    local = address.partition("@")[0].lower()
    return local in _ROBOTS or local.startswith(("noreply", "no-reply"))


def is_automatic(letter) -> bool:
    """Mail no person wrote: the decoder's RFC 3834 marks (``Letter.automatic``: Auto-Submitted,
    Precedence, List-*, autoresponder headers, null Return-Path, mailer-daemon), bounces, and
    no-reply senders. The one definition the rules' ``automatic`` condition, the answer limits
    and every domain action's guard use: a librarian's rule without ``not: automatic`` must not
    let noreply@ create an order or a registration case. Errs towards "automatic": a missed
    answer to a person is mended by a librarian, a loop of answers between robots is not."""
    return bool(letter.automatic or letter.bounce is not None
                or robot_sender(letter.sender.email))
