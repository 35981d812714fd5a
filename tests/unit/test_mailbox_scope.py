"""Every record belongs to its mailbox: outbox rows name the mailbox they were queued for,
their Sent copies go there even when two mailboxes share a From address, and the lists and
counts of ``mailproc --mailbox NAME`` show that mailbox only.

Two Maildir mailboxes and the file transport (the product's own offline transport): the
IMAP and SMTP servers' side of the same is in tests/integration/test_mailbox_scope.py.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from mailproc.app import App
from mailproc.cli import main
from mailproc.cluster import SentRouter
from mailproc.config import load_settings
from mailproc.mailbox import source_name
from mailproc.mailbox.imap import ImapSource
from mailproc.mailbox.maildir import MaildirSource
from mailproc.mailboxes import name_of, settings_for
from mailproc.outbound.outbox import enqueue
from mailproc.store import open_database
from mailproc.store.migrate import upgrade
from tests.drills.cluster_drill import RULES, letter

ROOT = Path(__file__).resolve().parents[2]
NOTICE = {"title": "Т", "lines": ["строка"], "what_to_do": "ничего"}
SHARED_FROM = "personbibl@nlrs.example"


def write_config(tmp: Path, *, boxes: bool = True) -> Path:
    rules = tmp / "rules"
    rules.mkdir(parents=True, exist_ok=True)
    (rules / "50-all.yaml").write_text(RULES, encoding="utf-8")
    lines = [
        "[database]", f'url = "sqlite:///{tmp}/db.sqlite3"',
        "[paths]", f'data = "{tmp}/data"', f'rules = "{rules}"',
        f'templates = "{ROOT / "templates"}"',
        "[smtp]", f'url = "file:{tmp}/out"',
        "[mail]", f'from_address = "{SHARED_FROM}"',
        "[mailbox]", f'url = "maildir:{tmp}/a"', 'max_message_size = "4KB"',
        "[digest]", "enabled = false",
    ]
    if boxes:  # both take [mail] from_address: one From for two mailboxes
        lines += ["[mailboxes.a]", f'url = "maildir:{tmp}/a"',
                  "[mailboxes.b]", f'url = "maildir:{tmp}/b"', 'sent_folder = "Отправленные"']
    config = tmp / "mailproc.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def deliver(maildir: Path, raw: bytes, key: str) -> None:
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    (maildir / "new" / key).write_bytes(raw)


def big(box: int) -> bytes:
    """A letter over max_message_size: it goes to the review folder untouched."""
    return letter(box, 9).replace(b"\r\n\r\n", b"\r\n\r\n" + b"x" * 6000 + b"\r\n", 1)


def in_folder(maildir: Path, folder: str) -> list[bytes]:
    path = MaildirSource(str(maildir)).folder_path(folder) / "cur"
    return [p.read_bytes() for p in sorted(path.iterdir())]


class Cli:
    def __init__(self, config: Path, capsys):
        self.config, self.capsys = config, capsys

    def run(self, *args: str) -> tuple[int, str]:
        self.capsys.readouterr()
        code = main(["--config", str(self.config), *args])
        return code, self.capsys.readouterr().out

    def json(self, *args: str):
        code, out = self.run(*args, "--json")
        assert code == 0, out
        return json.loads(out)


@pytest.fixture
def two(tmp_path, capsys):
    """Two mailboxes sharing a From address, after one ``run --once``: a has one question
    and one oversized letter, b two questions and one oversized letter."""
    config = write_config(tmp_path)
    deliver(tmp_path / "a", letter(0, 1), "a1")
    deliver(tmp_path / "a", big(0), "a9")
    deliver(tmp_path / "b", letter(1, 2), "b2")
    deliver(tmp_path / "b", letter(1, 3), "b3")
    deliver(tmp_path / "b", big(1), "b9")
    cli = Cli(config, capsys)
    code, out = cli.run("run", "--once")
    assert code == 0, out
    return cli


def test_a_named_mailbox_knows_its_name_and_source_key(tmp_path):
    settings = load_settings(str(write_config(tmp_path)), environ={})
    assert name_of(settings) == ""  # the installation's own: no one mailbox
    b = settings_for(settings, "b")
    assert name_of(b) == "b" and b.mailbox_name == "b"
    assert source_name(b.mailbox.url) == MaildirSource(f"{tmp_path}/b").name
    single = load_settings(str(write_config(tmp_path, boxes=False)), environ={})
    assert name_of(single) == "default" and settings_for(single, "default") is single
    for url in ("imap://u%40x@h:143/INBOX", "imaps://u@h/Входящие", "imap://u@h"):
        imap = dataclasses.replace(single, mailbox=dataclasses.replace(single.mailbox, url=url))
        assert source_name(url) == ImapSource.from_settings(imap).name


def test_enqueue_records_the_mailbox_of_its_settings(tmp_path):
    settings = load_settings(str(write_config(tmp_path)), environ={})
    app = App(settings)
    with app.db.transaction() as s:
        rows = [enqueue(s, box, to="r@example.org", template="librarians/notice",
                        context=NOTICE, kind="notice")
                for box in (settings_for(settings, "b"), settings)]
        assert [r.mailbox for r in rows] == ["b", ""]
    single = App(load_settings(str(write_config(tmp_path / "one", boxes=False)), environ={}))
    with single.db.transaction() as s:
        assert enqueue(s, single.settings, to="r@example.org", template="librarians/notice",
                       context=NOTICE, kind="notice").mailbox == "default"


def test_lists_and_counts_of_one_mailbox(two):
    every = two.json("messages", "list")
    mine = two.json("--mailbox", "b", "messages", "list")
    assert len(every) == 5  # every letter of both mailboxes
    assert sorted(m["uid"] for m in mine) == ["b2", "b3", "b9"]  # the Maildir keys
    assert {m["mailbox"] for m in mine} == {f"maildir:{two.config.parent}/b"}

    outbox = two.json("outbox", "list")
    assert sorted(r["mailbox"] for r in outbox) == ["a", "b", "b"]
    b_rows = two.json("--mailbox", "b", "outbox", "list")
    assert sorted(r["to"] for r in b_rows) == ["reader1x2@example.org", "reader1x3@example.org"]
    assert {r["mailbox"] for r in b_rows} == {"b"} and {r["state"] for r in b_rows} == {"sent"}

    status = two.json("--mailbox", "b", "status")
    assert status["mailbox_name"] == "b"
    assert sum(status["messages_by_state"].values()) == 3 and status["review"] == 1
    assert sum(two.json("status")["messages_by_state"].values()) == 5

    review = two.json("--mailbox", "b", "review", "list")
    assert [r["uid"] for r in review] == ["b9"]
    assert len(two.json("review", "list")) == 2
    code, out = two.run("--mailbox", "b", "review", "retry", "--all")
    assert code == 0
    assert [line.split(":")[0] for line in out.splitlines()] == [str(review[0]["id"])]


def test_sent_copies_go_to_the_mailbox_of_the_row_not_of_the_from(two):
    root = two.config.parent

    def copies(box: str, folder: str) -> list[tuple[str, str]]:
        out = []
        for raw in in_folder(root / box, folder):
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            out.append((msg["From"].addresses[0].addr_spec, msg["To"].addresses[0].addr_spec))
        return sorted(out)

    assert copies("b", "Отправленные") == [(SHARED_FROM, "reader1x2@example.org"),
                                           (SHARED_FROM, "reader1x3@example.org")]
    assert copies("a", "Sent") == [(SHARED_FROM, "reader0x1@example.org")]
    assert copies("b", "Sent") == []


def test_router_falls_back_to_the_from_address_for_rows_of_no_mailbox(tmp_path):
    config = write_config(tmp_path)
    text_ = config.read_text(encoding="utf-8") + 'from_address = "school@nlrs.example"\n'
    config.write_text(text_, encoding="utf-8")  # b gets its own From
    apps = list(App(load_settings(str(config), environ={})).mailbox_apps().values())
    router = SentRouter(apps)
    raw = b"From: school@nlrs.example\r\nSubject: s\r\n\r\nbody\r\n"
    try:
        router.append("Sent", raw, ["\\Seen"])  # no mailbox: b by its From
        router.append("Sent", raw.replace(b"school", b"personbibl"), ["\\Seen"], mailbox="b")
        router.append("Sent", raw, ["\\Seen"], mailbox="a")
        router.append("Sent", raw.replace(b"school", b"other"), ["\\Seen"])  # the first
    finally:
        router.close()
    assert len(in_folder(tmp_path / "b", "Отправленные")) == 2
    assert len(in_folder(tmp_path / "a", "Sent")) == 2


def test_orders_questions_registrations_through_their_message(two):
    from mailproc.orders.models import Order
    from mailproc.questions.models import QuestionCase
    from mailproc.registrations.models import RegistrationCase, RegistrationDocument
    from mailproc.store.models import Message

    app = App(load_settings(str(two.config), environ={}))
    with app.db.transaction() as s:
        ids = {m.subject: m.id for m in s.query(Message)}
        s.add_all([Order(token="ORDA", reader_email="r0@example.org",
                         source_message_pk=ids["question 0/1"]),
                   Order(token="ORDB", reader_email="r1@example.org",
                         source_message_pk=ids["question 1/2"]),
                   Order(token="ORDHAND", reader_email="r2@example.org"),
                   QuestionCase(token="QB", reader_addr="r1@example.org",
                                message_pk=ids["question 1/3"]),
                   QuestionCase(token="QA", reader_addr="r0@example.org",
                                message_pk=ids["question 0/1"])])
        case = RegistrationCase(token="REGB", reader_email="r1@example.org")
        s.add_all([case, RegistrationCase(token="REGNONE", reader_email="r3@example.org")])
        s.flush()
        s.add(RegistrationDocument(case_id=case.id, message_pk=ids["question 1/2"]))
    assert [o["token"] for o in two.json("--mailbox", "b", "orders", "list")] == ["ORDB"]
    assert len(two.json("orders", "list")) == 3
    questions = two.json("--mailbox", "b", "questions", "list")
    assert [q["token"] for q in questions if q["token"] in ("QA", "QB")] == ["QB"]
    assert [c["token"] for c in two.json("--mailbox", "b", "registrations", "list")] == ["REGB"]
    assert len(two.json("registrations", "list")) == 2
    assert two.json("--mailbox", "a", "registrations", "list") == []


def test_unknown_mailbox_is_one_clear_line(two, capsys):
    assert main(["--config", str(two.config), "--mailbox", "c", "outbox", "list"]) == 2
    assert "no such mailbox; known: a, b" in capsys.readouterr().err


def test_rows_queued_before_0008_have_no_mailbox(tmp_path):
    url = f"sqlite:///{tmp_path}/old.sqlite3"
    db = open_database(url, migrate=False)
    upgrade(db, "0007_cluster")
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO outbox (message_id, kind, template, context, state, "
                          "error, recipients, sender, subject, text, html, headers, token, "
                          "token_kind, part, parts, related_type, created_at, date, "
                          "next_attempt_at, attempts, claim, copied, updated_at) VALUES "
                          "('<m@x>', 'notice', 't', '{}', 'sent', '', '{}', 'a@x', '', '', "
                          "'', '{}', '', '', 1, 1, '', '2026-11-01', '2026-11-01', "
                          "'2026-11-01', 1, '', 0, '2026-11-01')"))
    upgrade(db)
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT mailbox FROM outbox")).scalar_one() == ""
