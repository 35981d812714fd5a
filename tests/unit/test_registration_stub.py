"""The redacted copy of a registration letter (mailproc.registrations.stub): pure bytes in,
bytes out, so the shapes readers' mail comes in are checked one by one."""

from __future__ import annotations

import email
import email.policy
import hashlib
from email.message import EmailMessage

from mailproc.registrations.stub import (
    anonymised_line,
    build_anonymised,
    build_stub,
    document_line,
    stub_message_id,
)
from tests.unit.test_registration_samples import clear_fragments, mail, photo, scan_pdf

TOKEN = "2026-00012"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parsed(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


def leaves(raw: bytes) -> list:
    return [p for p in parsed(raw).walk() if not p.is_multipart()]


def test_the_line_names_case_kind_and_pages():
    assert document_line(TOKEN, "form,consent", 2) == (
        "[документ убран в защищённое хранилище: дело 2026-00012, регистрационная анкета, "
        "согласие на обработку персональных данных (2 стр.)]")
    assert document_line(TOKEN, "") == \
        "[документ убран в защищённое хранилище: дело 2026-00012, документ]"


def test_message_id_is_derived_from_the_original():
    assert stub_message_id("<abc.1@mail.example>", "m1") == "<abc.1.redacted-m1@mail.example>"
    assert stub_message_id("", "m1") == "<redacted-m1@mailproc.invalid>"
    assert stub_message_id("<\"a b\"@x>", "m1") == "<ab.redacted-m1@x>"


def test_a_letter_that_is_one_photo_keeps_its_header():
    picture = photo(seed=5)
    msg = EmailMessage()
    msg["From"], msg["Subject"], msg["Message-ID"] = "r@example.org", "Анкета", "<one@ex>"
    msg.set_content(picture, maintype="image", subtype="jpeg")
    msg["DKIM-Signature"] = "v=1; a=rsa-sha256; d=example.org; b=abc"
    stub = build_stub(msg.as_bytes(), token=TOKEN, marker="m2",
                      lines={sha(picture): document_line(TOKEN, "form")}, expected={sha(picture)})
    out = parsed(stub)
    assert out["From"] == "r@example.org" and out["Subject"] == "Анкета"
    assert out.get_content_type() == "text/plain" and "дело 2026-00012" in out.get_content()
    assert out["DKIM-Signature"] is None, "a signature over the old body would show as broken"
    assert not any(f in stub for f in clear_fragments(picture))


def test_a_document_the_walk_cannot_find_takes_every_attachment_with_it():
    """A document inside a container (winmail.dat) has no part of its own to match: then
    every attachment goes, and the text stays."""
    picture, container = photo(seed=6), b"\x78\x9f\x3e\x22" + scan_pdf(seed=7)
    raw = mail(subject="Регистрация", text="Документы во вложении.",
               files=[("winmail.dat", container, "application/ms-tnef")])
    stub = build_stub(raw, token=TOKEN, marker="m3", lines={sha(picture): "x"},
                      expected={sha(picture)})
    texts = [p.get_content().strip() for p in leaves(stub)]
    assert texts == ["Документы во вложении.",
                     "[вложение убрано из общего ящика: дело 2026-00012]"]
    assert not any(f in stub for f in clear_fragments(container))


def test_a_forwarded_letter_loses_its_documents_too():
    picture = photo(seed=8)
    inner = mail(subject="Регистрация", text="вот", files=[("a.jpg", picture, "image/jpeg")])
    outer = EmailMessage()
    outer["From"], outer["Subject"], outer["Message-ID"] = "r@example.org", "Fwd", "<fw@ex>"
    outer.set_content("Пересылаю.")
    outer.add_attachment(email.message_from_bytes(inner, policy=email.policy.default))
    stub = build_stub(outer.as_bytes(), token=TOKEN, marker="m4",
                      lines={sha(picture): document_line(TOKEN, "form")}, expected={sha(picture)})
    assert not any(f in stub for f in clear_fragments(picture))
    assert "регистрационная анкета]" in stub.decode("utf-8")


def test_no_message_id_no_reference_to_it():
    picture = photo(seed=9)
    raw = mail(text="анкета", files=[("a.jpg", picture, "image/jpeg")])
    raw = b"\n".join(line for line in raw.split(b"\n") if not line.startswith(b"Message-ID"))
    out = parsed(build_stub(raw, token=TOKEN, marker="m5", lines={sha(picture): "x"}))
    assert out["Message-ID"].strip() == "<redacted-m5@mailproc.invalid>"
    assert out["X-Mailproc-Original-Message-ID"] is None and out["References"] is None
    assert out["X-Mailproc-Redacted"] == f"{TOKEN} m5"


def test_a_passport_number_in_a_koi8_text_is_masked_and_the_charset_kept():
    msg = EmailMessage()
    msg["From"], msg["Message-ID"] = "r@example.org", "<k@ex>"
    msg.set_content("Мой паспорт: серия 9804 N 123456, телефон 8-914-000-00-00.",
                    charset="koi8-r", cte="8bit")
    stub = build_stub(msg.as_bytes(), token=TOKEN, marker="m6", lines={})
    [text] = leaves(stub)
    assert text.get_content_charset() == "koi8-r"
    assert text.get_content().strip() == (
        "Мой паспорт: серия [номер паспорта убран], телефон 8-914-000-00-00.")
    assert b"123456" not in stub


def test_the_anonymised_copy_keeps_addresses_and_thread_only():
    """A withdrawal letter left for a librarian's answer: no name, words, file or passport."""
    form = photo(seed=5)
    raw = mail(name="Ковалёв Игорь Семёнович", subject="Отзыв согласия, Ковалёв",
               text="Я, Ковалёв Игорь Семёнович, паспорт 9817 654321, отзываю согласие.",
               in_reply_to="<answer-1@nlrs.example>", files=[("анкета.jpg", form, "image/jpeg")])
    original = parsed(raw)
    copy = build_anonymised(raw, token=TOKEN, marker="m9")
    msg = parsed(copy)
    assert str(msg["From"]) == "reader.petrova@example.org"
    assert str(msg["To"]) == "personbibl@nlrs.example"
    assert msg["Subject"] == f"Отзыв согласия на обработку персональных данных (дело {TOKEN})"
    assert msg["Date"] == original["Date"] and msg["In-Reply-To"] == "<answer-1@nlrs.example>"
    assert msg["References"].split() == ["<answer-1@nlrs.example>", original["Message-ID"]]
    assert msg["X-Mailproc-Original-Message-ID"].strip() == original["Message-ID"]
    assert msg["X-Mailproc-Redacted"] == f"{TOKEN} m9"
    assert msg["Message-ID"] != original["Message-ID"]
    assert [p.get_content().strip() for p in leaves(copy)] == [anonymised_line(TOKEN)]
    secrets = [w.encode(c) for w in ("Ковалёв", "Игорь") for c in ("utf-8", "windows-1251")]
    for secret in [*secrets, b"9817", b"654321", *clear_fragments(form)]:
        assert secret not in copy
