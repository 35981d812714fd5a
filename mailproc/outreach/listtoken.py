"""The signed token of a mailing's unsubscribe links: which contact, which list.

``CONTACT.LIST.SIGNATURE``, e.g. ``1042.xn--b1amnebsh.3f9a1c2b7e0d4a5b6c7d``: the contact's
id, the list label of the mailing (``listheaders.list_label``) and an HMAC-SHA256 of both
under the installation's signing key (``mailproc.tokens.load_key``), 80 bits. Lower-case
letters, digits, dots and hyphens only: it goes unchanged into a URL path (RFC 3986
unreserved characters) and into a mailto subject, and survives clients that lower-case it.

Only mailproc can make one, so a link cannot be forged for someone else (RFC 8058 3.2: the
URI must identify the recipient and list without a login); a changed digit, list or
signature is refused. Tokens do not expire: a reader may unsubscribe from an old issue.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

_TOKEN = re.compile(r"^(?P<contact>\d{1,12})\.(?P<label>[a-z0-9-]{1,63})\.(?P<sig>[0-9a-f]{20})$")
#: how a token is found in text (a mailto subject)
PATTERN = r"\d{1,12}\.[a-z0-9-]{1,63}\.[0-9a-f]{20}"


@dataclass(frozen=True)
class ListToken:
    contact_id: int
    label: str  # the list label, as in List-Id

    @property
    def mailing(self) -> str:
        """The mailing's name as the plan spells it (the label decoded)."""
        from mailproc.outreach.listheaders import label_name

        return label_name(self.label)


def _key(settings) -> bytes:
    from mailproc.outbound.outbox import tokens_for

    return tokens_for(settings).key


def _sign(key: bytes, contact_id: int, label: str) -> str:
    msg = f"list-unsubscribe\0{contact_id}.{label}".encode()  # apart from every other use
    return hmac.new(key, msg, hashlib.sha256).hexdigest()[:20]


def make_token(settings, contact_id: int, label: str) -> str:
    return f"{contact_id}.{label}.{_sign(_key(settings), contact_id, label)}"


def verify_token(settings, token: str) -> ListToken | None:
    """The contact and list a token names, or None when it is not one of ours (malformed,
    altered, signed with another key). Constant-time comparison."""
    m = _TOKEN.match((token or "").strip().lower())
    if not m:
        return None
    contact_id, label = int(m.group("contact")), m.group("label")
    if not hmac.compare_digest(m.group("sig"), _sign(_key(settings), contact_id, label)):
        return None
    return ListToken(contact_id, label)
