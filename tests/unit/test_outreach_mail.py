"""Outreach mail: unsubscribe requests recognised, staff lists proposed and confirmed."""

from __future__ import annotations

import io
from email.message import EmailMessage

import openpyxl
import pytest

from mailproc.letter import decode_letter
from mailproc.outreach.unsubscribe import recognise
from mailproc.store.models import Message
from tests.unit.outreach_helpers import ROOT, Install


def _letter(subject: str, body: str, attachment: tuple[str, bytes] | None = None, **headers):
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "metodist@school5.example", "personbibl@nlrs.ru", subject
    m["Message-ID"] = "<x1@school5.example>"
    for k, v in headers.items():
        m[k.replace("_", "-")] = v
    m.set_content(body)
    if attachment:
        m.add_attachment(attachment[1], maintype="application",
                         subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                         filename=attachment[0])
    return decode_letter(bytes(m))


@pytest.mark.parametrize("subject,body,how", [
    ("unsubscribe 0123456789abcdef0123", "This is an unsubscribe request", "mailto"),
    ("Re: Вебинар", "Отпишите меня, пожалуйста\n\n> текст рассылки", "reply"),
    ("Re: Вебинар", "Прошу больше не присылать.\n", "reply"),
    ("Отписаться", "", "reply"),
    ("Re: Вебинар", "Спасибо, придём!\n\n> Чтобы отписаться, ответьте «отписаться».", None),
    ("Как отключить уведомления?", "Спасибо за ответ", None),
])
def test_unsubscribe_requests_recognised(subject, body, how):
    got = recognise(_letter(subject, body, In_Reply_To="<mp.abc@nlrs.ru>"))
    assert (got.how if got else None) == how
    if got and how == "reply":
        assert got.thread == ("<mp.abc@nlrs.ru>",)


def _xlsx() -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Список сотрудников МБОУ СОШ № 5 для рассылки"])
    ws.append(["ФИО", "Должность", "E-mail", "Телефон"])
    ws.append(["Попова Айталина Петровна", "учитель истории", "aitalina@school5.example",
               "8 914 111 22 33"])
    ws.append(["Егоров Николай", "учитель физики", "", ""])
    ws.append(["Слепцова Ирина", "педагог-организатор", " IRINA@school5.example ", ""])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _sort_and_act(app, letter):
    from mailproc.sorting.runtime import Sorter

    sorter = Sorter(app.settings, app.db, rules_dir=ROOT / "rules",
                    templates_dir=ROOT / "templates")
    decision = sorter.decide(letter)
    with app.db.transaction() as s:
        row = Message(mailbox="INBOX", uidvalidity=1, uid="1", content_hash="h")
        s.add(row)
        results = sorter.act(s, row, letter, decision)
    return decision, results


def test_staff_list_attachment_is_proposed_then_confirmed(tmp_path, capsys):
    inst = Install(tmp_path)
    app = inst.app()
    letter = _letter("Список сотрудников для включения в группу",
                     "Добрый день! Направляем список учителей.",
                     ("сотрудники.xlsx", _xlsx()))
    decision, results = _sort_and_act(app, letter)
    assert decision.category == "contacts"
    assert decision.folder == "Контакты"
    [pending] = inst.json(capsys, "contacts", "pending")
    assert (pending["contacts"], pending["skipped"], pending["state"]) == (2, 1, "pending")
    assert inst.json(capsys, "contacts", "list") == []  # nothing enters unseen
    detail = inst.json(capsys, "contacts", "pending", str(pending["id"]))
    assert detail["skipped"] == [[4, "нет адреса электронной почты"]]
    code, out = inst.run(capsys, "contacts", "confirm", str(pending["id"]), "--consent",
                         "письмо ответственного лица")
    assert code == 0 and "новых контактов 2" in out
    contacts = {c["email"]: c for c in inst.json(capsys, "contacts", "list")}
    assert set(contacts) == {"aitalina@school5.example", "irina@school5.example"}
    assert contacts["aitalina@school5.example"]["consent"] is True
    assert inst.run(capsys, "contacts", "confirm", str(pending["id"]))[0] == 1  # only once


def test_table_in_the_body_is_proposed(tmp_path, capsys):
    inst = Install(tmp_path)
    body = ("Здравствуйте! Контакты сотрудников для рассылки:\n\n"
            "ФИО\tДолжность\tПочта\n"
            "Иванова Анна\tучитель\tanna@school7.example\n"
            "Петров Пётр\tучитель\tpetrov@school7.example\n\n"
            "С уважением, методист")
    decision, _ = _sort_and_act(inst.app(), _letter("Список учителей", body))
    assert decision.category == "contacts"
    [pending] = inst.json(capsys, "contacts", "pending")
    assert pending["contacts"] == 2 and pending["origin"] == "таблица в тексте письма"


def test_groups_add_remove_and_show(tmp_path, capsys):
    inst = Install(tmp_path)
    body = "ФИО;E-mail;Должность;Согласие\nА;a@x.example;учитель;да\nБ;b@x.example;завуч;да\n"
    (tmp_path / "l.csv").write_text(body, encoding="utf-8")
    inst.run(capsys, "contacts", "import", str(tmp_path / "l.csv"))
    assert inst.run(capsys, "groups", "add", "актив", "a@x.example", "--level", "3",
                    "--where", "position=завуч")[0] == 0
    show = inst.json(capsys, "groups", "show", "актив")
    assert show["level"] == 3 and [m["email"] for m in show["members"]] == [
        "a@x.example", "b@x.example"]
    inst.run(capsys, "groups", "remove", "актив", "b@x.example")
    assert [m["email"] for m in inst.json(capsys, "groups", "show", "актив")["members"]] == [
        "a@x.example"]
    listed = {g["name"]: g for g in inst.json(capsys, "groups", "list")}
    line = (inst.rules / "mailings.yaml").read_text(encoding="utf-8").splitlines().index(
        "  - name: учителя-школ") + 1
    assert listed["актив"]["members"] == 1
    assert listed["учителя-школ"]["origin"] == f"{inst.rules / 'mailings.yaml'}:{line}"
    # a group of the rules file is changed in the file, not from the command line
    assert inst.run(capsys, "groups", "add", "учителя-школ", "--level", "1")[0] == 1
    inst.run(capsys, "groups", "remove", "актив")
    assert "актив" not in {g["name"] for g in inst.json(capsys, "groups", "list")}


def test_one_click_token_unsubscribes_its_owner_only(tmp_path, capsys):
    from mailproc.outbound.outbox import unsubscribe_token

    inst = Install(tmp_path)
    body = "ФИО;E-mail;Согласие\nА;a@x.example;да\nБ;b@x.example;да\n"
    (tmp_path / "l.csv").write_text(body, encoding="utf-8")
    inst.run(capsys, "contacts", "import", str(tmp_path / "l.csv"))
    token = unsubscribe_token(inst.app().settings, "b@x.example")
    assert inst.run(capsys, "contacts", "unsubscribe", "--token", "0" * 20)[0] == 1
    assert inst.run(capsys, "contacts", "unsubscribe", "--token", token)[0] == 0
    listed = {c["email"]: c for c in inst.json(capsys, "contacts", "list")}
    assert (listed["a@x.example"]["unsubscribed"], listed["b@x.example"]["unsubscribed"]) == (
        False, True)
    assert "RFC 8058" in listed["b@x.example"]["unsubscribed_how"]
    outbox = inst.json(capsys, "outbox", "list")
    assert [(r.get("template"), r.get("kind")) for r in outbox] == [
        ("mailing/unsubscribed", "notice")]
