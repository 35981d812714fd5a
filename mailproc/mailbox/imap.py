"""The IMAP mailbox source (imapclient), the one place mailproc speaks IMAP.

What the protocol dictates here:

- UIDs only, never sequence numbers; a UID names a message only together with the folder's
  UIDVALIDITY (RFC 3501 2.3.1.1), which ``uidvalidity`` reports after every (re)select.
- Bodies are read with BODY.PEEK (RFC 3501 6.4.5) so that \\Seen, which belongs to the
  librarians, is never set by reading; mailproc never stores \\Seen itself.
- Filing is MOVE (RFC 6851), whose COPYUID answer (UIDPLUS, RFC 4315) gives the message's
  new UID. Without MOVE: UID COPY, then \\Deleted and UID EXPUNGE of that one UID (RFC 4315
  2.1); never a bare EXPUNGE, which would also remove what a librarian marked \\Deleted.
- Keywords (``registration``, mailproc.keywords) only where PERMANENTFLAGS contains ``\\*`` (RFC 3501 7.1).
- Folder names travel in modified UTF-7 (RFC 3501 5.1.3); imapclient encodes them.
- Callers name folders as the rules do («Вопросы читателей/Срочные», "Sent"); the personal
  namespace's prefix and delimiter (RFC 2342) and the special-use folders (RFC 6154) turn them
  into the server's names here, looked up once per connection on the first folder other than
  INBOX (mailproc.mailbox.folders holds the mapping and its precedence).
- IDLE (RFC 2177) is re-issued before ``idle_renew`` and every socket has a read timeout, so
  a dead connection raises instead of looking like a quiet mailbox.

imapclient is synchronous and not thread-safe: one ``ImapSource`` (one connection) per thread;
``clone()`` makes the separate one the IDLE watcher needs.

IMAPClient sets imaplib's debug level to 5, and imaplib then builds a ``repr()`` of every
response, message bodies included, logged or not (measured: the bare fetch fell from about
1,600 to 130 messages/s). ``_quiet`` turns it off on every connection.
"""

from __future__ import annotations

import imaplib
import io
import logging
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from urllib.parse import unquote, urlsplit

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from mailproc.config import redact
from mailproc.errors import ConfigError, SourceError, SourceUnavailable
from mailproc.faults import DISK
from mailproc.letter.transfer import STREAMABLE, PartDecoder
from mailproc.mailbox.base import MailboxSource, MessageRef
from mailproc.mailbox.folders import ROLES, FolderMap, FolderNameError, Namespace, find_special

log = logging.getLogger("mailproc.mailbox.imap")

#: errors that mean "the connection is gone": reconnect, do not give up
_NETWORK_ERRORS = (OSError, socket.timeout, ssl.SSLError, imaplib.IMAP4.abort,
                   IMAPClientAbortError, EOFError)


def _local(exc: BaseException) -> bool:
    """An OSError of the local disk (full, read-only, I/O: mailproc.faults.DISK) met during
    a client call: no socket fails that way, so it is the disk's fault, not the mailbox's,
    and is raised as it is (issue 18: a full disk is named as such, never as the mailbox
    being unreachable)."""
    return isinstance(exc, OSError) and exc.errno in DISK
_COPYUID = re.compile(rb"COPYUID\s+(\d+)\s+([\d:,]+)\s+([\d:,]+)")
_APPENDUID = re.compile(rb"APPENDUID\s+(\d+)\s+(\d+)")
#: octets of a big part fetched per round trip by ``ImapSource.load_part``
PART_RANGE = 2 * 1024 * 1024


def _quiet(client: IMAPClient) -> None:
    """Stop imaplib from formatting a repr() of every response (see the module docstring)."""
    client._imap.debug = 0
    client._imap._mesg = lambda *_a, **_k: None


