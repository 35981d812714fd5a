"""Contacts import: messy registries in, every skipped row reported with its reason."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from mailproc.outreach.columns import guess_field, parse_map
from mailproc.outreach.importer import Progress
from mailproc.outreach.models import ConsentEvent, Contact, Organisation
from mailproc.outreach.normalise import normalise_email, normalise_phone
from tests.unit.outreach_helpers import Install

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "registry"))
from make_registry import contracts_registry, staff_list  # noqa: E402


@pytest.mark.parametrize("raw,want", [
    ("  Ivanov@Mail.RU ", "ivanov@mail.ru"),
    ("mailto:a.b@school.example", "a.b@school.example"),
    ("<x@y.example>", "x@y.example"),
    ("first@a.example; second@b.example", "first@a.example"),
    ("user@почта.рф", "user@xn--80a1acny.xn--p1ai"),
])
def test_email_normalised(raw, want):
    assert normalise_email(raw) == (want, "")


@pytest.mark.parametrize("raw", ["", "ivanov@mail", "ivanov.mail.ru", "a b@c", "a..b@mail.ru",
                                 "user.@mail.ru", "user@-bad-.ru", "us er@mail.ru"])
def test_bad_email_has_a_russian_reason(raw):
    address, reason = normalise_email(raw)
    assert address == "" and "адрес" in reason


@pytest.mark.parametrize("raw,want", [
    ("8 (914) 123-45-67", "+79141234567"), ("+7 914 1234567", "+79141234567"),
    ("9141234567", "+79141234567"), ("", ""),
])
def test_phone_normalised(raw, want):
    assert normalise_phone(raw) == want


def test_headers_guessed_and_mapped():
    assert guess_field("Телефон руководителя") == "head_phone"  # "руководиТЕЛь" is no phone
    assert guess_field("Руководитель") == "head_name"
    assert guess_field("Эл. почта ответственного") == "resp_email"
    assert guess_field("Ф.И.О.") == "name"
    assert guess_field("№ п/п") == "-"
    assert parse_map("Ф.И.О. сотрудника=name; Адрес=email") == {
        "ф и о сотрудника": "name", "адрес": "email"}


def test_registry_of_5000_rows_reports_every_skipped_row(tmp_path, capsys):
    inst = Install(tmp_path)
    path = tmp_path / "реестр.xlsx"
    exp = contracts_registry(path, rows=5000)
    report = inst.json(capsys, "contacts", "import", str(path), "--consent", "договор")

    skipped = {s["row"]: s["reason"] for s in report["skipped"]}
    assert set(skipped) == set(exp.skipped)
    for row, fragment in exp.skipped.items():
        assert fragment in skipped[row], (row, skipped[row])
    assert {m["row"] for m in report["merged"]} == exp.merged_rows
    assert report["rows"] == 5000
    assert report["unknown_columns"] == ["Примечание"]

    app = inst.app()
    with app.db.session() as s:
        contacts = {c.email: c for c in s.scalars(select(Contact)).unique()}
        assert set(contacts) == exp.emails
        assert {o.name for o in s.scalars(select(Organisation))} == exp.organisations
        for email, fields in exp.samples.items():
            c = contacts[email]
            assert c.organisation.name == fields["organisation"]
            assert (c.segment, c.phone, c.role, c.position) == (
                fields["segment"], fields["phone"], fields["role"], fields["position"])
            assert c.consent and "договор" in c.consent_source
        assert s.scalar(select(ConsentEvent).limit(1)).granted


def test_dry_run_writes_nothing(tmp_path, capsys):
    inst = Install(tmp_path)
    path = tmp_path / "staff.csv"
    staff_list(path, 30)
    code, out = inst.run(capsys, "contacts", "import", str(path), "--dry-run")
    assert code == 0 and "Пробный запуск" in out and "Контактов: 30" in out
    assert inst.json(capsys, "contacts", "list") == []


def test_reimport_never_resubscribes(tmp_path, capsys):
    inst = Install(tmp_path)
    path = tmp_path / "staff.csv"
    emails = staff_list(path, 5)
    inst.run(capsys, "contacts", "import", str(path))
    code, _ = inst.run(capsys, "contacts", "unsubscribe", emails[0])
    assert code == 0
    report = inst.json(capsys, "contacts", "import", str(path))
    assert report["kept_unsubscribed"] == 1
    shown = inst.json(capsys, "contacts", "show", emails[0])
    assert shown["unsubscribed"] and not shown["consent"]
    assert [e["granted"] for e in shown["consent_history"]] == [True, False]


def test_list_json_has_the_promised_fields_and_groups(tmp_path, capsys):
    inst = Install(tmp_path)
    path = tmp_path / "staff.csv"
    staff_list(path, 3, position="учитель")
    inst.run(capsys, "contacts", "import", str(path))
    rows = inst.json(capsys, "contacts", "list")
    assert len(rows) == 3
    for r in rows:
        assert {"name", "email", "organisation", "segment", "groups", "consent"} <= set(r)
        assert r["groups"] == ["учителя-школ"] and r["consent"] is True
        assert r["organisation"] == "МБОУ «СОШ № 1» г. Якутск"


def test_map_flag_and_skips_in_a_csv(tmp_path, capsys):
    inst = Install(tmp_path)
    path = tmp_path / "list.csv"
    with open(path, "w", encoding="cp1251", newline="") as fh:
        w = csv.writer(fh, delimiter=";")
        w.writerow(["Сотрудник школы", "Адрес для писем", "Интересы"])
        w.writerow(["Иванова Анна", "anna@s.example", "краеведение; история Якутии"])
        w.writerow(["Петров Пётр", "", ""])
        w.writerow(["Сидорова Ольга", "olga(at)s.example", ""])
        w.writerow(["  Иванова  Анна ", " ANNA@S.EXAMPLE", "IT"])
    report = inst.json(capsys, "contacts", "import", str(path), "--map",
                       "Сотрудник школы=name", "--map", "Адрес для писем=email")
    assert [(s["row"], s["reason"].split(" «")[0]) for s in report["skipped"]] == [
        (3, "нет адреса электронной почты"), (4, "неверный адрес электронной почты")]
    assert report["merged"] == [{"row": 5, "email": "anna@s.example", "first_row": 2}]
    [anna] = inst.json(capsys, "contacts", "list")
    assert anna["name"] == "Иванова Анна"
    assert anna["groups"] == ["краеведы"]
    assert anna["consent"] is False  # no consent column, no --consent: no mailings


class _Tty(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_bar_only_on_a_terminal():
    shown, hidden = _Tty(True), _Tty(False)
    for stream in (shown, hidden):
        bar = Progress(5000, stream)
        bar(2500)
        bar.close()
    assert "строка 2500 из 5000" in shown.getvalue() and "#" * 15 in shown.getvalue()
    assert hidden.getvalue() == ""


def test_bad_addresses_refused_each_with_its_row_and_reason(tmp_path, capsys):
    """Issue 22: addresses checked by email-validator; none is cut down to a part of it."""
    inst = Install(tmp_path)
    path = tmp_path / "staff.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ФИО", "E-mail"])
        w.writerow(["Иванова Анна", "anna@school.example"])
        w.writerow(["Петров Пётр", "a..b@mail.ru"])
        w.writerow(["Сидорова Ольга", "user.@mail.ru"])
        w.writerow(["Попов Иван", "user@-bad-.ru"])
        w.writerow(["Егорова Мария", "us er@mail.ru"])
        w.writerow(["Слепцов Дьулус", "Слепцов Д. <dyulus@school.example>"])
    report = inst.json(capsys, "contacts", "import", str(path))
    assert [(s["row"], s["reason"]) for s in report["skipped"]] == [
        (3, "неверный адрес электронной почты «a..b@mail.ru»: две точки подряд"),
        (4, "неверный адрес электронной почты «user.@mail.ru»: точка перед «@»"),
        (5, "неверный адрес электронной почты «user@-bad-.ru»: дефис сразу после «@»"),
        (6, "неверный адрес электронной почты «us er@mail.ru»: пробел внутри адреса или "
            "лишний текст рядом с ним"),
    ]
    assert sorted(c["email"] for c in inst.json(capsys, "contacts", "list")) == [
        "anna@school.example", "dyulus@school.example"]  # no "er@mail.ru"
    code, out = inst.run(capsys, "contacts", "import", str(path), "--dry-run")
    assert "Пропущено строк: 4" in out
    assert "  строка 6: неверный адрес электронной почты «us er@mail.ru»" in out
