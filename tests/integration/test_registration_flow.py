"""End to end with a real Dovecot and a real SMTP server: a reader sends the form today and the
consent tomorrow (simulated clock); the first answer names what is missing; after the second
the case goes to ЦКО with both files (queued first while the SMTP server refuses 421, and
the outbox's copy of the documents waiting on disk is encrypted too); ЦКО's answer with a
number reaches the reader as the card-number mail. Then nothing of the documents is left in
clear on disk or in the database, no log line names the reader, and after the retention
time the documents are gone (and the reader's name, address, phone and card number are
gone from the database files) while the audit trail remains and ``vault export`` says when
they were destroyed. The mail is sorted by the shipped rules (rules/19-registration-cko.yaml,
rules/30-registration.yaml).
"""

from __future__ import annotations

import io
import logging
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select, update

from mailproc.app import App
from mailproc.config import load_settings
from mailproc.outbound.models import OutboxMessage
from mailproc.outbound.sender import deliver_due
from mailproc.registrations.common import vault
from mailproc.registrations.models import (
    RegistrationAudit,
    RegistrationCase,
    RegistrationDocument,
)
from mailproc.registrations.originals import tidy
from mailproc.registrations.retention import purge_due
from mailproc.registrations.vault import new_key
from mailproc.store.base import utcnow
from tests.servers.smtp import smtp_server  # noqa: F401 - the fixture
from tests.unit.test_registration_samples import (
    CARD,
    READER,
    READER_NAME,
    READER_PHONE,
    clear_fragments,
    mail,
    photo,
    scan_pdf,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CKO = "cko-registration@nlrs.example"  # the shipped rules/departments.yaml's ЦКО
TODAY = datetime(2026, 11, 26, 1, 30, tzinfo=timezone.utc)  # 10:30 in Yakutsk
TOMORROW = TODAY + timedelta(days=1)


class Clock:
    """The sorting runtime's idea of "now", moved by the test (a simulated clock)."""

    value = TODAY

    @classmethod
    def install(cls, monkeypatch):
        class FrozenDatetime(datetime):
            @classmethod
            def now(cls_, tz=None):  # noqa: N805
                return cls.value if tz is None else cls.value.astimezone(tz)

        monkeypatch.setattr("mailproc.sorting.runtime.datetime", FrozenDatetime)


@pytest.fixture
def setup(mailproc_setup, smtp_server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("MAILPROC_VAULT_KEY", new_key())
    for f in (REPO / "rules").glob("*.yaml"):  # the shipped rules: 19-registration-cko, 30-...
        shutil.copy(f, mailproc_setup.rules / f.name)
    settings = load_settings(str(mailproc_setup.config), environ=mailproc_setup.env, overrides={
        "smtp": {"url": smtp_server.url},
        "paths": {"templates": str(REPO / "templates")},
        "mail": {"from_address": "personbibl@nlrs.example"},
    })
    Clock.install(monkeypatch)
    mailproc_setup.env["MAILPROC_VAULT_KEY"] = __import__("os").environ["MAILPROC_VAULT_KEY"]
    return mailproc_setup, App(settings), smtp_server


def run(app: App, now: datetime) -> None:
    """One pass as ``mailproc run --once`` does it, then the after-hand-off tidying."""
    Clock.value = now
    with app.source() as source:
        stats = app.intake(source).run_once()
        assert stats.review == 0, "nothing may go to review"
        deliver_due(app, source)
        tidy(app, source, now)


def body(received) -> str:
    return received.message.get_body(("plain",)).get_content()


def test_form_today_consent_tomorrow_card_number_then_retention(setup, caplog, tmp_path):
    mp, app, smtp = setup
    caplog.set_level(logging.DEBUG, logger="mailproc")
    form, consent = photo(seed=21), scan_pdf(seed=22)

    # today: the form only
    mp.server.deliver(mail(subject="Регистрация", date=TODAY,
                           text=f"Здравствуйте! Высылаю анкету. Мой телефон {READER_PHONE}",
                           files=[("IMG_20261126.jpg", form, "image/jpeg")]))
    run(app, TODAY)
    [first] = smtp.wait_for(1)
    assert first.rcpt_tos == [READER]
    text = " ".join(body(first).split())
    got, missing = text.split("не хватает")[0], text.split("не хватает")[1].split("Бланки")[0]
    assert "мы получили регистрационную анкету" in got
    assert "- согласие на обработку персональных данных" in missing and "анкет" not in missing
    assert first.message["Auto-Submitted"] == "auto-replied"

    # tomorrow: the consent, as a reply to our answer, while the SMTP server refuses (421)
    mp.server.deliver(mail(subject="Re: " + first.message["Subject"], date=TOMORROW,
                           text="Досылаю согласие.", in_reply_to=first.message["Message-ID"],
                           files=[("scan0001.pdf", consent, "application/pdf")]))
    smtp.refuse_all("421 4.3.2 Service not available, try later")
    run(app, TOMORROW)
    assert len(smtp.messages) == 1 and smtp.refused, "the hand-off waits in the outbox"
    with app.db.session() as s:
        handed = [vault(app.settings).get(d.vault_path)  # the very bytes queued for ЦКО
                  for d in s.scalars(select(RegistrationDocument))]
    queued_secrets = [f for doc in [form, consent, *handed] for f in clear_fragments(doc)]
    blobs = [p for p in (mp.data / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 2, "the hand-off's documents wait in the outbox's blob store"
    for path in blobs:
        data = path.read_bytes()
        assert not any(f in data for f in queued_secrets), f"{path} holds a document in clear"
    smtp.accept_all()
    with app.db.transaction() as s:  # the backoff has passed
        s.execute(update(OutboxMessage).where(OutboxMessage.state == "queued")
                  .values(next_attempt_at=utcnow()))
    run(app, TOMORROW)
    arrived = smtp.wait_for(3)
    [to_cko] = [m for m in arrived if m.rcpt_tos == [CKO]]
    files = [(p.get_filename(), p.get_content_type(), p.get_content())
             for p in to_cko.message.iter_attachments()]
    assert [(n, t) for n, t, _ in files] == [
        ("01 Регистрационная анкета.jpg", "image/jpeg"),
        ("02 Согласие на обработку персональных данных.pdf", "application/pdf")]
    assert files[1][2] == consent  # PDFs pass byte for byte
    with Image.open(io.BytesIO(files[0][2])) as img:  # the photo: upright, no EXIF
        assert img.size == (1200, 900) and len(img.getexif()) == 0
    token = to_cko.message["Subject"].split("[НБ ")[1].rstrip("]")
    [received] = [m for m in arrived if m.rcpt_tos == [READER] and m is not first]
    assert "переданы в Центр комплексного обслуживания" in " ".join(body(received).split())

    # each original was replaced in its folder by a copy without its documents (issue 17:
    # no longer moved, with the documents, to «Персональные данные»); the hand-off was not
    # copied to Sent
    stubs = [raw for _, _, raw in mp.server.messages("Регистрация")]
    assert len(stubs) == 2 and all(f"дело {token}".encode() in raw for raw in stubs)
    assert not any(f in raw for raw in stubs for f in [*clear_fragments(form),
                                                       *clear_fragments(consent)])
    assert mp.server.count("Персональные данные") == 0
    sent_copies = [raw for _, _, raw in mp.server.messages("Sent")]
    assert sent_copies and all(CKO.encode() not in raw for raw in sent_copies)

    # ЦКО answers in the thread with the card number
    cko_answer = mail(sender=CKO, name="ЦКО", subject="Re: " + to_cko.message["Subject"],
                      text=f"Добрый день! Читатель зарегистрирована, номер читательского "
                           f"билета {CARD}.", in_reply_to=to_cko.message["Message-ID"],
                      date=TOMORROW + timedelta(hours=5))
    mp.server.deliver(cko_answer)
    run(app, TOMORROW + timedelta(hours=5))
    [card_mail] = [m for m in smtp.wait_for(4) if "билет" in m.message["Subject"]
                   and m.rcpt_tos == [READER]]
    assert f"Номер вашего читательского билета: {CARD}" in body(card_mail)
    with app.db.session() as s:
        case = s.scalar(select(RegistrationCase))
        assert (case.token, case.state) == (token, "card_issued")
        assert case.handed_at == TOMORROW and case.created_at == TODAY

    # nothing in clear: every file under the data folder and the database files
    secrets = [*clear_fragments(form), *clear_fragments(files[0][2]), *clear_fragments(consent)]
    stored = [p for p in mp.data.rglob("*") if p.is_file()]
    stored += [p for p in mp.root.glob("mailproc.sqlite3*") if p.is_file()]
    assert any(p.suffix == ".bin" for p in stored), "the vault holds the documents"
    for path in stored:
        data = path.read_bytes()
        for fragment in secrets:
            assert fragment not in data, f"{path} holds a document in clear"
    logged = "\n".join(r.getMessage() for r in caplog.records
                       if r.name.startswith("mailproc"))  # not the test SMTP server's own log
    assert logged, "the run logged something"
    for personal in (READER_NAME, "Петрова", READER, READER_PHONE, CARD):
        assert personal not in logged

    # retention: 30 days after the hand-off the documents are destroyed, the audit stays
    assert purge_due(app, TOMORROW + timedelta(days=29)) == {"cases": 0}
    assert purge_due(app, TOMORROW + timedelta(days=30, minutes=1)) == {"cases": 1}
    assert not [p for p in mp.data.rglob("*.bin")]
    database = b"".join(p.read_bytes() for p in mp.root.glob("mailproc.sqlite3*"))
    for personal in (READER_NAME, "Петрова", READER, READER_PHONE, CARD):  # forgotten too
        assert personal.encode() not in database, personal
    with app.db.session() as s:
        actions = [a.action for a in s.scalars(select(RegistrationAudit).order_by(
            RegistrationAudit.id))]
    assert actions.count("stored") == 2 and actions.count("handed") == 2
    assert actions.count("destroyed") == 2 and "card-number" in actions
    out = mp.command("vault", "export", token, "--to", str(tmp_path / "look"))
    assert out.returncode == 1, out.stderr
    assert "уничтожены" in out.stdout
    from zoneinfo import ZoneInfo

    from mailproc.localtime import local_time

    # printed in mail.timezone (Asia/Yakutsk by default), with its offset
    assert local_time(TOMORROW + timedelta(days=30, minutes=1), ZoneInfo("Asia/Yakutsk")) in out.stdout
    assert not (tmp_path / "look").exists()
