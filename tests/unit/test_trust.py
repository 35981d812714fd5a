"""Sender authentication (mailproc.trust): the server's verdict read from Authentication-Results
(RFC 8601) of trusted authserv-ids only and only the topmost, alignment, relays, the sender
classes and the one gate in the Sorter."""

from __future__ import annotations

import dataclasses
import logging
import random
from pathlib import Path

import pytest

from mailproc.config import TrustSettings, load_settings
from mailproc.errors import ConfigError, MessageError
from mailproc.letter import decode_letter
from mailproc.sorting import conditions  # noqa: F401 - registers the conditions
from mailproc.sorting.decision import ActionCall, Decision
from mailproc.sorting.directory import Directory, load_directory
from mailproc.sorting.facts import offline_facts
from mailproc.sorting.registry import CONDITIONS, catalogue
from mailproc.sorting.runtime import refuse_impostor
from mailproc.trust import authenticate, claim_of, judge, policy
from mailproc.trust.auth import aligned
from mailproc.trust.relay import relayed_by, seen_hosts
from mailproc.trust.verdict import parse, server_verdict

REPO = Path(__file__).resolve().parents[2]
DIRECTORY = load_directory(REPO / "rules" / "departments.yaml")
TRUST = TrustSettings(authserv_ids=("mail.nlrs.example",))
AR = "Authentication-Results"


def letter(*headers: tuple[str, str], sender: str = "storage@nlrs.example"):
    top = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return decode_letter((top + f"From: Отдел хранения <{sender}>\r\nTo: personbibl@nlrs.ru\r\n"
                          "Subject: фото\r\nMessage-ID: <x@nlrs.example>\r\n\r\nВот.\r\n")
                         .encode())


def settings(**trust):
    base = load_settings(environ={})
    return dataclasses.replace(base, trust=dataclasses.replace(TRUST, **trust))


# -- the verdict: which header counts -------------------------------------------------------


def test_only_the_topmost_header_of_a_trusted_id_counts():
    headers = [
        (AR, "evil.example; dmarc=pass header.from=nlrs.example"),  # foreign, above
        ("Received", "from x by mail.nlrs.example"),
        (AR, "Mail.NLRS.example; dmarc=fail header.from=nlrs.example"),  # ours, topmost
        (AR, "mail.nlrs.example; dmarc=pass header.from=nlrs.example"),  # forged, below
    ]
    verdict = server_verdict(headers, ["mail.nlrs.example"])
    assert verdict.authserv_id == "mail.nlrs.example"
    assert [(r.method, r.result) for r in verdict.results] == [("dmarc", "fail")]
    assert server_verdict(headers, ["other.example"]) is None
    assert server_verdict(headers, []) is None


def test_results_keep_their_properties():
    verdict = parse("mail.nlrs.example 1; spf=pass smtp.mailfrom=bounce@nlrs.example; "
                    "dkim=pass (good signature) header.d=nlrs.example header.s=sel; "
                    "dmarc=pass (p=reject dis=none) header.from=nlrs.example")
    assert [str(r) for r in verdict.results] == [
        "spf=pass smtp.mailfrom=bounce@nlrs.example",
        "dkim=pass header.d=nlrs.example header.s=sel",
        "dmarc=pass header.from=nlrs.example"]
    assert parse("mail.nlrs.example; none").results == ()


@pytest.mark.parametrize("value", [
    "", ";;;", "mail.nlrs.example; dkim=", "mail.nlrs.example 2; dmarc=pass",
    "mail.nlrs.example; dkim=pass header.d=ячейка.рф", "(только комментарий",
    "\x00\x01; dmarc=pass", "mail.nlrs.example; dmarc=pass header.from=(", "=?utf-8?q?x?=",
])
def test_malformed_headers_never_raise(value):
    verdict = parse(value)
    assert verdict.readable in (True, False)
    assert server_verdict([(AR, value)], ["mail.nlrs.example"]) in (None, verdict)


