"""``mailproc orders ...`` as a librarian types it."""

from __future__ import annotations

import json

import pytest

from mailproc.cli import main
from tests.unit.test_orders_helpers import REPO


@pytest.fixture
def config(tmp_path, monkeypatch):
    path = tmp_path / "mailproc.toml"
    path.write_text(f"""
[paths]
data = "{tmp_path}/data"
rules = "{REPO}/rules"
templates = "{REPO}/templates"
[database]
url = "sqlite:///{tmp_path}/db.sqlite3"
[smtp]
url = "file:{tmp_path}/outbox"
""", encoding="utf-8")
    monkeypatch.setenv("MAILPROC_MAIL_TOKEN_SECRET", "cli-secret")
    return str(path)


def cli(config, capsys, *args) -> tuple[int, str, str]:
    code = main(["--config", config, "orders", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_create_list_show_cancel(config, capsys):
    code, out, _ = cli(config, capsys, "create", "--reader", "anna@example.org", "--title",
                       "Олонхо", "--author", "Ойунский", "--fund", "кх2", "--pages", "5-9")
    assert code == 0 and out.strip() == "order 2026-00001: requested"
    code, out, _ = cli(config, capsys, "create", "--reader", "b@example.org",
                       "--text", "хочу что-нибудь почитать")
    assert out.strip() == "order 2026-00002: needs_details, missing: title,pages,fund"
    code, out, _ = cli(config, capsys, "list", "--json")
    rows = json.loads(out)
    assert [(r["token"], r["state"], r["department"]) for r in rows] == [
        ("2026-00002", "needs_details", ""), ("2026-00001", "requested", "storage")]
    code, out, _ = cli(config, capsys, "list", "--state", "requested")
    assert "2026-00001" in out and "2026-00002" not in out
    code, out, _ = cli(config, capsys, "cancel", "2026-00001", "--note", "читатель передумал")
    assert code == 0
    code, out, _ = cli(config, capsys, "show", "2026-00001", "--json")
    shown = json.loads(out)
    assert shown["state"] == "cancelled" and shown["pages"] == "5-9" and shown["fund"] == "КХ2"
    assert [e["event"] for e in shown["events"]] == ["created", "requested", "cancelled"]
    assert shown["events"][-1]["actor"] == "librarian"
    code, _out, err = cli(config, capsys, "cancel", "2026-00001")
    assert code == 1 and "already cancelled" in err


def test_unknown_token(config, capsys):
    code, _out, err = cli(config, capsys, "show", "2026-09999")
    assert code == 1 and "no order 2026-09999" in err


def test_remind_now(config, capsys):
    cli(config, capsys, "create", "--reader", "a@example.org", "--title", "Олонхо", "--fund",
        "КХ", "--pages", "1")
    code, out, _ = cli(config, capsys, "remind")
    assert code == 0 and out.strip() == "reminders queued: 0"