def _uid_set(text: bytes) -> list[int]:
    """'3,5:7' -> [3, 5, 6, 7] (RFC 4315 uid-set)."""
    out: list[int] = []
    for part in text.decode("ascii").split(","):
        lo, _, hi = part.partition(":")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def copyuid_map(answer) -> dict[int, int]:
    """Old UID -> new UID from a COPYUID response code, {} when there is none."""
    texts = answer if isinstance(answer, (list, tuple)) else [answer]
    for text in texts:
        if isinstance(text, str):
            text = text.encode()
        if not isinstance(text, bytes):
            continue
        m = _COPYUID.search(text)
        if m:
            return dict(zip(_uid_set(m.group(2)), _uid_set(m.group(3))))
    return {}


class Backoff:
    """Exponential backoff with full jitter, logged once per outage rather than per try."""

    def __init__(self, first: float = 0.5, cap: float = 60.0, what: str = "mailbox",
                 verb: str = "unreachable", reason: Callable[[BaseException], str] | None = None):
        self.first, self.cap, self.what, self.verb = first, cap, what, verb
        self.reason = reason or (lambda exc: type(exc).__name__)
        self.tries = 0
        self.since = 0.0

    def failed(self, exc: BaseException) -> float:
        """Record one failure; returns how long to sleep before the next try."""
        if self.tries == 0:
            self.since = time.monotonic()
            log.warning("%s %s (%s); retrying with backoff", self.what, self.verb,
                        self.reason(exc))
        self.tries += 1
        return random.uniform(self.first / 2, min(self.cap, self.first * 2 ** self.tries))

    def succeeded(self) -> None:
        if self.tries:
            log.info("%s %s again after %.1f s and %d tries", self.what,
                     "reachable" if self.verb == "unreachable" else "working",
                     time.monotonic() - self.since, self.tries)
        self.tries = 0

    @property
    def in_outage(self) -> bool:
        return self.tries > 0


def _address(url: str) -> tuple[str, int, str, str, bool]:
    """(host, port, user, folder, implicit TLS) of an imap:// or imaps:// URL."""
    parts = urlsplit(url)
    if not parts.hostname or not parts.username:
        raise ConfigError(f"mailbox.url: write imap://user@host:port/INBOX, "
                          f"not {redact(url)!r}")
    ssl_mode = parts.scheme == "imaps"
    return (parts.hostname, parts.port or (993 if ssl_mode else 143), unquote(parts.username),
            unquote(parts.path.lstrip("/")) or "INBOX", ssl_mode)


def _name(user: str, host: str, port: int, folder: str) -> str:
    """The key messages of this mailbox are recorded under (``Message.mailbox``): the same
    for imap:// and imaps://, never the password."""
    return f"imap://{user}@{host}:{port}/{folder}"


