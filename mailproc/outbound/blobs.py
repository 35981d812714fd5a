"""Attachment bytes kept durably outside the database, named by their SHA-256.

Content addressing makes writes idempotent (a retried enqueue writes the same file) and lets
a scan forwarded to several readers be kept once. A file is written to a temporary name,
fsynced and renamed, so a crash never leaves a truncated blob under a real name.

Sealed blobs (``OutAttachment(sensitive=True)``: registration documents handed to ЦКО) are
encrypted with the vault's key (``registrations.vault``, the one crypto path, in its chunked
format: sealed as they are written, a few megabytes at a time) before they touch the disk and
named by the SHA-256 of the ciphertext, so neither the file nor its name says
anything about the clear bytes; they are decrypted in memory only when the message is built.
Fernet encryption is randomised, so sealing the same bytes twice gives two files.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from mailproc.private import private_dir, write_private


class BlobStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    @classmethod
    def from_settings(cls, settings) -> "BlobStore":
        return cls(Path(settings.paths.data) / "blobs")

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self.path(digest)
        if path.exists() and path.stat().st_size == len(data):
            return digest
        self._write(path, digest, data)
        return digest

    def put_sealed(self, data: bytes | Iterable[bytes], box) -> str:
        """Encrypt ``data`` (bytes, or pieces of them) with ``box`` (a ``Vault``, in its
        chunked format) and keep only the ciphertext, written and hashed as it is sealed."""
        private_dir(self.root)
        tmp = self.root / f".sealing.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # whatever the umask
            with os.fdopen(fd, "wb") as fh:
                out = _Hashing(fh)
                box.seal(data, out)
                fh.flush()
                os.fsync(fh.fileno())
            digest = out.sha.hexdigest()
            path = self.path(digest)
            private_dir(path.parent)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return digest

    def _write(self, path: Path, digest: str, data: bytes) -> None:
        private_dir(path.parent)
        write_private(path, data)  # 0600, through a fsynced temporary file

    def get(self, sha256: str, box=None) -> bytes:
        """The blob's bytes; a sealed one (``box`` given) decrypted, in memory only."""
        path = self.path(sha256)
        if box is None:
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() != sha256:
                raise OSError(f"blob {sha256[:12]} is damaged")
            return data
        with path.open("rb") as fh:  # checked before a byte is decrypted, read in pieces
            if hashlib.file_digest(fh, "sha256").hexdigest() != sha256:
                raise OSError(f"blob {sha256[:12]} is damaged")
            fh.seek(0)
            return b"".join(box.unseal(fh, f"outbox blob {sha256[:12]}"))


class _Hashing:
    """A write-only file that hashes what passes through it."""

    def __init__(self, fh):
        self.fh = fh
        self.sha = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        return self.fh.write(data)
