"""The Sorter at work: intake files mail where the rules say and keeps the decision; replies
go through the real outbox, never to automatic mail, at most N a day per sender; broken rules
never load, the librarians are told once, and changes are picked up without a restart."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from mailproc.app import App
from mailproc.cli import main
from mailproc.config import load_settings
from mailproc.mailbox.maildir import MaildirSource
from mailproc.registrations.vault import new_key
from mailproc.store.models import Decision, Message

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fixtures" / "corpus"

REPLY_RULE = """- name: Подтверждение получения
  description: Отвечаем читателю, что вопрос получен.
  when:
    all:
      - subject-any-of: [вопрос]
  then:
    - reply-with-template: reader/question_received
  stop: false
"""

QUESTION = """From: Анна Петрова <anna@mail.example>
To: personbibl@nlrs.ru
Subject: Вопрос {n}
Message-ID: <q{n}@mail.example>
Date: Mon, 02 Mar 2026 10:00:00 +0900
Content-Type: text/plain; charset=utf-8

Подскажите, как найти книгу?
"""


def write_config(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "Maildir").mkdir(parents=True)
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    cfg = tmp_path / "mailproc.toml"
    cfg.write_text(f"""
[paths]
data = "{data}"
rules = "{tmp_path / 'rules'}"
templates = "{tmp_path / 'templates'}"
[mailbox]
url = "maildir:{data / 'Maildir'}"
[smtp]
url = "file:{data / 'outbox'}"
[database]
url = "sqlite:///{data / 'mailproc.sqlite3'}"
[rules]
reload_interval = "0s"
""", encoding="utf-8")
    return cfg


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILPROC_MAIL_TOKEN_SECRET", "test-secret")
    monkeypatch.setenv("MAILPROC_VAULT_KEY", new_key())  # the shipped rules take documents
    cfg = write_config(tmp_path)
    app = App(load_settings(str(cfg)))
    source = MaildirSource(str(tmp_path / "data" / "Maildir"))
    source.open()
    return app, source, cfg


def deliver(source, raw: bytes) -> str:
    return source.append("INBOX", raw)


def outbox_rows(app):
    from mailproc.outbound.models import OutboxMessage

    with app.db.session() as s:
        return [(r.kind, dict(r.recipients), r.template, r.headers, r.dedupe_key)
                for r in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]


def test_intake_files_by_rules_and_keeps_the_decision(env, capsys):
    app, source, cfg = env
    deliver(source, (CORPUS / "101-registration.eml").read_bytes())
    stats = app.intake(source).run_once()
    assert stats.processed == 1 and stats.categories == {"registration": 1}
    folder = source.folder_path("Регистрация")
    assert len(list((folder / "cur").iterdir()) + list((folder / "new").iterdir())) == 1
    with app.db.session() as s:
        row = s.scalar(select(Message))
        dec = s.scalar(select(Decision))
        assert (row.category, row.rule, row.folder) == (
            "registration", "Регистрационные документы", "Регистрация")
        assert "registration" in row.keywords
        assert any(t["rule"] == "Регистрационные документы" and t["matched"] for t in dec.trace)
        assert [a["name"] for a in dec.actions] == ["set-category", "move-to-folder", "add-keyword",
                                                    "take-registration-documents"]
        msg_id = row.id
    assert main(["--config", str(cfg), "messages", "show", str(msg_id)]) == 0
    shown = capsys.readouterr().out
    assert "registration by Регистрационные документы" in shown
    assert "action move-to-folder {'folder': 'Регистрация'}" in shown


def test_reply_goes_to_the_outbox_and_is_rate_limited(env):
    app, source, _ = env
    (Path(app.settings.paths.rules) / "35-reply.yaml").write_text(REPLY_RULE, encoding="utf-8")
    for n in range(4):
        deliver(source, QUESTION.format(n=n).encode())
    app.intake(source).run_once()
    rows = outbox_rows(app)
    assert len(rows) == 3  # the setting's default: 3 a day per sender
    kind, recipients, template, headers, _ = rows[0]
    assert (kind, list(recipients), template) == ("reply", ["anna@mail.example"],
                                                  "reader/question_received")
    with app.db.session() as s:
        results = [d.results for d in s.scalars(select(Decision).order_by(Decision.id))]
    assert "лимит автоматических ответов" in results[-1][0]["result"]
    assert all(r[-1]["name"] == "answer-question" for r in results)  # 40-questions still ran


def test_automatic_mail_is_never_answered_whatever_the_rule_says(env):
    app, source, _ = env
    (Path(app.settings.paths.rules) / "05-reply-all.yaml").write_text(
        REPLY_RULE.replace("subject-any-of: [вопрос]", "automatic"), encoding="utf-8")
    deliver(source, (CORPUS / "013-automatic.eml").read_bytes())
    app.intake(source).run_once()
    assert outbox_rows(app) == []
    with app.db.session() as s:
        dec = s.scalar(select(Decision))
        assert dec.results[0]["result"].startswith("не отправлено: автоматическое письмо")
        assert dec.category == "automatic"


def test_forward_to_department_builds_the_enqueue_call(env):
    app, source, _ = env
    calls = []
    rule = """- name: В отдел хранения
  description: Пересылаем в отдел хранения.
  when: {subject-contains: КХ2}
  then:
    - forward: {department: storage, template: reader/question_received}
