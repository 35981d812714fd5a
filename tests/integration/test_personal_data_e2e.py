"""Issue 17's acceptance test for personal data, end to end, with a real Dovecot, a real SMTP
server and the shipped rules: a registration, a withdrawal and a purge; afterwards a byte
search of the database file (with -wal and -shm), the data folder, the logs and every message
of every folder of the mailbox finds neither a passport number nor a reader's name nor a
document's bytes.

The story: reader A writes as Outlook does (windows-1251, quoted-printable, her name in the
From and Subject as RFC 2047 words, attachment names in RFC 2047), with her full name and
passport number in the text and three photos of her documents; the case goes to ЦКО, and ЦКО
answers with the card number, naming her and quoting the hand-off. Reader B writes in UTF-8,
sends two of the three documents (the answer names what is missing), then withdraws the
consent in a letter with his name and passport number. The daily digest runs. Then the
retention purge runs for A (``mailproc registrations purge --now``, as cron runs it) and the
next daemon pass tidies the mailbox.

The story runs twice: with the shipped rules (registration letters filed in «Регистрация»)
and with the registration rule left without ``move-to-folder`` (letters stay in the intake
folder, where their stubs are recorded as processed messages of their own).

What the SMTP server received left the library and is not searched; the Sent copies are.
"""

from __future__ import annotations

import base64
import email
import email.policy
import logging
import quopri
from datetime import timedelta
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, make_msgid

import pytest
from sqlalchemy import select

from mailproc.app import App
from mailproc.config import load_settings
from mailproc.registrations.models import RegistrationCase
from mailproc.reports.digest import digest_moment, send_digest_if_due
from tests.integration.test_registration_flow import CKO, TODAY
from tests.integration.test_registration_redaction import run, setup  # noqa: F401 - fixture
from tests.servers.smtp import smtp_server  # noqa: F401 - the fixture
from tests.unit.test_registration_samples import clear_fragments, mail, photo, scan_pdf

pytestmark = pytest.mark.integration

A_NAME, A_SURNAME, A_GIVEN = "Сидорова Мария Петровна", "Сидорова", "Мария Петровна"
A_ADDRESS, A_PASSPORT = "m.sidorova@example.org", "4612 345678"
B_NAME, B_SURNAME, B_GIVEN = "Ковалёв Игорь Семёнович", "Ковалёв", "Игорь Семёнович"
B_ADDRESS, B_PASSPORT = "kovalev.igor@example.net", "9817 654321"
CARD = "7301924455"


def outlook_letter(documents) -> bytes:
    """Reader A's letter as Outlook 2016 writes it in a Russian Windows: windows-1251 text and
    HTML, quoted-printable, RFC 2047 From, Subject and attachment names."""
    msg = MIMEMultipart("mixed")
    msg["From"] = formataddr((str(Header(A_NAME, "windows-1251")), A_ADDRESS))
    msg["To"] = "personbibl@nlrs.example"
    msg["Subject"] = Header(f"Регистрация {A_NAME}", "windows-1251")
    msg["Date"] = format_datetime(TODAY)
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg["X-Mailer"] = "Microsoft Outlook 16.0"
    msg["Thread-Index"] = "AdlFq3V0c2lkb3JvdmE="
    msg["Content-Language"] = "ru"
    text = (f"Добрый день!\r\n\r\nНаправляю документы для регистрации: анкету, заявление и "
            f"согласие.\r\nФИО: {A_NAME}, паспорт {A_PASSPORT}.\r\n\r\nС уважением,\r\n"
            f"{A_NAME}\r\n")
    html = ("<html><body><p>" + text.replace("\r\n", "<br>") + "</p></body></html>")
    body = MIMEMultipart("alternative")
    for subtype, content in (("plain", text), ("html", html)):
        part = MIMEText("", subtype, "windows-1251")
        part.replace_header("Content-Transfer-Encoding", "quoted-printable")
        part.set_payload(quopri.encodestring(content.encode("windows-1251")).decode("ascii"))
        body.attach(part)
    msg.attach(body)
    for filename, data, ctype in documents:
        maintype, subtype = ctype.split("/")
        part = (MIMEImage(data, subtype) if maintype == "image"
                else MIMEApplication(data, subtype))
        encoded = Header(filename, "windows-1251").encode()
        part.add_header("Content-Disposition", "attachment", filename=encoded)
        part.set_param("name", encoded)
        msg.attach(part)
    return msg.as_bytes()


