"""One-click unsubscribe (RFC 8058) and the list headers of mailings (RFC 2919, RFC 2369).

The HTTP handler is called as a web front would call it (method, path, body); the contact's
state is read back from the database it wrote."""

from __future__ import annotations

import email
import email.policy
import sys
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from mailproc.outbound.mime import build_message
from mailproc.outreach.listheaders import label_name, list_headers, list_id, list_label
from mailproc.outreach.listtoken import make_token, verify_token
from mailproc.outreach.oneclick import handle
from tests.unit.outreach_helpers import ROOT, Install

sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "registry"))
from make_registry import staff_list  # noqa: E402

MAILING = "сервисы-эб-учителям"


@pytest.fixture
def inst(tmp_path, capsys):
    inst = Install(tmp_path)
    with open(inst.config, "a", encoding="utf-8") as fh:
        fh.write('[outbox]\nunsubscribe_url = "https://nlrs.example/mailproc"\n')
    inst.emails = staff_list(tmp_path / "staff.csv", 3)
    inst.run(capsys, "contacts", "import", str(tmp_path / "staff.csv"))
    return inst


def _contact(inst, capsys, email_addr):
    return inst.json(capsys, "contacts", "show", email_addr)


def _id_of(app, address: str) -> int:
    from sqlalchemy import select

    from mailproc.outreach.models import Contact

    with app.db.session() as s:
        return s.scalar(select(Contact.id).where(Contact.email == address))


def test_post_one_click_unsubscribes_and_a_forged_token_does_not(inst, capsys):
    app = inst.app()
    anna, boris = inst.emails[0], inst.emails[1]
    token = make_token(app.settings, _id_of(app, anna), list_label(MAILING))
    url = list_headers(app.settings, MAILING, "", _id_of(app, anna))["List-Unsubscribe"]
    assert f"<https://nlrs.example/mailproc/u/{token}>" in url

    # forged: another contact's id under anna's signature, a changed signature, another list
    boris_id = _id_of(app, boris)
    contact, label, sig = token.split(".")
    forged = [f"{boris_id}.{label}.{sig}", f"{contact}.{label}.{'0' * 20}",
              f"{contact}.{list_label('другая')}.{sig}", "garbage"]
    for bad in forged:
        status, body, _ = handle(app, "POST", f"/mailproc/u/{bad}", b"List-Unsubscribe=One-Click")
        assert status == 404 and "неверна" in body.decode()
    assert not _contact(inst, capsys, boris)["unsubscribed"]
    assert not _contact(inst, capsys, anna)["unsubscribed"]

    # a GET (a reader's click, a link scanner) shows the button and changes nothing
    status, body, _ = handle(app, "GET", f"/mailproc/u/{token}")
    assert status == 200 and 'name="List-Unsubscribe" value="One-Click"' in body.decode()
    assert "Отписка от рассылки «Сервисы Электронной библиотеки»" in body.decode()  # the title
    assert not _contact(inst, capsys, anna)["unsubscribed"]
    assert handle(app, "POST", f"/mailproc/u/{token}", b"x=y").status == 400
    assert handle(app, "PUT", f"/mailproc/u/{token}", b"").status == 405
    assert handle(app, "POST", "/mailproc/other", b"List-Unsubscribe=One-Click").status == 404

    status, body, ctype = handle(app, "POST", f"/mailproc/u/{token}",
                                 b"List-Unsubscribe=One-Click")
    assert status == 200 and "Вы отписаны" in body.decode() and ctype.startswith("text/html")
    shown = _contact(inst, capsys, anna)
    assert shown["unsubscribed"] and not shown["consent"]
    assert "одним щелчком (RFC 8058), рассылка «сервисы-эб-учителям»" in shown["unsubscribed_how"]
    assert [e["granted"] for e in shown["consent_history"]] == [True, False]
    # a second click: the same answer, no second withdrawal
    assert handle(app, "POST", f"/u/{token}", b"List-Unsubscribe=One-Click").status == 200
    assert len(_contact(inst, capsys, anna)["consent_history"]) == 2
    assert not _contact(inst, capsys, boris)["unsubscribed"]


