"""Registration letters out of the shared mailbox, with a real Dovecot, SMTP server and the
shipped rules: after a registration letter is processed its folder holds a stub only (no
document byte, no passport number in any message of any folder; the stub names the case and
the kind); after a consent withdrawal or the retention purge no copy of the letter, nor its
stub, is left in any folder, also copies a librarian put in another folder.
"""

from __future__ import annotations

import email
import email.policy
import logging
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from mailproc.app import App
from mailproc.config import load_settings
from mailproc.mailbox.imap import ImapSource
from mailproc.outbound.sender import deliver_due
from mailproc.registrations.originals import tidy
from mailproc.registrations.vault import new_key
from tests.integration.test_registration_flow import TODAY, Clock
from tests.servers.smtp import smtp_server  # noqa: F401 - the fixture
from tests.unit.test_registration_samples import READER, clear_fragments, mail, photo, scan_pdf

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PASSPORT = "9804 123456"
ARCHIVE = "Архив Петровой"  # a folder a librarian made and dragged a copy into


def passport_scan() -> bytes:
    """A consent scan whose bytes carry the passport number as typed text."""
    return scan_pdf(seed=42) + f"\n% паспорт {PASSPORT}\n".encode()


def registration_letter() -> tuple[bytes, bytes, bytes]:
    form, consent = photo(seed=41), passport_scan()
    raw = mail(subject="Регистрация", date=TODAY, in_reply_to="<forms-12@nlrs.example>",
               text=f"Здравствуйте! Высылаю анкету и согласие. Паспорт {PASSPORT}.",
               files=[("анкета.jpg", form, "image/jpeg"),
                      ("согласие.pdf", consent, "application/pdf")])
    return raw, form, consent


@pytest.fixture
def setup(mailproc_setup, smtp_server, monkeypatch):  # noqa: F811
    key = new_key()
    monkeypatch.setenv("MAILPROC_VAULT_KEY", key)
    mailproc_setup.env["MAILPROC_VAULT_KEY"] = key
    for f in (REPO / "rules").glob("*.yaml"):
        shutil.copy(f, mailproc_setup.rules / f.name)
    config = mailproc_setup.config.read_text(encoding="utf-8")  # the repo's templates
    mailproc_setup.config.write_text(
        config + f'[smtp]\nurl = "{smtp_server.url}"\n'
                 f'[mail]\nfrom_address = "personbibl@nlrs.example"\n', encoding="utf-8")
    settings = load_settings(str(mailproc_setup.config), environ=mailproc_setup.env)
    Clock.install(monkeypatch)
    return mailproc_setup, App(settings)


def run(app: App, now=TODAY, *, file_only: bool = False) -> None:
    """A pass as the daemon makes it: intake, outbox, then the registrations tidy."""
    Clock.value = now
    with app.source() as source:
        app.intake(source).run_once()
        if not file_only:
            deliver_due(app, source)
            tidy(app, source, now)


def every_message(server) -> list[tuple[str, int, tuple, bytes]]:
    return [(folder, uid, flags, raw) for folder in server.folders()
            for uid, flags, raw in server.messages(folder)]


