"""``mailproc report``: the statistics report for a month or a range of days.

Text on the terminal, ``--json`` for machines, ``--html FILE`` for the page with charts; all
three are views of the same figures (``mailproc.reports.figures``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from mailproc.app import App
from mailproc.commands.output import print_json
from mailproc.errors import ConfigError


def register(sub) -> None:
    p = sub.add_parser("report", help="statistics report for a month or a range of days")
    p.add_argument("--month", metavar="YYYY-MM", help="a calendar month (default: this month)")
    p.add_argument("--from", dest="first", metavar="YYYY-MM-DD", help="first day, included")
    p.add_argument("--to", dest="last", metavar="YYYY-MM-DD", help="last day, included")
    p.add_argument("--html", metavar="FILE", help="also write the report with charts to FILE")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=run)


def period_of(args, tz):
    from mailproc.reports import period

    try:
        if args.month and (args.first or args.last):
            raise ValueError("give either --month or --from/--to, not both")
        if args.month:
            return period.month(args.month, tz)
        if args.first or args.last:
            if not (args.first and args.last):
                raise ValueError("--from and --to go together")
            return period.days(args.first, args.last, tz)
        return period.current_month(datetime.now(timezone.utc), tz)
    except ValueError as exc:
        raise ConfigError(f"report: {exc}") from None


def run(args) -> int:
    from mailproc.reports.figures import report_figures
    from mailproc.reports.labels import names_from_rules

    app = App.from_args(args)
    period = period_of(args, app.settings.tz)
    with app.db.session() as s:
        fig = report_figures(s, period, names_from_rules(app.settings))
    if args.html:
        from mailproc.reports.html import render_html

        Path(args.html).write_text(render_html(fig), encoding="utf-8")
    if args.json:
        print_json(fig)
    else:
        from mailproc.reports.text import render_text

        print(render_text(fig), end="")
        if args.html:
            print(f"HTML: {args.html}")
    return 0
