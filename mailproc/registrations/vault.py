"""The vault: registration documents encrypted at rest, never written to disk in clear.

Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) with ``MultiFernet`` for rotation:
the first key encrypts, every key decrypts, and ``rotate`` re-encrypts old files under the
newest key, after which the old keys can be dropped. Keys come from ``$MAILPROC_VAULT_KEY``
(comma-separated, newest first) or ``vault.key_file`` (one a line, newest first), never from
the settings file, and never appear in a log line. Files are written through a temporary file
that already holds ciphertext, so a crash leaves no clear bytes behind.

Files are sealed in chunks (format 2), so a document of any size costs a few megabytes of
memory to seal or open, never several copies of itself: ``MAGIC`` then records, each a 4-byte
big-endian length and a Fernet token of (file id, chunk index, last-chunk flag, up to
``CHUNK`` clear bytes). The random file id and the index bind each chunk to its file and
place, and the flag on the last one makes a cut file fail as surely as a changed one. Files of
the first format (one Fernet token, from before chunking) are read as they are.

Destroying a file overwrites it with random bytes before unlinking; on SSDs and copy-on-write
file systems that is best effort only, which is why nothing clear is ever written at all.
"""

from __future__ import annotations

import logging
import os
import secrets
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from mailproc.errors import ConfigError
from mailproc.private import private_dir

ENV_KEY = "MAILPROC_VAULT_KEY"
#: the first bytes of a chunked (format 2) file; a format 1 file starts with "gAAAAA"
MAGIC = b"MPVAULT2\n"
CHUNK = 1024 * 1024  # clear bytes per record
_HEAD = struct.Struct(">16sQ?")  # file id, chunk index, last chunk
_LEN = struct.Struct(">I")
log = logging.getLogger("mailproc.vault")
_warned: set[str] = set()  # key files already warned about (once per process)


def new_key() -> str:
    return Fernet.generate_key().decode()


def read_keys(settings, environ: dict[str, str] | None = None) -> list[str]:
    """Every configured key, newest first; ConfigError naming the setting when none."""
    environ = os.environ if environ is None else environ
    if environ.get(ENV_KEY):
        keys = [k.strip() for k in environ[ENV_KEY].split(",") if k.strip()]
        origin = ENV_KEY
    elif settings.vault.key_file:
        path = Path(settings.vault.key_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"vault.key_file: cannot read {path} ({exc.strerror}); fix the "
                              f"path or its permissions") from None
        keys = [line.strip() for line in text.splitlines() if line.strip()
                and not line.startswith("#")]
        origin = "vault.key_file"
        if path.stat().st_mode & 0o077 and str(path) not in _warned:
            _warned.add(str(path))
            log.warning("vault.key_file %s can be read by other users; chmod 600 it", path)
    elif settings.vault.key:
        keys = [k.strip() for k in str(settings.vault.key).split(",") if k.strip()]
        origin = "vault.key"
    else:
        raise ConfigError(f"vault.key: no key for the registration documents' vault; set "
                          f"{ENV_KEY} or vault.key_file (make one with `mailproc vault new-key`)")
    if not keys:
        raise ConfigError(f"{origin}: holds no key; write a key made by `mailproc vault new-key`")
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ConfigError(f"{origin}: not a vault key (expected 44 characters of url-safe "
                              f"base64 as `mailproc vault new-key` prints)") from None
    return keys


def shred(path: Path) -> None:
    """Overwrite a file with random bytes, then remove it (best effort on SSDs)."""
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.write(secrets.token_bytes(size))
        fh.flush()
        os.fsync(fh.fileno())
    path.unlink()


