"""Several instances of mailproc on one database: who reads which mailbox.

PostgreSQL coordinates; nothing home-made keeps time. A mailbox is held by a session-level
advisory lock (``pg_try_advisory_lock``) taken on one dedicated connection that the holder
keeps open for its lifetime. When the holder dies, however it dies, the server sees its
connection close and releases every lock of that session at once, so another instance takes
the mailbox at its next try (``cluster.lease_retry``), with no heartbeat rows and no expiry
to wait for. The holder checks its lease connection every ``cluster.lease_check``: a lost
connection means lost leases, and the mailbox is released locally too.

The outbox is claimed row by row by the sender (``FOR UPDATE SKIP LOCKED``), scheduled jobs
once per period by a row in ``job_runs`` (mailproc.jobs), migrations under an advisory lock
(mailproc.store.migrate).

SQLite is for one instance: the first takes an exclusive ``flock`` on a lock file next to
the database for its lifetime, and a second refuses to start with one line. The kernel
drops an flock when its process dies, so a killed instance never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
from pathlib import Path

from sqlalchemy.engine import make_url

from mailproc.errors import ConfigError
from mailproc.mailboxes import name_of

log = logging.getLogger("mailproc.cluster")

#: advisory-lock key space shared by every mailproc lock (first argument of the two-int form
#: would halve the key; one bigint keyed by a hash is simpler and collisions are ~2^-64)
_PREFIX = "mailproc:"


#: instance slots: the two-int advisory lock form (SLOT_SPACE, slot), so pg_locks counts them
SLOT_SPACE = 0x6D70  # "mp"
MAX_INSTANCES = 64


def fair_share(mailboxes: int, instances: int) -> int:
    """How many mailboxes one instance may hold: spread evenly, none left unread."""
    return -(-mailboxes // max(1, instances))


def lock_key(name: str) -> int:
    """A signed 64-bit advisory-lock key for ``name`` (stable across processes and hosts)."""
    digest = hashlib.blake2b((_PREFIX + name).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# ---------------------------------------------------------------------------------------------
# SQLite: one instance per database file


class InstanceLock:
    """An exclusive flock on ``<database>.lock`` held for the process's lifetime."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    @classmethod
    def for_url(cls, url: str) -> "InstanceLock | None":
        parsed = make_url(url)
        if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
            return None
        return cls(Path(parsed.database).with_name(Path(parsed.database).name + ".lock"))

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise ConfigError(
                f"another mailproc (pid {holder}) already runs on the SQLite database "
                f"{self.path.with_suffix('')}; SQLite serves one instance - stop it, or use "
                f"PostgreSQL (database.url = postgresql+psycopg://...) for several") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None


# ---------------------------------------------------------------------------------------------
# Leases


