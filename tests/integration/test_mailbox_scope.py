"""Two IMAP mailboxes (real Dovecot servers) sharing one From address, one real SMTP server:
each reply's Sent copy lands in the Sent folder of the mailbox it answers for (routing by the
From address put both in the first mailbox), and ``mailproc --mailbox b`` lists and counts
b's records only. (The same with Maildir mailboxes: tests/unit/test_mailbox_scope.py.)"""

from __future__ import annotations

import email
import email.policy
import json
import subprocess
import sys

import pytest

from tests.drills.cluster_drill import RULES, letter
from tests.servers.mailproc import dovecot_mailboxes
from tests.servers.smtp import smtp_server  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration

SHARED_FROM = "personbibl@nlrs.example"


def test_two_mailboxes_one_from(tmp_path, smtp_server):  # noqa: F811
    with dovecot_mailboxes(tmp_path, smtp_server.url, RULES, {"a": "", "b": ""},
                           settings=f'[mail]\nfrom_address = "{SHARED_FROM}"\n') as (servers, env):

        def mailproc(*args: str):
            done = subprocess.run([sys.executable, "-m", "mailproc", *args], env=env,
                                  cwd=tmp_path, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stdout + done.stderr
            return json.loads(done.stdout) if "--json" in args else done.stdout

        def copies(server) -> list[tuple[str, str]]:
            out = []
            for _uid, _flags, raw in server.messages("Sent"):
                msg = email.message_from_bytes(raw, policy=email.policy.default)
                out.append((msg["From"].addresses[0].addr_spec,
                            msg["To"].addresses[0].addr_spec))
            return sorted(out)

        servers[0].deliver(letter(0, 1))
        servers[1].deliver(letter(1, 2))
        servers[1].deliver(letter(1, 3))
        mailproc("run", "--once")

        assert sorted(r.rcpt_tos[0] for r in smtp_server.messages) == [
            "reader0x1@example.org", "reader1x2@example.org", "reader1x3@example.org"]
        assert copies(servers[0]) == [(SHARED_FROM, "reader0x1@example.org")]
        assert copies(servers[1]) == [(SHARED_FROM, "reader1x2@example.org"),
                                      (SHARED_FROM, "reader1x3@example.org")]

        messages = mailproc("--mailbox", "b", "messages", "list", "--json")
        assert sorted(m["from"] for m in messages) == ["reader1x2@example.org",
                                                       "reader1x3@example.org"]
        assert len(mailproc("messages", "list", "--json")) == 3
        outbox = mailproc("--mailbox", "b", "outbox", "list", "--json")
        assert sorted((r["mailbox"], r["to"], r["state"]) for r in outbox) == [
            ("b", "reader1x2@example.org", "sent"), ("b", "reader1x3@example.org", "sent")]
        assert sorted(r["mailbox"] for r in mailproc("outbox", "list", "--json")) == \
            ["a", "b", "b"]
        status = mailproc("--mailbox", "b", "status", "--json")
        assert status["messages_by_state"] == {"done": 2}
        assert mailproc("--mailbox", "a", "status", "--json")["messages_by_state"] == \
            {"done": 1}
