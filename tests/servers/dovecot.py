"""A private Dovecot for tests and benchmarks: own config in a temp dir, a free loopback port,
one passwd-file user, Maildir storage. No IMAP mock anywhere.

Public API (other helpers use it):

- ``DovecotServer(root)`` / ``.start()`` / ``.stop()`` / ``.restart()``; ``host``, ``port``,
  ``user``, ``password``, ``url`` (``imap://user@host:port/INBOX``).
- ``.client()``: a logged-in IMAPClient (a "librarian" connection), imaplib debug off.
- ``.deliver(raw, folder="INBOX")``: APPEND one message; ``.deliver_many(raws)``: write files
  into ``Maildir/cur`` and ``doveadm force-resync`` (fast bulk fill).
- ``.messages(folder="INBOX")``: ``[(uid, flags, raw)]`` of a folder; ``.folders()``;
  ``.count(folder)``.
- ``DovecotServer(namespace=PREFIXED_NAMESPACE)``: folders under ``INBOX.`` with "." between
  levels and special-use «Отправленные», «Черновики», «Спам», «Корзина» (RFC 2342, RFC 6154);
  the fixture ``prefixed_dovecot`` yields one.
- ``.reset_uidvalidity()``: drop Dovecot's uid list so INBOX gets a new UIDVALIDITY.
- the pytest fixture ``dovecot`` (function scope) yields a started server and stops it.

Facts this relies on (tried on Debian 12 with Dovecot 2.3): started with its own ``-c FILE``
(its own base_dir, state and log, never /etc/dovecot or systemd); as root, Dovecot refuses mail
UID 0 and chroots its login processes, so one unprivileged user serves every role
(default_internal_user, default_login_user, mail_uid/gid, first_valid_uid), ``chroot =`` is
empty for imap-login and anvil, and ``doveadm`` runs as that user with the same ``-c FILE``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

USER = "personbibl@nlrs.example"
PASSWORD = "test-password"

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = mailproc-test-{tag}
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {unix_user}
default_login_user = {unix_user}
mail_uid = {unix_user}
mail_gid = {unix_group}
first_valid_uid = {uid}
last_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:{root}/mail/%d/%n/Maildir
mail_fsync = never
mail_max_userip_connections = 100
mailbox_idle_check_interval = 1 secs
protocol imap {{
  imap_idle_notify_interval = 2 mins
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = home={root}/mail/%d/%n
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-writer {{
    user = {unix_user}
  }}
}}
{namespace}"""

#: the default layout: no prefix, "/" between levels, no special-use folders
DEFAULT_NAMESPACE = """\
namespace inbox {
  inbox = yes
  separator = /
}
"""

