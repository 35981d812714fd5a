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


def _chunked(tmp_path, size: int = 3 * 1024 * 1024 + 12345):
    import os

    box = Vault(tmp_path / "vault", [new_key()])
    data = os.urandom(size)
    box.put("case/000001.bin", data)
    return box, data, tmp_path / "vault" / "case" / "000001.bin"


def test_big_files_are_sealed_in_chunks_and_come_back(tmp_path):
    from mailproc.registrations.vault import CHUNK, MAGIC

    box, data, path = _chunked(tmp_path)
    blob = path.read_bytes()
    assert blob.startswith(MAGIC) and data[:4096] not in blob
    assert box.get("case/000001.bin") == data
    pieces = list(box.chunks("case/000001.bin"))
    assert [len(p) for p in pieces] == [CHUNK] * 3 + [12345]
    box.put("case/empty.bin", b"")
    assert box.get("case/empty.bin") == b""


def test_files_of_the_first_format_still_open_and_rotate(tmp_path):
    """Vault files written before chunking are one Fernet token: read and rotated as such."""
    old_key = new_key()
    box = Vault(tmp_path / "vault", [old_key])
    data = photo()
    path = tmp_path / "vault" / "case" / "000001.bin"
    path.parent.mkdir(parents=True)
    path.write_bytes(box.encrypt(data))  # what put() wrote before
    assert box.get("case/000001.bin") == data
    newer = Vault(tmp_path / "vault", [new_key(), old_key])
    assert newer.rotate() == 1
    assert Vault(tmp_path / "vault", newer.keys[:1]).get("case/000001.bin") == data


def test_chunked_files_rotate_chunk_by_chunk(tmp_path):
    box, data, path = _chunked(tmp_path)
    newer = Vault(tmp_path / "vault", [new_key(), *box.keys])
    assert newer.rotate() == 1
    assert Vault(tmp_path / "vault", newer.keys[:1]).get("case/000001.bin") == data
    with pytest.raises(ConfigError, match="vault.key"):
        box.get("case/000001.bin")  # the old key alone no longer opens it


@pytest.mark.parametrize("damage", ["cut", "swapped", "appended", "spliced"])
def test_a_cut_reordered_or_spliced_file_does_not_open(tmp_path, damage):
    import struct

    from mailproc.registrations.vault import MAGIC

    box, data, path = _chunked(tmp_path)
    blob = path.read_bytes()
    records, at = [], len(MAGIC)
    while at < len(blob):
        (n,) = struct.unpack(">I", blob[at:at + 4])
        records.append(blob[at:at + 4 + n])
        at += 4 + n
    if damage == "cut":
        records = records[:-1]
    elif damage == "swapped":
        records[0], records[1] = records[1], records[0]
    elif damage == "appended":
        records.append(records[-1])
    else:  # a chunk from another file sealed with the same key
        box.put("case/other.bin", data)
        other = (tmp_path / "vault" / "case" / "other.bin").read_bytes()
        (n,) = struct.unpack(">I", other[len(MAGIC):len(MAGIC) + 4])
        records[0] = other[len(MAGIC):len(MAGIC) + 4 + n]
    path.write_bytes(MAGIC + b"".join(records))
    with pytest.raises(ValueError, match="damaged"):
        box.get("case/000001.bin")


def test_sealing_a_big_document_holds_a_chunk_not_copies_of_it(tmp_path):
    import os
    import tracemalloc

    box = Vault(tmp_path / "vault", [new_key()])
    data = os.urandom(32 * 1024 * 1024)
    tracemalloc.start()
    try:
        box.put("case/big.bin", data)
        sealed_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        for _ in box.chunks("case/big.bin"):
            pass
        opened_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sealed_peak < 16 * 1024 * 1024, sealed_peak  # whole-buffer Fernet: ~4x the file
    assert opened_peak < 16 * 1024 * 1024, opened_peak
