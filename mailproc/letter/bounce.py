"""Delivery reports: which of our messages failed, for whom, and whether for good.

RFC 3464 reports (multipart/report; report-type=delivery-status) are read field by field.
Many servers still send free-text bounces from MAILER-DAEMON with the original attached or
quoted; those are read with patterns (status codes, addresses, the quoted Message-ID).
"""

from __future__ import annotations

import re

from mailproc.letter.model import Bounce

_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_SMTP = re.compile(r"(?<![\d.])([45]\d\d)(?=[ -])")
_ADDR = re.compile(r"[\w.+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")  # bounded: linear
MAX_TEXT = 20000
_MSGID = re.compile(r"(?im)^message-id:\s*(<[^<>\s]+>)")
_COPY_MARK = re.compile(r"(?im)^.*(below this line is a copy|this is a copy of the message|"
                        r"original message follows|копия сообщения|исходное сообщение).*$")
_SUBJECT = re.compile(r"(undeliver|delivery (status|failure|has failed)|mail delivery failed|"
                      r"returned mail|failure notice|не доставлено|недоставлен|"
                      r"не удалось доставить|не удается доставить|ошибка доставки)", re.I)
_MACHINE = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.I)


def from_report(blocks: list[dict[str, str]], original_message_id: str) -> Bounce:
    """RFC 3464 section 2: one per-message block, then one block per recipient."""
    bounce = Bounce(original_message_id=original_message_id)
    for block in blocks:
        recipient = block.get("final-recipient") or block.get("original-recipient") or ""
        if not recipient:
            continue
        action = block.get("action", "").strip().lower()
        status = (_STATUS.search(block.get("status", "")) or [""])[0] if block.get("status") \
            else ""
        if action and action not in ("failed", "delayed"):
            continue
        address = recipient.split(";", 1)[-1].strip().strip("<>").lower()
        if action != "delayed" and address not in bounce.failed_recipients:
            bounce.failed_recipients.append(address)
        if not bounce.status or (status.startswith("5") and not bounce.status.startswith("5")):
            bounce.status = status
            bounce.diagnostic = " ".join(block.get("diagnostic-code", "").split())[:500]
    bounce.permanent = not bounce.status.startswith("4") and bool(bounce.failed_recipients)
    return bounce


def looks_like_bounce(sender: str, subject: str) -> bool:
    return bool(_MACHINE.match(sender)) and bool(_SUBJECT.search(subject)) \
        or bool(_SUBJECT.search(subject)) and sender.split("@")[0].lower() in ("", "postmaster")


def from_text(text: str, original_message_id: str, own: set[str]) -> Bounce:
    """A free-text bounce: what the part before the quoted copy says about whom and why."""
    text = text[:MAX_TEXT]
    mark = _COPY_MARK.search(text)
    head, tail = (text[:mark.start()], text[mark.end():]) if mark else (text, "")
    if not original_message_id:
        found = _MSGID.search(tail) or _MSGID.search(head)
        original_message_id = found.group(1) if found else ""
    recipients: list[str] = []
    for addr in _ADDR.findall(head):
        addr = addr.lower().strip(".")
        if addr not in recipients and addr not in own and not _MACHINE.match(addr):
            recipients.append(addr)
    status = ""
    diagnostic = ""
    match = _STATUS.search(head)
    if match:
        status = match.group(1)
    else:
        code = _SMTP.search(head)
        if code:
            status = f"{code.group(1)[0]}.0.0"
    if status:
        line_at = head.rfind("\n", 0, (match or _SMTP.search(head)).start()) + 1
        diagnostic = " ".join(head[line_at:head.find("\n", line_at) % (len(head) + 1)].split())
    return Bounce(original_message_id=original_message_id, failed_recipients=recipients[:20],
                  status=status, diagnostic=diagnostic[:500],
                  permanent=not status.startswith("4"))
