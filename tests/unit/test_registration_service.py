"""The registration services on a real SQLite database, the real outbox and templates, and a
simulated clock: cases, completeness, the one "missing" answer, hand-off, card numbers,
withdrawal, retention and export."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from mailproc.app import App
from mailproc.config import load_settings
from mailproc.errors import ConfigError, MessageError
from mailproc.letter import decode_letter
from mailproc.outbound.models import OutboxMessage
from mailproc.registrations import handoff, intake, retention
from mailproc.registrations.models import (
    ConsentRecord,
    RegistrationAudit,
    RegistrationCase,
    RegistrationDocument,
)
from mailproc.registrations.vault import new_key
from mailproc.sorting.context import ActionContext
from mailproc.sorting.directory import load_directory
from mailproc.store.models import Message
from mailproc.tokens import Tokens
from tests.unit.test_registration_samples import (
    CARD,
    CKO,
    READER,
    READER_NAME,
    blank_photo,
    clear_fragments,
    mail,
    photo,
    scan_pdf,
)

REPO = Path(__file__).resolve().parents[2]
DAY1 = datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)
_uids = itertools.count(1)


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILPROC_VAULT_KEY", new_key())
    monkeypatch.setenv("MAILPROC_MAIL_TOKEN_SECRET", "test-secret")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "departments.yaml").write_text(
        f"cko:\n  name: Ответственный ЦКО\n  address: {CKO}\n", encoding="utf-8")
    settings = load_settings(environ={}, overrides={
        "paths": {"data": str(tmp_path / "data"), "templates": str(REPO / "templates"),
                  "rules": str(rules)},
        "database": {"url": f"sqlite:///{tmp_path}/db.sqlite3"},
        "mail": {"from_address": "personbibl@nlrs.example"}})
    yield App(settings)


def act(app, raw: bytes, func, now: datetime):
    """Run one action the way the sorting runtime does: in the message's transaction."""
    letter = decode_letter(raw)
    with app.db.transaction() as s:
        row = Message(mailbox="test", uidvalidity=1, uid=str(next(_uids)),
                      content_hash=letter.content_hash, from_addr=letter.sender.email)
        s.add(row)
        s.flush()
        ctx = ActionContext(session=s, settings=app.settings, letter=letter, message=row,
                            decision=None, tokens=Tokens.from_settings(app.settings), now=now,
                            directory=load_directory(Path(app.settings.paths.rules) /
                                                     "departments.yaml"))
        return func(ctx)


def outbox(app) -> list[OutboxMessage]:
    with app.db.session() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_form_today_consent_tomorrow_goes_to_cko_once(app):
    form, consent = photo(seed=1), scan_pdf(seed=2)
    first = act(app, mail(subject="Регистрация", text="Добрый день! Высылаю анкету.",
                          files=[("IMG_2041.jpg", form, "image/jpeg")]),
                intake.take_documents, DAY1)
    assert first["state"] == "incomplete" and first["missing"] == ["consent"]
    [missing] = outbox(app)
    assert missing.template == "reader/registration_missing" and READER in missing.recipients
    assert "согласие на обработку персональных данных" in missing.text
    assert "регистрационную анкету" in missing.text.split("не хватает")[0]

    second = act(app, mail(subject="Re: " + missing.subject, text="Досылаю согласие",
                           files=[("scan.pdf", consent, "application/pdf")],
                           in_reply_to=missing.message_id),
                 intake.take_documents, DAY1 + timedelta(days=1))
    assert second["registration"] == first["registration"] and second["state"] == "handed"
    rows = outbox(app)
    to_cko = [r for r in rows if CKO in r.recipients]
    assert len(to_cko) == 1 and [a.content_type for a in to_cko[0].attachments] == [
        "image/jpeg", "application/pdf"]
    assert to_cko[0].token == first["registration"] and to_cko[0].token_kind == "r"
    assert to_cko[0].copied, "the hand-off with personal data is never copied to Sent"
    assert any(r.template == "reader/registration_received" for r in rows)
    with app.db.session() as s:
        case = s.scalar(select(RegistrationCase))
        assert case.handed_at == DAY1 + timedelta(days=1)
        assert case.purge_after == case.handed_at + timedelta(days=30)
        actions = [a.action for a in s.scalars(select(RegistrationAudit))]
        assert actions.count("stored") == 2 and actions.count("handed") == 2
        consent_row = s.scalar(select(ConsentRecord))
        assert consent_row.received_at == DAY1 + timedelta(days=1)
        assert consent_row.purpose.startswith("регистрация читателя")


