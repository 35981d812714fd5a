"""The schedule's pure parts and the period claims, on a throwaway SQLite database: when a
job is due, that a period is run once, that a dead instance's claim is taken again; the
fair share of mailboxes; ``[mailboxes.NAME]`` settings."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from mailproc import jobs
from mailproc.cluster import InstanceLock, fair_share, lock_key
from mailproc.config import load_settings
from mailproc.errors import ConfigError
from mailproc.mailboxes import names, settings_for

YAKUTSK = timezone(timedelta(hours=9))


def settings(**jobs_overrides):
    s = load_settings(environ={})
    return dataclasses.replace(s, jobs=dataclasses.replace(s.jobs, **jobs_overrides))


def job(name: str) -> jobs.Job:
    return next(j for j in jobs.JOBS if j.name == name)


def test_reminders_only_in_working_hours():
    s = settings()
    assert job("order-reminders").period(s, datetime(2026, 12, 15, 8, 59, tzinfo=YAKUTSK)) \
        is None
    morning = job("order-reminders").period(s, datetime(2026, 12, 15, 9, 0, tzinfo=YAKUTSK))
    later = job("order-reminders").period(s, datetime(2026, 12, 15, 9, 14, tzinfo=YAKUTSK))
    next_quarter = job("order-reminders").period(s, datetime(2026, 12, 15, 9, 15,
                                                             tzinfo=YAKUTSK))
    assert morning == later != next_quarter
    assert job("order-reminders").period(settings(working_hours=""),
                                         datetime(2026, 12, 15, 23, 0, tzinfo=YAKUTSK))


def test_daily_job_due_after_its_time_once_a_day():
    s = settings(retention_at="03:00")
    assert job("retention").period(s, datetime(2026, 12, 15, 2, 59, tzinfo=YAKUTSK)) is None
    assert job("retention").period(s, datetime(2026, 12, 15, 3, 0, tzinfo=YAKUTSK)) == \
        job("retention").period(s, datetime(2026, 12, 15, 23, 0, tzinfo=YAKUTSK)) == \
        "2026-12-15"


def test_a_period_is_claimed_once_and_a_dead_claim_is_taken_again(tmp_path):
    from mailproc.store import open_database

    db = open_database(f"sqlite:///{tmp_path}/db.sqlite3")
    now = datetime(2026, 12, 15, 1, 0, tzinfo=timezone.utc)
    first = jobs.claim(db, "mailings", "p1", stale=600, now=now)
    assert first is not None
    assert jobs.claim(db, "mailings", "p1", stale=600, now=now + timedelta(seconds=60)) is None
    assert jobs.claim(db, "mailings", "p2", stale=600, now=now) is not None
    # its instance died mid-run: after cluster.stale_job another takes it
    assert jobs.claim(db, "mailings", "p1", stale=600, now=now + timedelta(seconds=601)) == first
    jobs.finish(db, first, "ok")
    assert jobs.claim(db, "mailings", "p1", stale=600, now=now + timedelta(days=1)) is None
    db.dispose()


def test_a_failing_job_is_recorded_and_does_not_raise(tmp_path, monkeypatch):
    from mailproc.app import App

    s = dataclasses.replace(load_settings(environ={}), database=dataclasses.replace(
        load_settings(environ={}).database, url=f"sqlite:///{tmp_path}/db.sqlite3"))
    app = App(s)

    def boom(_app, _now):
        raise RuntimeError("reader@example.org")  # never logged: the type only

    broken = jobs.Job("mailings", boom, every=lambda _s: 60)
    assert jobs.run_job(app, broken) == "failed"
    assert jobs.run_job(app, broken) == "taken"
    with app.db.session() as session:
        (row,) = session.query(jobs.JobRun).all()
        assert row.outcome == "failed: RuntimeError"


def test_a_job_stopped_by_a_setting_names_it_in_the_log(tmp_path, caplog):
    from mailproc.app import App

    s = dataclasses.replace(load_settings(environ={}), database=dataclasses.replace(
        load_settings(environ={}).database, url=f"sqlite:///{tmp_path}/db.sqlite3"))
    app = App(s)

    def no_key(_app, _now):
        raise ConfigError("vault.key: no key for the registration documents' vault")

    with caplog.at_level("WARNING", logger="mailproc.jobs"):
        assert jobs.run_job(app, jobs.Job("retention", no_key, every=lambda _s: 60)) == "failed"
    assert "job retention failed: vault.key: no key" in caplog.text


def test_fair_share_and_keys():
    assert [fair_share(3, n) for n in (1, 2, 3, 4)] == [3, 2, 1, 1]
    assert lock_key("mailbox:a") == lock_key("mailbox:a") != lock_key("mailbox:b")
    assert -2 ** 63 <= lock_key("x") < 2 ** 63


def test_sqlite_instance_lock_is_exclusive(tmp_path):
    first = InstanceLock.for_url(f"sqlite:///{tmp_path}/db.sqlite3")
    first.acquire()
    second = InstanceLock.for_url(f"sqlite:///{tmp_path}/db.sqlite3")
    with pytest.raises(ConfigError, match="another mailproc"):
        second.acquire()
    first.release()
    second.acquire()
    second.release()
    assert InstanceLock.for_url("postgresql+psycopg://u@h/db") is None


def test_named_mailboxes(tmp_path):
    config = tmp_path / "mailproc.toml"
    config.write_text('[mail]\nfrom_address = "personbibl@nlrs.ru"\n'
                      '[mailboxes.main]\nurl = "imap://a@h:143/INBOX"\n'
                      '[mailboxes.school-2]\nurl = "imap://b@h:143/INBOX"\n'
                      'from_address = "school2@nlrs.ru"\nrules = "rules-school"\n'
                      'sent_folder = "Отправленные"\n', encoding="utf-8")
    s = load_settings(str(config), environ={"MAILPROC_MAILBOXES_SCHOOL_2_PASSWORD": "pw"})
    assert names(s) == ["main", "school-2"]
    school = settings_for(s, "school-2")
    assert school.mailbox.url == "imap://b@h:143/INBOX"
    assert school.mailbox.password == "pw"
    assert school.mail.from_address == "school2@nlrs.ru"
    assert school.mailbox.sent_folder == "Отправленные"
    assert school.paths.rules == str(tmp_path / "rules-school")
    assert settings_for(s, "main").mail.from_address == "personbibl@nlrs.ru"
    with pytest.raises(ConfigError, match="no such mailbox"):
        settings_for(s, "nope")
    config.write_text('[mailboxes.main]\nfolder = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="mailboxes.main.folder: unknown setting"):
        load_settings(str(config), environ={})
    assert names(load_settings(environ={})) == ["default"]
