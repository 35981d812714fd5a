""""Automatic" means one thing everywhere (mailproc.letter.marks.is_automatic): a librarian's
rule that forgets ``not: automatic`` must not let a no-reply robot create an order that goes
to a department. Real Dovecot and SMTP, the shipped rules and a
librarian's own orders rule before them."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.servers.mailproc import MailprocSetup, message_ids_by_folder
from tests.servers.smtp import smtp_server  # noqa: F401 - the fixture
from tests.unit.test_orders_helpers import REPO

pytestmark = pytest.mark.integration

ROBOT_ORDER = (
    "From: Электронный каталог <noreply@catalog.example.org>\r\n"
    "To: personbibl@nlrs.example\r\nSubject: Заказ копии\r\n"
    "Message-ID: <robot-order@catalog.example.org>\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    "Прошу прислать копию страниц 10-12 книги «История Якутии», шифр КХ 63.3.\r\n").encode()
PERSON_ORDER = ROBOT_ORDER.replace(b"noreply@catalog.example.org", b"anna@example.org") \
    .replace(b"<robot-order@", b"<person-order@")


@pytest.fixture
def setup(tmp_path, dovecot, smtp_server):  # noqa: F811
    s = MailprocSetup(tmp_path / "mp", dovecot)
    for f in (REPO / "rules").glob("*.yaml"):
        shutil.copy(f, s.rules / f.name)
    # the librarian's own rule, before the shipped ones, without "not: automatic"
    (s.rules / "01-my-orders.yaml").write_text(
        "- name: Мои заказы\n"
        "  description: Заказы читателей\n"
        "  when:\n"
        "    all:\n"
        "      - order-request\n"
        "  then:\n"
        "    - set-category: order\n"
        "    - move-to-folder: Заказы\n"
        "    - create-order\n", encoding="utf-8")
    s.env["MAILPROC_PATHS_TEMPLATES"] = str(REPO / "templates")
    s.env["MAILPROC_SMTP_URL"] = smtp_server.url
    s.env["MAILPROC_MAIL_TOKEN_SECRET"] = "e2e-secret"
    s.smtp = smtp_server
    return s


def test_a_no_reply_robot_creates_no_order_even_when_the_rule_forgets_not_automatic(setup):
    assert setup.command("rules", "check").returncode == 0
    setup.server.deliver(ROBOT_ORDER)
    setup.server.deliver(PERSON_ORDER)
    done = setup.command("run", "--once")
    assert done.returncode == 0, done.stderr
    orders = json.loads(setup.command("orders", "list", "--json").stdout)
    # the person's order exists and went to the department; the robot's does not
    assert len(orders) == 1, orders
    to = sorted(a for r in setup.smtp.messages for a in r.rcpt_tos)
    assert "noreply@catalog.example.org" not in to
    assert all(b"robot-order" not in r.raw for r in setup.smtp.messages)
    # filed where the librarian's rule puts it, done, no order: not a review item whose
    # reason speaks of an answer limit (what the order action's limit check said before)
    assert "<robot-order@catalog.example.org>" in message_ids_by_folder(setup.server)["Заказы"]
    assert {r.message_id: r.state for r in setup.rows()}["<robot-order@catalog.example.org>"] \
        == "done"
