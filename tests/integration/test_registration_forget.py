"""Nothing of the reader left in the database, the data folder or the log after a withdrawal.

Real Dovecot and SMTP (tests/servers). Under umask 022, a reader sends the whole set of
documents with her name and passport number typed in the letter (its text in windows-1251, her
name in the subject and the From header); the case goes to ЦКО, ЦКО answers with the card
number naming her, and she withdraws the consent. Afterwards a byte search of the SQLite
database file (with its -wal and -shm), every file under the data folder and the log output
finds neither the passport number nor her name (in UTF-8, windows-1251, KOI8-R, UTF-16 and as
JSON escapes) nor a chunk of any document; every file mailproc wrote is 0600 and every folder
0700. The mailbox side (originals, Sent copies) is not searched here.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest
from sqlalchemy import select

from mailproc.registrations.models import RegistrationCase
from tests.integration.test_registration_flow import (  # noqa: F401 - the fixture
    CKO,
    TODAY,
    TOMORROW,
    run,
    setup,
)
from tests.servers.smtp import smtp_server  # noqa: F401 - the fixture
from tests.unit.test_registration_samples import (
    CARD,
    READER,
    READER_NAME,
    clear_fragments,
    mail,
    photo,
    scan_pdf,
)

pytestmark = pytest.mark.integration

PASSPORT = "9815 472163"


def letter_1251(subject: str, text: str, files) -> bytes:
    """The reader's mail as an old mail client writes it: text/plain in windows-1251."""
    msg = EmailMessage()
    msg["From"] = f"{READER_NAME} <{READER}>"
    msg["To"] = "personbibl@nlrs.example"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(TODAY)
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg.set_content(text, charset="windows-1251", cte="8bit")
    for filename, data, ctype in files:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def needles(*texts: str) -> list[bytes]:
    """Every byte form a text may have been written in."""
    out = []
    for text in texts:
        for encoding in ("utf-8", "windows-1251", "koi8-r", "utf-16-le", "utf-16-be"):
            out.append(text.encode(encoding))
        out.append(json.dumps(text).strip('"').encode())  # JSON's \u escapes
    return out


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_withdrawal_leaves_no_name_passport_or_document(umask_022, setup, caplog):  # noqa: F811
    mp, app, smtp = setup
    caplog.set_level(logging.DEBUG, logger="mailproc")
    form, application, consent = photo(seed=31), photo(seed=32), scan_pdf(seed=33)
    mp.server.deliver(letter_1251(
        f"Регистрация {READER_NAME}",
        f"Здравствуйте! ФИО: {READER_NAME}. Паспорт {PASSPORT}. Высылаю анкету, заявление "
        f"и согласие.",
        [("анкета.jpg", form, "image/jpeg"), ("заявление.jpg", application, "image/jpeg"),
         ("согласие Петрова.pdf", consent, "application/pdf")]))
    run(app, TODAY)
    arrived = smtp.wait_for(2)
    [to_cko] = [m for m in arrived if m.rcpt_tos == [CKO]]
    handed = [p.get_content() for p in to_cko.message.iter_attachments()]
    assert len(handed) == 3

    # while the case is alive the name is sealed, not in clear
    with app.db.session() as s:
        case = s.scalar(select(RegistrationCase))
        assert case.reader_name.startswith("sealed:") and "Петрова" not in case.reader_name
    mp.server.deliver(mail(sender=CKO, name="ЦКО", subject="Re: " + to_cko.message["Subject"],
                           text=f"Читатель {READER_NAME} зарегистрирована, номер читательского "
                                f"билета {CARD}.", in_reply_to=to_cko.message["Message-ID"],
                           date=TOMORROW))
    run(app, TOMORROW)
    smtp.wait_for(3)

    mp.server.deliver(mail(subject="Отзыв согласия",
                           text=f"Я, {READER_NAME}, паспорт {PASSPORT}, отзываю согласие на "
                                f"обработку персональных данных.", date=TOMORROW))
    run(app, TOMORROW)
    notice = smtp.wait_for(4)[-1]
    assert "отзыв" in notice.message["Subject"].lower() or "соглас" in str(notice.message)
    with app.db.session() as s:
        assert s.scalar(select(RegistrationCase.state)) == "withdrawn"
    # no purge job, no second pass: the withdrawal's own pass left nothing behind

    secrets = needles(READER_NAME, "Петрова", "Петровой", PASSPORT, PASSPORT.replace(" ", ""))
    secrets += [f for doc in (form, application, consent, *handed) for f in clear_fragments(doc)]
    files = [p for p in mp.data.rglob("*") if p.is_file()]
    files += [p for p in mp.root.glob("mailproc.sqlite3*") if p.is_file()]
    assert any(p.name == "mailproc.sqlite3" for p in files)
    for path in files:
        data = path.read_bytes()
        for needle in secrets:
            assert needle not in data, f"{path} holds {needle[:30]!r}"
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    for needle in (READER_NAME, "Петрова", PASSPORT, READER, CARD):
        assert needle not in logged

    # every file mailproc wrote is its user's alone, whatever the umask
    for path in [*files, *[p for p in mp.data.rglob("*") if p.is_dir()], mp.data]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode)}"
