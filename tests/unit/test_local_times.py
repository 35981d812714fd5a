"""Every time a command prints is in ``mail.timezone`` with its offset (issue 22, point 6).

``status`` used to print the last message in UTC and the next digest in +09:00 side by side.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from mailproc.cli import main
from mailproc.localtime import local_time
from mailproc.store import open_database
from mailproc.store.models import Decision, Message

RECEIVED = datetime(2026, 11, 20, 1, 2, 3, tzinfo=timezone.utc)
PROCESSED = datetime(2026, 11, 20, 1, 5, 0, tzinfo=timezone.utc)


def installation(tmp_path, zone: str) -> str:
    db = tmp_path / "db.sqlite3"
    with open_database(f"sqlite:///{db}").transaction() as s:
        m = Message(mailbox="maildir:/x", uidvalidity=7, uid="1", content_hash="h" * 64,
                    subject="Вопрос", letter={"text": "Здравствуйте"}, state="done",
                    received_at=RECEIVED, updated_at=PROCESSED)
        s.add(m)
        s.add(Decision(message=m, category="question", rule="вопросы", trace=[],
                       decided_at=PROCESSED))
    config = tmp_path / "mailproc.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{db}"\n[paths]\ndata = "{tmp_path}/data"\n'
                      f'rules = ""\n[mail]\ntimezone = "{zone}"\n', encoding="utf-8")
    return str(config)


@pytest.mark.parametrize("zone, received, processed, offset", [
    ("Asia/Yakutsk", "2026-11-20 10:02:03+09:00", "2026-11-20 10:05:00+09:00", "+09:00"),
    ("Europe/Moscow", "2026-11-20 04:02:03+03:00", "2026-11-20 04:05:00+03:00", "+03:00"),
])
def test_status_shows_every_time_in_the_library_zone(tmp_path, capsys, zone, received,
                                                     processed, offset):
    config = installation(tmp_path, zone)
    assert main(["--config", config, "status"]) == 0
    out = capsys.readouterr().out
    assert f"last message:   {received}\n" in out
    assert f"last processed: {processed}\n" in out
    [digest] = [line for line in out.splitlines() if line.startswith("next digest:")]
    assert digest.endswith(offset)  # the digest's own time of day, same zone
    assert "+00:00" not in out and "T" not in digest
    assert main(["--config", config, "status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["last_message_at"], data["last_processed_at"]) == (received, processed)
    assert data["next_runs"]["digest"].endswith(offset)


def test_message_commands_show_the_same_zone(tmp_path, capsys):
    config = installation(tmp_path, "Asia/Yakutsk")
    assert main(["--config", config, "messages", "list", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["received_at"] == "2026-11-20 10:02:03+09:00"
    assert main(["--config", config, "messages", "show", str(row["id"]), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["decisions"][0]["decided_at"] == "2026-11-20 10:05:00+09:00"


def test_local_time_reads_back_as_the_same_moment():
    from zoneinfo import ZoneInfo

    text = local_time(RECEIVED, ZoneInfo("Asia/Yakutsk"))
    assert datetime.fromisoformat(text) == RECEIVED
    assert local_time(RECEIVED.replace(tzinfo=None), ZoneInfo("UTC")) == \
        "2026-11-20 01:02:03+00:00"  # a naive time is UTC, as the database stores it
    assert local_time(None, ZoneInfo("UTC")) is None
