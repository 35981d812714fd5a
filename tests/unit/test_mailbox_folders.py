"""Folder-name mapping (mailproc.mailbox.folders): namespace prefix and delimiter (RFC 2342),
special-use folders (RFC 6154) and the precedence of the settings."""

from __future__ import annotations

import pytest

from mailproc.mailbox.folders import (FolderMap, FolderNameError, Namespace, find_special,
                                      local_name, server_name)

COURIER = Namespace("INBOX.", ".")
FLAT_SLASH = Namespace("", "/")


@pytest.mark.parametrize("name, ns, expected", [
    ("Заказы", COURIER, "INBOX.Заказы"),
    ("Вопросы читателей/Срочные", COURIER, "INBOX.Вопросы читателей.Срочные"),
    ("INBOX/Заказы", COURIER, "INBOX.Заказы"),       # already under the prefix
    ("inbox", COURIER, "INBOX"),
    ("Вопросы читателей/Срочные", FLAT_SLASH, "Вопросы читателей/Срочные"),
    ("Заказы", Namespace("", "."), "Заказы"),
])
def test_server_name(name, ns, expected):
    assert server_name(name, ns) == expected
    assert server_name(expected, ns) == expected  # idempotent
    assert server_name(local_name(expected, ns), ns) == expected  # and read back


def test_a_level_holding_the_servers_delimiter_is_refused_in_russian():
    with pytest.raises(FolderNameError, match="«Заказы т.д.» содержит «.»"):
        server_name("Заказы т.д.", COURIER)


def test_folders_outside_the_personal_namespace_are_not_named_back():
    assert local_name("Public.Общие", COURIER) is None
    assert local_name("INBOX.a/b", COURIER) is None


LISTING = [
    ((b"\\HasChildren",), b".", "INBOX"),
    ((b"\\HasNoChildren", b"\\Sent"), b".", "INBOX.Отправленные"),
    ((b"\\HasNoChildren",), b".", "INBOX.Sent"),         # an old client's leftover
    ((b"\\HasNoChildren",), b".", "INBOX.Черновики"),      # no attribute: by common name
    ((b"\\Noselect", b"\\Trash"), b".", "INBOX.Корзина"),  # not selectable: ignored
]


def test_special_use_attribute_wins_over_a_common_name():
    found = find_special(LISTING, COURIER)
    assert found == {"sent": "INBOX.Отправленные", "drafts": "INBOX.Черновики"}


def test_the_default_setting_means_look_it_up_an_explicit_one_names_the_folder():
    configured = {"sent": "Sent", "drafts": "Drafts", "junk": "Junk", "trash": "Trash"}
    looked_up = FolderMap(COURIER, configured, frozenset(), find_special(LISTING, COURIER))
    assert looked_up.server("Sent") == "INBOX.Отправленные"
    assert looked_up.server("Drafts") == "INBOX.Черновики"
    assert looked_up.server("Trash") == "INBOX.Trash"  # nothing found: created by the default
    assert looked_up.local("INBOX.Отправленные") == "Sent"
    explicit = FolderMap(COURIER, {**configured, "sent": "Sent"}, frozenset({"sent"}),
                         find_special(LISTING, COURIER))
    assert explicit.server("Sent") == "INBOX.Sent"
