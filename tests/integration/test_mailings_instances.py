"""Several instances running the plan at once (SQLite and PostgreSQL): one issue, every
recipient queued once."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import func, select

from tests.unit.outreach_helpers import ROOT, Install

sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "registry"))
from make_registry import staff_list  # noqa: E402

pytestmark = pytest.mark.integration
INSTANCES, CONTACTS = 3, 200


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield ""
        return
    psycopg = pytest.importorskip("psycopg")
    name = f"mp_outreach_{uuid.uuid4().hex[:8]}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as con:
            con.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432 ({exc})")
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_instances_share_the_plan(tmp_path, capsys, db_url):
    from mailproc.outbound.models import OutboxMessage
    from mailproc.outreach.models import MailingDelivery, MailingIssue

    inst = Install(tmp_path, db_url=db_url)
    staff_list(tmp_path / "s.csv", CONTACTS, position="учитель")
    inst.run(capsys, "contacts", "import", str(tmp_path / "s.csv"))
    env = {**os.environ, "MAILPROC_OUTREACH_BATCH": "10"}
    procs = [subprocess.Popen([sys.executable, "-m", "mailproc", "--config", str(inst.config),
                               "mailings", "run-due", "--at", "2026-12-01T10:05+09:00"],
                              env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
             for _ in range(INSTANCES)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    app = inst.app()
    with app.db.session() as s:
        assert s.scalar(select(func.count()).select_from(MailingIssue)) == 1
        statuses = s.execute(select(MailingDelivery.status, func.count())
                             .group_by(MailingDelivery.status)).all()
        assert statuses == [("queued", CONTACTS)]
        keys = list(s.scalars(select(OutboxMessage.dedupe_key).where(
            OutboxMessage.kind == "mailing")))
        # one Sent copy for the issue, whichever instance queued which batch (issue 22)
        copies = list(s.scalars(select(OutboxMessage.id).where(
            OutboxMessage.kind == "mailing", OutboxMessage.copied.is_(False))))
        assert copies == [s.scalar(select(MailingIssue.copy_outbox_id))]
    assert len(keys) == len(set(keys)) == CONTACTS
    app.db.dispose()
