"""The pure parts of orders: states, the 30% cap, the working calendar, delivery checks."""

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from mailproc.letter.model import Attachment
from mailproc.orders import states as st
from mailproc.orders.cap import check_cap
from mailproc.orders.checks import check_delivery, pdf_page_count
from mailproc.orders.workdays import DEFAULT_HOLIDAYS, WorkCalendar

YAKUTSK = ZoneInfo("Asia/Yakutsk")


def test_state_table():
    assert st.can_move(st.NEW, st.REQUESTED)
    assert st.can_move(st.REQUESTED, st.OVERDUE)
    assert st.can_move(st.OVERDUE, st.RECEIVED)
    assert st.can_move(st.RECEIVED, st.DELIVERED)
    assert not st.can_move(st.DELIVERED, st.REQUESTED)
    assert not st.can_move(st.CANCELLED, st.NEW)
    assert not st.can_move(st.NEW, st.DELIVERED)
    assert set(st.ALLOWED) == set(st.ALL)


def test_cap_refuses_over_thirty_percent():
    ok = check_cap(kind="book", book_pages=100, requested=20, before=10, share=0.3)
    assert ok.allowed and ok.limit == 30 and ok.left == 20
    over = check_cap(kind="book", book_pages=100, requested=21, before=10, share=0.3)
    assert not over.allowed and (over.before, over.requested, over.limit) == (10, 21, 30)


def test_cap_does_not_apply_to_articles_or_unknown_size():
    assert check_cap(kind="article", book_pages=10, requested=10, before=0, share=0.3).allowed
    assert check_cap(kind="book", book_pages=0, requested=500, before=0, share=0.3).allowed


def test_calendar_skips_weekends_and_holidays():
    cal = WorkCalendar(DEFAULT_HOLIDAYS)
    assert not cal.is_working(date(2026, 4, 27))  # Day of the Republic (a Monday)
    assert not cal.is_working(date(2026, 11, 4))
    assert not cal.is_working(date(2026, 11, 28))  # Saturday
    assert cal.is_working(date(2026, 11, 26))
    # Friday + 2 working days = Tuesday
    assert cal.add_working_days(date(2026, 11, 27), 2) == date(2026, 12, 1)
    # Friday 24 April + 2 = Wednesday 29 April: Monday the 27th is the Republic's day
    assert cal.add_working_days(date(2026, 4, 24), 2) == date(2026, 4, 29)


def test_deadline_is_end_of_working_day_in_library_time():
    cal = WorkCalendar(DEFAULT_HOLIDAYS)
    sent = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)  # Friday 17:00 in Yakutsk
    deadline = cal.deadline(sent, 2, YAKUTSK)
    assert deadline == datetime(2026, 12, 2, 0, 0, tzinfo=YAKUTSK)


def test_one_year_holiday():
    cal = WorkCalendar("2026-12-31")
    assert not cal.is_working(date(2026, 12, 31)) and cal.is_working(date(2027, 12, 31))


def _att(name, type_, data, inline=False):
    return Attachment(name=name, type=type_, size=len(data), sha256="", data=data, inline=inline)


def _pdf(pages: int) -> bytes:
    kids = " ".join(f"{i + 3} 0 R" for i in range(pages))
    objs = [b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n",
            f"2 0 obj << /Type /Pages /Kids [{kids}] /Count {pages} >> endobj\n".encode()]
    objs += [f"{i + 3} 0 obj << /Type /Page /Parent 2 0 R >> endobj\n".encode()
             for i in range(pages)]
    return b"".join(objs) + b"%%EOF\n"


def test_pdf_page_count():
    assert pdf_page_count(_pdf(7)) == 7
    assert pdf_page_count(b"%PDF-1.4 /Type /Page /Type /Page /Type /Pages") == 2
    assert pdf_page_count(b"not a pdf") == 0


def test_delivery_check_accepts_photos_and_pdf():
    photos = [_att(f"p{i}.jpg", "image/jpeg", b"\xff\xd8x" * 100) for i in range(3)]
    assert check_delivery(photos, 3).ok
    assert check_delivery([_att("s.pdf", "application/pdf", _pdf(13))], 13).ok


def test_delivery_check_failures_name_the_problem():
    assert check_delivery([], 3).problems == ["no photo or scan attached"]
    empty = check_delivery([_att("p.jpg", "image/jpeg", b"")], 1)
    assert empty.problems == ["file 1 of 1 is empty"]
    doc = check_delivery([_att("a.docx", "application/msword", b"x")], 1)
    assert "expected an image or a PDF" in doc.problems[0]
    few = check_delivery([_att("s.pdf", "application/pdf", _pdf(2))], 13)
    assert few.problems == ["2 page(s) received, 13 asked for"]
    many = check_delivery([_att("s.pdf", "application/pdf", _pdf(40))], 10)
    assert "40 pages received" in many.problems[0]


def test_signature_logo_is_not_a_page():
    logo = _att("logo.png", "image/png", b"x" * 500, inline=True)
    photo = _att("p.jpg", "image/jpeg", b"y" * 500)
    result = check_delivery([logo, photo], 1)
    assert result.ok and result.pages_found == 1


def test_wrong_holiday_setting_is_a_config_error():
    import pytest

    from mailproc.config import load_settings
    from mailproc.errors import ConfigError

    with pytest.raises(ConfigError, match="orders.holidays"):
        load_settings(environ={"MAILPROC_ORDERS_HOLIDAYS": "13-45"})