class ImapSource(MailboxSource):
    def __init__(self, host: str, port: int, user: str, password: str, *, folder: str = "INBOX",
                 security: str = "starttls", tls_verify: bool = True, timeout: float = 60.0,
                 idle_renew: float = 540.0, poll_interval: float = 60.0, fetch_batch: int = 50,
                 special_folders: dict[str, str] | None = None,
                 explicit: frozenset[str] = frozenset()):
        self.host, self.port, self.user, self.password = host, port, user, password
        self.folder = folder
        self.security = security  # "ssl" (imaps://) or "starttls" (when offered)
        self.tls_verify = tls_verify
        self.timeout = timeout
        self.idle_renew = idle_renew
        self.poll_interval = poll_interval
        self.fetch_batch = max(1, fetch_batch)
        #: role -> mailproc's name of the Sent, Drafts, Junk, Trash folder (the settings);
        #: ``explicit`` roles name their folder, the others are looked up (folders.py)
        self.special_folders = dict(special_folders or {})
        self.explicit = frozenset(explicit)
        self._map: FolderMap | None = None
        self.name = _name(user, host, port, folder)
        self._client: IMAPClient | None = None
        self._uidvalidity = 0
        self._caps: set[bytes] = set()
        self._selected = ""
        self._folders: set[str] = set()
        self.supports_keywords = True
        self.connected = False

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings) -> "ImapSource":
        mb = settings.mailbox
        host, port, user, folder, ssl_mode = _address(mb.url)
        password = str(mb.password or "")
        if not password and mb.password_file:
            try:
                with open(mb.password_file, encoding="utf-8") as fh:
                    password = fh.readline().strip()
            except OSError as exc:
                raise ConfigError(f"mailbox.password_file: cannot read it ({exc.strerror})") \
                    from None
        special, explicit = _special_settings(mb)
        return cls(host, port, user, password, folder=folder,
                   security="ssl" if ssl_mode else "starttls", tls_verify=mb.tls_verify,
                   timeout=mb.timeout, idle_renew=mb.idle_renew,
                   poll_interval=mb.poll_interval, fetch_batch=mb.fetch_batch,
                   special_folders=special, explicit=explicit)

    @staticmethod
    def name_for(url: str) -> str:
        """The ``name`` a source on ``url`` has, without reading its password."""
        host, port, user, folder, _ = _address(url)
        return _name(user, host, port, folder)

    def clone(self) -> "ImapSource":
        """A second source on its own connection (for the IDLE thread)."""
        return ImapSource(self.host, self.port, self.user, self.password, folder=self.folder,
                          security=self.security, tls_verify=self.tls_verify,
                          timeout=self.timeout, idle_renew=self.idle_renew,
                          poll_interval=self.poll_interval, fetch_batch=self.fetch_batch,
                          special_folders=self.special_folders, explicit=self.explicit)

    # -- lifecycle ------------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if not self.tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def open(self) -> None:
        self.close()
        try:
            # a TLS context loads the system's CA certificates (milliseconds of CPU): only
            # when TLS is used, not for every plain connection (a pass opens one to fetch ahead)
            implicit = self.security == "ssl"
            client = IMAPClient(self.host, self.port, ssl=implicit,
                                ssl_context=self._ssl_context() if implicit else None,
                                timeout=self.timeout)
            _quiet(client)
            if self.security == "starttls" and b"STARTTLS" in client.capabilities():
                client.starttls(self._ssl_context())
            client.login(self.user, self.password)
            self._client = client
            self._caps = set(client.capabilities())
            self._folders = set()
            self._map = None
            self._select(self.folder)
        except LoginError as exc:
            self._client = None
            raise SourceUnavailable(f"IMAP login refused for the mailbox user ({exc})") from None
        except _NETWORK_ERRORS as exc:
            self._client = None
            if _local(exc):
                raise
            raise SourceUnavailable(f"IMAP {self.host}:{self.port}: {type(exc).__name__}: "
                                    f"{exc}") from None
        self.connected = True

    def close(self) -> None:
        client, self._client = self._client, None
        self.connected = False
        self._selected = ""
        if client is None:
            return
        try:
            client.logout()
        except Exception:  # noqa: BLE001 - a dead connection needs no goodbye
            try:
                client.shutdown()
            except Exception:  # noqa: BLE001
                pass

    def abort(self) -> None:
        """From another thread: cut the connection so that a read blocked on it returns at
        once (with an error, seen by that thread as SourceUnavailable). ``close()`` after."""
        client = self._client
        if client is None:
            return
        try:
            client.socket().shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    @property
    def uidvalidity(self) -> int:
        return self._uidvalidity

    @property
    def capabilities(self) -> set[bytes]:
        return set(self._caps)

    def _select(self, folder: str) -> None:
        """SELECT mailproc's ``folder`` (by its server name); ``_selected`` keeps the former."""
        info = self._c.select_folder(self._server(folder))
        self._selected = folder
        if folder == self.folder:
            self._uidvalidity = int(info[b"UIDVALIDITY"])
            perm = info.get(b"PERMANENTFLAGS", ())
            self.supports_keywords = b"\\*" in perm

    # -- folder names -----------------------------------------------------------------------

    def _layout(self) -> FolderMap:
        """This connection's folder map: NAMESPACE (else the delimiter from LIST "" ""), then
        one LIST "" "*" whose attributes name the special-use folders."""
        if self._map is None:
            client = self._c
            ns = None
            if b"NAMESPACE" in self._caps:
                personal = client.namespace().personal
                if personal:
                    prefix, delimiter = personal[0]
                    ns = Namespace(prefix or "", delimiter or "")
            if ns is None:
                root = client.list_folders("", "")
                delimiter = root[0][1] if root else b"/"
                ns = Namespace("", delimiter.decode() if isinstance(delimiter, bytes)
                               else delimiter or "")
            self._map = FolderMap(ns, self.special_folders, self.explicit,
                                  find_special(client.list_folders(), ns))
            log.info("IMAP folders: namespace prefix %r, delimiter %r, special folders %s",
                     ns.prefix, ns.delimiter,
                     ", ".join(f"{r}={n}" for r, n in sorted(self._map.special.items()))
                     or "none")
        return self._map

    def _server(self, folder: str) -> str:
        """The server's name of mailproc's ``folder`` (see mailproc.mailbox.folders)."""
        if folder.upper() == "INBOX":
            return "INBOX"
        try:
            return self._layout().server(folder)
        except FolderNameError as exc:
            raise SourceError(str(exc)) from None

    @property
    def _c(self) -> IMAPClient:
        """The open client; a closed connection is an outage, not an AttributeError."""
        if self._client is None:
            raise SourceUnavailable("IMAP connection is not open")
        return self._client

    def _call(self, fn: Callable, *args, folder: str | None = None, **kwargs):
        """Run one client call on ``folder`` (default: intake); a lost link -> SourceUnavailable."""
        if self._client is None:
            raise SourceUnavailable("IMAP connection is not open")
        try:
            want = folder or self.folder
            if self._selected != want:
                self._select(want)
            return fn(*args, **kwargs)
        except _NETWORK_ERRORS as exc:
            if _local(exc):  # the link is fine: keep it, name the disk
                raise
            self.close()
            raise SourceUnavailable(f"IMAP connection lost: {type(exc).__name__}: {exc}") \
                from None

    # -- reading --------------------------------------------------------------------------

    def list_uids(self) -> list[MessageRef]:
        """UID SEARCH ALL, then RFC822.SIZE (the oversize rule needs it before any fetch)."""
        # Dovecot brings a selected folder up to date after a command, not before it: NOOP
        # first, or SEARCH answers from the view of the previous command
        self._call(self._c.noop)
        uids = self._call(self._c.search, ["ALL"])
        self._check_uidvalidity()
        data = {}
        for i in range(0, len(uids), 1000):
            data.update(self._call(self._c.fetch, uids[i:i + 1000], [b"RFC822.SIZE"]))
        return [MessageRef(str(uid), int(item.get(b"RFC822.SIZE", 0)))
                for uid, item in sorted(data.items())]

    def _check_uidvalidity(self) -> None:
        """A changed UIDVALIDITY arrives as an untagged OK; re-select to pick it up."""
        untagged = self._client._imap.untagged_responses
        if untagged.pop("UIDVALIDITY", None):
            self._call(self._select, self.folder)

    def fetch(self, uids: Iterable[str], folder: str | None = None
              ) -> Iterator[tuple[str, bytes]]:
        """BODY.PEEK[] in batches; messages expunged meanwhile are skipped, not errors."""
        todo = [int(u) for u in uids]
        for i in range(0, len(todo), self.fetch_batch):
            batch = todo[i:i + self.fetch_batch]
            for uid, raw in self._fetch_batch(batch, folder):
                yield str(uid), raw

    def _fetch_batch(self, batch: list[int], folder: str | None) -> list[tuple[int, bytes]]:
        try:
            data = self._call(self._c.fetch, batch, [b"BODY.PEEK[]"], folder=folder)
        except IMAPClientError as exc:
            # RFC 3501 leaves a FETCH of an expunged message to NO or to no data; on NO
            # take the batch one by one so the rest still arrives.
            if len(batch) == 1:
                log.info("uid %s gone before fetch (%s)", batch[0], exc)
                return []
            out = []
            for uid in batch:
                out.extend(self._fetch_batch([uid], folder))
            return out
        # Dovecot answers an expunged-elsewhere message with BODY[] NIL: skipped
        return [(uid, data[uid][b"BODY[]"]) for uid in batch
                if uid in data and data[uid].get(b"BODY[]") is not None]

    def fetch_partial(self, uids: Iterable[str]) -> Iterator[tuple[str, object]]:
        """(uid, Letter) built from header, BODYSTRUCTURE and text parts only; attachment
        bytes are loaded on demand (``letter.load_part``). See mailproc.mailbox.partial.

        Messages of the same MIME shape need the same FETCH items, so they are fetched
        together: a handful of round trips per batch instead of one per message."""
        from mailproc.mailbox.partial import Node, partial_letter, plan_items

        meta = self.fetch_structure(uids)
        shapes: dict[tuple, list[int]] = {}
        for uid, info in meta.items():
            items = tuple(plan_items(Node(info["structure"], "")))
            shapes.setdefault(items, []).append(int(uid))
        parts: dict[int, dict] = {}
        for items, nums in shapes.items():
            if not items:
                continue
            try:
                parts.update(self._call(self._c.fetch, nums, list(items)))
            except IMAPClientError:  # one of them expunged meanwhile: take them one by one
                for n in nums:
                    try:
                        parts.update(self._call(self._c.fetch, [n], list(items)))
                    except IMAPClientError:
                        continue
        for uid in uids:
            info = meta.get(str(uid))
            if info is None:
                continue  # expunged by someone else meanwhile
            got = parts.get(int(uid), {})
            letter = partial_letter(info["header"], info["structure"], info["size"],
                                    lambda _items, got=got: got)
            letter.load_part = lambda part, u=str(uid): self.load_part(u, part)
            yield str(uid), letter

    def load_part(self, uid: str, part: str, folder: str | None = None) -> bytes | None:
        """One MIME part's decoded bytes (transfer encoding from its MIME header).

        The body comes in ranges of ``PART_RANGE`` octets (RFC 3501 6.4.5) decoded as they
        arrive (mailproc.letter.transfer), so a big part is held once, decoded: not also
        whole in base64 and again as a parsed message."""
        import email

        header = self.fetch_parts(uid, [f"{part}.MIME"], folder=folder).get(f"{part}.MIME", b"")
        encoding = str(email.message_from_bytes(header).get(
            "Content-Transfer-Encoding", "")).strip().lower()
        if encoding not in STREAMABLE:
            got = self.fetch_parts(uid, [part], folder=folder)
            if not got.get(part) and not header:
                return None
            return email.message_from_bytes(header + got.get(part, b"")).get_payload(
                decode=True)
        decoder, out, offset = PartDecoder(encoding), io.BytesIO(), 0
        while True:
            item = f"BODY.PEEK[{part}]<{offset}.{PART_RANGE}>".encode()
            try:
                data = self._call(self._c.fetch, [int(uid)], [item], folder=folder)
            except IMAPClientError:
                data = {}
            piece = data.get(int(uid), {}).get(f"BODY[{part}]<{offset}>".encode()) or b""
            if not piece and offset == 0 and not header:
                return None
            out.write(decoder.feed(piece))
            offset += len(piece)
            if len(piece) < PART_RANGE:
                break
        out.write(decoder.finish())
        return out.getvalue()  # the buffer itself, not a copy, once it is written

    def fetch_structure(self, uids: Iterable[str]) -> dict[str, dict]:
        """RFC822.SIZE, BODYSTRUCTURE and the header block, without any body part."""
        todo = [int(u) for u in uids]
        out: dict[str, dict] = {}
        for i in range(0, len(todo), self.fetch_batch):
            batch = todo[i:i + self.fetch_batch]
            data = self._call(self._c.fetch, batch,
                              [b"RFC822.SIZE", b"BODYSTRUCTURE", b"BODY.PEEK[HEADER]"])
            for uid, item in data.items():
                if b"BODYSTRUCTURE" in item:
                    out[str(uid)] = {"size": int(item.get(b"RFC822.SIZE", 0)),
                                     "structure": item[b"BODYSTRUCTURE"],
                                     "header": item.get(b"BODY[HEADER]", b"")}
        return out

    def fetch_parts(self, uid: str, parts: Iterable[str], folder: str | None = None
                    ) -> dict[str, bytes]:
        """Single MIME parts as sent (BODY.PEEK[n]), e.g. {"1": b"...", "2.1": b"..."}."""
        names = list(parts)
        if not names:
            return {}
        items = [f"BODY.PEEK[{p}]".encode() for p in names]
        try:
            data = self._call(self._c.fetch, [int(uid)], items, folder=folder)
        except IMAPClientError:
            return {}
        item = data.get(int(uid), {})
        return {p: item.get(f"BODY[{p}]".encode(), b"") or b"" for p in names}

    # -- writing --------------------------------------------------------------------------

    def ensure_folder(self, folder: str) -> None:
        """Create ``folder`` when missing, under its server name (modified UTF-7 on the wire,
        done by imapclient)."""
        if folder in self._folders or folder.upper() == "INBOX":
            return
        server = self._call(self._server, folder)
        if not self._call(self._c.folder_exists, server):
            try:
                self._call(self._c.create_folder, server)
                log.info("created folder %s", server)
            except IMAPClientError:
                if not self._call(self._c.folder_exists, server):
                    raise
            try:
                self._call(self._c.subscribe_folder, server)
            except IMAPClientError:
                pass
        self._folders.add(folder)

    def check_folder(self, folder: str) -> None:
        """SourceError when the server's hierarchy cannot carry ``folder`` (folders.py)."""
        if folder.upper() != "INBOX":
            self._call(self._server, folder)

    def move(self, uid: str, folder: str, from_folder: str = "INBOX") -> str:
        """Returns the new UID from COPYUID, "" when unknown or the message has gone."""
        src = self.folder if from_folder == "INBOX" else from_folder
        if folder == src:
            return uid
        self.ensure_folder(folder)
        n = int(uid)
        untagged = None
        if b"MOVE" in self._caps:
            answer = self._call(self._c.move, [n], self._server(folder), folder=src)
            untagged = self._client._imap.untagged_responses.pop("COPYUID", None)
        else:
            answer = self._call(self._c.copy, [n], self._server(folder), folder=src)
            if b"UIDPLUS" not in self._caps:
                raise SourceError("the IMAP server has neither MOVE nor UIDPLUS; mailproc "
                                  "will not EXPUNGE other people's deleted mail")
            self._call(self._c.add_flags, [n], [b"\\Deleted"], silent=True, folder=src)
            self._call(self._c.uid_expunge, [n], folder=src)
        mapping = copyuid_map(answer) or copyuid_map([b"COPYUID " + u for u in untagged or []])
        new = mapping.get(n)
        return str(new) if new else ""

    def move_many(self, uids: list[str], folder: str) -> dict[str, str]:
        """MOVE several messages in one command; old UID -> new UID (COPYUID)."""
        self.ensure_folder(folder)
        nums = [int(u) for u in uids]
        if b"MOVE" not in self._caps:
            return {u: self.move(u, folder) for u in uids}
        answer = self._call(self._c.move, nums, self._server(folder))
        untagged = self._client._imap.untagged_responses.pop("COPYUID", None) or []
        mapping = copyuid_map(answer)
        for text in untagged:
            mapping.update(copyuid_map(b"COPYUID " + text))
        return {str(old): str(new) for old, new in mapping.items()}

    def add_keywords(self, uid, keywords: Iterable[str], folder: str | None = None) -> None:
        """Keywords for one UID or a list of UIDs (one STORE)."""
        flags = [k.encode() if isinstance(k, str) else k for k in keywords]
        flags = [f for f in flags if f and not f.startswith(b"\\")]  # never \Seen & co.
        if not flags or not self.supports_keywords:
            return
        nums = [int(u) for u in uid] if isinstance(uid, (list, tuple)) else [int(uid)]
        self._call(self._c.add_flags, nums, flags, silent=True, folder=folder)

    def append(self, folder: str, raw: bytes, flags: Iterable[str] = (),
               when: datetime | None = None) -> str:
        """APPEND (RFC 3501 6.3.11) with ``flags`` and, when given, the INTERNALDATE ``when``
        (a copy that replaces a message keeps its arrival time)."""
        self.ensure_folder(folder)
        answer = self._call(self._c.append, self._server(folder), raw,
                            flags=tuple(f.encode() if isinstance(f, str) else f for f in flags),
                            msg_time=when)
        m = _APPENDUID.search(answer if isinstance(answer, bytes) else str(answer).encode())
        return m.group(2).decode() if m else ""

    # -- one message alone: read it whole, delete it (registration redaction) ------------

    @property
    def can_expunge_one(self) -> bool:
        """UID EXPUNGE of chosen UIDs exists (UIDPLUS, RFC 4315 2.1); without it the only
        way to remove a message is a bare EXPUNGE, which would also take every message a
        librarian marked \\Deleted, and mailproc never sends one."""
        return b"UIDPLUS" in self._caps

    @property
    def can_move(self) -> bool:
        return b"MOVE" in self._caps

    def folder_names(self) -> list[str]:
        """Every selectable folder of the personal namespace, by mailproc's names (LIST "" "*";
        \\Noselect ones and those mailproc could not name back left out)."""
        layout = self._call(self._layout)
        names = [layout.local(name) for flags, _sep, name in self._call(self._c.list_folders)
                 if b"\\Noselect" not in flags and b"\\NonExistent" not in flags]
        return [name for name in names if name is not None]

    def fetch_message(self, uid: str, folder: str) -> tuple[bytes, tuple[str, ...],
                                                              datetime | None] | None:
        """(raw bytes, flags, INTERNALDATE) of one message, None when it is not there."""
        if folder.upper() != "INBOX" and not self._call(self._c.folder_exists, self._call(
                                                             self._server, folder)):
            return None
        try:
            data = self._call(self._c.fetch, [int(uid)],
                              [b"BODY.PEEK[]", b"FLAGS", b"INTERNALDATE"], folder=folder)
        except IMAPClientError:
            return None
        item = data.get(int(uid))
        if not item or item.get(b"BODY[]") is None:
            return None
        flags = tuple(f.decode() if isinstance(f, bytes) else str(f)
                      for f in item.get(b"FLAGS", ()))
        return item[b"BODY[]"], flags, item.get(b"INTERNALDATE")

    def fetch_headers(self, folder: str, uids: Iterable[str]) -> dict[str, bytes]:
        """The header block of each message (BODY.PEEK[HEADER])."""
        nums = [int(u) for u in uids]
        if not nums:
            return {}
        data = self._call(self._c.fetch, nums, [b"BODY.PEEK[HEADER]"], folder=folder)
        return {str(uid): item.get(b"BODY[HEADER]", b"") or b"" for uid, item in data.items()}

    def expunge_one(self, folder: str, uids: Iterable[str]) -> None:
        """Delete exactly these messages: STORE +FLAGS.SILENT (\\Deleted), then UID EXPUNGE
        of these UIDs only (RFC 4315 2.1). Never a bare EXPUNGE: without UIDPLUS this
        refuses (SourceError) instead."""
        nums = [int(u) for u in uids]
        if not nums:
            return
        if not self.can_expunge_one:
            raise SourceError("the IMAP server has no UIDPLUS (RFC 4315): mailproc will not "
                              "EXPUNGE other people's deleted mail")
        self._call(self._c.add_flags, nums, [b"\\Deleted"], silent=True, folder=folder)
        self._call(self._c.uid_expunge, nums, folder=folder)

    def search_header(self, folder: str, name: str, value: str) -> list[str]:
        """UIDs in ``folder`` whose header ``name`` contains ``value`` (for recovery)."""
        if folder.upper() != "INBOX" and not self._call(self._c.folder_exists, self._call(
                                                             self._server, folder)):
            return []
        uids = self._call(self._c.search, ["HEADER", name, value], folder=folder)
        return [str(u) for u in uids]

    find_header = search_header

    # -- waiting --------------------------------------------------------------------------

    @property
    def has_idle(self) -> bool:
        return b"IDLE" in self._caps

    def wait(self, timeout: float) -> bool:
        """IDLE up to ``timeout`` (capped by idle_renew); NOOP polling where IDLE is missing.

        True when the server reported a change (EXISTS, EXPUNGE, FETCH ...)."""
        if self._client is None:
            raise SourceUnavailable("IMAP connection is not open")
        if self._selected != self.folder:
            self._call(self._select, self.folder)
        if not self.has_idle:
            time.sleep(max(0.0, min(timeout, self.poll_interval)))
            return bool(self._call(self._c.noop)[1])
        timeout = max(0.0, min(timeout, self.idle_renew))
        try:
            self._client.idle()
            # a change the server sent right behind its "+ idling" may already sit in the read
            # buffer, where idle_check (which polls the socket) would not see it until the
            # round ends: then end IDLE at once, DONE's answer returns it
            responses = [] if self._input_waiting() else \
                list(self._client.idle_check(timeout=timeout))
            # changes noticed while DONE travels arrive with its answer
            responses += list(self._client.idle_done()[1])
        except _NETWORK_ERRORS as exc:
            self.close()  # IDLE was cut half-way: the connection's state is unknown
            if _local(exc):
                raise
            raise SourceUnavailable(f"IMAP connection lost during IDLE: {type(exc).__name__}") \
                from None
        except IMAPClientError as exc:
            self.close()
            raise SourceUnavailable(f"IMAP IDLE failed: {exc}") from None
        return any(not _keepalive(r) for r in responses)

    def _input_waiting(self) -> bool:
        """Whether bytes from the server were already read off the socket (into the TLS
        layer or imaplib's buffered reader) or are readable now, without blocking. Seen
        against Dovecot: "+ idling" and "* N EXISTS" arriving in one segment, so reading the
        continuation line buffered the notice (imapclient's idle_check polls only the
        socket)."""
        sock = self._client.socket()
        pending = getattr(sock, "pending", None)  # an ssl.SSLSocket's decrypted bytes
        if pending is not None and pending():
            return True
        reader = getattr(self._client._imap, "file", None)  # imaplib's buffered reader
        if reader is None:
            return False
        previous = sock.gettimeout()
        sock.setblocking(False)
        try:
            return bool(reader.peek(1))  # what is buffered, or one non-blocking read
        except (OSError, ValueError):  # nothing readable (or TLS wants more bytes)
            return False
        finally:
            sock.settimeout(previous)