def test_multipart_one_click_body_is_understood(inst, capsys):
    app = inst.app()
    token = make_token(app.settings, _id_of(app, inst.emails[2]), list_label(MAILING))
    body = (b'--b\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
            b"One-Click\r\n--b--\r\n")
    assert handle(app, "POST", f"/u/{token}", body).status == 200
    assert _contact(inst, capsys, inst.emails[2])["unsubscribed"]


def test_token_names_contact_and_list(inst):
    app = inst.app()
    token = make_token(app.settings, 42, list_label(MAILING))
    found = verify_token(app.settings, token)
    assert (found.contact_id, found.mailing) == (42, MAILING)
    assert verify_token(app.settings, token.upper()) == found  # a client that upper-cases
    assert verify_token(app.settings, token[:-1] + ("0" if token[-1] != "0" else "1")) is None


def test_list_headers_with_and_without_a_public_address(inst):
    settings = inst.app().settings
    with_url = list_headers(settings, MAILING, "Сервисы Электронной библиотеки", 7)
    assert with_url["List-Id"] == ("Рассылка «Сервисы Электронной библиотеки» "
                                   f"<{list_label(MAILING)}.personbibl.nlrs.ru>")
    https, mailto = with_url["List-Unsubscribe"].split(", ")
    assert https.startswith("<https://nlrs.example/mailproc/u/7.")
    assert mailto.startswith("<mailto:personbibl@nlrs.ru?subject=unsubscribe%207.")
    assert with_url["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    bare = SimpleNamespace(mail=settings.mail, paths=settings.paths,
                           outbox=SimpleNamespace(unsubscribe_url=""))
    without = list_headers(bare, MAILING, "", 7)
    assert without["List-Unsubscribe"].startswith("<mailto:")
    assert "https" not in without["List-Unsubscribe"] and "List-Unsubscribe-Post" not in without


def test_list_labels_are_ascii_distinct_and_reversible():
    names = ["новости", "сервисы-эб-учителям", "News letter", "краеведы 2026", "я" * 80,
             "я" * 81]
    labels = [list_label(n) for n in names]
    assert len(set(labels)) == len(labels)
    assert all(lbl.isascii() and len(lbl) <= 63 for lbl in labels)
    assert [label_name(lbl) for lbl in labels[:4]] == ["новости", "сервисы-эб-учителям",
                                                        "news-letter", "краеведы-2026"]


def test_list_id_phrase_is_rfc2047_and_the_id_stays_plain(inst):
    settings = inst.app().settings
    value = list_id(settings, MAILING, "Сервисы Электронной библиотеки")
    row = SimpleNamespace(
        message_id="<mp.1@nlrs.ru>", sender="personbibl@nlrs.ru", subject="Тема",
        date=datetime(2026, 12, 1, tzinfo=timezone.utc),
        text="Текст", html="", headers={"to": [["", "a@b.example"]],
                                         "extra": {"List-Id": value},
                                         "copy_extra": {"X-Mailproc-Recipients": "1440"}})
    raw = build_message(row, [], "НБ РС(Я)")
    head = raw.split(b"\r\n\r\n")[0].decode("ascii")
    line = head[head.index("List-Id:"):].split("\r\nMIME")[0]
    assert "=?utf-8?b?" in line and f"<{list_label(MAILING)}.personbibl.nlrs.ru>" in line
    assert len(line.split("\r\n")) >= 2 and all(len(x) <= 82 for x in line.split("\r\n"))
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["List-Id"] == value
    assert msg["X-Mailproc-Recipients"] is None  # the reader's message: no count
    copy = email.message_from_bytes(build_message(row, [], "НБ РС(Я)", sent_copy=True),
                                    policy=email.policy.default)
    assert copy["X-Mailproc-Recipients"] == "1440"


def test_a_plain_http_address_stops_start_up_naming_the_key():
    from mailproc.config import load_settings
    from mailproc.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^outbox\.unsubscribe_url: .*HTTPS"):
        load_settings(None, environ={"MAILPROC_OUTBOX_UNSUBSCRIBE_URL": "http://nlrs.ru/u"})
    settings = load_settings(None, environ={
        "MAILPROC_OUTBOX_UNSUBSCRIBE_URL": "https://nlrs.ru/unsub?t={token}"})
    assert list_headers(settings, "новости", "", 5)["List-Unsubscribe"].startswith(
        "<https://nlrs.ru/unsub?t=5.xn--b1amnebsh.")
