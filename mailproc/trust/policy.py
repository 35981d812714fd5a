"""Which sender a letter claims to be, and whether it may act as that sender.

Sender classes, by the From address:

- ``department``: an address or person of a department in rules/departments.yaml
  (Directory.by_address);
- ``lod``: the ЛОД duty (``lod:``); ``cko``: ЦКО's registration desk (``cko:``);
- ``staff``: the staff's personal addresses (the ``сотрудники`` list in rules/lists.yaml, which
  the shipped rules treat as departments' mail);
- ``librarians``: the mailbox's own address and mail.librarians_address;
- readers: everyone else (no claim, no requirement).

Every claimed class must pass authentication (auth.py). A letter that claims one and does not
pass is *refused*: it never acts as that sender. The Sorter files it in review with
:attr:`Judgement.reason` before any action runs (mailproc.sorting.runtime), so no scan reaches a
reader, no order, case or registration changes, no card number is relayed and no question is
closed on its word. With no trusted authserv-id configured (status ``off``) nothing is refused:
department mail is trusted by its address as before, and start-up warns once
(:func:`warn_if_unverified`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.utils import getaddresses

from mailproc.trust.auth import Auth, authenticate

log = logging.getLogger("mailproc.trust")

#: the named list of staff's personal addresses (rules/lists.yaml)
STAFF_LIST = "сотрудники"
#: what review reasons of refused letters say; the digest finds them by it
REFUSED_MARK = "не прошло проверку подлинности"


@dataclass(frozen=True)
class Claim:
    kind: str  # department, lod, cko, staff, librarians
    label: str  # Russian: whom the letter speaks for
    key: str = ""  # the department's key, for departments


@dataclass(frozen=True)
class Judgement:
    claim: Claim | None
    auth: Auth
    refused: bool = False
    reason: str = ""  # Russian, for the review folder; "" unless refused

    def to_json(self) -> dict:
        return {"claim": None if self.claim is None else self.claim.__dict__,
                "auth": self.auth.to_json(), "refused": self.refused, "reason": self.reason}


def claim_of(address: str, directory, mail) -> Claim | None:
    """The trusted class ``address`` belongs to, or None for a reader."""
    addr = (address or "").strip().lower()
    if not addr:
        return None
    if directory is not None:
        dept = directory.by_address(addr)
        if dept is not None:
            return Claim("department", dept.name, dept.key)
        if directory.lod and addr == directory.lod.lower():
            return Claim("lod", "дежурный ЛОД")
        cko = getattr(directory, "cko", None)
        if cko is not None and addr == cko.address.lower():
            return Claim("cko", cko.name or "ЦКО")
        if addr in {a.lower() for a in directory.lists.get(STAFF_LIST, ())}:
            return Claim("staff", f"сотрудник библиотеки (список «{STAFF_LIST}»)")
    if mail is not None and addr in {mail.from_address.lower(), mail.librarians_address.lower()}:
        return Claim("librarians", "библиотекари (адрес почтового ящика)")
    return None


def judge(letter, settings, directory) -> Judgement:
    """May ``letter`` act as the sender its From address names?"""
    auth = authenticate(letter, settings.trust)
    claim = claim_of(letter.sender.email, directory, settings.mail)
    if claim is None or auth.status == "off":
        return Judgement(claim, auth)
    who = f"письмо от имени «{claim.label}» ({letter.sender.email})"
    froms = letter.header_all("From")
    if len(froms) != 1 or len(getaddresses(froms)) != 1:
        return Judgement(claim, auth, True, f"{who} {REFUSED_MARK}: в письме не один адрес "
                                            f"отправителя (From)")
    if auth.passed:
        return Judgement(claim, auth)
    return Judgement(claim, auth, True, f"{who} {REFUSED_MARK}: {auth.why}")


_warned = False


def warn_if_unverified(settings) -> bool:
    """At start-up: log once per process that department mail is not verified; True when
    it warned now."""
    global _warned
    if settings.trust.authserv_ids or _warned:
        return False
    _warned = True
    log.warning("sender authentication is off: no [trust] authserv_ids; mail from the "
                "departments', registration desk's and librarians' addresses is trusted by its "
                "From address alone (see docs/admin.md, Sender authentication)")
    return True
