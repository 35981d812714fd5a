"""The vault: registration documents encrypted at rest, never written to disk in clear.

Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) with ``MultiFernet`` for rotation:
the first key encrypts, every key decrypts, and ``rotate`` re-encrypts old files under the
newest key, after which the old keys can be dropped. Keys come from ``$MAILPROC_VAULT_KEY``
(comma-separated, newest first) or ``vault.key_file`` (one a line, newest first), never from
the settings file, and never appear in a log line. Files are written through a temporary file
that already holds ciphertext, so a crash leaves no clear bytes behind.

Destroying a file overwrites it with random bytes before unlinking; on SSDs and copy-on-write
file systems that is best effort only, which is why nothing clear is ever written at all.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from mailproc.errors import ConfigError
from mailproc.private import private_dir

ENV_KEY = "MAILPROC_VAULT_KEY"
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

    def put(self, relpath: str, data: bytes) -> str:
        """Encrypt ``data`` into ``relpath`` under the vault; returns ``relpath``."""
        path = self._path(relpath)
        private_dir(path.parent)
        tmp = path.with_name(path.name + f".{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(self.encrypt(data))
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
        return relpath

    def get(self, relpath: str) -> bytes:
        """The clear bytes, in memory only."""
        path = self._path(relpath)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(f"vault file {relpath} is gone") from None
        return self.decrypt(blob, f"vault file {relpath}")

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
            try:
                blob = self._fernet.rotate(path.read_bytes())
            except InvalidToken:
                raise ConfigError(f"vault.key: the configured keys do not open vault file "
                                  f"{rel}; keep its old key in the list while rotating") from None
            tmp = path.with_name(path.name + ".rot.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(path)
            count += 1
        return count

    def rotate_text(self, token: str) -> str:
        return self._fernet.rotate(token.encode()).decode() if token else ""

    def _path(self, relpath: str) -> Path:
        path = (self.root / relpath).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"vault path {relpath!r} leaves the vault")
        return path