"""
    (Path(app.settings.paths.rules) / "25-forward.yaml").write_text(rule, encoding="utf-8")
    from mailproc.sorting.runtime import Sorter

    sorter = Sorter(app.settings, app.db, enqueue=lambda s, st, **kw: calls.append(kw))
    deliver(source, QUESTION.replace("Вопрос {n}", "Фрагмент КХ2").format(n=1).encode())
    intake = app.intake(source)
    intake.decide, intake.act = sorter.decide, sorter.act
    intake.run_once()
    assert len(calls) == 1
    call = calls[0]
    assert call["to"] == ["storage@nlrs.example"] and call["kind"] == "forward"
    assert call["template"] == "reader/question_received"
    assert call["context"]["department"] == {"key": "storage", "name": "Отдел хранения документов"}
    assert call["dedupe_key"].startswith("forward:")


def test_broken_rules_keep_the_last_good_set_and_tell_librarians_once(env):
    app, source, _ = env
    from mailproc.sorting.runtime import Sorter

    sorter = Sorter(app.settings, app.db, check_interval=0)
    good = sorter.ruleset.version
    broken = Path(app.settings.paths.rules) / "50-broken.yaml"
    broken.write_text("- name: Сломанное\n  description: x\n  when: sender-domian\n",
                      encoding="utf-8")
    assert sorter.reload_if_changed() is False
    assert sorter.ruleset.version == good
    assert "неизвестное условие «sender-domian»" in sorter.problems[0]
    assert sorter.reload_if_changed() is False  # unchanged: not loaded, not told again
    notices = [r for r in outbox_rows(app) if r[0] == "notice"]
    assert len(notices) == 1 and list(notices[0][1]) == [app.settings.mail.librarians_address]
    # a fixed file is picked up without a restart
    broken.write_text("- name: Починенное\n  description: x\n  when: {subject-contains: "
                      "починено}\n  then:\n    - set-category: fixed\n", encoding="utf-8")
    stamp = time.time() + 5
    os.utime(broken, (stamp, stamp))
    from mailproc.letter import decode_letter

    letter = decode_letter(QUESTION.replace("Вопрос {n}", "Починено").format(n=9).encode())
    assert sorter.decide(letter).category == "question"  # 40-questions stops first
    broken.rename(broken.with_name("35-fixed.yaml"))
    assert sorter.decide(letter).category == "fixed"
    assert sorter.ruleset.version != good


def test_facts_know_our_outbox_and_known_readers(env):
    app, source, _ = env
    (Path(app.settings.paths.rules) / "35-reply.yaml").write_text(REPLY_RULE, encoding="utf-8")
    deliver(source, QUESTION.format(n=0).encode())
    app.intake(source).run_once()
    from mailproc.letter import decode_letter
    from mailproc.outbound.models import OutboxMessage

    with app.db.session() as s:
        ours = s.scalar(select(OutboxMessage.message_id))
    reply = QUESTION.format(n=1).replace("Message-ID: <q1@mail.example>",
                                         f"Message-ID: <q1@mail.example>\nIn-Reply-To: {ours}")
    facts = app.sorter.gatherer.gather(decode_letter(reply.encode()))
    assert facts.our_message(ours) and facts.known_reader()
    stranger = decode_letter(QUESTION.replace("anna@", "boris@").format(n=2).encode())
    facts = app.sorter.gatherer.gather(stranger)
    assert not facts.known_reader() and not facts.our_ids
