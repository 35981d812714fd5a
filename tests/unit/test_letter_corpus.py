"""The labelled corpus decodes to exactly the text and names that were put into each message.

tests/fixtures/letters/make_corpus.py writes the messages and, beside each, the expected values
taken from its own input (not from the decoder).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailproc.letter import Letter, decode_letter

FOLDER = Path(__file__).resolve().parents[1] / "fixtures" / "letters"
CASES = sorted(FOLDER.glob("*.eml"))


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 60


def _check(letter: Letter, expected: dict) -> None:
    assert letter.subject == expected["subject"]
    assert letter.sender.name == expected["from_name"]
    assert letter.sender.email == expected["from_email"]
    assert letter.text == expected["text"]
    got = [{"name": a.name, "type": a.type, "size": a.size} for a in letter.attachments]
    assert got == expected["attachments"]
    assert "\ufffd" not in letter.text + letter.subject + "".join(a.name for a in letter.attachments)
    if "message_id" in expected:
        assert letter.message_id == expected["message_id"]


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_letter_decodes_exactly(path: Path) -> None:
    expected = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    letter = decode_letter(path.read_bytes())
    _check(letter, expected)
    assert letter.automatic == expected["automatic"], letter.automatic_reason
    if expected["bounce"] is None:
        assert letter.bounce is None
    else:
        assert letter.bounce is not None
        for key, value in expected["bounce"].items():
            assert getattr(letter.bounce, key) == value, key
    assert len(letter.forwarded) == len(expected["forwarded"])
    for inner, want in zip(letter.forwarded, expected["forwarded"]):
        _check(inner, want)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_fast_path_reads_the_same_as_the_feed_parser(path: Path, monkeypatch) -> None:
    """The multipart fast path (used for big messages) must not change what is read."""
    from mailproc.letter import fastparse

    raw = path.read_bytes()
    slow = decode_letter(raw).to_json()
    monkeypatch.setattr(fastparse, "FAST_MIN_SIZE", 0)
    assert decode_letter(raw).to_json() == slow
