"""The shipped sample mailbox reads cleanly: every subject, name and file name in Russian."""

from __future__ import annotations

from mailproc.commands.demo import sample_messages
from mailproc.letter import decode_letter


def test_sample_mailbox_decodes_cleanly() -> None:
    messages = dict(sample_messages())
    assert 12 <= len(messages) <= 20
    letters = {name: decode_letter(raw) for name, raw in messages.items()}
    for name, letter in letters.items():
        seen = letter.subject + letter.text + letter.sender.name + \
            "".join(a.name for a in letter.attachments)
        assert "\ufffd" not in seen, name
        assert letter.sender.email.endswith(("example.org", "nlrs.example")), name
        assert letter.text or letter.attachments, name
    assert letters["03-question-local-history.eml"].subject == "Краеведческий запрос"
    assert letters["07-registration-photos-no-subject.eml"].subject == ""
    assert all(a.type.startswith("image/") and a.size < 60_000
               for a in letters["07-registration-photos-no-subject.eml"].attachments)
    assert letters["10-out-of-office.eml"].automatic
    bounce = letters["11-bounce.eml"].bounce
    assert bounce is not None and bounce.failed_recipients == ["lost.reader@example.org"]
    assert bounce.original_message_id == "<reply-2026-00007@nlrs.ru>"
    assert letters["12-newsletter.eml"].automatic
    assert "КХ2" in letters["04-order-fragment-kh2.eml"].text
