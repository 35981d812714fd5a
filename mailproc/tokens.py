"""Case tokens and how replies carry them back to us.

A case (an order, a registration, a question) has a short human token such as ``2026-00042``.
Mail we send about a case carries it in three places, so that a reply finds its way back even
through clients that drop headers or rewrite subjects:

1. the Message-ID, signed: ``<mp.2026-00042.3f9a1c2b7e.k3j9x@nlrs.ru>``: a department's client
   puts it in In-Reply-To/References (RFC 5322 3.6.4); the HMAC makes it unforgeable;
2. a subject tag: ``[НБ 2026-00042]``, kept by most clients after "Re:";
3. a hidden body marker: ``mailproc-case:2026-00042``, quoted back in most replies.

The signature uses a key from ``mail.token_secret_file`` or ``$MAILPROC_MAIL_TOKEN_SECRET``, else a
key generated once under the data folder.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

TOKEN_RE = r"\d{4}-\d{5}"
_MSGID = re.compile(rf"<mp\.(?P<kind>[a-z]?)(?P<token>{TOKEN_RE})\.(?P<sig>[0-9a-f]{{10}})\.[0-9a-z]+@[^>]+>")
_SUBJECT = re.compile(rf"\[НБ\s*(?P<token>{TOKEN_RE})\]", re.I)
_MARKER = re.compile(rf"mailproc-case:\s*(?P<kind>[a-z]?)(?P<token>{TOKEN_RE})")


@dataclass(frozen=True)
class TokenHit:
    token: str
    how: str  # "message-id" (signed, checked), "subject", "marker"
    kind: str = ""  # "o" order, "r" registration, "q" question; "" when not carried


class Tokens:
    """Makes and finds case tokens with one signing key."""

    def __init__(self, key: bytes, domain: str):
        self.key = key
        self.domain = domain

    @classmethod
    def from_settings(cls, settings) -> "Tokens":
        return cls(load_key(settings), settings.mail.from_address.rpartition("@")[2])

    def _sig(self, kind: str, token: str) -> str:
        return hmac.new(self.key, f"{kind}{token}".encode(), hashlib.sha256).hexdigest()[:10]

    def message_id(self, token: str, kind: str = "") -> str:
        """A fresh Message-ID that carries ``token``, signed."""
        nonce = secrets.token_hex(5)
        return f"<mp.{kind}{token}.{self._sig(kind, token)}.{nonce}@{self.domain}>"

    @staticmethod
    def subject_tag(token: str) -> str:
        return f"[НБ {token}]"

    @staticmethod
    def body_marker(token: str, kind: str = "") -> str:
        return f"mailproc-case:{kind}{token}"

    def verify_message_id(self, message_id: str) -> TokenHit | None:
        m = _MSGID.search(message_id or "")
        if not m:
            return None
        kind, token = m.group("kind"), m.group("token")
        if not hmac.compare_digest(m.group("sig"), self._sig(kind, token)):
            return None
        return TokenHit(token, "message-id", kind)

    def find(self, *, references: list[str], in_reply_to: str, subject: str,
             text: str) -> list[TokenHit]:
        """Every token a reply carries, strongest evidence first: signed thread headers, then
        the subject tag, then the body marker."""
        hits: list[TokenHit] = []
        for ref in [in_reply_to, *reversed(references)]:
            hit = self.verify_message_id(ref)
            if hit and hit not in hits:
                hits.append(hit)
        for m in _SUBJECT.finditer(subject or ""):
            hits.append(TokenHit(m.group("token"), "subject"))
        for m in _MARKER.finditer(text or ""):
            hits.append(TokenHit(m.group("token"), "marker", m.group("kind")))
        return hits

    def find_in_letter(self, letter) -> list[TokenHit]:
        return self.find(references=letter.references, in_reply_to=letter.in_reply_to,
                         subject=letter.subject, text=letter.text + "\n" + letter.html)


def load_key(settings) -> bytes:
    """The signing key: environment, then the configured file, else one generated once."""
    env = os.environ.get("MAILPROC_MAIL_TOKEN_SECRET")
    if env:
        return env.encode()
    path = Path(settings.mail.token_secret_file) if settings.mail.token_secret_file \
        else Path(settings.paths.data) / "token-secret"
    if not path.exists():
        from mailproc.private import private_dir, write_private

        private_dir(path.parent, narrow=False)
        tmp = path.with_suffix(".tmp")
        write_private(tmp, secrets.token_hex(32).encode())  # 0600 from the first byte
        try:
            os.link(tmp, path)  # atomic create-if-absent across processes
        except FileExistsError:
            pass
        tmp.unlink(missing_ok=True)
    return path.read_text().strip().encode()
