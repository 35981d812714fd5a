"""A local Maildir as a mailbox source: the demo and offline runs.

The layout is Dovecot's Maildir++ (folders are ``.Name`` beside ``cur/new/tmp``, names in
modified UTF-7 as RFC 3501 5.1.3 prescribes for IMAP), and keywords are kept the way Dovecot
keeps them (a ``dovecot-keywords`` file and letters a-z in the file name's info part), so the
same folder can later be served by Dovecot and a librarian's client sees the folders and
keywords mailproc set.

A message's UID is its Maildir unique name (the part of the file name before ``:``), which
stays the same when the message moves; UIDVALIDITY is a number kept in a file at the root.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from email.parser import BytesHeaderParser
from pathlib import Path

from imapclient.imap_utf7 import decode as utf7_decode
from imapclient.imap_utf7 import encode as utf7_encode

from mailproc.errors import ConfigError
from mailproc.mailbox.base import MailboxSource, MessageRef

KEYWORD_LETTERS = "abcdefghijklmnopqrstuvwxyz"
#: IMAP system flags and their Maildir info letters
_SYSTEM_FLAGS = {"\\Seen": "S", "\\Draft": "D", "\\Flagged": "F", "\\Answered": "R"}
UIDVALIDITY_FILE = "mailproc-uidvalidity"


def _ensure_maildir(path: Path) -> None:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)


def _header_block(path: Path, limit: int = 256 * 1024) -> bytes:
    """A message file's header block (up to the first empty line)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(limit)
    except FileNotFoundError:
        return b""
    for sep in (b"\r\n\r\n", b"\n\n"):
        at = head.find(sep)
        if at >= 0:
            return head[:at + len(sep)]
    return head


def _split(filename: str) -> tuple[str, str]:
    """'key:2,FLAGS' -> ('key', 'FLAGS')."""
    key, _, info = filename.partition(":")
    return key, info[2:] if info.startswith("2,") else ""


