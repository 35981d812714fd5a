"""``mailproc templates check|preview``: librarians test a template before it goes live.

Both only read template files, never the library's data, so they run on built-in defaults too
(``./templates``) for a librarian checking a working copy. A templates folder that is missing
or holds no template is an error (exit 78, as ``mailproc run`` refuses to start on it), not
"0 checked, no errors"."""

from __future__ import annotations

import sys
from pathlib import Path

from mailproc.app import App
from mailproc.errors import TemplateError
from mailproc.outbound.templates import Templates


def register(sub) -> None:
    p = sub.add_parser("templates", help="check templates, preview one with its sample")
    tsub = p.add_subparsers(dest="action", metavar="ACTION")
    tsub.required = True
    check = tsub.add_parser("check", help="render every template with its sample data")
    check.add_argument("names", nargs="*", help="only these (e.g. reader/question_received)")
    check.set_defaults(func=check_templates)
    prev = tsub.add_parser("preview", help="show one template rendered with its sample")
    prev.add_argument("name")
    prev.add_argument("--html", metavar="FILE", help="also write the HTML part to FILE")
    prev.set_defaults(func=preview_template)


def _templates(args) -> Templates:
    """The configured templates folder; MissingFilesError, in Russian, when it is missing or
    holds no template (mailproc.pathcheck decides which)."""
    from mailproc.errors import MissingFilesError
    from mailproc.outbound.templates import SUFFIX
    from mailproc.pathcheck import folder_problem

    settings = App.from_args(args, defaults_ok=True).settings
    found = folder_problem("paths.templates", settings.paths.templates, "templates")
    if found is not None:
        folder = Path(found.path)
        what = (f"папки шаблонов {folder} нет" if not folder.exists()
                else f"{folder} — не папка" if not folder.is_dir()
                else f"в папке шаблонов {folder} нет ни одного шаблона (*{SUFFIX})")
        into = folder.parent if folder.name == "templates" else "ПАПКА"
        raise MissingFilesError(f"paths.templates: {what}; скопируйте поставляемые шаблоны "
                                f"командой «mailproc init {into}» (они лягут в {into}/"
                                f"templates) или укажите в paths.templates папку шаблонов "
                                f"библиотеки")
    return Templates.from_settings(settings)


def check_templates(args) -> int:
    templates = _templates(args)
    names = args.names or templates.names()
    problems = templates.check(names)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        print(f"Ошибок: {len(problems)}. Исправьте строки, названные выше.", file=sys.stderr)
        return 2
    print(f"Шаблонов проверено: {len(names)}, ошибок нет.")
    return 0


def preview_template(args) -> int:
    templates = _templates(args)
    tf = templates.file(args.name)
    problems = templates.check([args.name])
    if problems:
        raise TemplateError(problems)
    rendered = templates.render(args.name, tf.sample())
    print(f"Тема: {rendered.subject}\n")
    print(rendered.text)
    if rendered.html:
        if args.html:
            Path(args.html).write_text(rendered.html, encoding="utf-8")
            print(f"(HTML-часть записана в {args.html})")
        else:
            print("(есть HTML-часть; --html ФАЙЛ запишет её для просмотра в браузере)")
    return 0
