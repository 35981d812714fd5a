"""Commands on the library's data refuse to run without the service's settings (issue 22, 1).

The real ``mailproc`` command is run in an empty folder with a cleaned environment, as an
administrator who forgot ``MAILPROC_CONFIG`` would: it must say where it looked, exit 78
(EX_CONFIG) and leave nothing behind, instead of making a fresh database where it stands.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mailproc.config import SYSTEM_CONFIG, find_config_file, load_settings, require_file
from mailproc.errors import NoSettingsError
from mailproc.store import open_database
from mailproc.store.models import Message

pytestmark = pytest.mark.skipif(SYSTEM_CONFIG.exists(),
                                reason=f"{SYSTEM_CONFIG} exists on this machine")

EX_CONFIG = 78


def mailproc(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``mailproc ARGS`` in ``cwd`` with no MAILPROC_* variable and a HOME of its own."""
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd.parent / "home"), "LANG": "C.UTF-8"}
    return subprocess.run([sys.executable, "-m", "mailproc", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def empty(tmp_path) -> Path:
    where = tmp_path / "here"
    where.mkdir()
    (tmp_path / "home").mkdir()
    return where


def settings_file(folder: Path, db: Path) -> Path:
    config = folder / "mailproc.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{db}"\n[paths]\n'
                      f'data = "{folder / "data"}"\n[mail]\ntimezone = "Asia/Yakutsk"\n',
                      encoding="utf-8")
    return config


def filled_database(db: Path) -> None:
    with open_database(f"sqlite:///{db}").transaction() as s:
        s.add(Message(mailbox="maildir:/x", uidvalidity=7, uid="1", content_hash="h" * 64,
                      subject="Вопрос", letter={"text": "Здравствуйте"}, state="done",
                      received_at=datetime(2026, 11, 20, 1, 2, 3, tzinfo=timezone.utc)))


@pytest.mark.parametrize("command", [["backup", "x.tar.gz"], ["status"],
                                     ["messages", "list"], ["config", "check"]])
def test_a_command_on_the_data_refuses_defaults_and_says_where_it_looked(empty, command):
    done = mailproc(empty, *command)
    assert done.returncode == EX_CONFIG, done.stdout + done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("mailproc: no settings file")
    assert f"{empty / 'mailproc.toml'}" in line and "/etc/mailproc/mailproc.toml" in line
    assert "$MAILPROC_CONFIG" in line and "--config" in line
    assert done.stdout == ""
    assert list(empty.iterdir()) == []  # no database, no data folder, no archive


def test_with_the_settings_file_the_same_commands_work(empty, tmp_path):
    db = tmp_path / "library.sqlite3"
    filled_database(db)
    config = settings_file(tmp_path, db)
    done = mailproc(empty, "--config", str(config), "messages", "list")
    assert done.returncode == 0, done.stderr
    assert "Вопрос" in done.stdout
    done = mailproc(empty, "--config", str(config), "backup", str(tmp_path / "b.tar.gz"))
    assert done.returncode == 0, done.stderr
    assert "1 rows in" in done.stdout and (tmp_path / "b.tar.gz").is_file()
    # ./mailproc.toml is found without being named
    done = mailproc(tmp_path, "status")
    assert done.returncode == 0, done.stderr
    assert list(empty.iterdir()) == []


def test_pure_commands_run_on_defaults(empty):
    assert mailproc(empty, "config", "example").returncode == 0
    eml = empty.parent / "one.eml"
    eml.write_bytes(b"From: reader@example.org\r\nSubject: hi\r\n\r\nbody\r\n")
    done = mailproc(empty, "inspect", str(eml))
    assert done.returncode == 0, done.stderr
    rules = Path(__file__).resolve().parents[2] / "rules"
    done = mailproc(empty, "rules", "check", "--rules", str(rules))
    assert done.returncode == 0, done.stderr
    assert list(empty.iterdir()) == []


def test_backup_of_a_missing_database_fails_and_creates_none(empty, tmp_path):
    db = tmp_path / "nowhere.sqlite3"
    config = settings_file(tmp_path, db)
    done = mailproc(empty, "--config", str(config), "backup", str(tmp_path / "b.tar.gz"))
    assert done.returncode != 0
    assert done.stderr.strip() == (f"mailproc: no database at {db} (database.url): nothing to "
                                   f"back up; check that these are the service's settings")
    assert not db.exists() and not (tmp_path / "b.tar.gz").exists()


def test_backup_of_an_empty_database_fails_and_writes_nothing(empty, tmp_path):
    db = tmp_path / "empty.sqlite3"
    open_database(f"sqlite:///{db}")  # created and migrated: every table, no row
    config = settings_file(tmp_path, db)
    done = mailproc(empty, "--config", str(config), "backup", str(tmp_path / "b.tar.gz"))
    assert done.returncode != 0
    assert "holds no rows: nothing to back up" in done.stderr
    assert not list(tmp_path.glob("b.tar.gz*"))


def test_look_up_order_ends_with_the_service_settings(tmp_path, monkeypatch):
    system = tmp_path / "etc" / "mailproc.toml"  # stands for /etc/mailproc/mailproc.toml
    system.parent.mkdir()
    system.write_text('[mail]\nfrom_name = "service"\n', encoding="utf-8")
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    assert find_config_file(None, {}, system) == system
    local = here / "mailproc.toml"
    local.write_text("", encoding="utf-8")
    assert find_config_file(None, {}, system) == Path("mailproc.toml")
    env = tmp_path / "env.toml"
    env.write_text("", encoding="utf-8")
    assert find_config_file(None, {"MAILPROC_CONFIG": str(env)}, system) == env
    assert find_config_file(str(system), {"MAILPROC_CONFIG": str(env)}, system) == system


def test_the_service_settings_are_read_when_nothing_else_is_given(tmp_path, monkeypatch):
    system = tmp_path / "etc" / "mailproc.toml"
    system.parent.mkdir()
    system.write_text('[mail]\nfrom_name = "service"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("mailproc.config.SYSTEM_CONFIG", system)
    settings = load_settings(None, environ={})
    assert (settings.source, settings.mail.from_name) == (str(system), "service")
    assert require_file(settings) is settings
    monkeypatch.setattr("mailproc.config.SYSTEM_CONFIG", tmp_path / "absent.toml")
    with pytest.raises(NoSettingsError, match="absent.toml"):
        require_file(load_settings(None, environ={}))


def test_an_unreadable_etc_folder_is_named(tmp_path, monkeypatch):
    system = tmp_path / "etc" / "mailproc.toml"
    system.parent.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("mailproc.config.os.access", lambda path, mode: False)  # not root
    with pytest.raises(NoSettingsError) as refused:
        require_file(load_settings(None, environ={}), system)
    assert f"({system.parent} is not readable by this user: run the command as the " \
           f"service's user, e.g. sudo -u mailproc mailproc ...)" in str(refused.value)


def test_demo_never_runs_on_the_service_settings(tmp_path, monkeypatch, capsys):
    """A demo tried on the server keeps to its embedded defaults: not the service's rules,
    not its data folder (here: a rules folder that does not exist would file nothing)."""
    from mailproc.cli import main

    service = tmp_path / "etc" / "mailproc.toml"
    service.parent.mkdir()
    service.write_text(f'[paths]\ndata = "{tmp_path / "service"}"\n'
                       f'rules = "{tmp_path / "no-rules"}"\n', encoding="utf-8")
    monkeypatch.setattr("mailproc.config.SYSTEM_CONFIG", service)
    monkeypatch.chdir(Path(__file__).resolve().parents[2])  # as `make demo` runs it
    monkeypatch.delenv("MAILPROC_CONFIG", raising=False)
    assert load_settings(None).source == str(service)  # what any other command reads
    assert main(["demo", "--data", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "создан заказ " in out and "на разбор: 0" in out
    assert not (tmp_path / "service").exists()