def test_unreadable_document_is_named_with_its_problem(app):
    act(app, mail(text="анкета и согласие", files=[("анкета.jpg", photo(), "image/jpeg"),
                                                   ("согласие.jpg", blank_photo(), "image/jpeg")]),
        intake.take_documents, DAY1)
    [answer] = outbox(app)
    assert "согласие на обработку персональных данных (присланный файл не читается: " \
           "изображение пустое" in " ".join(answer.text.split())


def test_a_name_in_the_text_finds_the_case_from_another_address(app):
    act(app, mail(text=f"ФИО: {READER_NAME}. Анкета во вложении",
                  files=[("anketa.jpg", photo(), "image/jpeg")]), intake.take_documents, DAY1)
    result = act(app, mail(sender="husband@example.net", name="", text=f"Согласие жены, ФИО: "
                                                                         f"{READER_NAME}",
                           files=[("soglasie.pdf", scan_pdf(), "application/pdf")]),
                 intake.take_documents, DAY1 + timedelta(hours=3))
    assert result["state"] == "handed"


def handed_case(app) -> dict:
    act(app, mail(text="анкета и согласие", files=[("анкета.jpg", photo(), "image/jpeg"),
                                                   ("согласие.pdf", scan_pdf(), "application/pdf")]),
        intake.take_documents, DAY1)
    with app.db.session() as s:
        case = s.scalar(select(RegistrationCase))
        return {"token": case.token, "handoff": case.handoff_message_id}


def test_cko_answer_by_thread_sends_the_card_number(app):
    case = handed_case(app)
    result = act(app, mail(sender=CKO, name="ЦКО", subject="Re: Регистрация читателя",
                           text=f"Зарегистрирована, номер читательского билета {CARD}",
                           in_reply_to=case["handoff"]),
                 handoff.record_card_number, DAY1 + timedelta(days=2))
    assert result == {"registration": case["token"], "state": "card_issued"}
    card_mail = outbox(app)[-1]
    assert card_mail.template == "reader/card_issued" and READER in card_mail.recipients
    assert CARD in card_mail.text
    with app.db.session() as s:
        stored = s.scalar(select(RegistrationCase)).card_number_enc
        assert stored and CARD not in stored


def test_cko_answer_by_name_only(app):
    handed_case(app)
    result = act(app, mail(sender=CKO, subject="ЧБ", text=f"Петровой Анне Ивановне выдан ЧБ "
                                                          f"№ {CARD}"),
                 handoff.record_card_number, DAY1 + timedelta(days=2))
    assert result["state"] == "card_issued"


def test_cko_answer_without_number_goes_to_review(app):
    case = handed_case(app)
    with pytest.raises(MessageError, match="не найден номер"):
        act(app, mail(sender=CKO, text="Уточните дату рождения", in_reply_to=case["handoff"]),
            handoff.record_card_number, DAY1 + timedelta(days=2))


def test_withdrawal_destroys_and_tells_librarians(app):
    handed_case(app)
    act(app, mail(text="Прошу отозвать моё согласие на обработку персональных данных"),
        retention.withdraw, DAY1 + timedelta(days=3))
    with app.db.session() as s:
        case = s.scalar(select(RegistrationCase))
        assert case.state == "withdrawn" and case.destroyed_at == DAY1 + timedelta(days=3)
        assert s.scalar(select(ConsentRecord)).withdrawn_at == DAY1 + timedelta(days=3)
    assert not list((Path(app.settings.vault.dir)).rglob("*.bin"))
    notice = outbox(app)[-1]
    assert notice.template == "librarians/registration_withdrawal" and notice.state == "queued"


def test_retention_destroys_documents_keeps_audit_and_export_says_when(app, tmp_path):
    form = photo(seed=7)
    case = handed_case(app)
    out = tmp_path / "look"
    files = retention.export_case(app, case["token"], out, actor="librarian",
                                  reason="проверка", now=DAY1 + timedelta(days=1))
    assert len(files) == 2
    assert retention.purge_due(app, DAY1 + timedelta(days=29)) == {"cases": 0}
    assert retention.purge_due(app, DAY1 + timedelta(days=31)) == {"cases": 1}
    assert not list(Path(app.settings.vault.dir).rglob("*.bin"))
    said = retention.export_case(app, case["token"], tmp_path / "again", actor="librarian",
                                 reason="проверка", now=DAY1 + timedelta(days=32))
    # in mail.timezone with its offset, as every time mailproc shows people
    destroyed = (DAY1 + timedelta(days=31)).astimezone(app.settings.tz)
    assert "уничтожены" in said and destroyed.isoformat(sep=" ") in said
    with app.db.session() as s:
        actions = [a.action for a in s.scalars(select(RegistrationAudit))]
        assert actions.count("destroyed") == 2 and "exported" in actions
        assert "export-refused" in actions
        assert all(d.destroyed_at for d in s.scalars(select(RegistrationDocument)))
    del form


