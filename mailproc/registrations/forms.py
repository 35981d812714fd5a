"""Registration forms on request (instruction 2.10: "рассылает регистрационные документы").

The forms are files the library supplies under ``templates/forms/`` (PDF or Word); every file
there is attached, in name order, to the reader/registration_forms answer.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from mailproc.registrations.common import outbox

FORM_SUFFIXES = (".pdf", ".doc", ".docx", ".odt", ".rtf", ".jpg", ".png")


def form_files(settings) -> list[Path]:
    folder = Path(settings.paths.templates) / "forms"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FORM_SUFFIXES)


def send_forms(ctx) -> dict:
    from mailproc.outbound.outbox import OutAttachment

    files = form_files(ctx.settings)
    attachments = [OutAttachment(p.name, mimetypes.guess_type(p.name)[0]
                                 or "application/octet-stream", p.read_bytes()) for p in files]
    message_id = getattr(ctx.message, "id", None) or ctx.letter.content_hash[:16]
    row = outbox(ctx, to=ctx.letter.sender.email, template="reader/registration_forms",
                 context={"forms": [p.stem for p in files]}, kind="reply",
                 in_reply_to=ctx.letter, attachments=attachments,
                 auto_submitted="auto-replied", dedupe_key=f"registration-forms-{message_id}")
    return {"forms": len(files), "queued": row is not None}
