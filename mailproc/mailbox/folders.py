"""Folder names as mailproc writes them and as an IMAP server has them (pure, no I/O).

mailproc names a folder the same way everywhere (rules, settings, the database): levels
separated by "/", no namespace prefix, e.g. «Заказы» or «Вопросы читателей/Срочные»; the
Sent, Drafts, Junk and Trash folders by the settings ``mailbox.sent_folder`` and friends. A
server may differ in three ways, all handled here:

- the personal namespace (RFC 2342 NAMESPACE) has a prefix, e.g. ``INBOX.`` on Courier-style
  servers: every personal folder is created and addressed under it;
- the hierarchy delimiter (RFC 3501 6.3.8) is not "/", e.g. ".": the rules' "/" becomes it, and
  a level that itself contains the server's delimiter cannot be named (``FolderNameError``);
- the special folders have their own names, e.g. «Отправленные» or "Sent Items": they are
  found by their special-use attributes (RFC 6154 \\Sent, \\Drafts, \\Junk, \\Trash, which
  servers also sent as XLIST attributes), else by the names clients have commonly used.

Precedence for a special folder: a setting changed from its default names the folder (under the
namespace); the default value ("Sent", "Drafts", "Junk", "Trash") means "look it up": the
folder with the special-use attribute, else one with a common name, else the default name,
created under the namespace when first used.

``INBOX`` is INBOX on every server (RFC 3501 5.1), never prefixed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ROLES = ("sent", "drafts", "junk", "trash")

#: RFC 6154 special-use attributes (also the XLIST attributes for these four)
ATTRIBUTES = {"sent": b"\\sent", "drafts": b"\\drafts", "junk": b"\\junk", "trash": b"\\trash"}

#: names clients and servers have used for these folders, compared case-insensitively with
#: the name under the personal namespace
COMMON_NAMES = {
    "sent": ("Sent", "Sent Items", "Sent Messages", "Sent Mail", "Отправленные"),
    "drafts": ("Drafts", "Черновики"),
    "junk": ("Junk", "Spam", "Junk E-mail", "Junk Email", "Спам"),
    "trash": ("Trash", "Deleted Items", "Deleted Messages", "Deleted", "Корзина", "Удаленные",
              "Удалённые"),
}


class FolderNameError(ValueError):
    """A folder name the server's hierarchy cannot carry; the text is Russian (it is about
    the library's rules or settings)."""


@dataclass(frozen=True)
class Namespace:
    """The personal namespace: prefix and hierarchy delimiter ("" for a flat server)."""

    prefix: str = ""
    delimiter: str = "/"


def _is_inbox(name: str) -> bool:
    return name.upper() == "INBOX"


def _under_prefix(name: str, prefix: str) -> bool:
    # "INBOX" is case-insensitive (RFC 3501 5.1), so an "INBOX." prefix is too
    head = name[:len(prefix)]
    return head == prefix or (prefix.upper().startswith("INBOX") and head.upper() == prefix.upper())


def server_name(name: str, ns: Namespace) -> str:
    """The server's name for mailproc's ``name``: "/" -> the delimiter, the prefix added.

    A name already under the prefix is taken for the server's own (an admin may copy
    «INBOX.Отправленные» from the server), only its "/" turned into the delimiter, so the
    mapping is idempotent ("INBOX/Заказы", "INBOX.Заказы" and "Заказы" all become
    "INBOX.Заказы" under ``INBOX.``)."""
    if _is_inbox(name):
        return "INBOX"
    if ns.prefix and ns.delimiter and _under_prefix(name, ns.prefix):
        return ns.delimiter.join(name.split("/"))
    levels = name.split("/")
    if ns.delimiter != "/":
        for level in levels:
            if ns.delimiter and ns.delimiter in level:
                raise FolderNameError(
                    f"имя папки «{name}» содержит «{ns.delimiter}», а на этом почтовом сервере "
                    f"этот знак разделяет уровни папок; уберите его из имени или напишите "
                    f"уровни через «/»")
        if not ns.delimiter and len(levels) > 1:
            raise FolderNameError(f"на этом почтовом сервере нет вложенных папок: напишите "
                                  f"«{name}» без «/»")
        name = ns.delimiter.join(levels)
    if ns.prefix and not _under_prefix(name, ns.prefix):
        name = ns.prefix + name
    return name


def local_name(server: str, ns: Namespace) -> str | None:
    """mailproc's name for a server folder; None for a folder outside the personal namespace
    or one whose level holds a "/" (mailproc could not name it back)."""
    if _is_inbox(server):
        return "INBOX"
    if ns.prefix:
        if not _under_prefix(server, ns.prefix):
            return None
        server = server[len(ns.prefix):]
    if ns.delimiter == "/" or not ns.delimiter:
        return server if ns.delimiter or "/" not in server else None
    levels = server.split(ns.delimiter)
    if any("/" in level for level in levels):
        return None
    return "/".join(levels)


def find_special(listing: Iterable[tuple], ns: Namespace) -> dict[str, str]:
    """role -> server folder name from a LIST "" "*" answer ``[(attributes, delimiter, name)]``:
    by special-use attribute first (a folder in the personal namespace preferred), then by a
    common name. Roles nothing was found for are left out."""
    rows = [([bytes(a).lower() for a in attrs], name) for attrs, _d, name in listing
            if b"\\noselect" not in [bytes(a).lower() for a in attrs]
            and b"\\nonexistent" not in [bytes(a).lower() for a in attrs]]
    found: dict[str, str] = {}
    for role in ROLES:
        marked = [name for attrs, name in rows if ATTRIBUTES[role] in attrs]
        marked.sort(key=lambda n: local_name(n, ns) is None)  # personal ones first
        if marked:
            found[role] = marked[0]
            continue
        by_local = {(local_name(name, ns) or "").casefold(): name for _a, name in rows}
        for common in COMMON_NAMES[role]:
            if common.casefold() in by_local:
                found[role] = by_local[common.casefold()]
                break
    return found


@dataclass
class FolderMap:
    """Turns mailproc's folder names into the server's for one connection.

    ``configured``: role -> the setting's value; ``explicit``: the roles whose setting was
    changed from its default (those name their folder; the others are looked up)."""

    ns: Namespace = field(default_factory=Namespace)
    configured: Mapping[str, str] = field(default_factory=dict)
    explicit: frozenset[str] = frozenset()
    special: Mapping[str, str] = field(default_factory=dict)  # from find_special

    def server(self, name: str) -> str:
        for role, value in self.configured.items():
            if name == value and role not in self.explicit and role in self.special:
                return self.special[role]
        return server_name(name, self.ns)

    def local(self, server: str) -> str | None:
        """The name mailproc uses for ``server`` (a special folder by its setting)."""
        for role, found in self.special.items():
            if found == server and role not in self.explicit and role in self.configured:
                return self.configured[role]
        return local_name(server, self.ns)
