"""Attachment bytes kept durably outside the database, named by their SHA-256.

Content addressing makes writes idempotent (a retried enqueue writes the same file) and lets
a scan forwarded to several readers be kept once. A file is written to a temporary name,
fsynced and renamed, so a crash never leaves a truncated blob under a real name.

Sealed blobs (``OutAttachment(sensitive=True)``: registration documents handed to ЦКО) are
encrypted with the vault's key (``registrations.vault``, the one crypto path) before they touch
the disk and named by the SHA-256 of the ciphertext, so neither the file nor its name says
anything about the clear bytes; they are decrypted in memory only when the message is built.
Fernet encryption is randomised, so sealing the same bytes twice gives two files.
"""

from __future__ import annotations

import hashlib
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

    def put_sealed(self, data: bytes, box) -> str:
        """Encrypt ``data`` with ``box`` (a ``Vault``) and keep only the ciphertext."""
        sealed = box.encrypt(data)
        digest = hashlib.sha256(sealed).hexdigest()
        self._write(self.path(digest), digest, sealed)
        return digest

    def _write(self, path: Path, digest: str, data: bytes) -> None:
        private_dir(path.parent)
        write_private(path, data)  # 0600, through a fsynced temporary file

    def get(self, sha256: str, box=None) -> bytes:
        """The blob's bytes; a sealed one (``box`` given) decrypted, in memory only."""
        data = self.path(sha256).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise OSError(f"blob {sha256[:12]} is damaged")
        return box.decrypt(data, f"outbox blob {sha256[:12]}") if box is not None else data
