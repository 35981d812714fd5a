"""Reading orders out of readers' letters."""

import pytest

from mailproc.orders.parse import parse_pages, parse_request, work_key


@pytest.mark.parametrize("spec,norm,count", [
    ("15-27", "15-27", 13),
    ("5, 7-9", "5, 7-9", 4),
    ("10–12", "10-12", 3),
    ("27-15", "15-27", 13),
    ("3 и 5", "3, 5", 2),
])
def test_pages(spec, norm, count):
    assert parse_pages(spec) == (norm, count)


@pytest.mark.parametrize("text,fund", [
    ("шифр КХ 84(2Рос=Як)-4, с. 1-2 «Книга»", "КХ"),
    ("шифр КХ2 84(2Рос=Як)-4, с. 1-2 «Книга»", "КХ2"),
    ("шифр КХ 2 84, с. 1-2 «Книга»", "КХ2"),
    ("КМ 12, с. 1-2 «Книга»", "КМ"),
    ("КМП 12, с. 1-2 «Книга»", "КМП"),
    ("СБ 7, с. 1-2 «Книга»", "СБ"),
    ("КХ ОНКФ, с. 1-2 «Книга»", "КХ ОНКФ"),
])
def test_fund_codes(text, fund):
    req = parse_request("", text)
    assert req.fund_code == fund
    assert req.clear


def test_full_book_request():
    req = parse_request("Заказ фрагмента", "Здравствуйте! Прошу прислать Иванов И.И. «Якутские "
                        "сказки», 1985 г., шифр КХ2 84(2Рос=Як)-4, с. 15-27. Читательский "
                        "билет № 123456")
    assert (req.author, req.title, req.year) == ("Иванов И.И.", "Якутские сказки", "1985")
    assert (req.fund_code, req.pages, req.pages_count, req.card) == ("КХ2", "15-27", 13, "123456")
    assert req.kind == "book" and req.clear


def test_article_request():
    req = parse_request("", "Нужна статья из журнала «Илин» № 3 за 1990 год, стр. 5, 7-9")
    assert req.kind == "article"
    assert (req.journal, req.issue, req.year, req.pages) == ("Илин", "3", "1990", "5, 7-9")
    assert req.clear


def test_scan_and_book_size():
    req = parse_request("", "А.Е. Кулаковский «Сновидение шамана», КХ ОНКФ, страницы 10–12, "
                        "нужен скан. Всего 300 стр.")
    assert req.wants_scan and req.book_pages == 300 and req.pages == "10-12"
    assert req.author == "А.Е. Кулаковский"


def test_unclear_request_says_what_is_missing():
    req = parse_request("", "Хочу почитать книгу про олонхо, пришлите что-нибудь")
    assert not req.clear
    assert req.missing == ["title", "pages", "fund"]


def test_no_fund_code_is_asked():
    req = parse_request("", "«Якутские сказки», с. 3-4")
    assert req.missing == ["fund"]


def test_work_key_ignores_case_and_yo():
    assert work_key("Иванов И.И.", "Ёлка") == work_key("иванов и. и.", "елка!")


def test_catalogue_description_copied_by_the_reader():
    req = parse_request("Заказ фрагмента книги", "Прошу прислать страницы 15–32 из книги:\n"
                        "Ксенофонтов Г.В. Ураангхай-сахалар. Т. 1, кн. 1. — Якутск, 1992.\n"
                        "Шифр: КХ2 63.3(2Рос.Яку)/К 86\nЗаранее благодарю!")
    assert (req.author, req.title) == ("Ксенофонтов Г.В.", "Ураангхай-сахалар. Т. 1, кн. 1")
    assert (req.shelf_mark, req.fund_code, req.pages, req.year) == (
        "КХ2 63.3(2Рос.Яку)/К 86", "КХ2", "15-32", "1992")
    assert req.clear


def test_shelf_mark_stops_at_words():
    req = parse_request("", "«Олонхо» КХ2 84 страницы 15-27")
    assert req.shelf_mark == "КХ2 84" and req.pages == "15-27"
