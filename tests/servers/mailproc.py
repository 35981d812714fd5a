"""A mailproc installation pointed at a test Dovecot: settings file, environment, data folder,
and helpers that run the real ``mailproc`` command (tests, drills and benchmarks share it)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.servers.dovecot import DovecotServer

ROOT = Path(__file__).resolve().parents[2]


class MailprocSetup:
    """One mailproc installation pointed at a Dovecot: config file, env, data folder."""

    def __init__(self, root: Path, server: DovecotServer, **mailbox):
        self.root = root
        self.server = server
        self.data = root / "data"
        self.rules = root / "rules"
        self.rules.mkdir(parents=True, exist_ok=True)
        self.config = root / "mailproc.toml"
        extra = "".join(f"{k} = {_toml(v)}\n" for k, v in mailbox.items())
        self.config.write_text(
            "[mailbox]\n"
            f'url = "{server.url}"\n'
            f"{extra}"
            "[database]\n"
            f'url = "sqlite:///{root}/mailproc.sqlite3"\n'
            "[paths]\n"
            f'data = "{self.data}"\n'
            f'rules = "{self.rules}"\n'
            f'templates = "{ROOT / "templates"}"\n'  # `run` refuses to start without
            "[log]\n"
            'format = "text"\n', encoding="utf-8")
        self.env = {**os.environ, "MAILPROC_CONFIG": str(self.config),
                    "MAILPROC_MAILBOX_PASSWORD": server.password,
                    "PYTHONUNBUFFERED": "1"}

    def run_env(self) -> dict:
        """``env`` as the commands get it: an installation whose rules folder holds no rule
        file yet runs with no rules folder (``paths.rules = ""``, built-in sorting), as
        these tests always have; since rules are checked at start, an empty folder would
        otherwise be broken rules and nothing would be processed."""
        if "MAILPROC_PATHS_RULES" in self.env or any(
                p.name[:2].isdigit() for p in self.rules.glob("*.yaml")):
            return self.env
        return {**self.env, "MAILPROC_PATHS_RULES": ""}

    def settings(self):
        from mailproc.config import load_settings

        return load_settings(str(self.config), environ=self.run_env())

    def app(self):
        from mailproc.app import App

        return App(self.settings())

    def command(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "mailproc", *args], env=self.run_env(),
                              cwd=self.root, capture_output=True, text=True, timeout=timeout)

    def ok(self, *args: str) -> str:
        """Run a command that must succeed; its output."""
        done = self.command(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def spawn(self, *args: str, log_name: str = "daemon.log") -> subprocess.Popen:
        log = open(self.root / log_name, "ab")
        return subprocess.Popen([sys.executable, "-m", "mailproc", *args], env=self.run_env(),
                                cwd=self.root, stdout=log, stderr=subprocess.STDOUT)

    @property
    def db_file(self) -> Path:
        return self.root / "mailproc.sqlite3"

    def sql(self, query: str, *params) -> list[tuple]:
        """A read-only query on the database, safe while a daemon writes (WAL)."""
        import sqlite3

        if not self.db_file.exists():
            return []
        con = sqlite3.connect(f"file:{self.db_file}?mode=ro", uri=True, timeout=30)
        try:
            return con.execute(query, params).fetchall()
        except sqlite3.OperationalError:  # tables not created yet
            return []
        finally:
            con.close()

    def daemon_state(self) -> dict:
        import json

        try:
            return json.loads((self.data / "run" / "daemon.json").read_text())
        except (OSError, ValueError):
            return {}

    def rows(self):
        from sqlalchemy import select

        from mailproc.store.models import Message

        app = self.app()
        with app.db.session() as s:
            rows = list(s.scalars(select(Message).order_by(Message.id)))
        app.db.dispose()
        return rows


def shipped_setup(root: Path, server: DovecotServer, smtp) -> MailprocSetup:
    """A setup with the shipped rules and templates, sending to the test SMTP server ``smtp``
    (kept as ``.smtp``); no morning digest, so the mail counted is the tested workflow's."""
    import shutil

    s = MailprocSetup(root, server)
    for f in (ROOT / "rules").glob("*.yaml"):
        shutil.copy(f, s.rules / f.name)
    s.env["MAILPROC_PATHS_TEMPLATES"] = str(ROOT / "templates")
    s.env["MAILPROC_SMTP_URL"] = smtp.url
    s.env["MAILPROC_MAIL_TOKEN_SECRET"] = "e2e-secret"
    s.env["MAILPROC_MAIL_FROM_ADDRESS"] = "personbibl@nlrs.example"
    s.env["MAILPROC_DIGEST_ENABLED"] = "false"
    s.smtp = smtp
    return s


