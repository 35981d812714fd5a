"""``mailproc inspect``: what a librarian sees for a message file; never a traceback."""

from __future__ import annotations

import json
import random
from pathlib import Path

from mailproc.cli import main

LETTERS = Path(__file__).resolve().parents[1] / "fixtures" / "letters"


def _inspect(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["inspect", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_has_the_documented_keys(capsys) -> None:
    code, out, _ = _inspect(capsys, str(LETTERS / "29-photos-2.eml"), "--json")
    data = json.loads(out)
    assert code == 0
    for key in ("from", "to", "subject", "text", "message_id", "automatic", "bounce",
                "attachments", "defects"):
        assert key in data
    assert [(a["name"], a["type"]) for a in data["attachments"]] == [
        ("Анкета.jpg", "image/jpeg"), ("Заявление.jpg", "image/jpeg"),
        ("Согласие на обработку ПД.jpg", "image/jpeg")]
    assert all(a["size"] > 0 for a in data["attachments"])


def test_text_output_shows_bounce_and_forwarded(capsys) -> None:
    code, out, _ = _inspect(capsys, str(LETTERS / "57-bounce-dsn-1.eml"))
    assert code == 0
    assert "bounce (5.1.1 permanent for lost.reader@example.org" in out
    assert "Forwarded message:" in out and "Subject:     Ответ" in out


def test_koi8_without_charset_reads_as_russian(capsys) -> None:
    _, out, _ = _inspect(capsys, str(LETTERS / "20-question-koi8-r-8bit-undeclared.eml"))
    assert "Subject:     Доступ к ЛитРес" in out
    assert "логин неверный" in out


def test_garbage_and_empty_files_do_not_crash(capsys, tmp_path) -> None:
    rng = random.Random(7)
    for i, data in enumerate([b"", b"\x00" * 100, rng.randbytes(5000),
                              b"Subject: \xff\xfe\xed\r\n\r\n\xd0"]):
        path = tmp_path / f"{i}.eml"
        path.write_bytes(data)
        assert _inspect(capsys, str(path))[0] == 0
        code, out, _ = _inspect(capsys, str(path), "--json")
        assert code == 0 and json.loads(out)["message_id"].endswith("@mailproc.invalid>")


def test_missing_file_is_one_line(capsys, tmp_path) -> None:
    code, out, err = _inspect(capsys, str(tmp_path / "nope.eml"))
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and "nope.eml" in err
