"""The vault: encrypted at rest, keys from the environment or a file, rotation, destruction."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mailproc.config import load_settings
from mailproc.errors import ConfigError
from mailproc.registrations.vault import Vault, new_key, read_keys
from tests.unit.test_registration_samples import clear_fragments, photo


def settings(tmp_path, **vault):
    s = load_settings(environ={}, overrides={"paths": {"data": str(tmp_path)}})
    return replace(s, vault=replace(s.vault, dir=str(tmp_path / "vault"), **vault))


def test_stored_bytes_are_never_clear_and_come_back(tmp_path):
    box = Vault(tmp_path / "vault", [new_key()])
    data = photo()
    box.put("2026-00001/000001.bin", data)
    on_disk = (tmp_path / "vault" / "2026-00001" / "000001.bin").read_bytes()
    assert all(fragment not in on_disk for fragment in clear_fragments(data))
    assert box.get("2026-00001/000001.bin") == data
    assert not list((tmp_path / "vault").rglob("*.tmp"))


def test_missing_or_wrong_key_is_a_config_error_naming_the_setting(tmp_path):
    with pytest.raises(ConfigError, match="MAILPROC_VAULT_KEY"):
        read_keys(settings(tmp_path), environ={})
    with pytest.raises(ConfigError, match="MAILPROC_VAULT_KEY: not a vault key"):
        read_keys(settings(tmp_path), environ={"MAILPROC_VAULT_KEY": "short"})
    key_file = tmp_path / "vault.key"
    key_file.write_text("nonsense\n")
    with pytest.raises(ConfigError, match="vault.key_file"):
        read_keys(settings(tmp_path, key_file=str(key_file)), environ={})


def test_a_key_that_does_not_open_the_file_names_the_setting(tmp_path):
    Vault(tmp_path, [new_key()]).put("a/1.bin", b"secret")
    with pytest.raises(ConfigError, match="vault.key: the configured keys do not open"):
        Vault(tmp_path, [new_key()]).get("a/1.bin")


def test_key_file_lists_keys_newest_first(tmp_path):
    old, fresh = new_key(), new_key()
    key_file = tmp_path / "vault.key"
    key_file.write_text(f"{fresh}\n{old}\n")
    assert read_keys(settings(tmp_path, key_file=str(key_file)), environ={}) == [fresh, old]
    assert read_keys(settings(tmp_path), environ={"MAILPROC_VAULT_KEY": f"{fresh}, {old}"}) == \
        [fresh, old]


def test_rotation_reencrypts_under_the_new_key(tmp_path):
    old, fresh = new_key(), new_key()
    Vault(tmp_path, [old]).put("c/1.bin", b"document one")
    assert Vault(tmp_path, [fresh, old]).rotate() == 1
    assert Vault(tmp_path, [fresh]).get("c/1.bin") == b"document one"
    with pytest.raises(ConfigError):
        Vault(tmp_path, [old]).get("c/1.bin")


def test_destroy_removes_the_file_and_its_empty_folder(tmp_path):
    box = Vault(tmp_path, [new_key()])
    box.put("2026-00003/000001.bin", b"x" * 1000)
    assert box.destroy("2026-00003/000001.bin")
    assert not (tmp_path / "2026-00003").exists()
    assert not box.destroy("2026-00003/000001.bin")


def test_paths_cannot_leave_the_vault(tmp_path):
    with pytest.raises(ValueError):
        Vault(tmp_path / "v", [new_key()]).put("../outside.bin", b"x")
