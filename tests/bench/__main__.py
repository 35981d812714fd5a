"""``python -m tests.bench [--quick] [--json FILE] [--markdown FILE] [--only KEYS]``

Starts its own Dovecot and smtp-sink on loopback, generates the seeded mailbox, runs every row
and prints one table (figure, baseline from the same run, ratio, target). ``make bench`` runs
the full counts (under 15 minutes on 2 cores), ``make bench-quick`` the same rows on smaller
counts (under 3 minutes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench.rows import Plan  # noqa: E402
from tests.bench.table import markdown_table, run, text_table, write_json  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.bench",
                                description="mailproc's performance table (issue 11)")
    p.add_argument("--quick", action="store_true", help="smaller counts, same rows")
    p.add_argument("--json", metavar="FILE", help="also write the table as JSON")
    p.add_argument("--markdown", metavar="FILE", help="also write it as a Markdown table")
    p.add_argument("--only", metavar="KEYS",
                   help="comma-separated row keys (e.g. 1a,4): run only their measurements")
    args = p.parse_args(argv)
    plan = Plan.quick() if args.quick else Plan.full()
    only = {k.strip() for k in args.only.split(",")} if args.only else None
    result = run(plan, only)
    print(text_table(result))
    if args.json:
        write_json(result, args.json)
    if args.markdown:
        Path(args.markdown).write_text(markdown_table(result) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
