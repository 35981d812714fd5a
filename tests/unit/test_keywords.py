"""mailproc's keywords (mailproc.keywords) and the Thunderbird tags shipped for them
(docs/thunderbird-tags.js): every keyword the shipped rules or mailproc itself can set is an
RFC 3501 atom without "$" and has a tag with a Russian name and a colour."""

from __future__ import annotations

import re
from pathlib import Path

from mailproc.keywords import ORDER, TAGS, canonical, thunderbird_prefs
from mailproc.sorting.builtin import builtin_decide
from mailproc.sorting.loader import load_rules

REPO = Path(__file__).resolve().parents[2]
SNIPPET = REPO / "docs" / "thunderbird-tags.js"
PREF = re.compile(r'^user_pref\("mailnews\.tags\.([^.]+)\.(tag|color)", "([^"]*)"\);$', re.M)
ATOM = re.compile(r'^[!#-\'+-Z^-z|~]+$')  # RFC 3501 ATOM-CHAR: no ( ) { SP CTL % * " \ ]


def shipped_rule_keywords() -> set[str]:
    rules = load_rules(REPO / "rules", templates_dir=REPO / "templates")
    return {act.args["keyword"] for rule in rules.rules for act in rule.then
            if act.name == "add-keyword"}


def snippet_tags() -> dict[str, dict[str, str]]:
    tags: dict[str, dict[str, str]] = {}
    for key, kind, value in PREF.findall(SNIPPET.read_text(encoding="utf-8")):
        tags.setdefault(key, {})[kind] = value
    return tags


def test_the_snippet_has_a_russian_named_coloured_tag_for_every_keyword_the_rules_set():
    rules = shipped_rule_keywords()
    assert rules  # the shipped rules do set keywords
    own = rules | {ORDER.keyword, "bounce", "automatic"}  # set by code: orders, built-in
    tags = snippet_tags()
    assert own <= set(tags), own - set(tags)
    for key in own:
        assert re.search("[а-яё]", tags[key]["tag"], re.I), key
        assert re.fullmatch(r"#[0-9A-F]{6}", tags[key]["color"]), key


def test_keywords_are_ascii_atoms_without_dollar():
    for tag in TAGS:
        assert ATOM.match(tag.keyword) and not tag.keyword.startswith("$")
        assert tag.keyword == tag.keyword.lower()  # Thunderbird keeps tag keys in lower case
    assert not [k for k in shipped_rule_keywords() if k.startswith("$")]


def test_the_snippet_is_the_one_made_from_the_table():
    assert SNIPPET.read_text(encoding="utf-8") == thunderbird_prefs()


def test_rules_name_keywords_by_label_or_former_dollar_name():
    assert canonical("Заказ") == canonical("$Order") == canonical("order") == "order"
    assert canonical("urgent") == "urgent"


def test_built_in_sorting_sets_the_same_keywords():
    from mailproc.letter import decode_letter
    from tests.unit.questions_helpers import mail

    auto = decode_letter(mail("news@example.org", "Новости", auto=True))
    assert builtin_decide(auto).keywords == ["automatic"]
