"""``mailproc vault new-key|rotate-key|export``: the registration documents' vault."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from sqlalchemy import select

from mailproc.app import App
from mailproc.commands.registrations import actor, parse_now
from mailproc.errors import ConfigError, MailprocError
from mailproc.intake import SEALED_SPOOL
from mailproc.outbound.blobs import BlobStore
from mailproc.outbound.models import OutboxMessage
from mailproc.private import write_private
from mailproc.registrations.models import RegistrationCase
from mailproc.registrations.sealed import reseal_all
from mailproc.registrations.vault import ENV_KEY, Vault, new_key, read_keys


def register(sub) -> None:
    p = sub.add_parser("vault", help="the encrypted registration documents")
    vsub = p.add_subparsers(dest="action", metavar="ACTION")
    vsub.required = True
    nk = vsub.add_parser("new-key", help="print a new vault key")
    nk.set_defaults(func=print_new_key)
    rot = vsub.add_parser("rotate-key", help="re-encrypt everything under a new key")
    rot.add_argument("--keep-old", action="store_true",
                     help="keep the old keys in the key file after rotating")
    rot.set_defaults(func=rotate_key)
    exp = vsub.add_parser("export", help="decrypt a case's documents into a folder (audited)")
    exp.add_argument("case", help="case token such as 2026-00042")
    exp.add_argument("--to", required=True, metavar="DIR")
    exp.add_argument("--reason", default="просмотр библиотекарем",
                     help="why (kept in the audit trail)")
    exp.add_argument("--by", default="", help="who looks (default: the login name)")
    exp.add_argument("--now", help=argparse.SUPPRESS)  # tests: a simulated clock
    exp.set_defaults(func=export)


def print_new_key(args) -> int:
    print(new_key())
    return 0


def rotate_key(args) -> int:
    """With a key file: add a new key first, re-encrypt, then drop the old ones. With the
    environment: the first key of $MAILPROC_VAULT_KEY is the new one; the old ones must stay
    listed after it until this has run."""
    app = App.from_args(args)
    settings = app.settings
    keys = read_keys(settings)
    path = Path(settings.vault.key_file) if settings.vault.key_file else None
    if os.environ.get(ENV_KEY) or path is None:
        if len(keys) < 2:
            raise ConfigError(f"{ENV_KEY}: to rotate, put a new key (`mailproc vault new-key`) "
                              f"first, then the old ones, separated by commas")
        box = Vault(Path(settings.vault.dir), keys)
        files = _rotate_all(app, box)
        print(f"re-encrypted {files} file(s) under the first key; the old keys may now be "
              f"removed from {ENV_KEY}")
        return 0
    fresh = new_key()
    _write_keys(path, [fresh, *keys])
    box = Vault(Path(settings.vault.dir), [fresh, *keys])
    files = _rotate_all(app, box)
    if not args.keep_old:
        _write_keys(path, [fresh])
    print(f"re-encrypted {files} file(s) under a new key written to {path}")
    return 0


def _rotate_all(app, box: Vault) -> int:
    """Everything sealed with the vault key, re-encrypted under its newest one: vault
    files, sealed columns, sealed spool files (registration mail in review) and sealed
    outbox blobs (documents of a hand-off not yet sent); returns the vault files rewritten."""
    files = box.rotate()
    _rotate_spool(app.data_dir / "spool", box)
    gone: list[Path] = []
    with app.db.transaction() as s:
        for case in s.scalars(select(RegistrationCase).where(
                RegistrationCase.card_number_enc != "")):
            case.card_number_enc = box.rotate_text(case.card_number_enc)
        reseal_all(s, box)  # names, file names, registration mail's message rows
        gone = _rotate_blobs(s, BlobStore.from_settings(app.settings), box)
    for path in gone:  # only once the rows name the new blobs
        path.unlink(missing_ok=True)
    return files


def _rotate_spool(spool: Path, box: Vault) -> int:
    """Sealed spool files (mailproc.intake, ``*.eml.sealed``) rewritten in place."""
    count = 0
    for path in sorted(spool.glob(f"*{SEALED_SPOOL}")) if spool.is_dir() else ():
        write_private(path, box.rotate_bytes(path.read_bytes(), f"spool file {path.name}"))
        count += 1
    return count


def _rotate_blobs(session, blobs: BlobStore, box: Vault) -> list[Path]:
    """Sealed outbox blobs re-sealed under a new name (they are named by the hash of their
    ciphertext), the outbox rows pointed at them; returns the old files to remove."""
    renamed: dict[str, str] = {}
    for row in session.scalars(select(OutboxMessage)):
        sealed = list(row.headers.get("sealed", ()) or ())
        if not sealed:
            continue
        for old in sealed:
            if old not in renamed and blobs.path(old).is_file():
                with blobs.path(old).open("rb") as fh:
                    renamed[old] = blobs.put_sealed(box.unseal(fh, f"outbox blob {old[:12]}"),
                                                    box)
        if not any(d in renamed for d in sealed):
            continue
        for a in row.attachments:
            a.sha256 = renamed.get(a.sha256, a.sha256)
        row.headers = {**row.headers, "sealed": [renamed.get(d, d) for d in sealed]}
    return [blobs.path(old) for old in renamed]


def _write_keys(path: Path, keys: list[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(keys) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def export(args) -> int:
    from mailproc.registrations.retention import export_case

    app = App.from_args(args)
    result = export_case(app, args.case, Path(args.to), actor=actor(args), reason=args.reason,
                         now=parse_now(args.now) if args.now else None)
    if isinstance(result, str):
        print(result)
        return 1
    for path in result:
        print(path)
    if not result:
        raise MailprocError(f"case {args.case} holds no documents")
    return 0