class MaildirSource(MailboxSource):
    def __init__(self, path: str):
        self.root = Path(path)
        self.name = self.name_for(f"maildir:{path}")
        self._uidvalidity = 0
        self._counter = 0

    @classmethod
    def from_settings(cls, settings) -> "MaildirSource":
        return cls(settings.mailbox.url[len("maildir:"):])

    @staticmethod
    def name_for(url: str) -> str:
        """The ``name`` a source on ``url`` (maildir:PATH) has."""
        return f"maildir:{Path(url[len('maildir:'):])}"

    # -- lifecycle ------------------------------------------------------------------------

    def open(self) -> None:
        try:
            _ensure_maildir(self.root)
        except OSError as exc:
            raise ConfigError(f"mailbox.url: cannot use Maildir {self.root} ({exc.strerror}); "
                              f"give a folder mailproc may write") from None
        marker = self.root / UIDVALIDITY_FILE
        if not marker.exists():
            marker.write_text(f"{int(time.time())}\n")
        self._uidvalidity = int(marker.read_text().split()[0])

    def close(self) -> None:
        pass

    @property
    def uidvalidity(self) -> int:
        return self._uidvalidity

    # -- reading --------------------------------------------------------------------------

    def _files(self, folder: Path) -> Iterator[Path]:
        for sub in ("new", "cur"):
            d = folder / sub
            if d.is_dir():
                for entry in os.scandir(d):
                    if entry.is_file() and not entry.name.startswith("."):
                        yield Path(entry.path)

    def _find(self, folder: Path, uid: str) -> Path | None:
        for sub in ("cur", "new"):
            d = folder / sub
            if not d.is_dir():
                continue
            direct = d / uid
            if direct.exists():
                return direct
            for entry in os.scandir(d):
                if _split(entry.name)[0] == uid:
                    return Path(entry.path)
        return None

    def list_uids(self) -> list[MessageRef]:
        found = []
        for path in self._files(self.root):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            found.append((st.st_mtime, path.name, MessageRef(_split(path.name)[0], st.st_size)))
        found.sort(key=lambda t: (t[0], t[1]))
        return [ref for _, _, ref in found]

    def fetch(self, uids: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        for uid in uids:
            path = self._find(self.root, uid)
            if path is None:
                continue
            try:
                yield uid, path.read_bytes()
            except FileNotFoundError:
                continue

    # -- writing --------------------------------------------------------------------------

    def folder_path(self, folder: str) -> Path:
        if folder.upper() == "INBOX" or folder == "":
            return self.root
        encoded = utf7_encode(folder)
        name = encoded.decode("ascii") if isinstance(encoded, bytes) else encoded
        path = self.root / ("." + name.replace("/", "."))
        _ensure_maildir(path)
        (path / "maildirfolder").touch(exist_ok=True)
        return path

    def move(self, uid: str, folder: str, from_folder: str = "INBOX") -> str:
        src = self._find(self.folder_path(from_folder), uid)
        if src is None:
            return ""
        dest_dir = self.folder_path(folder) / "cur"
        key, flags = _split(src.name)
        flags = self._translate_keywords(src.parent.parent, self.folder_path(folder), flags)
        os.replace(src, dest_dir / f"{key}:2,{flags}")
        return key

    def add_keywords(self, uid: str, keywords: Iterable[str]) -> None:
        src = self._find(self.root, uid)
        if src is None:
            return
        key, flags = _split(src.name)
        letters = set(flags)
        for kw in keywords:
            letters.add(self._keyword_letter(self.root, kw))
        new = src.parent.parent / "cur" / f"{key}:2,{''.join(sorted(letters))}"
        os.replace(src, new)

    def append(self, folder: str, raw: bytes, flags: Iterable[str] = (),
               when: datetime | None = None) -> str:
        """Write into ``folder``; system flags and keywords as Dovecot keeps them, ``when``
        as the file's time (Dovecot's received date of a Maildir message)."""
        dest = self.folder_path(folder)
        self._counter += 1
        key = f"{time.time():.6f}.M{self._counter}P{os.getpid()}.{socket.gethostname()}"
        letters = set()
        for f in flags:
            letter = _SYSTEM_FLAGS.get(f)
            if letter is None and not f.startswith("\\"):
                letter = self._keyword_letter(dest, f)
            letters.add(letter or "")
        tmp = dest / "tmp" / key
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # Sent copies too
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        if when is not None:
            stamp = when.timestamp()
            os.utime(tmp, (stamp, stamp))
        os.replace(tmp, dest / "cur" / f"{key}:2,{''.join(sorted(letters))}")
        return key

    # -- one message alone (registration redaction) -------------------------------------

    can_expunge_one = True  # a file is one message: deleting it touches no other
    can_move = True

    def folder_names(self) -> list[str]:
        names = ["INBOX"]
        for entry in sorted(os.scandir(self.root), key=lambda e: e.name):
            if entry.is_dir() and entry.name.startswith(".") and entry.name not in (".", ".."):
                names.append(utf7_decode(entry.name[1:].replace(".", "/").encode("ascii")))
        return names

    def fetch_message(self, uid: str, folder: str):
        path = self._find(self.folder_path(folder), uid)
        if path is None:
            return None
        try:
            raw, mtime = path.read_bytes(), path.stat().st_mtime
        except FileNotFoundError:
            return None
        table = {v: k for k, v in self._keywords(path.parent.parent).items()}
        system = {v: k for k, v in _SYSTEM_FLAGS.items()}
        flags = tuple(system.get(c) or table.get(c, "") for c in _split(path.name)[1])
        return raw, tuple(f for f in flags if f), datetime.fromtimestamp(mtime, timezone.utc)

    def fetch_headers(self, folder: str, uids: Iterable[str]) -> dict[str, bytes]:
        out = {}
        for uid in uids:
            path = self._find(self.folder_path(folder), uid)
            if path is not None:
                out[uid] = _header_block(path)
        return out

    def find_header(self, folder: str, name: str, value: str) -> list[str]:
        """Keys of the messages in ``folder`` whose header ``name`` contains ``value``
        (case-insensitive, as IMAP SEARCH HEADER)."""
        found = []
        want = value.lower()
        for path in self._files(self.folder_path(folder)):
            header = BytesHeaderParser().parsebytes(_header_block(path))
            if any(want in str(v).lower() for v in header.get_all(name, [])):
                found.append(_split(path.name)[0])
        return found

    def expunge_one(self, folder: str, uids: Iterable[str]) -> None:
        for uid in uids:
            path = self._find(self.folder_path(folder), uid)
            if path is not None:
                path.unlink(missing_ok=True)

    def wait(self, timeout: float) -> bool:
        """Poll the folder's state once a second: a local folder has no IDLE."""
        before = self._state()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            if self._state() != before:
                return True
        return False

    def _state(self) -> tuple:
        return tuple((self.root / sub).stat().st_mtime_ns for sub in ("new", "cur"))

    # -- Dovecot-compatible keywords ------------------------------------------------------

    def _keywords(self, folder: Path) -> dict[str, str]:
        path = folder / "dovecot-keywords"
        table: dict[str, str] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                idx, _, name = line.partition(" ")
                if idx.isdigit() and name and int(idx) < len(KEYWORD_LETTERS):
                    table[name] = KEYWORD_LETTERS[int(idx)]
        return table

    def _keyword_letter(self, folder: Path, keyword: str) -> str:
        table = self._keywords(folder)
        if keyword in table:
            return table[keyword]
        if len(table) >= len(KEYWORD_LETTERS):
            return ""
        idx = len(table)
        with (folder / "dovecot-keywords").open("a", encoding="utf-8") as fh:
            fh.write(f"{idx} {keyword}\n")
        return KEYWORD_LETTERS[idx]

    def _translate_keywords(self, src_folder: Path, dest_folder: Path, flags: str) -> str:
        """Keyword letters are per folder: map them through the names when moving."""
        src_table = {v: k for k, v in self._keywords(src_folder).items()}
        out = set()
        for letter in flags:
            if letter in KEYWORD_LETTERS and letter in src_table:
                out.add(self._keyword_letter(dest_folder, src_table[letter]))
            elif letter not in KEYWORD_LETTERS:
                out.add(letter)
        return "".join(sorted(out))
