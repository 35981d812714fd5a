"""Recognising, checking and cleaning registration documents (pure functions)."""

from __future__ import annotations

import io

from PIL import Image

from mailproc.registrations.documents import check_readable, classify, kinds_in_text, sanitize
from mailproc.registrations.texts import (
    asks_withdrawal,
    card_number,
    name_in_text,
    own_text,
    reader_name,
)
from tests.unit.test_registration_samples import blank_photo, photo, scan_pdf, tiny_photo


def test_file_names_decide_first():
    assert classify([("Анкета.jpg", 1), ("soglasie.pdf", 1), ("ЗАЯВЛЕНИЕ (1).png", 1)], "") == [
        (("form",), "name"), (("consent",), "name"), (("application",), "name")]


def test_words_name_unnamed_files_in_their_order():
    got = classify([("IMG_001.jpg", 1), ("IMG_002.jpg", 1)], "Высылаю согласие и анкету")
    assert got == [(("consent",), "words"), (("form",), "words")]


def test_one_scan_may_hold_several_documents():
    assert classify([("анкета и согласие.pdf", 3)], "") == [(("form", "consent"), "name")]
    assert classify([("scan.pdf", 2)], "Анкета и согласие одним файлом") == [
        (("form", "consent"), "words")]


def test_order_of_pages_fills_what_is_left_one_kind_a_file():
    assert classify([("1.jpg", 1), ("2.jpg", 1), ("3.jpg", 1)], "") == [
        (("form",), "order"), (("application",), "order"), (("consent",), "order")]
    # an анкета is often two pages: without words a long scan is not taken for two documents
    assert classify([("scan.pdf", 2)], "") == [(("form",), "order")]
    # the case already holds the form: the next unnamed photo is the application
    assert classify([("photo.jpg", 1)], "", have={"form"}) == [(("application",), "order")]
    assert classify([("a.jpg", 1), ("b.jpg", 1), ("c.jpg", 1), ("d.jpg", 1)], "")[-1] == \
        (("other",), "order")


def test_quoted_reply_does_not_name_documents():
    text = "Досылаю фото.\n\nВ письме от 26.11 Библиотека пишет:\n> не хватает: согласие, анкета"
    assert kinds_in_text(own_text(text)) == []


def test_readable_photo_and_pdf():
    check = check_readable(photo(), "image")
    assert check.ok and (check.width, check.height) == (1200, 900)  # EXIF orientation applied
    pdf = check_readable(scan_pdf(pages=3), "pdf")
    assert pdf.ok and pdf.pages == 3


def test_unreadable_files_say_why_in_russian():
    assert "пустое" in check_readable(blank_photo(), "image").problem
    assert "маленькое" in check_readable(tiny_photo(), "image").problem
    assert "не открывается" in check_readable(photo()[:500], "image").problem
    assert "заголовка" in check_readable(b"not a pdf at all" * 50, "pdf").problem
    assert "обрезан" in check_readable(scan_pdf()[:-200], "pdf").problem


def test_sanitize_strips_exif_and_turns_the_page_upright():
    original = photo()
    clean, ctype = sanitize(original, "image", "image/jpeg")
    assert ctype == "image/jpeg"
    with Image.open(io.BytesIO(clean)) as img:
        assert img.size == (1200, 900)
        assert len(img.getexif()) == 0
    assert b"PhoneMaker" in original and b"PhoneMaker" not in clean


def test_pdf_kept_as_is():
    pdf = scan_pdf()
    assert sanitize(pdf, "pdf", "application/pdf") == (pdf, "application/pdf")


def test_card_number_found_after_its_words_not_the_token_or_phone():
    text = ("Добрый день! Тел. 8-914-000-00-00. По делу [НБ 2026-00017]: Петровой Анне "
            "Ивановне выдан читательский билет № 4815162342.")
    assert card_number(text) == "4815162342"
    assert card_number("Зарегистрировали, ЧБ: 00-77-12") == "007712"
    assert card_number("Спасибо, получили") == ""


def test_names():
    assert reader_name("Здравствуйте! ФИО: Петрова Анна Ивановна, тел. ...") == \
        "Петрова Анна Ивановна"
    assert reader_name("Меня зовут Иванов Пётр") == "Иванов Пётр"
    assert name_in_text("Петрова Анна Ивановна", "билет выдан Петровой Анне Ивановне")
    assert not name_in_text("Петрова Анна Ивановна", "билет выдан Сидоровой Анне")


def test_withdrawal_requests():
    assert asks_withdrawal("Прошу отозвать моё согласие на обработку персональных данных")
    assert asks_withdrawal("Я отзываю согласие.")
    assert asks_withdrawal("Прошу удалить мои персональные данные")
    assert not asks_withdrawal("Высылаю согласие на обработку данных")