def test_librarian_correction_completes_and_hands_off(app):
    act(app, mail(text="документы", files=[("a.jpg", photo(1), "image/jpeg"),
                                            ("b.jpg", photo(2), "image/jpeg")]),
        intake.take_documents, DAY1)  # guessed: form, application; consent missing
    with app.db.session() as s:
        case = s.scalar(select(RegistrationCase))
        docs = {d.kind: d.id for d in case.documents}
        assert case.state == "incomplete"
    result = retention.set_document_kind(app, case.token, docs["application"], "consent",
                                         actor="librarian", now=DAY1 + timedelta(hours=1))
    assert result["state"] == "handed"
    assert any(CKO in r.recipients for r in outbox(app))


def test_no_document_bytes_in_any_database_column(app):
    form, consent = photo(seed=11), scan_pdf(seed=12)
    act(app, mail(text="анкета и согласие", files=[("анкета.jpg", form, "image/jpeg"),
                                                   ("согласие.pdf", consent, "application/pdf")]),
        intake.take_documents, DAY1)
    values: list[bytes] = []
    with app.db.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                values += [v if isinstance(v, bytes) else str(v).encode("utf-8", "replace")
                           for v in row if v is not None]
    assert len(values) > 50, "the tables were read"
    for fragment in clear_fragments(form) + clear_fragments(consent):
        assert not any(fragment in v for v in values)


def test_rollback_leaves_no_vault_file_and_a_resent_photo_is_kept_once(app):
    def fail_after_taking(ctx):
        intake.take_documents(ctx)
        raise RuntimeError("a later action failed")

    raw = mail(text="анкета", files=[("анкета.jpg", photo(), "image/jpeg")])
    with pytest.raises(RuntimeError):
        act(app, raw, fail_after_taking, DAY1)
    assert not list(Path(app.settings.vault.dir).rglob("*.bin"))
    act(app, raw, intake.take_documents, DAY1)
    again = act(app, raw, intake.take_documents, DAY1 + timedelta(hours=1))
    assert again["documents"] == 0
    assert len(list(Path(app.settings.vault.dir).rglob("*.bin"))) == 1


def test_a_case_never_completed_is_closed_and_destroyed_after_its_time(app):
    act(app, mail(text="анкета", files=[("анкета.jpg", photo(), "image/jpeg")]),
        intake.take_documents, DAY1)
    assert retention.purge_due(app, DAY1 + timedelta(days=89)) == {"cases": 0}
    assert retention.purge_due(app, DAY1 + timedelta(days=91)) == {"cases": 1}
    with app.db.session() as s:
        case = s.scalar(select(RegistrationCase))
        assert case.state == "rejected" and case.destroyed_at == DAY1 + timedelta(days=91)
    assert not list(Path(app.settings.vault.dir).rglob("*.bin"))


def test_without_a_vault_key_nothing_is_stored(app, monkeypatch):
    monkeypatch.delenv("MAILPROC_VAULT_KEY")
    with pytest.raises(ConfigError, match="vault.key: no key"):
        act(app, mail(text="анкета", files=[("анкета.jpg", photo(), "image/jpeg")]),
            intake.take_documents, DAY1)
    assert not Path(app.settings.vault.dir).exists() or not list(
        Path(app.settings.vault.dir).rglob("*"))
    with app.db.session() as s:
        assert s.scalar(select(RegistrationCase)) is None


def test_one_pdf_with_form_and_consent_completes_the_case(app):
    result = act(app, mail(text="Анкета и согласие одним файлом",
                           files=[("scan.pdf", scan_pdf(pages=2), "application/pdf")]),
                 intake.take_documents, DAY1)
    assert result["kinds"] == ["form,consent"] and result["state"] == "handed"
    to_cko = [r for r in outbox(app) if CKO in r.recipients][0]
    assert [a.name for a in to_cko.attachments] == [
        "01 Регистрационная анкета, согласие на обработку персональных данных.pdf"]
