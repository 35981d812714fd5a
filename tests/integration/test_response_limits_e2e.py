"""``rules.responses_per_sender`` with real Dovecot and SMTP servers and the shipped rules.

Six local-history questions from one address: the SMTP server receives at most the limit's
three messages caused by them (questions to the department and notices to the reader
together), the other questions wait for a librarian, and ``mailproc digest`` names the
sender with the number of messages withheld.
"""

from __future__ import annotations

import pytest

from tests.integration.test_questions_e2e import run, setup  # noqa: F401 - the fixture
from tests.servers.smtp import smtp_server  # noqa: F401 - the fixture
from tests.unit.questions_helpers import mail

pytestmark = pytest.mark.integration

READER = "flood@example.org"


def test_six_questions_cause_three_messages_in_all(setup):  # noqa: F811
    for n in range(6):
        setup.server.deliver(mail(READER, f"Помогите найти краеведческую литературу о селе "
                                          f"Чурапча, вопрос {n}.", f"Краеведение {n}"))
    run(setup, "run", "--once")
    got = setup.smtp.messages
    assert len(got) == 3, [m.rcpt_tos for m in got]
    to_department = [m for m in got if m.rcpt_tos == ["regbib@nlrs.example"]]
    to_reader = [m for m in got if m.rcpt_tos == [READER]]
    assert len(to_department) == 2 and len(to_reader) == 1
    states = sorted(s for (s,) in setup.sql(
        "SELECT state FROM question_cases WHERE reader_addr = ?", READER))
    assert states == ["new"] * 4 + ["routed"] * 2
    assert setup.sql("SELECT count(*) FROM response_limits WHERE sender = ?", READER) == [(5,)]
    digest = run(setup, "digest")
    assert "ЛИМИТ АВТОМАТИЧЕСКИХ ПИСЕМ: 1 отправитель, не отправлено 5 писем" in digest
    assert f"- {READER}: не отправлено 5 писем (лимит 3 в сутки)" in digest
