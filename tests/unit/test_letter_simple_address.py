"""The fast path for one plain address gives exactly mailparser's answer, and leaves every
other form (quotes, comments, lists, groups, malformed dot-atoms) to mailparser."""

import random

import pytest
from mailparser.utils import get_addresses

from mailproc.letter.decode import decode_letter, simple_address

PLAIN = [
    "Reader 5 <reader0x5@example.org>", "box0@nlrs.example", "J. Smith <a@b.org>",
    "Иван Петров <ivan@x.ru>", "  a@b.c  ", "<a@b.c>", "Name<a@b.c>", "A  B \t <a@b.c>",
    "o'brien@x.org", "Name <A@B.C>", "a@b", "Jo =?utf-8?b?0JjQstCw0L0=?= <a@b.c>",
]
NOT_PLAIN = [
    '"Ivan Petrov" <ivan@x.ru>', "a@b, c@d", "x (comment) <a@b>", "team: a@b;", ".a@b",
    "a..b@c", "a@b.", "ivan@пример.рф", "Name <a@b> trailing", "", "   ",
]


@pytest.mark.parametrize("value", PLAIN)
def test_plain_forms_take_the_fast_path_with_mailparsers_answer(value):
    assert simple_address(value) is not None
    assert [simple_address(value)] == get_addresses(value, defects=[])


@pytest.mark.parametrize("value", NOT_PLAIN)
def test_other_forms_are_left_to_mailparser(value):
    assert simple_address(value) is None


def test_random_headers_agree_with_mailparser_wherever_the_fast_path_answers():
    rnd = random.Random(20261126)
    name_chars = "aZ09 .-_'!#$%&*+/=?^`{|}~\tЖё=?é"
    answered = 0
    for _ in range(20000):
        name = "".join(rnd.choice(name_chars) for _ in range(rnd.randint(0, 8)))
        local = "".join(rnd.choice("ab.-_'+!#=?~Жé") for _ in range(rnd.randint(1, 6)))
        domain = "".join(rnd.choice("ab.-09_Жé") for _ in range(rnd.randint(1, 6)))
        value = rnd.choice([f"{name} <{local}@{domain}>", f"{local}@{domain}",
                            f"<{local}@{domain}>", f" {name}<{local}@{domain}> "])
        got = simple_address(value)
        if got is not None:
            answered += 1
            assert [got] == get_addresses(value, defects=[]), value
    assert answered > 2000  # the comparison really ran


def test_decoded_letter_keeps_names_and_lowercased_addresses():
    letter = decode_letter(b"From: Reader  Five <Reader5@Example.ORG>\r\n"
                           b"To: personbibl@nlrs.example\r\n"
                           b"Cc: \"Petrov, Ivan\" <ivan@x.ru>, a@b.c\r\n"
                           b"Subject: s\r\n\r\nbody\r\n")
    assert (letter.sender.name, letter.sender.email) == ("Reader Five", "reader5@example.org")
    assert [a.email for a in letter.to] == ["personbibl@nlrs.example"]
    assert [(a.name, a.email) for a in letter.cc] == [("Petrov, Ivan", "ivan@x.ru"),
                                                      ("", "a@b.c")]