@contextlib.contextmanager
def dovecot_mailboxes(tmp_path: Path, smtp_url: str, rules: str, tables: dict[str, str],
                      settings: str = ""):
    """An installation of several ``[mailboxes.NAME]``, one Dovecot server each (``tables``:
    NAME -> that table's keys besides ``url``, as TOML lines), ``rules`` as its one rules file
    and ``settings`` as more TOML: yields the servers and the environment that runs
    ``mailproc`` on them (settings file, passwords); stops the servers after."""
    servers = [DovecotServer().start() for _ in tables]
    try:
        rules_dir = tmp_path / "rules"
        rules_dir.mkdir()
        (rules_dir / "50-all.yaml").write_text(rules, encoding="utf-8")
        boxes = "".join(f'[mailboxes.{name}]\nurl = "{server.url}"\n{keys}'
                        for (name, keys), server in zip(tables.items(), servers))
        config = tmp_path / "mailproc.toml"
        config.write_text(
            f'[database]\nurl = "sqlite:///{tmp_path}/db.sqlite3"\n'
            f'[paths]\ndata = "{tmp_path}/data"\nrules = "{rules_dir}"\n'
            f'templates = "{ROOT / "templates"}"\n[smtp]\nurl = "{smtp_url}"\n'
            f'[digest]\nenabled = false\n{settings}{boxes}', encoding="utf-8")
        yield servers, {
            **os.environ, "MAILPROC_CONFIG": str(config),
            "MAILPROC_MAIL_TOKEN_SECRET": "named-mailboxes",
            **{f"MAILPROC_MAILBOXES_{name.upper()}_PASSWORD": server.password
               for name, server in zip(tables, servers)}}
    finally:
        for server in servers:
            server.stop()
            server.cleanup()


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return '"' + str(v).replace('"', '\\"') + '"'


def sample_letter(i: int, tag: str = "t", subject: str = "вопрос") -> bytes:
    """A small reader's letter with Message-ID ``<{tag}{i}@example.org>``."""
    return (f"From: Reader <reader{i}@example.org>\r\nTo: personbibl@nlrs.example\r\n"
            f"Subject: {subject} {i}\r\nMessage-ID: <{tag}{i}@example.org>\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\nТекст {i}\r\n").encode()


def message_ids_by_folder(server: DovecotServer, originals: bool = False
                          ) -> dict[str, list[str]]:
    """Every folder's Message-IDs (header fetch only), to check "in exactly one folder".
    ``originals``: a registration letter's redacted copy (mailproc.registrations.redaction)
    counts under the Message-ID of the letter it replaced (X-Mailproc-Original-Message-ID)."""
    fields = b"MESSAGE-ID X-MAILPROC-ORIGINAL-MESSAGE-ID" if originals else b"MESSAGE-ID"
    key = b"BODY[HEADER.FIELDS (" + fields + b")]"
    c = server.client()
    out: dict[str, list[str]] = {}
    try:
        for _flags, _sep, name in c.list_folders():
            c.select_folder(name, readonly=True)
            uids = c.search("ALL")
            ids = []
            for i in range(0, len(uids), 500):
                data = c.fetch(uids[i:i + 500], [b"BODY.PEEK[HEADER.FIELDS (" + fields + b")]"])
                for item in data.values():
                    head = {}
                    for line in item.get(key, b"").decode("ascii", "replace").splitlines():
                        field, _, value = line.partition(":")
                        if value:
                            head[field.strip().lower()] = value.strip()
                    ids.append(head.get("x-mailproc-original-message-id")
                               or head.get("message-id", ""))
            out[name] = ids
    finally:
        c.logout()
    return out


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05):
    """Poll until ``predicate()`` is truthy; returns its value, or raises TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)