def decoded(raw: bytes) -> bytes:
    """The raw message and every part's decoded bytes, for a byte search."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    return raw + b"".join(p.get_payload(decode=True) or b"" for p in msg.walk()
                          if not p.is_multipart())


def header(raw: bytes, name: str) -> str:
    return str(email.message_from_bytes(raw, policy=email.policy.default)[name] or "").strip()


def assert_nothing_personal(server, *documents: bytes) -> None:
    secrets = [PASSPORT.encode(), *(f for d in documents for f in clear_fragments(d))]
    for folder, uid, _flags, raw in every_message(server):
        data = decoded(raw)
        for secret in secrets:
            assert secret not in data, f"{folder}/{uid} holds {secret[:20]!r}"


def test_registration_letter_is_replaced_by_a_stub_only(setup):
    mp, app = setup
    raw, form, consent = registration_letter()
    original_id = header(raw, "Message-ID")
    mp.server.deliver(raw)
    run(app)

    [(uid, flags, stub)] = mp.server.messages("Регистрация")
    assert mp.server.count("INBOX") == 0
    assert_nothing_personal(mp.server, form, consent)
    msg = email.message_from_bytes(stub, policy=email.policy.default)
    token = msg["X-Mailproc-Redacted"].split()[0]
    lines = [p.get_content().strip() for p in msg.walk()
             if p.get("X-Mailproc-Redacted-Part")]
    assert lines == [
        f"[документ убран в защищённое хранилище: дело {token}, регистрационная анкета]",
        f"[документ убран в защищённое хранилище: дело {token}, "
        f"согласие на обработку персональных данных]"]
    body = msg.get_body(("plain",)).get_content()
    assert "Высылаю анкету и согласие. Паспорт [номер паспорта убран]." in body
    # same headers; a new Message-ID derived from the original's, which is kept for threading
    for name in ("From", "To", "Subject", "Date", "In-Reply-To"):
        assert msg[name] == header(raw, name), name
    new_id = msg["Message-ID"].strip()
    assert new_id != original_id
    assert new_id.startswith(original_id.rstrip(">").split("@")[0] + ".redacted-")
    assert msg["X-Mailproc-Original-Message-ID"].strip() == original_id
    assert msg["References"].split() == ["<forms-12@nlrs.example>", original_id]
    assert b"registration" in flags
    with app.db.session() as s:
        from mailproc.registrations.mailbox_models import MailboxRedaction

        [step] = s.query(MailboxRedaction).all()
        assert (step.kind, step.state, step.stub_uid) == ("redact", "done", str(uid))

    # the retention purge (the CLI, as cron runs it) takes the stub and any copy of it
    c = mp.server.client()
    try:
        c.create_folder(ARCHIVE)
        c.select_folder("Регистрация")
        c.copy([uid], ARCHIVE)
    finally:
        c.logout()
    assert mp.server.count(ARCHIVE) == 1
    later = (TODAY + timedelta(days=31)).isoformat()
    out = mp.command("registrations", "purge", "--now", later, "--json")
    assert out.returncode == 0, out.stderr
    # the stub, the librarian's copy of it, and the Sent copy of the answer to the reader
    assert '"removed": 3' in out.stdout
    assert mp.server.count("Регистрация") == 0 and mp.server.count(ARCHIVE) == 0
    assert mp.server.count("Sent") == 0
    assert not [m for m in every_message(mp.server) if original_id in
                (header(m[3], "Message-ID"), header(m[3], "X-Mailproc-Original-Message-ID"))]


def test_withdrawal_removes_every_copy_from_every_folder(setup, smtp_server):  # noqa: F811
    mp, app = setup
    raw, form, consent = registration_letter()
    original_id = header(raw, "Message-ID")
    mp.server.deliver(raw)
    run(app, file_only=True)  # filed, not redacted yet
    # a librarian keeps a copy of the original (with the documents) in a folder of her own
    c = mp.server.client()
    try:
        c.create_folder(ARCHIVE)
        c.select_folder("Регистрация")
        c.copy(c.search("ALL"), ARCHIVE)
    finally:
        c.logout()
    run(app)  # the original is replaced by its stub; the librarian's copy stays for now
    assert mp.server.count("Регистрация") == 1 and mp.server.count(ARCHIVE) == 1
    # someone else's letter that claims the same Message-ID must survive
    forged = raw.replace(READER.encode(), b"other.reader@example.org")
    mp.server.deliver(forged, folder=ARCHIVE)

    mp.server.deliver(mail(subject="Отзыв согласия", date=TODAY + timedelta(hours=2),
                           text="Отзываю согласие на обработку моих персональных данных."))
    run(app, TODAY + timedelta(hours=2))

    left = every_message(mp.server)
    copies = [(f, uid) for f, uid, _fl, m in left
              if original_id in (header(m, "Message-ID"),
                                 header(m, "X-Mailproc-Original-Message-ID"))
              and READER in header(m, "From")]
    assert copies == []
    assert mp.server.count("Регистрация") == 0
    [(_uid, _flags, survivor)] = mp.server.messages(ARCHIVE)
    assert b"other.reader@example.org" in survivor  # not the reader's letter: not deleted
    assert [f for f, *_ in left if f == "На разбор"], "the withdrawal waits for a librarian"
    assert_nothing_personal_but(mp.server, survivor, form, consent)


def assert_nothing_personal_but(server, kept: bytes, *documents: bytes) -> None:
    """As ``assert_nothing_personal`` for every message except the one ``kept``."""
    secrets = [f for d in documents for f in clear_fragments(d)]
    for folder, uid, _flags, raw in every_message(server):
        if raw == kept:
            continue
        data = decoded(raw)
        assert not any(s in data for s in secrets), f"{folder}/{uid} holds a document"


def test_withdrawal_before_the_redaction_removes_the_original(setup):
    """Letter and withdrawal in one pass: the redaction is cancelled, the original deleted."""
    mp, app = setup
    raw, form, consent = registration_letter()
    mp.server.deliver(raw)
    mp.server.deliver(mail(subject="Отзыв согласия", date=TODAY + timedelta(minutes=5),
                           text="Прошу удалить мои данные, отзываю согласие."))
    run(app, TODAY + timedelta(minutes=5))
    assert mp.server.count("Регистрация") == 0
    assert_nothing_personal(mp.server, form, consent)
    with app.db.session() as s:
        from mailproc.registrations.mailbox_models import MailboxRedaction

        states = sorted((r.kind, r.state) for r in s.query(MailboxRedaction))
    # the withdrawal letter itself stays for a librarian, anonymised
    assert states == [("anonymise", "done"), ("redact", "cancelled"), ("remove", "done")]


class NoUidplus(ImapSource):
    """The real IMAP source on a server taken to lack UIDPLUS (RFC 4315)."""

    can_expunge_one = False


def lf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n")


def run_with(source_class, app: App, now=TODAY) -> None:
    Clock.value = now
    with source_class.from_settings(app.settings) as source:
        app.intake(source).run_once()
        deliver_due(app, source)
        tidy(app, source, now)


def test_without_uidplus_the_original_is_left_and_said_so(setup, caplog):
    mp, app = setup
    caplog.set_level(logging.WARNING, logger="mailproc")
    raw, _form, _consent = registration_letter()
    mp.server.deliver(raw)
    run_with(NoUidplus, app)
    run_with(NoUidplus, app, TODAY + timedelta(minutes=1))
    [(_uid, _flags, kept)] = mp.server.messages("Регистрация")
    assert lf(kept) == lf(raw), "left as it was: no stub beside it, nothing expunged"
    warned = [r for r in caplog.records if "UIDPLUS" in r.getMessage()]
    assert len(warned) == 1, "warned once, not on every pass"
    status = mp.command("status")
    assert "1 registration letter(s) with documents left in the mailbox" in status.stdout
    assert "UIDPLUS" in status.stdout

    run(app, TODAY + timedelta(minutes=2))  # the server gained UIDPLUS: redacted now
    [(_uid, _flags, stub)] = mp.server.messages("Регистрация")
    assert header(stub, "X-Mailproc-Redacted")
    assert "left in the mailbox" not in mp.command("status").stdout


def test_without_uidplus_move_puts_the_original_in_the_restricted_folder(setup):
    mp, app = setup
    app = App(load_settings(str(mp.config), environ=mp.env,
                            overrides={"registrations": {"without_uidplus": "move"}}))
    raw, _form, _consent = registration_letter()
    mp.server.deliver(raw)
    run_with(NoUidplus, app)
    [(_uid, _flags, stub)] = mp.server.messages("Регистрация")
    assert header(stub, "X-Mailproc-Redacted")
    [(_uid, _flags, original)] = mp.server.messages("Персональные данные")
    assert lf(original) == lf(raw)


def test_a_letter_left_in_the_intake_folder_gets_its_stub_there_and_it_is_not_new_mail(setup):
    mp, app = setup
    rules = mp.rules / "30-registration.yaml"
    shipped = rules.read_text(encoding="utf-8")
    filed = ("    - move-to-folder: Регистрация\n    - add-keyword: Регистрация\n"
             "    - take-registration-documents\n")
    assert filed in shipped
    rules.write_text(shipped.replace(filed, filed.split("\n", 1)[1]), encoding="utf-8")
    app = App(load_settings(str(mp.config), environ=mp.env))
    raw, form, consent = registration_letter()
    mp.server.deliver(raw)
    run(app)
    run(app, TODAY + timedelta(minutes=1))
    [(_uid, _flags, stub)] = mp.server.messages("INBOX")
    assert header(stub, "X-Mailproc-Redacted")
    assert_nothing_personal(mp.server, form, consent)
    with app.db.session() as s:
        from mailproc.store.models import Message

        rows = [(m.category, m.state) for m in s.query(Message).order_by(Message.id)]
    assert rows == [("registration", "done"), ("registration", "done")], \
        "the stub was recorded, not processed as a new letter"


def test_a_big_letter_decided_without_downloading_its_photos_is_redacted_too(setup):
    """Above intake.partial_above the intake reads header and structure first and loads the
    attachments apart (mailproc.mailbox.partial); the documents' hashes must still match."""
    mp, app = setup
    big = photo(seed=43, size=(2400, 3200))
    consent = passport_scan()
    raw = mail(subject="Регистрация", date=TODAY, text="Анкета и согласие во вложении.",
               files=[("анкета.jpg", big, "image/jpeg"),
                      ("согласие.pdf", consent, "application/pdf")])
    assert len(raw) > 256 * 1024
    mp.server.deliver(raw)
    run(app)
    [(_uid, _flags, stub)] = mp.server.messages("Регистрация")
    text = stub.decode("utf-8")
    assert "дело" in text and "регистрационная анкета]" in text, "each document by its hash"
    assert "[вложение убрано" not in text
    assert_nothing_personal(mp.server, big, consent)