class Vault:
    def __init__(self, root: Path, keys: list[str]):
        self.root = Path(root)
        self.keys = list(keys)
        self._fernet = MultiFernet([Fernet(k) for k in self.keys])

    @classmethod
    def from_settings(cls, settings, environ: dict[str, str] | None = None) -> "Vault":
        return cls(Path(settings.vault.dir), read_keys(settings, environ))

    # -- bytes ----------------------------------------------------------------------------

    def encrypt(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt(self, blob: bytes, what: str = "a vault file") -> bytes:
        try:
            return self._fernet.decrypt(blob)
        except InvalidToken:
            raise ConfigError(f"vault.key: the configured keys do not open {what}; restore the "
                              f"key it was written with ({ENV_KEY} or vault.key_file)") from None

    def encrypt_text(self, text: str) -> str:
        return self.encrypt(text.encode()).decode() if text else ""

    def decrypt_text(self, token: str) -> str:
        return self.decrypt(token.encode(), "an encrypted field").decode() if token else ""

    # -- files ----------------------------------------------------------------------------

    def put(self, relpath: str, data: bytes | Iterable[bytes]) -> str:
        """Encrypt ``data`` (bytes, or pieces of them) into ``relpath`` under the vault, chunk
        by chunk; returns ``relpath``."""
        path = self._path(relpath)
        private_dir(path.parent)
        tmp = path.with_name(path.name + f".{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            self.seal(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
        return relpath

    def get(self, relpath: str) -> bytes:
        """The clear bytes, in memory only."""
        return b"".join(self.chunks(relpath))

    def chunks(self, relpath: str) -> Iterator[bytes]:
        """The clear bytes in pieces of at most ``CHUNK``, in memory only."""
        path = self._path(relpath)
        try:
            fh = path.open("rb")
        except FileNotFoundError:
            raise FileNotFoundError(f"vault file {relpath} is gone") from None
        with fh:
            yield from self.unseal(fh, f"vault file {relpath}")

    # -- the chunked format ----------------------------------------------------------------

    def seal(self, data: bytes | Iterable[bytes], out: BinaryIO) -> int:
        """Write ``data`` to ``out`` in the chunked format; returns the clear size."""
        file_id = secrets.token_bytes(16)
        out.write(MAGIC)
        index = size = 0
        pending: bytes | None = None
        for piece in _pieces(data):
            if pending is not None:
                self._record(out, file_id, index, False, pending)
                index += 1
            pending = piece
            size += len(piece)
        self._record(out, file_id, index, True, pending or b"")
        return size

    def _record(self, out: BinaryIO, file_id: bytes, index: int, last: bool,
                piece: bytes) -> None:
        token = self._fernet.encrypt(_HEAD.pack(file_id, index, last) + piece)
        out.write(_LEN.pack(len(token)))
        out.write(token)

    def unseal(self, src: BinaryIO, what: str = "a vault file") -> Iterator[bytes]:
        """The clear bytes of a sealed stream (either format), chunk by chunk."""
        head = src.read(len(MAGIC))
        if head != MAGIC:  # format 1: one token for the whole file
            yield self.decrypt(head + src.read(), what)
            return
        file_id, index = None, 0
        while True:
            token = _read_record(src, what)
            plain = self.decrypt(token, what)
            got_id, got_index, last = _HEAD.unpack_from(plain)
            file_id = file_id or got_id
            if (got_id, got_index) != (file_id, index):
                raise ValueError(f"{what} is damaged: chunks out of place")
            yield plain[_HEAD.size:]
            if last:
                if src.read(1):
                    raise ValueError(f"{what} is damaged: bytes after its last chunk")
                return
            index += 1

    def _rotate_stream(self, src: BinaryIO, out: BinaryIO, what: str) -> None:
        """Re-encrypt every record under the newest key, record by record."""
        out.write(MAGIC)
        while True:
            token = _read_record(src, what, eof_ok=True)
            if token is None:
                return
            fresh = self._fernet.rotate(token)
            out.write(_LEN.pack(len(fresh)))
            out.write(fresh)

    def exists(self, relpath: str) -> bool:
        return self._path(relpath).is_file()

    def destroy(self, relpath: str) -> bool:
        """Overwrite and remove one file; False when it was already gone."""
        path = self._path(relpath)
        if not path.is_file():
            return False
        shred(path)
        try:
            path.parent.rmdir()  # the case folder, once empty
        except OSError:
            pass
        return True

    def rotate(self) -> int:
        """Re-encrypt every file under the newest key; returns the number of files."""
        count = 0
        if not self.root.is_dir():
            return 0
        for path in sorted(self.root.rglob("*")):
            if not path.is_file() or path.name.endswith(".tmp"):
                continue
            rel = str(path.relative_to(self.root))
            tmp = path.with_name(path.name + ".rot.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                with os.fdopen(fd, "wb") as fh, path.open("rb") as src:
                    if src.read(len(MAGIC)) == MAGIC:
                        self._rotate_stream(src, fh, f"vault file {rel}")
                    else:  # format 1 stays one token
                        src.seek(0)
                        fh.write(self._fernet.rotate(src.read()))
                    fh.flush()
                    os.fsync(fh.fileno())
            except InvalidToken:
                tmp.unlink(missing_ok=True)
                raise ConfigError(f"vault.key: the configured keys do not open vault file "
                                  f"{rel}; keep its old key in the list while rotating") from None
            tmp.replace(path)
            count += 1
        return count

    def rotate_bytes(self, blob: bytes, what: str = "a vault file") -> bytes:
        """One Fernet token (``encrypt``'s output) re-encrypted under the newest key."""
        try:
            return self._fernet.rotate(blob)
        except InvalidToken:
            raise ConfigError(f"vault.key: the configured keys do not open {what}; keep its "
                              f"old key in the list while rotating") from None

    def rotate_text(self, token: str) -> str:
        return self._fernet.rotate(token.encode()).decode() if token else ""

    def _path(self, relpath: str) -> Path:
        path = (self.root / relpath).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"vault path {relpath!r} leaves the vault")
        return path


def _pieces(data: bytes | Iterable[bytes]) -> Iterator[bytes]:
    """``data`` cut into pieces of ``CHUNK`` bytes (the last one shorter), copying at most one
    piece at a time."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        view = memoryview(data)
        for start in range(0, len(view), CHUNK):
            yield bytes(view[start:start + CHUNK])
        return
    buf = bytearray()
    for part in data:
        buf += part
        while len(buf) >= CHUNK:
            yield bytes(buf[:CHUNK])
            del buf[:CHUNK]
    if buf:
        yield bytes(buf)


def _read_record(src: BinaryIO, what: str, eof_ok: bool = False) -> bytes | None:
    head = src.read(_LEN.size)
    if not head and eof_ok:
        return None
    if len(head) < _LEN.size:
        raise ValueError(f"{what} is damaged: cut before its last chunk")
    (length,) = _LEN.unpack(head)
    if length > 2 * CHUNK:
        raise ValueError(f"{what} is damaged: a chunk of {length} bytes")
    token = src.read(length)
    if len(token) < length:
        raise ValueError(f"{what} is damaged: cut inside a chunk")
    return token
