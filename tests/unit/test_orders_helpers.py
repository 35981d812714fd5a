"""Helpers shared by the order tests (no tests here): settings in a temp folder, mail
builders, a departments directory."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from mailproc.config import load_settings
from mailproc.sorting.directory import Department, Directory

REPO = Path(__file__).resolve().parents[2]


def order_settings(tmp_path: Path, **overrides):
    sections = {"paths": {"data": str(tmp_path / "data"), "rules": str(REPO / "rules"),
                          "templates": str(REPO / "templates")},
                "database": {"url": f"sqlite:///{tmp_path}/db.sqlite3"},
                "smtp": {"url": f"file:{tmp_path}/outbox"}}
    for section, values in overrides.items():
        sections.setdefault(section, {}).update(values)
    return load_settings(environ={}, overrides=sections)


def five_departments() -> Directory:
    funds = {"storage": ("КХ", "КХ2"), "sandaly": ("КМ", "КМП", "СБ"), "onkf": ("КХ ОНКФ",),
             "periodicals": ("ПЕР",), "rare": ("РК",)}
    return Directory(departments={
        key: Department(key, f"Отдел {key}", (f"{key}@nlrs.example",), codes)
        for key, codes in funds.items()}, lod="lod@nlrs.example")


def jpeg(label: str, size: int = 2000) -> bytes:
    """Bytes a sniffer takes for a JPEG, unique to ``label``."""
    body = hashlib.sha256(label.encode()).digest() * (size // 32 + 1)
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + label.encode() + body[:size]


def pdf(pages: int, label: str = "") -> bytes:
    kids = " ".join(f"{i + 3} 0 R" for i in range(pages))
    objs = [f"%PDF-1.4\n% {label}\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n".encode(),
            f"2 0 obj << /Type /Pages /Kids [{kids}] /Count {pages} >> endobj\n".encode()]
    objs += [f"{i + 3} 0 obj << /Type /Page /Parent 2 0 R >> endobj\n".encode()
             for i in range(pages)]
    return b"".join(objs) + b"%%EOF\n"


def mail(*, sender: str, to: str = "personbibl@nlrs.ru", subject: str = "", text: str = "",
         files: list[tuple[str, str, bytes]] = (), in_reply_to: str = "",
         references: str = "", message_id: str = "") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or make_msgid(domain="example.org")
    msg["Date"] = "Thu, 26 Nov 2026 10:00:00 +0900"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    msg.set_content(text or "")
    for name, ctype, data in files:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()
