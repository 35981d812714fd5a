"""Several instances and several mailboxes, with real PostgreSQL, Dovecot and SMTP servers.

* The cluster drill, smaller: three instances on one PostgreSQL, three mailboxes, one
  instance SIGKILLed every few seconds and restarted: every message once, every outbox row
  once (bar the SMTP window the drill states), the mailing once per contact.
* Migrations: several instances starting together on an empty database migrate it once.
* One daemon, two mailboxes on SQLite: each reply leaves with its mailbox's From address and
  its copy lands in that mailbox's Sent folder.
* SQLite refuses a second instance with one line.
"""

from __future__ import annotations

import email
import email.policy
import signal
import subprocess
import sys
import uuid

import pytest

from tests.drills.cluster_drill import RULES, drop_database, letter, run_drill
from tests.servers.mailproc import dovecot_mailboxes, wait_for
from tests.servers.smtp import smtp_server  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration


def test_cluster_drill_small(tmp_path):
    pytest.importorskip("psycopg")
    try:
        drop_database(f"mp_probe_{uuid.uuid4().hex[:6]}")
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432 ({exc})")
    result = run_drill(tmp_path, instances=3, mailboxes=3, messages=60, contacts=40,
                       kill_every=3.0, seed=3, timeout=300, log=lambda *_: None)
    print(result.summary())
    assert result.kills >= 3
    assert result.rows == 180 and result.recorded_twice == 0 and result.lost == 0
    assert result.in_two_folders == 0 and result.left_in_inbox == 0 and result.not_done == 0
    assert result.outbox_rows == 180 + 40 and result.outbox_unsent == 0
    assert result.received - result.received_twice == result.outbox_rows
    assert result.received_unknown == 0
    assert len(result.window_gaps) == result.received_twice  # each one a kill after its "."
    assert sorted(result.mailing_per_contact.values()) == [1] * 40
    assert set(result.mailing_received) == set(result.mailing_per_contact)
    assert result.ok


def test_instances_starting_together_migrate_once(tmp_path, postgres):
    config = tmp_path / "mailproc.toml"
    config.write_text(f'[database]\nurl = "{postgres}"\n[paths]\ndata = "{tmp_path}/data"\n')
    procs = [subprocess.Popen([sys.executable, "-m", "mailproc", "--config", str(config), "db",
                               "upgrade"], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(4)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, outputs
    import psycopg

    with psycopg.connect(postgres.replace("+psycopg", "")) as con:
        heads = {r[0] for r in con.execute("SELECT version_num FROM alembic_version")}
        tables = {r[0] for r in con.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    from mailproc.store.migrate import alembic_config
    from alembic.script import ScriptDirectory

    assert heads == set(ScriptDirectory.from_config(alembic_config()).get_heads())
    assert {"messages", "outbox", "job_runs"} <= tables


def test_one_daemon_two_mailboxes(tmp_path, smtp_server):  # noqa: F811
    with dovecot_mailboxes(tmp_path, smtp_server.url, RULES, {
            "alpha": 'from_address = "alpha@nlrs.example"\n',
            "beta": 'from_address = "beta@nlrs.example"\nsent_folder = "Отправленные"\n',
    }) as (servers, env):
        servers[0].deliver(letter(0, 1))
        servers[1].deliver(letter(1, 2))
        log = tmp_path / "daemon.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "mailproc", "run"], env=env,
                                    cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
        try:
            try:
                wait_for(lambda: len(smtp_server.messages) == 2
                         and servers[0].count("Sent") == 1
                         and servers[1].count("Отправленные") == 1, timeout=60, interval=0.2)
            except TimeoutError:
                pytest.fail(log.read_text()[-3000:])
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        replies = {r.rcpt_tos[0]: email.message_from_bytes(r.raw, policy=email.policy.default)
                   for r in smtp_server.messages}
        assert replies["reader0x1@example.org"]["From"].addresses[0].addr_spec == \
            "alpha@nlrs.example"
        assert replies["reader1x2@example.org"]["From"].addresses[0].addr_spec == \
            "beta@nlrs.example"
        assert servers[0].count("INBOX") == 0 and servers[1].count("INBOX") == 0
        assert servers[1].count("Sent") == 0  # beta's copy went to its own Sent folder
        done = subprocess.run([sys.executable, "-m", "mailproc", "--mailbox", "beta",
                               "messages", "list", "--json"], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr


def test_second_instance_on_sqlite_refuses(mailproc_setup):
    proc = mailproc_setup.spawn("run")
    try:
        wait_for(lambda: mailproc_setup.daemon_state().get("mailbox") == "connected", 30)
        second = mailproc_setup.command("run", timeout=30)
        assert second.returncode == 78  # EX_CONFIG: mailproc.startup
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "another mailproc" in lines[0] and "SQLite" in lines[0]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    # once it has stopped, the next instance starts
    assert mailproc_setup.command("run", "--once").returncode == 0
