"""Which mailbox a command's lists and counts cover: the one ``mailproc --mailbox NAME``
names, else every mailbox of the installation.

One place, because each record tells its mailbox its own way and every command must make
the same choice:

* a message by its source's key (``Message.mailbox``, the URL without the password, see
  ``mailproc.mailbox.source_name``), so a renamed ``[mailboxes.NAME]`` keeps its history;
* an outbox row by the mailbox's name (``OutboxMessage.mailbox``). Rows of no one mailbox
  (queued before 0008, or by a scheduled job when there are several mailboxes) show only
  without ``--mailbox``;
* orders, question cases, information needs and registration cases through the message they
  came from; those made by hand, with no message, show only without ``--mailbox``.

``--mailbox default`` of an installation of one mailbox narrows nothing: everything is its.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, true
from sqlalchemy.sql import ColumnElement

from mailproc.mailbox import source_name
from mailproc.outbound.models import OutboxMessage
from mailproc.store.models import Message


@dataclass(frozen=True)
class Scope:
    """SQL conditions for "this mailbox's rows"; each is TRUE when no mailbox was named."""

    name: str = ""  # "" = every mailbox
    source: str = ""  # its Message.mailbox key

    def messages(self) -> ColumnElement[bool]:
        return Message.mailbox == self.source if self.name else true()

    def outbox(self) -> ColumnElement[bool]:
        return OutboxMessage.mailbox == self.name if self.name else true()

    def through_message(self, column, via=None) -> ColumnElement[bool]:
        """Rows whose ``column`` names a message of this mailbox; with ``via`` = (key, message
        column) of a linking table, rows linked there to such a message (a registration
        case through its documents)."""
        if not self.name:
            return true()
        ids = select(Message.id).where(self.messages())
        if via is not None:
            key, message = via
            return column.in_(select(key).where(message.in_(ids)))
        return column.in_(ids)


def mailbox_scope(app) -> Scope:
    """The scope of a command run with ``app`` (``App.from_args`` applied ``--mailbox``)."""
    settings = app.settings
    if not settings.mailbox_name:
        return Scope()
    return Scope(settings.mailbox_name, source_name(settings.mailbox.url))


def apps_by_source(app) -> dict:
    """Each mailbox's App by its messages' key, to act on a message with its own mailbox's
    settings and connection (a review retry of several mailboxes)."""
    return {source_name(box.settings.mailbox.url): box for box in app.mailbox_apps().values()}
