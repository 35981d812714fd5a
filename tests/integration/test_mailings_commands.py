"""``mailings plan|preview|test|send`` as a librarian uses them, against a real SMTP server."""

from __future__ import annotations

import sys
from datetime import datetime

import pytest

from mailproc.outreach.sending import run_due_mailings
from tests.servers.smtp import smtp_server  # noqa: F401 - fixture
from tests.unit.outreach_helpers import ROOT, Install

sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "registry"))
from make_registry import staff_list  # noqa: E402

pytestmark = pytest.mark.integration


def test_plan_preview_test_and_send(tmp_path, capsys, smtp_server, monkeypatch):  # noqa: F811
    inst = Install(tmp_path, smtp_url=smtp_server.url)
    emails = staff_list(tmp_path / "s.csv", 4, position="учитель")
    inst.run(capsys, "contacts", "import", str(tmp_path / "s.csv"))
    inst.run(capsys, "contacts", "unsubscribe", emails[3])

    [plan, _] = inst.json(capsys, "mailings", "plan")
    assert plan["name"] == "сервисы-эб-учителям"
    assert plan["recipients"] == 3 and plan["left_out"] == {"отписался": 1}
    assert plan["next"][0].endswith("10:00") or plan["next"][0].endswith("09:00")

    code, out = inst.run(capsys, "mailings", "preview", "сервисы-эб-учителям", "--to", emails[0])
    assert code == 0 and f"Кому: {emails[0]}" in out and "Вебинар" not in out
    assert "Как пользоваться Электронной библиотекой" in out

    code, out = inst.run(capsys, "mailings", "test", "сервисы-эб-учителям",
                         "--to", "librarian@nlrs.example")
    assert code == 0
    [copy] = smtp_server.messages
    assert copy.rcpt_tos == ["librarian@nlrs.example"]
    assert "List-Unsubscribe" in copy.message

    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, out = inst.run(capsys, "mailings", "send", "сервисы-эб-учителям")
    assert code == 1 and "уйдёт 3 получателям" in out  # no confirmation, nothing sent
    assert inst.json(capsys, "mailings", "show", "сервисы-эб-учителям") == []
    code, out = inst.run(capsys, "mailings", "send", "сервисы-эб-учителям", "--yes")
    assert code == 0 and "в очереди на отправку 3" in out


def test_broken_template_stops_the_issue_not_the_outbox(tmp_path, capsys):
    inst = Install(tmp_path)
    staff_list(tmp_path / "s.csv", 3, position="учитель")
    inst.run(capsys, "contacts", "import", str(tmp_path / "s.csv"))
    inst.write_plan((ROOT / "rules" / "mailings.yaml").read_text(encoding="utf-8").replace(
        "      event_title: Как пользоваться", "      title_of_event: Как пользоваться"))
    code, out = inst.run(capsys, "mailings", "run-due", "--at", "2026-12-01T10:05+09:00")
    [issue] = inst.json(capsys, "mailings", "show", "сервисы-эб-учителям")
    assert issue["waiting"] == 3 and "шаблон не отрисовался" in issue["note"]
    code, out = inst.run(capsys, "outbox", "list", "--json")
    assert "mailing" not in out


def test_bounce_after_sending_is_counted_and_stops_the_next_issue(tmp_path, capsys,
                                                                   smtp_server):  # noqa: F811
    from types import SimpleNamespace

    from mailproc.letter.model import Bounce
    from mailproc.outbound.bounces import handle_bounce

    inst = Install(tmp_path, smtp_url=smtp_server.url)
    emails = staff_list(tmp_path / "s.csv", 3, position="учитель")
    inst.run(capsys, "contacts", "import", str(tmp_path / "s.csv"))
    inst.run(capsys, "mailings", "send", "сервисы-эб-учителям", "--yes")
    assert inst.run(capsys, "outbox", "send")[0] == 0
    sent = {m.rcpt_tos[0]: m.message["Message-ID"] for m in smtp_server.messages}
    assert set(sent) == set(emails)
    app = inst.app()
    with app.db.transaction() as s:  # the DSN the sorting rules hand to handle-bounce
        handle_bounce(s, app.settings, SimpleNamespace(bounce=Bounce(
            original_message_id=sent[emails[1]], failed_recipients=[emails[1]],
            status="5.1.1", permanent=True)))
    [issue] = inst.json(capsys, "mailings", "show", "сервисы-эб-учителям")
    assert (issue["sent"], issue["bounced"]) == (2, 1)
    smtp_server.clear()
    inst.run(capsys, "mailings", "send", "сервисы-эб-учителям", "--yes")
    inst.run(capsys, "outbox", "send")
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == [emails[0], emails[2]]


def test_issue_pauses_outside_the_window_and_goes_on_next_morning(tmp_path, capsys):
    inst = Install(tmp_path)
    staff_list(tmp_path / "s.csv", 5, position="учитель")
    inst.run(capsys, "contacts", "import", str(tmp_path / "s.csv"))
    inst.write_plan((ROOT / "rules" / "mailings.yaml").read_text(encoding="utf-8").replace(
        'cron: "0 10 1 * *"', 'cron: "58 17 1 * *"'))

    def one_pass(at: str) -> None:  # what the daemon does, two recipients a pass
        run_due_mailings(inst.app(), datetime.fromisoformat(at), limit=2)

    def waiting() -> int:
        return inst.json(capsys, "mailings", "show", "сервисы-эб-учителям")[0]["waiting"]

    one_pass("2026-12-01T17:59+09:00")  # Tuesday, in the window: starts, 2 of 5 go
    first = inst.json(capsys, "mailings", "show", "сервисы-эб-учителям")
    assert (len(first), first[0]["recipients"]) == (1, 5)
    queued_before = len(inst.json(capsys, "outbox", "list"))
    one_pass("2026-12-01T18:30+09:00")  # window closed: nothing more is queued
    assert len(inst.json(capsys, "outbox", "list")) == queued_before == 2
    one_pass("2026-12-02T09:01+09:00")  # next morning it goes on, no new issue
    one_pass("2026-12-02T09:02+09:00")
    assert len(inst.json(capsys, "outbox", "list")) == 5
    assert len(inst.json(capsys, "mailings", "show", "сервисы-эб-учителям")) == 1
    assert waiting() == 5  # queued in the outbox, not sent yet (no sender ran)
