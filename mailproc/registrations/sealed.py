"""Sealed columns: personal data in database rows, encrypted with the vault key.

The one place where a database value is encrypted or opened (the vault's Fernet,
``registrations.vault``). A sealed value is a string ``sealed:`` + a Fernet token, so readers
tell it from the clear values of rows written before (or of mail that holds no personal data)
and show "(зашифровано)" when no key is at hand; Fernet is randomised, so equal clear values
give different sealed ones (nothing to compare or count by).

What is sealed, and why those (the full map is in docs/admin.md, "Personal data"):

* ``messages.subject`` and ``messages.letter`` (the decoded text, sender's name, attachment
  names) of the mail a registration action handles (``personal=True`` in the action
  registry): that text may hold a passport number or an address typed in the body. Only those
  rows pay for encryption; every other message is written as before (the intake's hot path).
* ``registration_cases.reader_name`` and ``registration_documents.name`` (file names such as
  ``Петрова паспорт.jpg``): read only when a case is matched by name or shown, so decrypting a
  handful of open cases costs nothing.
* ``registration_cases.card_number_enc`` (as before).

``registration_cases.reader_email`` stays clear while the case is alive: every registration
mail finds its case by an indexed equality on it, and the outbox must write it in the
envelope anyway. When the case's data is destroyed it and every other trace of the reader
(message rows, outbox rows, the consent register) are blanked or replaced by a keyed
``fingerprint`` (HMAC-SHA256 with the installation's token secret), which still lets a later
withdrawal by the same address find the case without keeping the address.
"""

from __future__ import annotations

import hashlib
import hmac
import json

PREFIX = "sealed:"
SHOWN = "(зашифровано)"
#: what a fingerprinted address starts with (never a valid address: no "@")
FINGERPRINT = "h:"


def is_sealed(value) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def seal(box, text: str) -> str:
    """``text`` encrypted with the vault key ``box`` (a Vault); "" stays ""."""
    return PREFIX + box.encrypt_text(text) if text else ""


def unseal(box, value: str) -> str:
    """The clear text of a sealed value; a clear value (an old row) is returned as it is."""
    return box.decrypt_text(value[len(PREFIX):]) if is_sealed(value) else (value or "")


def shown(value: str, box=None) -> str:
    """For a listing: the clear text when ``box`` opens it, else "(зашифровано)"."""
    if not is_sealed(value):
        return value or ""
    return unseal(box, value) if box is not None else SHOWN


def reseal(box, value: str) -> str:
    """The value under the vault's newest key (``vault rotate-key``)."""
    return PREFIX + box.rotate_text(value[len(PREFIX):]) if is_sealed(value) else value


# -- message rows ---------------------------------------------------------------------------


def seal_message(row, box) -> None:
    """Seal a message row's subject and decoded letter in place, before the row is first
    written (the registration actions' Sorter hook), so the clear text never reaches the
    database file or its WAL."""
    if not is_sealed(row.subject):  # marked sealed even when empty: the row is findable
        row.subject = PREFIX + box.encrypt_text(row.subject or "")
    if row.letter and "sealed" not in row.letter:
        row.letter = {"sealed": seal(box, json.dumps(row.letter, ensure_ascii=False))}


def letter_of(row, box) -> dict:
    """A message row's letter as JSON (``Letter.from_json``), opened when sealed."""
    data = row.letter or {}
    if "sealed" in data:
        return json.loads(unseal(box, data["sealed"]))
    return data


def is_sealed_letter(data) -> bool:
    return isinstance(data, dict) and "sealed" in data


def reseal_all(session, box) -> int:
    """Every sealed column value re-encrypted under the vault's newest key (``vault
    rotate-key``); returns the values rewritten."""
    from sqlalchemy import select

    from mailproc.registrations.models import RegistrationCase, RegistrationDocument
    from mailproc.store.models import Message

    count = 0
    for model, column in ((RegistrationCase, "reader_name"), (RegistrationDocument, "name"),
                          (Message, "subject")):
        attr = getattr(model, column)
        for row in session.scalars(select(model).where(attr.like(PREFIX + "%"))):
            setattr(row, column, reseal(box, getattr(row, column)))
            count += 1
    for row in session.scalars(select(Message).where(Message.subject.like(PREFIX + "%"))):
        if is_sealed_letter(row.letter):
            row.letter = {"sealed": reseal(box, row.letter["sealed"])}
            count += 1
    return count


# -- addresses ------------------------------------------------------------------------------


def fingerprint(settings, address: str) -> str:
    """A keyed hash of an address: equal for the same address, useless without the key."""
    from mailproc.outbound.outbox import tokens_for

    digest = hmac.new(tokens_for(settings).key, address.strip().lower().encode(),
                      hashlib.sha256).hexdigest()
    return FINGERPRINT + digest[:40]


def address_keys(settings, address: str) -> list[str]:
    """What a case's ``reader_email`` may hold for ``address``: itself, or its fingerprint
    once the case's data was destroyed."""
    return [address, fingerprint(settings, address)]
