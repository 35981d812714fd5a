"""Mail out against a real SMTP server (aiosmtpd on loopback): what arrives is what we assert.

Each test queues rows with ``enqueue`` in a transaction, runs ``deliver_due`` and inspects the
bytes the server received: headers, MIME parts, attachment bytes, Russian text.
"""

from __future__ import annotations

import hashlib
import mailbox
import os

import pytest
from sqlalchemy import select

from mailproc.app import App
from mailproc.letter import decode_letter
from mailproc.outbound.models import OutboxMessage
from mailproc.outbound.outbox import OutAttachment, enqueue
from mailproc.outbound.sender import deliver_due
from mailproc.tokens import Tokens
from tests.servers.dovecot import dovecot  # noqa: F401 - fixture
from tests.servers.smtp import outbound_settings, smtp_server  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

QUESTION = {"reader_name": "Анна Петровна", "question": "Есть ли книги о Якутске?",
            "received_at": "2026-11-26"}


@pytest.fixture
def app(tmp_path, smtp_server):  # noqa: F811
    return App(outbound_settings(tmp_path / "data", smtp_server.url,
                                 outbox={"retry_backoff": 0.05, "retry_backoff_max": 0.2}))


def _queue(app, **kw):
    with app.db.transaction() as s:
        row = enqueue(s, app.settings, **kw)
        return row.id if row is not None else None


def _row(app, row_id) -> OutboxMessage:
    with app.db.session() as s:
        return s.get(OutboxMessage, row_id)


def _decoded_header(raw: bytes, name: str) -> str:
    from email.header import decode_header, make_header
    from email.parser import BytesHeaderParser
    from email.policy import compat32

    value = BytesHeaderParser(policy=compat32).parsebytes(raw)[name]
    return str(make_header(decode_header(value)))


def _reader_letter():
    raw = ("From: =?utf-8?b?0JDQvdC90LA=?= <anna@example.org>\r\nTo: personbibl@nlrs.ru\r\n"
           "Subject: =?utf-8?b?0JLQvtC/0YDQvtGBINC+INC60L3QuNCz0LDRhQ==?=\r\n"
           "Message-ID: <q1@example.org>\r\nReferences: <earlier@example.org>\r\n\r\n"
           "Здравствуйте\r\n").encode()
    return decode_letter(raw)


def test_reply_arrives_threaded_with_headers_and_russian_text(app, smtp_server):  # noqa: F811
    letter = _reader_letter()
    from datetime import datetime, timezone
    ctx = dict(QUESTION, received_at=datetime(2026, 11, 26, 1, 15, tzinfo=timezone.utc))
    row_id = _queue(app, to="Анна <Anna@Example.org>", template="reader/question_received",
                    context=ctx, kind="reply", in_reply_to=letter, auto_submitted="auto-replied",
                    reply_to="personbibl@nlrs.ru", related=("question", 7))
    stats = deliver_due(app)
    assert stats.sent == 1
    (got,) = smtp_server.messages
    assert got.mail_from == "personbibl@nlrs.ru"
    assert got.rcpt_tos == ["anna@example.org"]
    msg = got.message
    assert msg["Subject"] == "Re: Вопрос о книгах"
    # decoded as RFC 2047 says (adjacent encoded words join without a space); Python's own
    # address parser inserts a space there, a CPython bug, so the raw header is decoded here
    assert _decoded_header(got.raw, "From") == \
        "Персональный библиотекарь НБ РС(Я) <personbibl@nlrs.ru>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Reply-To"] == "personbibl@nlrs.ru"
    assert msg["In-Reply-To"] == "<q1@example.org>"
    assert msg["References"] == "<earlier@example.org> <q1@example.org>"
    assert msg["Message-ID"].endswith("@nlrs.ru>")
    assert msg["Message-ID"] == _row(app, row_id).message_id
    # headers on the wire are ASCII (RFC 2047), the body is UTF-8
    head = got.raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii() and b"=?utf-8?" in head
    body = msg.get_body(("plain",)).get_content()
    assert "Здравствуйте, Анна Петровна!" in body
    assert "26 ноября 2026 г., 10:15" in body  # Asia/Yakutsk is UTC+9
    row = _row(app, row_id)
    assert row.state == "sent" and row.recipients["anna@example.org"]["state"] == "sent"


