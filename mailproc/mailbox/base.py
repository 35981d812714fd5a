"""The mailbox-source interface shared by the IMAP and Maildir implementations.

UIDs, never sequence numbers (RFC 3501 2.3.1.1): a message is named by (UIDVALIDITY, UID) in
the intake folder. What was processed is known from our own rows, never from flags such as
\\Seen, which belong to the librarians.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from mailproc.config import redact
from mailproc.errors import ConfigError


@dataclass(frozen=True)
class MessageRef:
    uid: str
    size: int = 0


class MailboxSource(ABC):
    """One mailbox: an intake folder to read, other folders to file into."""

    #: the mailbox's name in message rows, e.g. "imap://personbibl@127.0.0.1:1143/INBOX"
    name: str = ""
    #: IMAP keywords can be set (RFC 3501 PERMANENTFLAGS contains \\*)
    supports_keywords: bool = True

    @abstractmethod
    def open(self) -> None:
        """Connect (or open the folder). Raises SourceUnavailable on an outage."""

    @abstractmethod
    def close(self) -> None: ...

    @property
    @abstractmethod
    def uidvalidity(self) -> int:
        """UIDVALIDITY of the intake folder; a change means every UID was reassigned."""

    @abstractmethod
    def list_uids(self) -> list[MessageRef]:
        """Every message now in the intake folder, oldest first, with its size."""

    @abstractmethod
    def fetch(self, uids: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """Raw bytes of the given messages; a message that has gone is skipped."""

    @abstractmethod
    def move(self, uid: str, folder: str, from_folder: str = "INBOX") -> str:
        """Move one message from ``from_folder`` (default: the intake folder) to ``folder``
        (created when missing); returns its new UID there ("" when unknown). Moving a message
        that is no longer there is not an error."""

    @abstractmethod
    def add_keywords(self, uid: str, keywords: Iterable[str]) -> None:
        """Set IMAP keywords such as ``registration`` (mailproc.keywords) (never \\Seen)."""

    @abstractmethod
    def append(self, folder: str, raw: bytes, flags: Iterable[str] = ()) -> str:
        """Store a message in ``folder`` (Sent copies, drafts); returns its UID or ""."""

    # -- one message alone (registration redaction, mailproc.registrations.redaction) ----
    # A source that can delete one message without touching others says so with
    # ``can_expunge_one`` and implements the calls below.

    #: one message can be deleted alone (IMAP: UIDPLUS, RFC 4315)
    can_expunge_one: bool = False
    #: a message can be moved to another folder atomically (IMAP: MOVE, RFC 6851)
    can_move: bool = False

    def check_folder(self, folder: str) -> None:
        """Raise SourceError (with a reason in Russian) when ``folder`` cannot be created on
        this mailbox; nothing is created."""

    def folder_names(self) -> list[str]:
        """Every folder of the mailbox."""
        raise NotImplementedError

    def fetch_message(self, uid: str, folder: str):
        """(raw bytes, flags, arrival time) of one message in ``folder``, None if not there."""
        raise NotImplementedError

    def fetch_headers(self, folder: str, uids: Iterable[str]) -> dict[str, bytes]:
        """UID -> header block."""
        raise NotImplementedError

    def find_header(self, folder: str, name: str, value: str) -> list[str]:
        """UIDs in ``folder`` whose header ``name`` contains ``value`` (IMAP SEARCH HEADER,
        RFC 3501 6.4.4); none when the folder does not exist."""
        raise NotImplementedError

    def expunge_one(self, folder: str, uids: Iterable[str]) -> None:
        """Delete exactly these messages of ``folder`` and no other."""
        raise NotImplementedError

    @abstractmethod
    def wait(self, timeout: float) -> bool:
        """Block until the intake folder may have changed or ``timeout`` passed.
        True when something changed."""

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc):
        self.close()


def open_source(settings) -> MailboxSource:
    """The source ``mailbox.url`` names."""
    return _source_class(settings.mailbox.url).from_settings(settings)


def source_name(url: str) -> str:
    """What the messages of the mailbox at ``url`` are recorded under (``Message.mailbox``,
    a source's ``name``), without opening it or reading its password."""
    return _source_class(url).name_for(url)


def _source_class(url: str):
    if url.startswith("maildir:"):
        from mailproc.mailbox.maildir import MaildirSource

        return MaildirSource
    if url.startswith(("imap://", "imaps://")):
        from mailproc.mailbox.imap import ImapSource

        return ImapSource
    raise ConfigError(f"mailbox.url: unsupported {redact(url)!r}; write imap://, imaps:// or "
                      f"maildir:")
