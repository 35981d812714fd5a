"""Sample registration documents and mails, shared by the registration and vault tests.

Every sample is made here from code (Pillow), so each test knows the exact bytes it must
later find nowhere in clear.
"""

from __future__ import annotations

import io
import random
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timezone

from PIL import Image, ImageDraw

READER = "reader.petrova@example.org"
READER_NAME = "Петрова Анна Ивановна"
READER_PHONE = "+7 914 271-83-96"
CKO = "cko@nlrs.example"
CARD = "4815162342"


def photo(seed: int = 1, size=(900, 1200), orientation: int | None = 6, gps: bool = True) -> bytes:
    """A phone-like JPEG of a filled page: noisy text lines, EXIF orientation and a GPS tag."""
    rnd = random.Random(seed)
    img = Image.new("RGB", size, (250, 250, 245))
    d = ImageDraw.Draw(img)
    for y in range(60, size[1] - 60, 40):
        x = 50
        while x < size[0] - 80:
            w = rnd.randint(20, 90)
            d.rectangle([x, y, x + w, y + 14], fill=(rnd.randint(0, 60),) * 3)
            x += w + rnd.randint(8, 20)
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Phone X (serial 0042)"  # Model
    if gps:
        exif[0x8825] = {1: "N", 2: (62.0, 1.0, 30.0), 3: "E", 4: (129.0, 43.0, 5.0)}
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85, exif=exif)
    return out.getvalue()


def blank_photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (900, 1200), (255, 255, 255)).save(out, "JPEG")
    return out.getvalue()


def tiny_photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 30)).save(out, "PNG")
    return out.getvalue()


def scan_pdf(seed: int = 2, pages: int = 1) -> bytes:
    rnd = random.Random(seed)
    imgs = []
    for _ in range(pages):
        img = Image.new("L", (827, 1169), 255)
        d = ImageDraw.Draw(img)
        for y in range(80, 1100, 36):
            d.line([(60, y), (60 + rnd.randint(200, 700), y)], fill=0, width=3)
        imgs.append(img)
    out = io.BytesIO()
    imgs[0].save(out, "PDF", save_all=True, append_images=imgs[1:], resolution=100.0)
    return out.getvalue()


def mail(*, sender=READER, name=READER_NAME, subject="", text="", files=(), to="personbibl@nlrs.example",
         in_reply_to="", date: datetime | None = None) -> bytes:
    """A reader's mail with attachments [(filename, bytes, maintype/subtype)]."""
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>" if name else sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc))
    msg["Message-ID"] = make_msgid(domain="example.org")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(text or "")
    for filename, data, ctype in files:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def clear_fragments(data: bytes) -> list[bytes]:
    """Byte strings that would betray ``data`` stored in clear: two slices of its content (not
    its header, which every file of its type shares) and the base64 line a mail encoder writes
    for the middle (base64 lines in mail encode aligned 57-byte blocks)."""
    import base64

    block = (len(data) // 2) // 57 * 57
    three_quarters = len(data) * 3 // 4
    return [data[block:block + 48], data[three_quarters:three_quarters + 48],
            base64.b64encode(data[block:block + 57])]


def test_samples_are_what_they_claim():
    with Image.open(io.BytesIO(photo())) as img:
        assert img.getexif()[0x0112] == 6
    assert scan_pdf(pages=2).startswith(b"%PDF-")
    assert READER.encode() in mail(text="x")