def test_order_request_carries_token_three_ways(app, smtp_server):  # noqa: F811
    ctx = {"department": "Отдел хранения", "title": "История Якутии", "author": "",
           "shelfmark": "КХ 1", "pages": "5–9", "scan_needed": False,
           "deadline": "2026-12-01"}
    from datetime import date
    ctx["deadline"] = date(2026, 12, 1)
    _queue(app, to="storage@nlrs.example", template="department/fragment_request", context=ctx,
           kind="request", token="2026-00042", token_kind="o")
    deliver_due(app)
    letter = decode_letter(smtp_server.messages[0].raw)
    assert letter.subject.endswith("[НБ 2026-00042]")
    assert "mailproc-case:o2026-00042" in letter.text
    tokens = Tokens.from_settings(app.settings)
    hit = tokens.verify_message_id(letter.message_id)
    assert hit is not None and hit.token == "2026-00042" and hit.kind == "o"
    # a department's reply quoting nothing but threading on our Message-ID finds the order
    reply = decode_letter(f"From: storage@nlrs.example\r\nTo: personbibl@nlrs.ru\r\n"
                          f"Subject: Re: scans\r\nIn-Reply-To: {letter.message_id}\r\n\r\nok\r\n"
                          .encode())
    assert tokens.find_in_letter(reply)[0].token == "2026-00042"


def test_attachments_arrive_byte_for_byte_with_rfc2231_names(app, smtp_server):  # noqa: F811
    scans = [OutAttachment("Страница 45.jpg", "image/jpeg", os.urandom(150_000)),
             OutAttachment("Фрагмент «История».pdf", "application/pdf", os.urandom(90_000))]
    _queue(app, to="anna@example.org", template="reader/scan_delivered",
           context={"reader_name": "Анна", "title": "История", "pages": "45", "files": 2},
           kind="forward", attachments=scans)
    deliver_due(app)
    (got,) = smtp_server.messages
    parts = [p for p in got.message.iter_attachments()]
    assert [p.get_filename() for p in parts] == [a.name for a in scans]
    assert [hashlib.sha256(p.get_content()).hexdigest() for p in parts] == \
        [hashlib.sha256(a.data).hexdigest() for a in scans]
    assert b"filename*=utf-8''" in got.raw  # RFC 2231
    assert "Во вложении 2 файла." in got.message.get_body(("plain",)).get_content()


def test_large_set_is_split_into_numbered_messages(tmp_path, smtp_server):  # noqa: F811
    app = App(outbound_settings(tmp_path / "d", smtp_server.url,
                                smtp={"max_message_size": 400_000}))
    files = [OutAttachment(f"скан-{i}.jpg", "image/jpeg", os.urandom(200_000))
             for i in range(4)]
    _queue(app, to="anna@example.org", template="reader/scan_delivered",
           context={"reader_name": "Анна", "title": "Т", "pages": "1", "files": 4},
           kind="forward", attachments=files, dedupe_key="scan-1")
    deliver_due(app)
    msgs = sorted(smtp_server.messages, key=lambda m: m.message["Subject"])
    assert len(msgs) >= 2
    n = len(msgs)
    assert [m.message["Subject"].rsplit("(", 1)[1] for m in msgs] == \
        [f"часть {i} из {n})" for i in range(1, n + 1)]
    got = {p.get_filename(): p.get_content() for m in msgs for p in m.message.iter_attachments()}
    assert got == {a.name: a.data for a in files}
    assert all(len(m.raw) <= 400_000 for m in msgs)