def test_random_junk_never_raises():
    rng = random.Random(17)
    alphabet = "mail.nlrs.example;=() \"\\dkimpassfail@\t\r\nяё\x00"
    for _ in range(2000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        parse(value)
        authenticate(letter((AR, value.replace("\r", "").replace("\n", " "))), TRUST)


def test_an_unreadable_trusted_header_fails_a_foreign_one_is_skipped():
    bad = letter((AR, "mail.nlrs.example; dkim="))
    auth = authenticate(bad, TRUST)
    assert auth.status == "fail" and "не читается" in auth.why
    skipped = letter((AR, "evil.example; dkim="),
                     (AR, "mail.nlrs.example; dmarc=pass header.from=nlrs.example"))
    assert authenticate(skipped, TRUST).status == "pass"


# -- alignment ------------------------------------------------------------------------------


@pytest.mark.parametrize("a, b, same", [
    ("nlrs.example", "nlrs.example", True),
    ("NLRS.example.", "nlrs.example", True),
    ("mail.nlrs.example", "nlrs.example", True),  # relaxed: a subdomain signs
    ("nlrs.example", "storage.nlrs.example", True),  # relaxed: the From is a subdomain
    ("evilnlrs.example", "nlrs.example", False),  # a suffix, not a subdomain
    ("nlrs.example.evil", "nlrs.example", False),
    ("example", "nlrs.example", False),  # a single label never aligns
    ("", "nlrs.example", False),
    ("нлрс.рф", "xn--k1adke.xn--p1ai", True),  # IDNA: U-label and A-label
])
def test_alignment(a, b, same):
    assert aligned(a, b) is same


def test_dmarc_pass_for_the_from_domain_passes():
    auth = authenticate(letter((AR, "mail.nlrs.example; dmarc=pass header.from=nlrs.example")),
                        TRUST)
    assert (auth.status, auth.how) == ("pass", "dmarc")
    other = authenticate(letter((AR, "mail.nlrs.example; dmarc=pass header.from=evil.example")),
                         TRUST)
    assert other.status == "fail" and "evil.example" in other.why


def test_dkim_must_be_aligned():
    good = letter((AR, "mail.nlrs.example; dkim=pass header.d=mail.nlrs.example; dmarc=none"))
    assert authenticate(good, TRUST).how == "dkim"
    by_i = letter((AR, "mail.nlrs.example; dkim=pass header.i=@nlrs.example"))
    assert authenticate(by_i, TRUST).how == "dkim"
    foreign = authenticate(letter((AR, "mail.nlrs.example; dkim=pass header.d=evil.example")),
                           TRUST)
    assert foreign.status == "fail"
    assert foreign.why == "DKIM pass для чужого домена evil.example"


def test_aligned_spf_only_when_the_settings_say_so():
    mail = letter((AR, "mail.nlrs.example; spf=pass smtp.mailfrom=bounce@nlrs.example; "
                       "dmarc=none"))
    off = authenticate(mail, TRUST)
    assert off.status == "fail" and "spf_aligned" in off.why
    on = dataclasses.replace(TRUST, spf_aligned=True)
    assert authenticate(mail, on).how == "spf"
    foreign = letter((AR, "mail.nlrs.example; spf=pass smtp.mailfrom=evil.example"))
    assert authenticate(foreign, on).status == "fail"


def test_fail_reason_names_what_failed():
    auth = authenticate(letter((AR, "mail.nlrs.example; spf=softfail smtp.mailfrom=x.example; "
                                    "dkim=none; dmarc=fail header.from=nlrs.example")), TRUST)
    assert auth.status == "fail"
    assert auth.why == "DMARC fail, SPF softfail"


def test_no_verdict_and_no_configuration():
    assert authenticate(letter(), TRUST).status == "none"
    assert authenticate(letter((AR, "mail.nlrs.example; none")), TRUST).status == "none"
    assert authenticate(letter((AR, "evil.example; dmarc=pass")), TRUST).status == "none"
    off = authenticate(letter((AR, "mail.nlrs.example; dmarc=pass")), TrustSettings())
    assert off.status == "off"


# -- relays ---------------------------------------------------------------------------------


def test_received_hosts_are_what_the_server_saw_never_the_helo():
    assert seen_hosts("from EXCH (exch.nlrs.example [10.0.0.5]) by mail.nlrs.example") == {
        "exch.nlrs.example", "10.0.0.5"}
    assert seen_hosts("from exch.nlrs.example (unknown [203.0.113.9]) by mx") == {"203.0.113.9"}
    assert seen_hosts("from exch.nlrs.example ([10.0.0.5] helo=exch) by mx") == {"10.0.0.5"}
    assert seen_hosts("from exch.nlrs.example by mx") == set()
    assert seen_hosts("by mx; Thu, 26 Nov 2026") == set()


def test_a_named_relay_vouches_only_without_a_verdict_and_only_in_the_top_hops():
    relayed = ("Received", "from exch (exch.nlrs.example [10.0.0.5]) by mail.nlrs.example")
    trust = dataclasses.replace(TRUST, relays=("10.0.0.5",), relay_hops=1)
    auth = authenticate(letter(relayed), trust)
    assert (auth.status, auth.how, auth.relay) == ("pass", "relay", "10.0.0.5")
    assert authenticate(letter(relayed), TRUST).status == "none"  # no relays configured
    # a failing verdict is never overridden by a relay
    failing = letter((AR, "mail.nlrs.example; dmarc=fail header.from=nlrs.example"), relayed)
    assert authenticate(failing, trust).status == "fail"
    # a forged Received below the server's own is not read
    outside = ("Received", "from evil (evil.example [203.0.113.9]) by mail.nlrs.example")
    assert authenticate(letter(outside, relayed), trust).status == "none"
    assert authenticate(letter(outside, relayed),
                        dataclasses.replace(trust, relay_hops=2)).status == "pass"
    assert relayed_by([relayed], ["EXCH.nlrs.example"], 1) == "exch.nlrs.example"
    assert relayed_by([relayed], ["10.0.0.0/24"], 1) == "10.0.0.5"
    assert relayed_by([relayed], ["10.0.1.0/24", "not/a-network"], 1) == ""
    assert relayed_by([("Received", "from exch.nlrs.example (unknown [1.2.3.4]) by mx")],
                      ["exch.nlrs.example"], 1) == ""


# -- sender classes and the judgement -------------------------------------------------------


def test_sender_classes():
    mail = settings().mail
    assert claim_of("storage@nlrs.example", DIRECTORY, mail).key == "storage"
    assert claim_of("Storage-KH@nlrs.example", DIRECTORY, mail).key == "storage"  # a person
    assert claim_of("lod@nlrs.example", DIRECTORY, mail).key == "lod"  # also a department
    assert claim_of("lod@nlrs.example", Directory(lod="lod@nlrs.example"), mail).kind == "lod"
    assert claim_of("cko-registration@nlrs.example", Directory(cko=DIRECTORY.cko),
                    mail).kind == "cko"
    assert claim_of("cko-registration@nlrs.example", DIRECTORY, mail).key == "cko"
    assert claim_of("ivanova.storage@mail.example", DIRECTORY, mail).kind == "staff"
    assert claim_of("personbibl@nlrs.ru", DIRECTORY, mail).kind == "librarians"
    assert claim_of("reader@example.org", DIRECTORY, mail) is None
    assert claim_of("", DIRECTORY, mail) is None


def test_a_claimed_sender_that_fails_is_refused_with_a_russian_reason():
    forged = letter((AR, "mail.nlrs.example; spf=fail smtp.mailfrom=nlrs.example; "
                         "dmarc=fail header.from=nlrs.example"))
    verdict = judge(forged, settings(), DIRECTORY)
    assert verdict.refused
    assert verdict.reason == ("письмо от имени «Отдел хранения документов» "
                              "(storage@nlrs.example) не прошло проверку подлинности: "
                              "DMARC fail, SPF fail")
    none = judge(letter(), settings(), DIRECTORY)
    assert none.refused and "не оставил заключения" in none.reason
    good = letter((AR, "mail.nlrs.example; dmarc=pass header.from=nlrs.example"))
    assert not judge(good, settings(), DIRECTORY).refused
    reader = letter(sender="reader@example.org")
    assert not judge(reader, settings(), DIRECTORY).refused
    unconfigured = dataclasses.replace(settings(), trust=TrustSettings())
    assert not judge(forged, unconfigured, DIRECTORY).refused  # as before this issue


def test_two_from_addresses_are_refused_even_with_a_pass():
    raw = (b"Authentication-Results: mail.nlrs.example; dmarc=pass header.from=nlrs.example\r\n"
           b"From: storage@nlrs.example\r\nFrom: mallory@evil.example\r\n"
           b"Subject: x\r\n\r\nx\r\n")
    verdict = judge(decode_letter(raw), settings(), DIRECTORY)
    assert verdict.refused and "не один адрес отправителя" in verdict.reason
    both = decode_letter(raw.replace(b"\r\nFrom: mallory", b", mallory", 1))
    assert judge(both, settings(), DIRECTORY).refused


# -- the gate, the condition, the settings, the start-up warning ---------------------------


def _decision(*names: str) -> Decision:
    return Decision(category="x", rule="r", actions=[ActionCall(n) for n in names])


def test_the_gate_refuses_acting_never_filing():
    catalogue()
    forged = letter((AR, "mail.nlrs.example; dmarc=fail header.from=nlrs.example"))
    refuse_impostor(settings(), DIRECTORY, forged,
                    _decision("set-category", "move-to-folder", "add-keyword"))
    for action in ("match-order", "question-reply", "registration-card-number",
                   "answer-question", "notify-librarians"):
        with pytest.raises(MessageError, match="не прошло проверку подлинности: DMARC fail"):
            refuse_impostor(settings(), DIRECTORY, forged, _decision("set-category", action))
    good = letter((AR, "mail.nlrs.example; dmarc=pass header.from=nlrs.example"))
    refuse_impostor(settings(), DIRECTORY, good, _decision("match-order"))


def test_sender_authenticated_condition():
    cond = CONDITIONS["sender-authenticated"].func
    good = letter((AR, "mail.nlrs.example; dmarc=pass header.from=nlrs.example"))
    facts = offline_facts(good)
    assert cond(good, facts) is False  # nothing known: never true
    facts.auth = authenticate(good, TRUST)
    assert cond(good, facts) is True
    facts.auth = authenticate(good, TrustSettings())
    assert cond(good, facts) is False


def test_trust_settings_from_file_and_environment(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('[trust]\nauthserv_ids = ["mail.nlrs.ru"]\nrelays = ["10.0.0.5", '
                    '"exch.nlrs.ru"]\n', encoding="utf-8")
    s = load_settings(str(path), environ={})
    assert s.trust.authserv_ids == ("mail.nlrs.ru",) and s.trust.relays[1] == "exch.nlrs.ru"
    env = load_settings(str(path), environ={"MAILPROC_TRUST_AUTHSERV_IDS": "a.example, b.example"})
    assert env.trust.authserv_ids == ("a.example", "b.example")
    path.write_text("[trust]\nauthserv_ids = [1]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^trust\.authserv_ids: expected a list"):
        load_settings(str(path), environ={})


def test_start_up_warns_once(monkeypatch, caplog):
    monkeypatch.setattr(policy, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="mailproc.trust"):
        assert policy.warn_if_unverified(settings(authserv_ids=())) is True
        assert policy.warn_if_unverified(settings(authserv_ids=())) is False
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "sender authentication is off" in caplog.records[0].message
    monkeypatch.setattr(policy, "_warned", False)
    assert policy.warn_if_unverified(settings()) is False


def test_inspect_and_rules_test_show_the_verdict(tmp_path, capsys):
    from mailproc.cli import main

    rules = tmp_path / "rules"
    rules.mkdir()
    for name in ("departments.yaml", "lists.yaml", "15-order-replies.yaml",
                 "20-departments.yaml"):
        (rules / name).write_bytes((REPO / "rules" / name).read_bytes())
    config = tmp_path / "mailproc.toml"
    config.write_text(f'[paths]\nrules = "{rules}"\ndata = "{tmp_path / "data"}"\n'
                      f'templates = "{REPO / "templates"}"\n'
                      '[trust]\nauthserv_ids = ["mail.nlrs.example"]\n', encoding="utf-8")
    eml = tmp_path / "forged.eml"
    eml.write_bytes(letter((AR, "evil.example; dmarc=pass header.from=nlrs.example"),
                           (AR, "mail.nlrs.example; dmarc=fail header.from=nlrs.example")).raw
                    .replace(b"Subject: \xd1\x84\xd0\xbe\xd1\x82\xd0\xbe", b"Subject: Re: x"))
    assert main(["--config", str(config), "inspect", str(eml)]) == 0
    out = capsys.readouterr().out
    assert "Sender auth: fail: DMARC fail [mail.nlrs.example; dmarc=fail" in out
    assert "Claims:      department «Отдел хранения документов»: REFUSED" in out
    assert main(["--config", str(config), "inspect", str(eml), "--json"]) == 0
    import json

    data = json.loads(capsys.readouterr().out)["sender_auth"]
    assert (data["auth"]["status"], data["refused"], data["claim"]["key"]) == (
        "fail", True, "storage")
    assert main(["--config", str(config), "rules", "test", str(eml)]) == 0
    out = capsys.readouterr().out
    assert "подлинность отправителя: fail: DMARC fail" in out
    assert ("действия не будут выполнены, письмо уйдёт «На разбор»: письмо от имени "
            "«Отдел хранения документов» (storage@nlrs.example) не прошло проверку "
            "подлинности: DMARC fail") in out
    assert main(["--config", str(config), "rules", "test", str(eml), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sender_auth"]["refused"] is True
