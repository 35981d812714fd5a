"""The decoded letter: what every later stage reads instead of the raw bytes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Address:
    email: str  # lower-cased addr-spec, "" when none could be read
    name: str = ""  # decoded display name

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]


@dataclass
class Attachment:
    name: str  # decoded file name (RFC 2047 / RFC 2231), "" when the part has none
    type: str  # the real MIME type, sniffed from the bytes
    size: int
    sha256: str
    declared_type: str = ""  # what the part's Content-Type said
    data: bytes | None = field(default=None, repr=False)  # None when not fetched
    content_id: str = ""
    inline: bool = False
    part: str = ""  # MIME part number ("2", "3.1"), for fetching the bytes later
    container: str = ""  # "winmail.dat" when unpacked from a TNEF attachment at that part

    @property
    def family(self) -> str:
        """image, pdf, office, archive, text or other: what rules test."""
        t = self.type
        if t.startswith("image/"):
            return "image"
        if t == "application/pdf":
            return "pdf"
        if t in OFFICE_TYPES or t.startswith("application/vnd.openxmlformats") \
                or t.startswith("application/vnd.oasis.opendocument") \
                or t.startswith("application/vnd.ms-"):
            return "office"
        if t in ARCHIVE_TYPES:
            return "archive"
        if t.startswith("text/"):
            return "text"
        return "other"


OFFICE_TYPES = {
    "application/msword", "application/rtf", "text/rtf", "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint", "text/csv",
}
ARCHIVE_TYPES = {
    "application/zip", "application/x-rar-compressed", "application/vnd.rar",
    "application/x-7z-compressed", "application/gzip", "application/x-tar",
    "application/x-bzip2",
}


@dataclass
class Bounce:
    """A delivery-status report (RFC 3464) about a message we sent."""

    original_message_id: str = ""
    failed_recipients: list[str] = field(default_factory=list)
    status: str = ""  # e.g. "5.1.1"
    diagnostic: str = ""
    permanent: bool = True


@dataclass
class Letter:
    content_hash: str  # sha256 of the raw bytes
    size: int
    message_id: str  # "<...>"; deterministic from the content hash where the header is missing
    sender: Address  # From
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    reply_to: list[Address] = field(default_factory=list)
    subject: str = ""
    date: datetime | None = None
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    text: str = ""  # what the reader wrote: text/plain, else derived from HTML
    html: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    forwarded: list["Letter"] = field(default_factory=list)  # message/rfc822 parts
    headers: list[tuple[str, str]] = field(default_factory=list)  # decoded, in order
    automatic: bool = False
    automatic_reason: str = ""  # which header or sender made it automatic
    bounce: Bounce | None = None
    defects: list[str] = field(default_factory=list)
    charset: str = ""  # the codec the text was read in ("utf_8", "cp1251", "koi8_r" ...)
    raw: bytes | None = field(default=None, repr=False)  # the bytes decoded (top letter only)

    def header(self, name: str) -> str:
        """The first header of that name, decoded; "" when absent."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return ""

    def header_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [value for key, value in self.headers if key.lower() == lname]

    @property
    def recipients(self) -> list[Address]:
        return [*self.to, *self.cc]

    def all_attachments(self) -> list[Attachment]:
        """Attachments including those of forwarded messages, outermost first."""
        found = list(self.attachments)
        for inner in self.forwarded:
            found.extend(inner.all_attachments())
        return found

    def to_json(self) -> dict[str, Any]:
        """The form ``mailproc inspect --json`` prints and the message row keeps."""
        return {
            "message_id": self.message_id,
            "from": _addr_json(self.sender),
            "to": [_addr_json(a) for a in self.to],
            "cc": [_addr_json(a) for a in self.cc],
            "reply_to": [_addr_json(a) for a in self.reply_to],
            "subject": self.subject,
            "date": self.date.isoformat() if self.date else None,
            "in_reply_to": self.in_reply_to,
            "references": list(self.references),
            "text": self.text,
            "charset": self.charset,
            "attachments": [
                {
                    "name": a.name, "type": a.type, "declared_type": a.declared_type,
                    "size": a.size, "sha256": a.sha256, "inline": a.inline, "part": a.part,
                    "container": a.container,
                }
                for a in self.attachments
            ],
            "forwarded": [f.to_json() for f in self.forwarded],
            "automatic": self.automatic,
            "automatic_reason": self.automatic_reason,
            "bounce": None if self.bounce is None else {
                "original_message_id": self.bounce.original_message_id,
                "failed_recipients": list(self.bounce.failed_recipients),
                "status": self.bounce.status,
                "diagnostic": self.bounce.diagnostic,
                "permanent": self.bounce.permanent,
            },
            "defects": list(self.defects),
            "size": self.size,
            "content_hash": self.content_hash,
        }


    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Letter":
        """The Letter back from ``to_json()`` (a message row's ``letter``), for replaying rules.

        What to_json does not keep stays empty: headers, HTML, attachments' bytes.
        """
        bounce = data.get("bounce")
        date = data.get("date")
        return cls(
            content_hash=data.get("content_hash", ""),
            size=data.get("size", 0),
            message_id=data.get("message_id", ""),
            sender=_addr(data.get("from")),
            to=[_addr(a) for a in data.get("to") or ()],
            cc=[_addr(a) for a in data.get("cc") or ()],
            reply_to=[_addr(a) for a in data.get("reply_to") or ()],
            subject=data.get("subject", ""),
            date=datetime.fromisoformat(date) if date else None,
            in_reply_to=data.get("in_reply_to", ""),
            references=list(data.get("references") or ()),
            text=data.get("text", ""),
            attachments=[Attachment(name=a.get("name", ""), type=a.get("type", ""),
                                    size=a.get("size", 0), sha256=a.get("sha256", ""),
                                    declared_type=a.get("declared_type", ""),
                                    inline=a.get("inline", False), part=a.get("part", ""),
                                    container=a.get("container", ""))
                         for a in data.get("attachments") or ()],
            forwarded=[cls.from_json(f) for f in data.get("forwarded") or ()],
            automatic=bool(data.get("automatic")),
            automatic_reason=data.get("automatic_reason", ""),
            bounce=None if bounce is None else Bounce(**bounce),
            defects=list(data.get("defects") or ()),
            charset=data.get("charset", ""),
        )


def _addr(data: dict[str, str] | None) -> Address:
    data = data or {}
    return Address(email=data.get("email", ""), name=data.get("name", ""))


def _addr_json(a: Address) -> dict[str, str]:
    return {"name": a.name, "email": a.email}