#: a Courier-style layout, as many hosting servers have: every personal folder under
#: ``INBOX.``, "." between levels, and Russian special-use folders (RFC 6154) that exist from
#: the first login
PREFIXED_NAMESPACE = """\
namespace inbox {
  inbox = yes
  prefix = INBOX.
  separator = .
  mailbox Отправленные {
    auto = subscribe
    special_use = \\Sent
  }
  mailbox Черновики {
    auto = subscribe
    special_use = \\Drafts
  }
  mailbox Спам {
    auto = subscribe
    special_use = \\Junk
  }
  mailbox Корзина {
    auto = subscribe
    special_use = \\Trash
  }
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unix_user() -> tuple[str, str, int, int]:
    """The unprivileged user every Dovecot role runs as."""
    if os.geteuid() != 0:
        pw = pwd.getpwuid(os.geteuid())
        import grp
        return pw.pw_name, grp.getgrgid(pw.pw_gid).gr_name, pw.pw_uid, pw.pw_gid
    for name in ("dovecot", "mail", "nobody"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        import grp
        return pw.pw_name, grp.getgrgid(pw.pw_gid).gr_name, pw.pw_uid, pw.pw_gid
    raise RuntimeError("no unprivileged user to run Dovecot as")


class DovecotServer:
    def __init__(self, root: Path | str | None = None, port: int | None = None,
                 namespace: str = DEFAULT_NAMESPACE):
        # ``root`` and every folder above it must be enterable by the mail user; the default
        # (a fresh folder in the system temp dir) is
        self.root = Path(root or tempfile.mkdtemp(prefix="mailproc-dovecot-"))
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.user = USER
        self.password = PASSWORD
        self.tag = uuid.uuid4().hex[:8]
        self.unix_user, self.unix_group, self.uid, self.gid = _unix_user()
        self.config = self.root / "dovecot.conf"
        self.namespace = namespace
        self._running = False

    # -- addresses ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"imap://{self.user}@{self.host}:{self.port}/INBOX"

    @property
    def maildir(self) -> Path:
        local, _, domain = self.user.partition("@")
        return self.root / "mail" / domain / local / "Maildir"

    # -- lifecycle ------------------------------------------------------------------------

    def _write_config(self) -> None:
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "passwd").write_text(f"{self.user}:{{PLAIN}}{self.password}\n")
        self.config.write_text(CONFIG.format(
            root=self.root, tag=self.tag, port=self.port, unix_user=self.unix_user,
            unix_group=self.unix_group, uid=min(self.uid, 100) if self.uid else 1,
            namespace=self.namespace))
        self._chown(self.root)

    def _chown(self, path: Path) -> None:
        if os.geteuid() != 0:
            return
        for dirpath, dirnames, filenames in os.walk(path):
            for target in [dirpath] + [os.path.join(dirpath, n) for n in filenames]:
                try:
                    os.chown(target, self.uid, self.gid)
                except FileNotFoundError:  # Dovecot moved it meanwhile (a running client)
                    pass
        os.chmod(path, 0o755)

    def start(self, timeout: float = 10.0) -> "DovecotServer":
        self._write_config()
        # the master daemonizes and would keep captured pipes open: send output to a file
        with open(self.root / "start.log", "ab") as out:
            subprocess.run(["dovecot", "-c", str(self.config)], check=True,
                           stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        self._running = True
        self._wait_port(timeout)
        # the user's INBOX exists before the first client, as on any server that has had
        # mail: created by several first connections at once (mailproc opens three), Dovecot
        # 2.3 sometimes answered one SELECT with [SERVERBUG], and that instance sat out a
        # reconnect backoff
        self.doveadm("mailbox", "status", "-u", self.user, "messages", "INBOX")
        return self

    def _wait_port(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"Dovecot did not start; see {self.root}/dovecot.log")

    def stop(self) -> None:
        if not self._running:
            return
        pidfile = self.root / "run" / "master.pid"
        try:
            pid = int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pid = 0
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pid = 0
        else:
            subprocess.run(["doveadm", "-c", str(self.config), "stop"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while pid and time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.02)
        self._running = False

    def restart(self) -> None:
        """Stop and start on the same port: every open connection is cut."""
        self.stop()
        self.start()

    def kick(self) -> None:
        """Cut every IMAP connection of the user without stopping the server."""
        self.doveadm("kick", self.user)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # -- doveadm --------------------------------------------------------------------------

    def doveadm(self, *args: str) -> str:
        res = subprocess.run(["doveadm", "-c", str(self.config), *args],
                             capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)}: {res.stderr.strip()}")
        return res.stdout

    # -- a librarian's connection ---------------------------------------------------------

    def client(self):
        from imapclient import IMAPClient

        c = IMAPClient(self.host, self.port, ssl=False, timeout=30)
        c._imap.debug = 0
        c.login(self.user, self.password)
        return c

    # -- filling --------------------------------------------------------------------------

    def deliver(self, raw: bytes, folder: str = "INBOX", flags: tuple = ()) -> int:
        """APPEND one message; returns its UID (APPENDUID, RFC 4315)."""
        c = self.client()
        try:
            if folder != "INBOX" and not c.folder_exists(folder):
                c.create_folder(folder)
            res = c.append(folder, raw, flags=flags)
        finally:
            c.logout()
        # b'[APPENDUID 123 4] Append completed.'
        text = res.decode() if isinstance(res, bytes) else str(res)
        try:
            return int(text.split("APPENDUID", 1)[1].split("]")[0].split()[1])
        except (IndexError, ValueError):
            return 0

    def deliver_many(self, raws, folder: str = "INBOX") -> int:
        """Write files into Maildir/cur and force-resync: the fast way to fill a folder."""
        base = self.maildir if folder == "INBOX" else self.maildir / f".{folder}"
        for sub in ("cur", "new", "tmp"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        n = 0
        stamp = int(time.time())
        for raw in raws:
            n += 1
            name = f"{stamp}.M{n}P{os.getpid()}R{uuid.uuid4().hex[:8]}.test,S={len(raw)}:2,"
            (base / "cur" / name).write_bytes(raw)
        self._chown(self.root / "mail")
        self.doveadm("force-resync", "-u", self.user, folder)
        return n

    def reset_uidvalidity(self) -> None:
        """Delete INBOX's dovecot-uidlist (and index) so Dovecot assigns a new UIDVALIDITY."""
        time.sleep(1.1)  # UIDVALIDITY is a timestamp: make the new one differ
        for name in os.listdir(self.maildir):
            if name.startswith("dovecot-uidlist") or name.startswith("dovecot.index"):
                os.unlink(self.maildir / name)
        self.doveadm("force-resync", "-u", self.user, "INBOX")

    # -- reading --------------------------------------------------------------------------

    def folders(self) -> list[str]:
        c = self.client()
        try:
            return [name for _flags, _sep, name in c.list_folders()]
        finally:
            c.logout()

    def messages(self, folder: str = "INBOX", body: bool = True) -> list[tuple[int, tuple, bytes]]:
        """[(uid, flags, raw)] of one folder, by UID; [] when the folder does not exist."""
        c = self.client()
        try:
            if not c.folder_exists(folder):
                return []
            c.select_folder(folder, readonly=True)
            uids = c.search("ALL")
            if not uids:
                return []
            items = [b"FLAGS", b"BODY.PEEK[]"] if body else [b"FLAGS"]
            data = c.fetch(uids, items)
            return [(uid, tuple(data[uid][b"FLAGS"]), data[uid].get(b"BODY[]", b""))
                    for uid in sorted(data)]
        finally:
            c.logout()

    def count(self, folder: str = "INBOX") -> int:
        c = self.client()
        try:
            if not c.folder_exists(folder):
                return 0
            return c.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"]
        finally:
            c.logout()

    def uidvalidity(self, folder: str = "INBOX") -> int:
        c = self.client()
        try:
            return c.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"]
        finally:
            c.logout()


try:
    import pytest
except ImportError:  # pragma: no cover - benchmarks run without pytest
    pytest = None

if pytest is not None:
    def _started(namespace: str):
        if shutil.which("dovecot") is None:
            pytest.skip("Dovecot is not installed (make system-packages)")
        # not under pytest's tmp dirs: those are 0700 root, which the mail user cannot enter
        server = DovecotServer(namespace=namespace)
        server.start()
        try:
            yield server
        finally:
            server.cleanup()

    @pytest.fixture
    def dovecot():
        """A started private Dovecot; stopped and removed after the test."""
        yield from _started(DEFAULT_NAMESPACE)

    @pytest.fixture
    def prefixed_dovecot():
        """A started Dovecot with the ``INBOX.`` namespace and Russian special-use folders."""
        yield from _started(PREFIXED_NAMESPACE)
