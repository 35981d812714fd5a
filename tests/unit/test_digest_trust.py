"""The digest and sender authentication: it lists the letters refused for claiming a
department without passing authentication, and says when department mail is not verified."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mailproc.cli import main
from mailproc.store.models import Message

UTC = timezone.utc
REFUSED = ("MessageError: письмо от имени «Отдел хранения документов» (storage@nlrs.example) "
           "не прошло проверку подлинности: DMARC fail")


@pytest.fixture
def config(tmp_path):
    def write(trust: str = "") -> str:
        path = tmp_path / "mailproc.toml"
        path.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/m.sqlite3"\n'
                        f'[paths]\ndata = "{tmp_path / "data"}"\n{trust}', encoding="utf-8")
        return str(path)
    return write


def _messages(config_path: str) -> None:
    from mailproc.app import App
    from mailproc.config import load_settings

    app = App(load_settings(config_path, environ={}))
    rows = [  # (uid, state, received (UTC), reason)
        ("1", "review", datetime(2026, 11, 20, 3, 0, tzinfo=UTC), REFUSED),  # old, still waits
        ("2", "done", datetime(2026, 11, 20, 3, 0, tzinfo=UTC), REFUSED),  # old, handled
        ("3", "done", datetime(2026, 11, 25, 9, 0, tzinfo=UTC), REFUSED),  # since the last one
        ("4", "review", datetime(2026, 11, 25, 9, 0, tzinfo=UTC), "вложение не открывается"),
    ]
    with app.db.transaction() as s:
        for uid, state, when, reason in rows:
            s.add(Message(mailbox="INBOX", uidvalidity=1, uid=uid, content_hash=f"h{uid}",
                          subject=f"Письмо {uid}", from_addr="storage@nlrs.example",
                          received_at=when, state=state, category="review", reason=reason))
    app.db.dispose()


def test_digest_lists_refused_letters_and_says_when_unverified(config, capsys):
    path = config()
    _messages(path)
    assert main(["--config", path, "digest", "--date", "2026-11-26"]) == 0
    out = capsys.readouterr().out
    assert "НЕ ПРОШЛИ ПРОВЕРКУ ПОДЛИННОСТИ: 2 (письма от имени отделов" in out
    section = out.split("НЕ ПРОШЛИ ПРОВЕРКУ ПОДЛИННОСТИ")[1]
    assert "№1 «Письмо 1»" in section and "№3 «Письмо 3»" in section
    assert "№2 «Письмо 2»" not in section and "№4" not in section.split("\n\n")[0]
    assert (": письмо от имени «Отдел хранения документов» (storage@nlrs.example) не прошло "
            "проверку подлинности: DMARC fail") in section
    assert "MessageError" not in section
    assert "ПОДЛИННОСТЬ ПИСЕМ ОТДЕЛОВ НЕ ПРОВЕРЯЕТСЯ" in out


def test_digest_is_quiet_about_trust_when_verified_and_nothing_refused(config, capsys):
    path = config('[trust]\nauthserv_ids = ["mail.nlrs.example"]\n')
    assert main(["--config", path, "digest", "--date", "2026-11-26", "--json"]) == 0
    import json

    data = json.loads(capsys.readouterr().out)
    assert data["trust"] == {"unverified": False,
                             "refused": {"shown": [], "count": 0, "more": 0}}
    assert main(["--config", path, "digest", "--date", "2026-11-26"]) == 0
    out = capsys.readouterr().out
    assert "ПОДЛИННОСТ" not in out
