"""Backup and restore: the database and the data folder's durable files in one archive.

The archive is a tar.gz with:

* ``meta.json``: format version, schema revision, time, table row counts;
* ``tables/<name>.jsonl``: every row of every table, one JSON object a line;
* ``files/...``: the vault (documents stay encrypted: they are copied as they lie on disk),
  the outbox attachment store, the spool of raw review messages, the token signing key.

Personal data stays as it lies: sealed columns and vault files are copied encrypted, and the
archive (and everything restore writes) is 0600 from its first byte, whatever the umask. A
backup taken before a purge still holds what was purged until it is deleted: keep backups no
longer than ``registrations.retention`` (docs/admin.md, "Personal data").

Rows are written through SQLAlchemy, not with a database-specific dump tool, so a backup taken
on SQLite restores into PostgreSQL and back (the consortium move of issue 12). Restore demands
an empty database at the same schema revision, so it can never merge two histories. Backup
refuses a database that is missing or holds no row at all: such a backup is always a command
pointed at the wrong database (built-in defaults, a wrong ``database.url``), never the library's.
"""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

from mailproc.errors import MailprocError
from mailproc.private import FILE_MODE, private_dir, write_private
from mailproc.store.migrate import current_revision
from mailproc.store.models_all import metadata

FORMAT = 1
#: what under the data folder is worth keeping; the rest (demo, outbox .eml copies) is derived
DATA_PARTS = ("vault", "blobs", "spool", "token-secret", "vault.key")


def _encode(value):
    if isinstance(value, datetime):
        return {"$dt": value.astimezone(timezone.utc).isoformat() if value.tzinfo
                else value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$b64": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    return value


def _decode(value):
    if isinstance(value, dict) and len(value) == 1:
        (key, inner), = value.items()
        if key == "$dt":
            return datetime.fromisoformat(inner)
        if key == "$date":
            return date.fromisoformat(inner)
        if key == "$b64":
            return base64.b64decode(inner)
        if key == "$dec":
            return Decimal(inner)
    return value


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(datetime.now(timezone.utc).timestamp())
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def check_exists(url: str) -> None:
    """Raise ``MailprocError`` when ``url`` names an SQLite file that is not there: opening it
    would create (and migrate) a new, empty database, and back that up. Call it before the
    database is opened."""
    parsed = make_url(url)
    path = parsed.database
    if parsed.get_backend_name() == "sqlite" and path and path != ":memory:" \
            and not Path(path).is_file():
        raise MailprocError(f"no database at {path} (database.url): nothing to back up; check "
                            f"that these are the service's settings")


def check_not_empty(db) -> None:
    """Raise ``MailprocError`` when no table of the database holds a row."""
    with db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            if conn.execute(select(text("1")).select_from(table).limit(1)).first():
                return
    where = db.engine.url.render_as_string(hide_password=True)
    raise MailprocError(f"the database {where} holds no rows: nothing to back up; check that "
                        f"database.url is the service's database")


def backup(db, data_dir: Path, out: Path) -> dict:
    """Write the archive; returns the row counts per table. A database with no row at all
    raises ``MailprocError`` and writes nothing."""
    check_not_empty(db)
    counts: dict[str, int] = {}
    tmp = out.with_name(out.name + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        with db.engine.connect() as conn:
            for table in metadata.sorted_tables:
                buf = io.StringIO()
                n = 0
                for row in conn.execute(select(table)).mappings():
                    buf.write(json.dumps({k: _encode(v) for k, v in row.items()},
                                         ensure_ascii=False, default=str))
                    buf.write("\n")
                    n += 1
                counts[table.name] = n
                _add_bytes(tar, f"tables/{table.name}.jsonl", buf.getvalue().encode())
        for part in DATA_PARTS:
            path = data_dir / part
            if path.exists():
                tar.add(path, arcname=f"files/{part}")
        meta = {"format": FORMAT, "revision": current_revision(db),
                "created_at": datetime.now(timezone.utc).isoformat(), "tables": counts}
        _add_bytes(tar, "meta.json", json.dumps(meta, indent=2).encode())
    tmp.replace(out)
    out.chmod(0o600)
    return counts


def restore(db, data_dir: Path, archive: Path) -> dict:
    """Load an archive into an empty database at the same schema revision."""
    try:
        tar = tarfile.open(archive, "r:gz")
    except (OSError, tarfile.TarError) as exc:
        raise MailprocError(f"{archive}: not a mailproc backup ({exc})") from None
    with tar:
        try:
            meta = json.load(tar.extractfile("meta.json"))
        except KeyError:
            raise MailprocError(f"{archive}: not a mailproc backup (no meta.json)") from None
        if meta.get("format") != FORMAT:
            raise MailprocError(f"{archive}: backup format {meta.get('format')} is not "
                                f"supported (expected {FORMAT})")
        if sorted(meta.get("revision", [])) != sorted(current_revision(db)):
            raise MailprocError(
                f"{archive}: taken at schema {meta.get('revision')}, the database is at "
                f"{current_revision(db)}; restore with the mailproc version that made it")
        counts: dict[str, int] = {}
        with db.engine.begin() as conn:
            for table in metadata.sorted_tables:
                if conn.scalar(select(func.count()).select_from(table)):
                    raise MailprocError(f"restore needs an empty database; table {table.name} "
                                        f"has rows (use a new database.url)")
            for table in metadata.sorted_tables:
                member = f"tables/{table.name}.jsonl"
                try:
                    fh = tar.extractfile(member)
                except KeyError:
                    continue
                rows = [{k: _decode(v) for k, v in json.loads(line).items()}
                        for line in fh.read().decode().splitlines() if line]
                if rows:
                    conn.execute(insert(table), rows)
                counts[table.name] = len(rows)
            if conn.dialect.name == "postgresql":
                _reset_sequences(conn)
        for member in tar.getmembers():
            if not member.name.startswith("files/") or not (member.isfile() or member.isdir()):
                continue
            target = data_dir / member.name[len("files/"):]
            if not target.resolve().is_relative_to(data_dir.resolve()):
                raise MailprocError(f"{archive}: unsafe path {member.name}")
            if member.isdir():
                private_dir(target)
                continue
            private_dir(target.parent)
            write_private(target, tar.extractfile(member).read())
    return counts


def _reset_sequences(conn) -> None:
    """After explicit ids were inserted, serial sequences must continue above them."""
    for table in metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        if len(pk) == 1 and pk[0].autoincrement and str(pk[0].type).upper().startswith("INT"):
            conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{pk[0].name}'), "
                f"COALESCE((SELECT MAX({pk[0].name}) FROM {table.name}), 0) + 1, false)"))