def test_template_error_never_sends_and_waits_in_error(app, smtp_server, tmp_path):  # noqa: F811
    row_id = _queue(app, to="anna@example.org", template="reader/card_issued",
                    context={"reader_name": "Анна"}, kind="notice")  # card_number missing
    stats = deliver_due(app)
    assert smtp_server.messages == [] and stats.sent == 0
    row = _row(app, row_id)
    assert row.state == "error"
    assert "card_issued.txt:" in row.error and "card_number" in row.error
    from mailproc.cli import main
    import contextlib
    import io
    import json
    out = io.StringIO()
    config = tmp_path / "mailproc.toml"  # the installation's settings: commands refuse defaults
    config.write_text(f'[database]\nurl = "{app.settings.database.url}"\n', encoding="utf-8")
    with contextlib.redirect_stdout(out):
        assert main(["--config", str(config), "outbox", "list", "--json"]) == 0
    listed = json.loads(out.getvalue())
    assert listed[0]["state"] == "error" and "card_number" in listed[0]["error"]


def test_partial_refusal_is_per_recipient(app, smtp_server):  # noqa: F811
    smtp_server.refuse_rcpt("gone@example.org", "550 5.1.1 No such user here")
    smtp_server.refuse_rcpt("grey@example.org", "451 4.7.1 Greylisted, try again", times=1)
    row_id = _queue(app, to=["ok@example.org", "gone@example.org", "grey@example.org"],
                    template="librarians/notice",
                    context={"title": "Т", "lines": ["a"], "what_to_do": "b"}, kind="notice")
    deliver_due(app)
    assert [m.rcpt_tos for m in smtp_server.messages] == [["ok@example.org"]]
    row = _row(app, row_id)
    assert row.state == "queued"
    assert row.recipients["gone@example.org"]["state"] == "failed"
    assert "550 5.1.1" in row.recipients["gone@example.org"]["answer"]
    import time
    time.sleep(0.3)
    deliver_due(app)
    assert [m.rcpt_tos for m in smtp_server.messages] == [["ok@example.org"],
                                                          ["grey@example.org"]]
    row = _row(app, row_id)
    assert row.state == "sent" and "550 5.1.1" in row.error


def test_5xx_marks_failed_with_server_answer(app, smtp_server):  # noqa: F811
    smtp_server.refuse_data("554 5.7.1 Message rejected as spam", times=None)
    row_id = _queue(app, to="anna@example.org", template="librarians/notice",
                    context={"title": "Т", "lines": [], "what_to_do": "b"}, kind="notice")
    stats = deliver_due(app)
    assert stats.failed == 1 and smtp_server.messages == []
    row = _row(app, row_id)
    assert row.state == "failed" and "554 5.7.1 Message rejected as spam" in row.error


def test_suppressed_address_is_skipped(app, smtp_server):  # noqa: F811
    from mailproc.outbound.bounces import suppress
    with app.db.transaction() as s:
        suppress(s, "dead@example.org", "5.1.1 user unknown", hard=True, limit=3)
    assert _queue(app, to="dead@example.org", template="librarians/notice",
                  context={"title": "Т", "lines": [], "what_to_do": "b"}, kind="notice") is None
    deliver_due(app)
    assert smtp_server.messages == []
    with app.db.session() as s:
        (row,) = s.scalars(select(OutboxMessage))
        assert row.state == "suppressed" and "5.1.1" in row.error


def test_sent_copy_lands_in_maildir_sent_folder(app, smtp_server):  # noqa: F811
    _queue(app, to="anna@example.org", template="reader/question_received", context=QUESTION,
           kind="reply")
    stats = deliver_due(app)
    assert stats.copied == 1
    sent = mailbox.Maildir(str(app.settings.data_dir / "Maildir" / ".Sent"), create=False)
    (copy,) = list(sent)
    assert copy.as_bytes().replace(b"\r\n", b"\n") == \
        smtp_server.messages[0].raw.replace(b"\r\n", b"\n")
    assert "S" in copy.get_flags()


def test_file_transport_writes_eml_per_row(tmp_path):
    app = App(outbound_settings(tmp_path / "d", f"file:{tmp_path}/out"))
    row_id = _queue(app, to="anna@example.org", template="reader/question_received",
                    context=QUESTION, kind="reply")
    deliver_due(app)
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == [f"{row_id}.eml"]
    letter = decode_letter((tmp_path / "out" / f"{row_id}.eml").read_bytes())
    assert letter.subject == "Ваш вопрос получен" and "Анна Петровна" in letter.text


