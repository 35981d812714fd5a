"""``mailproc inspect FILE.eml``: what the system saw in a message."""

from __future__ import annotations

import sys
from pathlib import Path

from mailproc.commands.output import print_json
from mailproc.errors import ConfigError, LoadError
from mailproc.letter import Letter, decode_letter


def register(sub) -> None:
    p = sub.add_parser("inspect", help="show how a message file is decoded")
    p.add_argument("file", help="a message file (.eml); - reads standard input")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.file == "-":
        raw = sys.stdin.buffer.read()
    else:
        try:
            raw = Path(args.file).read_bytes()
        except OSError as exc:
            raise ConfigError(f"{args.file}: cannot read ({exc.strerror}); give the path of "
                              f"a saved message (.eml)") from None
    letter = decode_letter(raw)
    judgement = sender_judgement(letter, _settings(args))
    if hasattr(sys.stdout, "reconfigure"):  # a stray surrogate must not crash the printout
        sys.stdout.reconfigure(errors="backslashreplace")
    if args.json:
        print_json({**letter.to_json(), "sender_auth": judgement.to_json()})
    else:
        print(describe(letter))
        print(describe_judgement(judgement))
    return 0


def _settings(args):
    from mailproc.config import load_settings

    return load_settings(getattr(args, "config", None))


def sender_judgement(letter: Letter, settings, directory=None):
    """mailproc.trust's judgement of the letter's sender under these settings; the
    departments directory is read from the rules folder unless given (a broken one: none)."""
    from pathlib import Path

    from mailproc.sorting.directory import load_directory
    from mailproc.trust import judge

    if directory is None:
        rules = Path(settings.paths.rules)
        try:
            directory = load_directory(rules / "departments.yaml", rules / "lists.yaml")
        except LoadError:
            directory = None
    return judge(letter, settings, directory)


def describe_judgement(judgement) -> str:
    """Two lines: the From domain's authentication, and whom the sender claims to be."""
    claim = judgement.claim
    who = f"{claim.kind} «{claim.label}»" if claim is not None else "reader (no claim)"
    if judgement.refused:
        who += f": REFUSED, {judgement.reason}"
    return f"Sender auth: {judgement.auth.show()}\nClaims:      {who}"


def describe(letter: Letter, indent: str = "") -> str:
    """The Letter as a librarian reads it: who, what, which files, what looked wrong."""
    lines = [
        f"From:        {letter.sender}",
        f"To:          {', '.join(map(str, letter.to))}",
    ]
    if letter.cc:
        lines.append(f"Cc:          {', '.join(map(str, letter.cc))}")
    lines += [
        f"Subject:     {letter.subject}",
        f"Date:        {letter.date.isoformat() if letter.date else '-'}",
        f"Message-ID:  {letter.message_id}",
    ]
    if letter.in_reply_to:
        lines.append(f"In-Reply-To: {letter.in_reply_to}")
    marks = []
    if letter.automatic:
        marks.append(f"automatic ({letter.automatic_reason})")
    if letter.bounce:
        b = letter.bounce
        marks.append(f"bounce ({b.status or '?'}{' permanent' if b.permanent else ' temporary'}"
                     f" for {', '.join(b.failed_recipients) or '?'}, "
                     f"original {b.original_message_id or '?'})")
        if b.diagnostic:
            marks.append(f"diagnostic: {b.diagnostic}")
    lines.append(f"Marks:       {'; '.join(marks) or '-'}")
    if letter.charset:
        lines.append(f"Charset:     {letter.charset}")
    for a in letter.attachments:
        label = f" (labelled {a.declared_type})" if a.declared_type and \
            a.declared_type != a.type else ""
        inside = f", in {a.container}" if a.container else ""
        lines.append(f"Attachment:  {a.name or '(no name)'}  {a.type}{label}  {a.size} bytes  "
                     f"part {a.part or '?'}{inside}")
    for d in letter.defects:
        lines.append(f"Defect:      {d}")
    text = letter.text.strip()
    lines.append("Text:")
    lines.extend("  " + line for line in (text.splitlines() or ["(empty)"]))
    out = "\n".join(indent + line for line in lines)
    for inner in letter.forwarded:
        out += "\n" + indent + "Forwarded message:\n" + describe(inner, indent + "  ")
    return out