class Leases:
    """Named leases for this instance. On PostgreSQL: advisory locks on one dedicated
    connection; elsewhere (SQLite, one instance by InstanceLock) every lease is granted.

    Thread-safe: the daemon's loop and its worker threads may ask at once."""

    def __init__(self, db):
        self.db = db
        self.shared = not db.is_sqlite
        self._conn = None
        self._held: set[str] = set()
        self._mutex = threading.Lock()
        self.slot = 0

    def _connection(self):
        if self._conn is None:
            # a DBAPI connection taken out of the pool for good: the pool must never hand it
            # (with our locks) to other work, nor recycle it under them; autocommit, so it
            # never sits "idle in transaction"
            fairy = self.db.engine.raw_connection()
            conn = fairy.dbapi_connection
            fairy.detach()
            conn.autocommit = True
            self._conn = conn
        return self._conn

    def _query(self, sql: str, *params):
        cur = self._connection().cursor()
        try:
            cur.execute(sql, params)
            return cur.fetchone()
        finally:
            cur.close()

    def acquire(self, name: str) -> bool:
        """Take ``name`` if free (or already ours); never waits."""
        with self._mutex:
            if name in self._held:
                return True
            if not self.shared:
                self._held.add(name)
                return True
            try:
                got = bool(self._query("SELECT pg_try_advisory_lock(%s::bigint)", lock_key(name))[0])
            except Exception as exc:  # noqa: BLE001 - no connection, no lease
                self._lost(exc)
                return False
            if got:
                self._held.add(name)
                log.info("lease taken: %s", lock_key(name))
            return got

    # -- instances and fair shares ---------------------------------------------------------

    def join(self) -> int:
        """Take a free instance slot (an advisory lock in mailproc's slot namespace) and
        keep it: the number of slots held is the number of live instances. Returns the
        slot (0 on SQLite)."""
        if not self.shared:
            return 0
        with self._mutex:
            for slot in range(MAX_INSTANCES):
                try:
                    if self._query("SELECT pg_try_advisory_lock(%s::int, %s::int)", SLOT_SPACE, slot)[0]:
                        self.slot = slot
                        return slot
                except Exception as exc:  # noqa: BLE001
                    self._lost(exc)
                    return 0
        return 0

    def instances(self) -> int:
        """Live instances on this database (1 on SQLite or when unknown)."""
        if not self.shared:
            return 1
        with self._mutex:
            try:
                n = self._query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                "AND classid = %s::oid AND objsubid = 2 AND granted",
                                SLOT_SPACE)[0]
            except Exception as exc:  # noqa: BLE001
                self._lost(exc)
                return 1
        return max(1, int(n))

    def held(self, prefix: str = "") -> int:
        with self._mutex:
            return sum(1 for name in self._held if name.startswith(prefix))

    def release(self, name: str) -> None:
        with self._mutex:
            if name not in self._held:
                return
            self._held.discard(name)
            if self.shared and self._conn is not None:
                try:
                    self._query("SELECT pg_advisory_unlock(%s::bigint)", lock_key(name))
                except Exception as exc:  # noqa: BLE001
                    self._lost(exc)

    @property
    def reachable(self) -> bool:
        """False after the lease connection was lost and before a new one worked: a lease
        refused then says nothing about other instances (the database is away)."""
        return not self.shared or self._conn is not None

    def holds(self, name: str) -> bool:
        with self._mutex:
            return name in self._held

    def check(self) -> bool:
        """True while the lease connection is alive; on a lost connection every lease is
        dropped (the server has released them already)."""
        with self._mutex:
            if not self.shared or not self._held:
                return True
            try:
                self._query("SELECT 1")
                return True
            except Exception as exc:  # noqa: BLE001
                self._lost(exc)
                return False

    def _lost(self, exc: BaseException) -> None:
        if self._held:
            log.warning("lease connection lost (%s): %d leases dropped", type(exc).__name__,
                        len(self._held))
        self._held.clear()
        self.slot = -1  # a new connection must join again
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass

    def close(self) -> None:
        with self._mutex:
            self._held.clear()
            conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()  # the server releases every lock of the session
            except Exception:  # noqa: BLE001
                pass


# ---------------------------------------------------------------------------------------------
# Sent copies for several mailboxes


class SentRouter:
    """A source-like object for the sender's Sent copies: each copy goes to the Sent folder
    of the mailbox its outbox row was queued for (``OutboxMessage.mailbox``); a row without
    one (queued before rows named their mailbox, or by a scheduled job of several mailboxes)
    goes to the mailbox whose From address it carries, else to the first mailbox. The name
    comes first because several mailboxes may share one From address.

    The sender calls ``append`` from its own copy thread, so the router keeps its own
    connections (one per mailbox, opened on first use) and never shares the intake's."""

    #: the sender passes ``mailbox=`` (the row's) to ``append``; plain sources get no such word
    routes_by_mailbox = True

    def __init__(self, apps: list):
        self.apps = apps
        self._sources: dict[int, object] = {}

    def _pick(self, raw: bytes, mailbox: str = "") -> int:
        if mailbox:
            for i, app in enumerate(self.apps):
                if name_of(app.settings) == mailbox:
                    return i
        return self._by_sender(raw)

    def _by_sender(self, raw: bytes) -> int:
        from email.parser import BytesHeaderParser  # noqa: PLC0415
        from email.utils import parseaddr  # noqa: PLC0415

        sender = parseaddr(BytesHeaderParser().parsebytes(raw).get("From", ""))[1].lower()
        for i, app in enumerate(self.apps):
            if app.settings.mail.from_address.lower() == sender:
                return i
        return 0

    def append(self, folder: str, raw: bytes, flags=(), mailbox: str = "") -> str:
        i = self._pick(raw, mailbox)
        app = self.apps[i]
        source = self._sources.get(i)
        if source is None or not getattr(source, "connected", True):
            source = self._sources[i] = app.source()
            source.open()
        return source.append(app.settings.mailbox.sent_folder, raw, flags)

    def close(self) -> None:
        for source in self._sources.values():
            try:
                source.close()
            except Exception:  # noqa: BLE001
                pass
        self._sources.clear()