def test_mailing_has_list_unsubscribe_one_click_and_layout(tmp_path, smtp_server):  # noqa: F811
    app = App(outbound_settings(
        tmp_path / "d", smtp_server.url,
        outbox={"unsubscribe_url": "https://e.nlrs.example/unsubscribe/{token}"}))
    from datetime import datetime, timezone
    _queue(app, to="school5@example.org", template="mailing/el_services", kind="mailing",
           context={"contact_name": "Мария <Ивановна>", "organisation": "СОШ № 5",
                    "event_title": "Вебинар",
                    "event_date": datetime(2026, 12, 10, 6, 0, tzinfo=timezone.utc)})
    deliver_due(app)
    msg = smtp_server.messages[0].message
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    links = msg["List-Unsubscribe"]
    assert "<https://e.nlrs.example/unsubscribe/" in links and "<mailto:personbibl@nlrs.ru?" in links
    assert msg["Auto-Submitted"] == "auto-generated"
    html_part = msg.get_body(("html",)).get_content()
    assert "Мария &lt;Ивановна&gt;" in html_part  # autoescaped
    assert "10 декабря 2026 г., 15:00" in html_part
    text = msg.get_body(("plain",)).get_content()
    assert "- как искать издания с фильтрами и сортировкой;" in text  # derived from the HTML
    assert "Чтобы отписаться" in text


def test_sent_copy_appended_to_dovecot_sent_folder(tmp_path, smtp_server, dovecot):  # noqa: F811
    """The Sent copy goes to the IMAP Sent folder (APPEND) and is the very message sent."""
    app = App(outbound_settings(tmp_path / "d", smtp_server.url,
                                mailbox={"url": dovecot.url, "password": dovecot.password}))
    _queue(app, to="anna@example.org", template="reader/question_received", context=QUESTION,
           kind="reply", token="2026-00077", token_kind="q")
    stats = deliver_due(app)
    assert stats.sent == 1 and stats.copied == 1
    (uid, flags, raw), = dovecot.messages(app.settings.mailbox.sent_folder)
    assert b"\\Seen" in flags
    assert raw.replace(b"\r\n", b"\n") == smtp_server.messages[0].raw.replace(b"\r\n", b"\n")
    assert decode_letter(raw).subject == "Ваш вопрос получен [НБ 2026-00077]"


def test_a_stop_ends_the_pass_after_the_messages_in_flight(app, smtp_server):  # noqa: F811
    """The daemon's SIGTERM during a big send: each connection finishes the message it is
    sending, nothing more goes out, every message that arrived is recorded ``sent`` and the
    rest wait ``queued`` (unclaimed); the next pass sends exactly those."""
    import asyncio
    from collections import Counter

    from mailproc.outbound.sender import Sender
    from tests.drills.outbound_common import fill_outbox

    fill_outbox(app, 400)

    async def stopped_pass():
        stop = asyncio.Event()
        sender = Sender.from_app(app)
        task = asyncio.create_task(sender.run_once(stop))
        while len(smtp_server.messages) < 40:
            await asyncio.sleep(0.002)
        stop.set()
        return await asyncio.wait_for(task, 30)

    stats = asyncio.run(stopped_pass())
    arrived = Counter(m.message["Message-ID"] for m in smtp_server.messages)
    with app.db.session() as s:
        rows = list(s.scalars(select(OutboxMessage)))
    sent = {r.message_id for r in rows if r.state == "sent"}
    assert 40 <= len(arrived) < 400 and max(arrived.values()) == 1
    assert set(arrived) == sent and stats.sent == len(sent)
    assert {(r.state, r.claim) for r in rows if r.message_id not in sent} == {("queued", "")}
    deliver_due(app)
    arrived = Counter(m.message["Message-ID"] for m in smtp_server.messages)
    assert len(arrived) == 400 and max(arrived.values()) == 1