def test_a_stub_appended_to_the_intake_folder_before_a_kill_is_not_new_mail(setup,
                                                                             monkeypatch):
    """The process dies between APPEND of the stub to the intake folder and the row that
    records it as handled. After the restart the intake lists the stub as an unknown UID: it
    must record it as this case's stub, never decide it as a new registration letter (no
    second case, no letter to the reader, nothing in review); one stub, no original."""
    from mailproc.outbound.models import OutboxMessage
    from mailproc.registrations import redaction
    from mailproc.store.models import Message

    mp, app = setup
    rules = mp.rules / "30-registration.yaml"
    shipped = rules.read_text(encoding="utf-8")
    filed = ("    - move-to-folder: Регистрация\n    - add-keyword: Регистрация\n"
             "    - take-registration-documents\n")
    rules.write_text(shipped.replace(filed, filed.split("\n", 1)[1]), encoding="utf-8")
    app = App(load_settings(str(mp.config), environ=mp.env))
    raw, form, consent = registration_letter()
    mp.server.deliver(raw)
    appended = []

    def killed(*_args, **_kw):
        appended.append(True)
        raise SystemExit("killed after APPEND")

    with monkeypatch.context() as m:
        m.setattr(redaction, "_record_stub_as_processed", killed)
        for minutes in (0, 1):
            try:
                run(app, TODAY + timedelta(minutes=minutes))
            except SystemExit:
                break
    assert appended and mp.server.count("INBOX") == 2  # the original and its stub
    with app.db.session() as s:
        outbox_before = s.query(OutboxMessage).count()
    app = App(load_settings(str(mp.config), environ=mp.env))  # the restart
    run(app, TODAY + timedelta(minutes=2))
    run(app, TODAY + timedelta(minutes=3))
    [(_uid, _flags, stub)] = mp.server.messages("INBOX")
    assert header(stub, "X-Mailproc-Redacted")
    assert mp.server.count("На разбор") == 0
    assert_nothing_personal(mp.server, form, consent)
    with app.db.session() as s:
        rows = [(m.category, m.state) for m in s.query(Message).order_by(Message.id)]
        outbox_after = s.query(OutboxMessage).count()
    assert rows == [("registration", "done"), ("registration", "done")]
    assert outbox_after == outbox_before