def _special_settings(mb) -> tuple[dict[str, str], frozenset[str]]:
    """role -> the setting's folder name, and the roles whose setting is not its default (an
    explicit name wins; the default means "look it up", mailproc.mailbox.folders)."""
    import dataclasses

    defaults = {f.name: f.default for f in dataclasses.fields(mb)}
    special = {role: getattr(mb, f"{role}_folder") for role in ROLES
               if hasattr(mb, f"{role}_folder")}
    explicit = frozenset(role for role, value in special.items()
                         if value != defaults.get(f"{role}_folder"))
    return special, explicit


def _keepalive(response) -> bool:
    """Dovecot's "* OK Still here" during IDLE says nothing about the folder."""
    return isinstance(response, tuple) and len(response) >= 1 and response[0] == b"OK"


#: one IDLE round; the DONE that ends it doubles as a liveness check of the connection
IDLE_ROUND = 30.0


class IdleWatcher(threading.Thread):
    """A thread with its own connection, IDLE-ing on the intake folder and calling ``wake``
    whenever something changed (and once after every reconnect, since mail may have arrived
    while the link was down)."""

    def __init__(self, source: ImapSource, wake: Callable[[], None], stop: threading.Event):
        super().__init__(name="imap-idle", daemon=True)
        self.source = source
        self.wake = wake
        self.stop_event = stop
        self.backoff = Backoff(what="IMAP IDLE connection")

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                if not self.source.connected:
                    self.source.open()
                    self.backoff.succeeded()
                    self.wake()
                # short IDLE rounds so that a stop is noticed within a second
                if self.source.wait(IDLE_ROUND if self.source.has_idle
                                    else self.source.poll_interval):
                    self.wake()
            except SourceUnavailable as exc:
                self.source.close()
                self.stop_event.wait(self.backoff.failed(exc))
            except Exception as exc:  # noqa: BLE001 - the watcher must outlive any surprise
                log.exception("IDLE watcher of %s: %s", self.source.name, type(exc).__name__)
                self.source.close()
                self.stop_event.wait(self.backoff.failed(exc))
        self.source.close()