def name_forms(*names: str) -> list[bytes]:
    """A name as bytes in the charsets Russian mail uses, and as RFC 2047 words."""
    out = []
    for name in names:
        for charset in ("utf-8", "windows-1251", "koi8-r"):
            out.append(name.encode(charset))
            out.append(Header(name, charset).encode().encode("ascii"))
            out.append(base64.b64encode(name.encode(charset)))
            out.append(quopri.encodestring(name.encode(charset), header=True).rstrip())
    return out


def document_forms(*documents: bytes) -> list[bytes]:
    return [f for doc in documents for f in clear_fragments(doc)]


def every_message(server) -> list[tuple[str, int, bytes]]:
    """Every message of every folder, fetched whole with imapclient."""
    c = server.client()
    out = []
    try:
        for _flags, _sep, folder in c.list_folders():
            c.select_folder(folder, readonly=True)
            uids = c.search("ALL")
            for uid, item in (c.fetch(uids, [b"BODY.PEEK[]"]) if uids else {}).items():
                out.append((folder, uid, item[b"BODY[]"]))
    finally:
        c.logout()
    return out


def readable(raw: bytes) -> bytes:
    """The raw message, its parts decoded and its headers decoded (RFC 2047), for a search."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    out = [raw]
    for part in msg.walk():
        for name, value in part.items():
            out.append(f"{name}: {value}".encode("utf-8", "replace"))
        if not part.is_multipart():
            data = part.get_payload(decode=True) or b""
            out.append(data)
            charset = part.get_content_charset() or "utf-8"
            try:
                out.append(data.decode(charset).encode("utf-8"))
            except (LookupError, UnicodeDecodeError):
                pass
    return b"\n".join(out)


def show(needle: bytes) -> str:
    return repr(needle[:40].decode("utf-8", "backslashreplace"))


def find(needles: list[bytes], data: bytes) -> bytes | None:
    return next((n for n in needles if n and n in data), None)


FILED = ("    - move-to-folder: Регистрация\n    - add-keyword: Регистрация\n"
         "    - take-registration-documents\n")


def keep_in_intake(mp) -> App:
    """The registration rule without ``move-to-folder``: letters stay in the intake folder."""
    rules = mp.rules / "30-registration.yaml"
    shipped = rules.read_text(encoding="utf-8")
    assert FILED in shipped
    rules.write_text(shipped.replace(FILED, FILED.split("\n", 1)[1]), encoding="utf-8")
    return App(load_settings(str(mp.config), environ=mp.env))


@pytest.mark.parametrize("filing", ["shipped", "intake"])
def test_registration_withdrawal_and_purge_leave_nothing_personal_anywhere(
        setup, smtp_server, caplog, filing):  # noqa: F811
    mp, app = setup
    if filing == "intake":
        app = keep_in_intake(mp)
    smtp = smtp_server
    caplog.set_level(logging.DEBUG, logger="mailproc")

    # reader A: the whole set, Outlook in windows-1251
    a_docs = [photo(seed=71), photo(seed=72), scan_pdf(seed=73)]
    mp.server.deliver(outlook_letter(list(zip(
        ("анкета.jpg", "заявление.jpg", f"согласие {A_SURNAME}.pdf"), a_docs,
        ("image/jpeg", "image/jpeg", "application/pdf")))))
    run(app, TODAY)
    arrived = smtp.wait_for(2)
    [to_cko] = [m for m in arrived if m.rcpt_tos == [CKO]]
    handed = [p.get_content() for p in to_cko.message.iter_attachments()]
    assert len(handed) == 3

    # ЦКО answers in the thread with the card number, naming her and quoting the hand-off
    quoted = "\n".join("> " + line for line in
                       to_cko.message.get_body(("plain",)).get_content().splitlines())
    later = TODAY + timedelta(hours=3)
    mp.server.deliver(mail(sender=CKO, name="ЦКО", subject="Re: " + to_cko.message["Subject"],
                           text=f"Читатель {A_NAME} зарегистрирована, номер читательского "
                                f"билета {CARD}.\n\n{quoted}",
                           in_reply_to=to_cko.message["Message-ID"], date=later))
    run(app, later)
    card_mail = [m for m in smtp.wait_for(3) if m.rcpt_tos == [A_ADDRESS]]
    assert any(CARD in m.message.get_body(("plain",)).get_content() for m in card_mail)

    # reader B: two documents of three (UTF-8), then the withdrawal
    b_docs = [photo(seed=81), photo(seed=82)]
    mp.server.deliver(mail(sender=B_ADDRESS, name=B_NAME, subject=f"Регистрация, {B_NAME}",
                           date=later + timedelta(hours=1),
                           text=f"Здравствуйте! Я, {B_NAME}, паспорт {B_PASSPORT}. Высылаю "
                                f"анкету и заявление.",
                           files=[("анкета.jpg", b_docs[0], "image/jpeg"),
                                  (f"заявление {B_SURNAME}.jpg", b_docs[1], "image/jpeg")]))
    run(app, later + timedelta(hours=1))
    missing = [m for m in smtp.wait_for(4) if m.rcpt_tos == [B_ADDRESS]]
    assert missing, "B is told what is missing"
    withdrawn_at = later + timedelta(hours=2)
    mp.server.deliver(mail(sender=B_ADDRESS, name=B_NAME, subject=f"Отзыв согласия {B_NAME}",
                           date=withdrawn_at,
                           text=f"Я, {B_NAME}, паспорт {B_PASSPORT}, отзываю согласие на "
                                f"обработку персональных данных."))
    run(app, withdrawn_at)
    with app.db.session() as s:
        states = sorted(s.scalars(select(RegistrationCase.state)))
    assert states == ["card_issued", "withdrawn"]

    # the daily digest (its Sent copy is in the mailbox too)
    moment = digest_moment(app.settings, (withdrawn_at + timedelta(days=1)).astimezone(
        app.settings.tz).date())
    assert send_digest_if_due(app, moment) is not None
    run(app, moment)

    # the retention purge for A, as cron runs it, then the daemon's next pass
    purge_at = TODAY + timedelta(days=45)
    mp.env["MAILPROC_LOG_LEVEL"] = "debug"
    out = mp.command("registrations", "purge", "--now", purge_at.isoformat(), "--json")
    assert out.returncode == 0, out.stderr
    run(app, purge_at)
    with app.db.session() as s:
        assert all(c.destroyed_at is not None for c in s.scalars(select(RegistrationCase)))

    names = name_forms(A_NAME, A_SURNAME, A_GIVEN, B_NAME, B_SURNAME, B_GIVEN,
                       "Сидоровой", "Ковалёва")
    passports = [p.encode() for p in (A_PASSPORT, B_PASSPORT, A_PASSPORT.replace(" ", ""),
                                      B_PASSPORT.replace(" ", ""))]
    documents = document_forms(*a_docs, *b_docs, *handed)
    needles = names + passports + documents
    # the addresses too, except B's in the mailbox: his anonymised withdrawal letter and the
    # librarians' notice keep it, so that a librarian can answer him
    addresses = [a.encode() for a in (A_ADDRESS, B_ADDRESS)]

    # the mailbox: every message of every folder (Sent, Drafts, review included)
    left = every_message(mp.server)
    assert any(folder == "Sent" for folder, _uid, _raw in left), "Sent copies were searched"
    found = [f"mailbox {folder}/{uid} holds {show(hit)}" for folder, uid, raw in left
             if (hit := find(needles + addresses[:1], readable(raw))) is not None]

    # the database files and every file under the data folder
    files = [p for p in mp.data.rglob("*") if p.is_file()]
    files += [p for p in mp.root.glob("mailproc.sqlite3*") if p.is_file()]
    assert any(p.name == "mailproc.sqlite3" for p in files)
    found += [f"{path.relative_to(mp.root)} holds {show(hit)}" for path in files
              if (hit := find(needles + addresses, path.read_bytes())) is not None]

    # the logs: the test's own passes at debug level and the purge command's output
    logged = "\n".join([caplog.text, *(r.getMessage() for r in caplog.records),
                        out.stdout, out.stderr]).encode("utf-8")
    if (hit := find(names + passports + addresses, logged)) is not None:
        found.append(f"the log holds {show(hit)}")
    assert not found, "\n".join(found)

    # what stays: B's withdrawal as an anonymised copy for the librarian's answer; A's letters,
    # ЦКО's answer and the answers' Sent copies are gone
    [kept] = [raw for folder, _uid, raw in left if folder == "На разбор"]
    kept = email.message_from_bytes(kept, policy=email.policy.default)
    assert (str(kept["From"]), kept["Subject"]) == (
        B_ADDRESS, "Отзыв согласия на обработку персональных данных (дело 2026-00002)")
    assert not [f for f, _uid, _raw in left if f in ("Регистрация", "Ответы отделов")]
