"""The headers that make a mailing a list message, as list software writes them.

* ``List-Id`` (RFC 2919): ``Рассылка «Сервисы ЭБ» <LABEL.personbibl.nlrs.ru>``: the phrase
  is the mailing's title (RFC 2047 encoded words when the message is built,
  ``outbound.mime``), the id the mailing's label under the mailbox's address turned into a
  domain. Mail clients and filters group and filter by it; it stays the same across issues.
* ``List-Unsubscribe`` (RFC 2369) always carries the mailto (the reader's client sends a
  letter "unsubscribe TOKEN" that ``outreach.unsubscribe`` recognises); when
  ``outbox.unsubscribe_url`` gives the public HTTPS address it comes first and
  ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` is added (RFC 8058): Gmail, Yandex
  Mail and others then unsubscribe with one POST, no login (``outreach.oneclick``).
* ``Precedence: bulk`` (RFC 2076), so auto-responders do not answer.

The label: the mailing's name lower-cased, other characters than letters, digits and hyphens
as hyphens; a name in Cyrillic is written in Punycode (RFC 3492) with the ``xn--`` prefix, so
every name has its own label and the label gives the name back (a name longer than a DNS
label is cut and told apart by a digest).
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote

from mailproc.outreach.listtoken import make_token

ONE_CLICK = "List-Unsubscribe=One-Click"


def list_label(name: str) -> str:
    text = re.sub(r"[^\w-]+|_", "-", name.strip().lower()).strip("-") or "mailing"
    label = text if text.isascii() else "xn--" + text.encode("punycode").decode("ascii")
    if len(label) > 63:  # a DNS label's limit (RFC 1035): cut, kept apart by a digest
        label = label[:54] + "-" + hashlib.sha256(text.encode()).hexdigest()[:8]
    return label


def label_name(label: str) -> str:
    """The mailing name a label was made from (lower-cased)."""
    if label.startswith("xn--"):
        try:
            return label[4:].encode("ascii").decode("punycode")
        except UnicodeError:
            return label
    return label


def list_domain(settings) -> str:
    """``personbibl@nlrs.ru`` -> ``personbibl.nlrs.ru``: the namespace the library controls."""
    local, _, domain = settings.mail.from_address.partition("@")
    return f"{re.sub(r'[^A-Za-z0-9-]+', '-', local).strip('-').lower()}.{domain.lower()}"


def list_id(settings, name: str, title: str = "") -> str:
    phrase = f"Рассылка «{(title or name).strip()}»".replace('"', "'")
    return f"{phrase} <{list_label(name)}.{list_domain(settings)}>"


def unsubscribe_link(settings, token: str) -> str:
    """The one-click HTTPS address for ``token``, "" when no public address is set: the
    setting with ``{token}`` in it, else the setting as a base with ``/u/TOKEN`` added (the
    path ``oneclick.handle`` serves)."""
    url = settings.outbox.unsubscribe_url
    if not url:
        return ""
    if "{token}" in url:
        return url.replace("{token}", token)
    return f"{url.rstrip('/')}/u/{token}"


def unsubscribe_headers(settings, token: str) -> dict[str, str]:
    """List-Unsubscribe (https first when set, mailto always) and, with https, the
    RFC 8058 List-Unsubscribe-Post."""
    mailto = f"<mailto:{settings.mail.from_address}?subject={quote('unsubscribe ' + token)}>"
    link = unsubscribe_link(settings, token)
    if not link:
        return {"List-Unsubscribe": mailto}
    return {"List-Unsubscribe": f"<{link}>, {mailto}", "List-Unsubscribe-Post": ONE_CLICK}


def list_headers(settings, name: str, title: str, contact_id: int) -> dict[str, str]:
    """Every list header of one recipient's message of mailing ``name``."""
    token = make_token(settings, contact_id, list_label(name))
    return {"List-Id": list_id(settings, name, title), **unsubscribe_headers(settings, token),
            "Precedence": "bulk"}
