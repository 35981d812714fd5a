"""Librarian-edited templates: one file a message, rendered in a bounded Jinja2 sandbox.

A template file ``templates/<folder>/<name>.txt`` holds sections opened by a line
``=== name ===`` (the format is documented for librarians in ``templates/README.md``):

``пример`` (sample)  YAML sample data: ``templates check`` and ``preview`` render with it;
``тема`` (subject)   one line;
``текст`` (text)     the text/plain part;
``html``             an optional HTML part (autoescaped); without ``текст`` the text part is
                     derived from it;
``макет`` (layout)   optional name of a layout template that wraps this one (mailings).

Why a sandbox with limits: librarians edit these files and a loop over a large range or a
huge string must not stall the sender, so rendering is bounded in time (every call, attribute
access, loop step over ``range`` and operator checks a deadline) and in size (output and
intermediate strings). ``StrictUndefined`` turns a misspelt variable into an error instead of
an empty hole in a letter sent to a reader.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from jinja2 import BaseLoader, StrictUndefined, TemplateNotFound, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from markupsafe import Markup

from mailproc.config import MailSettings
from mailproc.errors import TemplateError
from mailproc.outbound import textfmt

SUFFIX = ".txt"
_HEADER = re.compile(r"^===\s*(?P<name>[^=]+?)\s*===\s*$")
SECTION_NAMES = {
    "пример": "sample", "sample": "sample",
    "тема": "subject", "subject": "subject",
    "текст": "text", "text": "text",
    "html": "html",
    "макет": "layout", "layout": "layout",
}
RENDERED_SECTIONS = ("subject", "text", "html")


class RenderLimit(Exception):
    """Rendering ran past its time or size bound."""


@dataclass
class Section:
    start: int  # line number of the first body line (1-based)
    body: str


@dataclass
class TemplateFile:
    name: str  # "reader/question_received"
    path: Path
    sections: dict[str, Section] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def line_of(self, section: str) -> int:
        s = self.sections.get(section)
        return max(1, s.start - 1) if s else 1

    @property
    def layout(self) -> str:
        s = self.sections.get("layout")
        return s.body.strip() if s else ""

    def sample(self) -> dict[str, Any]:
        s = self.sections.get("sample")
        if s is None or not s.body.strip():
            return {}
        try:
            data = yaml.safe_load(s.body)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = s.start + (mark.line if mark else 0)
            raise TemplateError([f"{self.path}:{line}: пример данных не читается как YAML: "
                                 f"{getattr(exc, 'problem', exc)}; пишите строки вида "
                                 f"«имя: значение»"]) from None
        if not isinstance(data, dict):
            raise TemplateError([f"{self.path}:{s.start}: пример данных должен быть списком "
                                 f"строк «имя: значение»"])
        return data


def parse_file(name: str, path: Path) -> TemplateFile:
    """Split a template file into its sections, remembering where each starts."""
    tf = TemplateFile(name, path)
    current: str | None = None
    lines: list[str] = []
    start = 0
    text = path.read_text(encoding="utf-8")

    def close() -> None:
        if current is not None:
            tf.sections[current] = Section(start, "\n".join(lines))

    for number, line in enumerate(text.splitlines(), 1):
        m = _HEADER.match(line)
        if m:
            close()
            key = SECTION_NAMES.get(m.group("name").strip().lower())
            if key is None:
                tf.problems.append(f"{path}:{number}: неизвестный раздел «{m.group('name')}»; "
                                   f"разделы: пример, тема, текст, html, макет")
                current = None
            else:
                if key in tf.sections:
                    tf.problems.append(f"{path}:{number}: раздел «{m.group('name')}» "
                                       f"повторяется; оставьте один")
                current = key
            lines, start = [], number + 1
        elif current is not None:
            lines.append(line)
    close()
    if "subject" not in tf.sections and "layout" not in tf.sections \
            and not name.endswith("layout"):
        tf.problems.append(f"{path}:1: нет раздела «=== тема ===»; добавьте строку темы письма")
    if "text" not in tf.sections and "html" not in tf.sections:
        tf.problems.append(f"{path}:1: нет ни раздела «=== текст ===», ни «=== html ===»")
    return tf


# -------------------------------------------------------------------------------------------
# The bounded sandbox

_limits = threading.local()


def _tick() -> None:
    deadline = getattr(_limits, "deadline", None)
    if deadline is not None and time.monotonic() > deadline:
        raise RenderLimit("шаблон считается слишком долго (бесконечный или огромный цикл?)")


class _Loader(BaseLoader):
    """Serves "name#section" from the parsed files, padded so Jinja's line numbers are the
    file's line numbers."""

    def __init__(self, store: "Templates"):
        self.store = store

    def get_source(self, environment, template):
        name, _, section = template.partition("#")
        tf = self.store.file(name)
        s = tf.sections.get(section or "text")
        if s is None:
            raise TemplateNotFound(template)
        return padded(s), str(tf.path), lambda: True  # Templates.file() notices changes


def padded(s: Section) -> str:
    """The section's source behind a multi-line comment, so its first line is line
    ``s.start`` for Jinja too and the padding renders as nothing."""
    return "{#" + "\n" * (s.start - 1) + "#}" + s.body


class _BoundedEnv(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**", "+"])

    def __init__(self, max_size: int, **kw):
        super().__init__(**kw)
        self.max_size = max_size

    def call_binop(self, context, operator, left, right):
        _tick()
        if operator == "**" and isinstance(right, (int, float)) and right > 64:
            raise RenderLimit("слишком большая степень в шаблоне")
        if operator == "*" and isinstance(left, (str, list)) and isinstance(right, int) \
                and len(left) * right > self.max_size:
            raise RenderLimit("строка в шаблоне вышла слишком длинной")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's signature
        _tick()
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj, attribute):
        _tick()
        return super().getattr(obj, attribute)


def _bounded_range(*args: int) -> Iterator[int]:
    r = range(*args)
    if len(r) > 100_000:
        raise RenderLimit("range() в шаблоне слишком длинный (больше 100 000)")
    for i in r:
        _tick()
        yield i


@dataclass
class Rendered:
    subject: str
    text: str
    html: str = ""


class Templates:
    """The templates folder: parsed files cached by modification time, one environment."""

    def __init__(self, root: str | Path, tz: ZoneInfo | str = "Asia/Yakutsk", *,
                 timeout: float = 2.0, max_size: int = 1 << 20,
                 globals: dict[str, Any] | None = None):
        self.root = Path(root)
        self.tz = ZoneInfo(tz) if isinstance(tz, str) else tz
        self.timeout = timeout
        self.max_size = max_size
        self._files: dict[str, tuple[int, TemplateFile, float]] = {}
        self.env = _BoundedEnv(
            max_size,
            loader=_Loader(self),
            undefined=StrictUndefined,
            autoescape=lambda name: bool(name) and name.endswith("#html"),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            auto_reload=False,
        )
        defaults = MailSettings()
        self.env.globals.update({
            "from_name": defaults.from_name,
            "from_address": defaults.from_address,
            "range": _bounded_range,
            "plural": textfmt.plural,
            **(globals or {}),
        })
        self.env.filters.update({
            "plural": textfmt.plural,
            "date": lambda v: textfmt.format_date(v, self.tz),
            "datetime": lambda v: textfmt.format_datetime(v, self.tz),
        })

    @classmethod
    def from_settings(cls, settings) -> "Templates":
        return cls(settings.paths.templates, settings.tz,
                   timeout=settings.outbox.render_timeout,
                   max_size=settings.outbox.render_max_size,
                   globals={"from_name": settings.mail.from_name,
                            "from_address": settings.mail.from_address})

    # -- files ------------------------------------------------------------------------------

    def names(self) -> list[str]:
        return sorted(p.relative_to(self.root).with_suffix("").as_posix()
                      for p in self.root.rglob(f"*{SUFFIX}") if p.is_file())

    def path_of(self, name: str) -> Path:
        if ".." in name.split("/") or name.startswith("/"):
            raise TemplateError([f"{name}: имя шаблона вида «reader/question_received»"])
        return self.root / f"{name}{SUFFIX}"

    def file(self, name: str) -> TemplateFile:
        """The parsed file, re-read when it changed on disk (looked at at most once a second,
        so rendering a mailing of thousands does not stat the file thousands of times)."""
        now = time.monotonic()
        cached = self._files.get(name)
        if cached and now - cached[2] < 1.0:
            return cached[1]
        path = self.path_of(name)
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            raise TemplateError([f"{path}: нет такого шаблона «{name}»"]) from None
        if cached and cached[0] == mtime:
            self._files[name] = (mtime, cached[1], now)
            return cached[1]
        tf = parse_file(name, path)
        if cached:
            self.env.cache.clear()  # compiled sections of the old text
        self._files[name] = (mtime, tf, now)
        return tf

    # -- rendering --------------------------------------------------------------------------

    def render(self, name: str, context: dict[str, Any]) -> Rendered:
        """Subject, text and HTML of template ``name`` for ``context``; raises TemplateError
        with ``file:line: problem`` lines, never returns a half-rendered message."""
        tf = self.file(name)
        if tf.problems:
            raise TemplateError(tf.problems)
        _limits.deadline = time.monotonic() + self.timeout
        try:
            parts = {s: self._render_section(tf, s, context)
                     for s in RENDERED_SECTIONS if s in tf.sections}
            if tf.layout:
                layout = self.file(tf.layout)
                if layout.problems:
                    raise TemplateError(layout.problems)
                inner = dict(context)
                inner["content"] = parts.get("text") or textfmt.html_to_text(parts.get("html", ""))
                inner["content_html"] = Markup(parts.get("html") or _text_to_html(inner["content"]))
                inner["subject"] = " ".join(parts.get("subject", "").split())
                for s in ("text", "html"):
                    if s in layout.sections:
                        parts[s] = self._render_section(layout, s, inner)
                    else:
                        parts.pop(s, None)
        finally:
            _limits.deadline = None
        subject = " ".join(parts.get("subject", "").split())
        html_part = parts.get("html", "").strip()
        text = parts.get("text", "").strip("\n")
        if not text and html_part:
            text = textfmt.html_to_text(html_part)
        return Rendered(subject, text.rstrip() + "\n", html_part + "\n" if html_part else "")

    def _render_section(self, tf: TemplateFile, section: str, context: dict[str, Any]) -> str:
        try:
            template = self.env.get_template(f"{tf.name}#{section}")
            out: list[str] = []
            size = 0
            for chunk in template.generate(context):
                size += len(chunk)
                if size > self.max_size:
                    raise RenderLimit(f"результат длиннее {self.max_size} знаков")
                out.append(chunk)
                _tick()
            return "".join(out)
        except TemplateSyntaxError as exc:
            raise TemplateError([f"{exc.filename or tf.path}:{exc.lineno}: ошибка в записи "
                                 f"шаблона: {_ru_syntax(exc.message)}"]) from None
        except TemplateError:
            raise
        except Exception as exc:  # noqa: BLE001 - every render failure is the template's
            line = _template_line(exc, str(tf.path)) or tf.line_of(section)
            raise TemplateError([f"{tf.path}:{line}: {_ru_runtime(exc)}"]) from None

    # -- checking ---------------------------------------------------------------------------

    def check(self, names: list[str] | None = None) -> list[str]:
        """Every problem of every template (or the named ones), as ``file:line: problem``."""
        problems: list[str] = []
        for name in names or self.names():
            try:
                tf = self.file(name)
            except TemplateError as exc:
                problems.extend(exc.problems)
                continue
            if tf.problems:
                problems.extend(tf.problems)
                continue
            try:
                sample = tf.sample()
            except TemplateError as exc:
                problems.extend(exc.problems)
                continue
            found = self._static_problems(tf, sample)
            problems.extend(found)
            if found:
                continue
            if tf.layout and not self.path_of(tf.layout).exists():
                problems.append(f"{tf.path}:{tf.line_of('layout') + 1}: нет макета "
                                f"«{tf.layout}»")
                continue
            try:
                self.render(name, sample)
            except TemplateError as exc:
                problems.extend(exc.problems)
        return problems

    def _static_problems(self, tf: TemplateFile, sample: dict[str, Any]) -> list[str]:
        """Syntax errors and variables neither the sample nor the globals define, with the
        line of their first use."""
        known = set(sample) | set(self.env.globals)
        if tf.name.endswith("layout"):
            known |= {"content", "content_html", "subject"}
        out: list[str] = []
        for section in RENDERED_SECTIONS:
            s = tf.sections.get(section)
            if s is None:
                continue
            source = padded(s)
            try:
                ast = self.env.parse(source, f"{tf.name}#{section}", str(tf.path))
            except TemplateSyntaxError as exc:
                out.append(f"{tf.path}:{exc.lineno}: ошибка в записи шаблона: "
                           f"{_ru_syntax(exc.message)}")
                continue
            for var in sorted(meta.find_undeclared_variables(ast) - known):
                line = next((n.lineno for n in ast.find_all(nodes.Name) if n.name == var),
                            s.start)
                out.append(f"{tf.path}:{line}: неизвестная переменная «{var}»: её нет в "
                           f"примере данных (=== пример ===); проверьте написание или "
                           f"добавьте её в пример")
        return out


def _template_line(exc: BaseException, filename: str) -> int | None:
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _ru_runtime(exc: Exception) -> str:
    text = str(exc)
    m = re.match(r"'(?P<name>[^']+)' is undefined", text)
    if m:
        return (f"неизвестная переменная «{m.group('name')}»: её не передали в шаблон; "
                f"проверьте написание")
    m = re.match(r"'(?P<obj>.+)' has no attribute '(?P<attr>[^']+)'", text)
    if m:
        return f"у значения нет поля «{m.group('attr')}»; проверьте написание"
    if isinstance(exc, RenderLimit):
        return text
    if isinstance(exc, SecurityError):
        return f"запрещённое действие в шаблоне ({text})"
    return f"ошибка при подстановке: {type(exc).__name__}: {text}"


def _ru_syntax(message: str | None) -> str:
    text = message or ""
    known = [
        (r"unexpected end of template", "шаблон закончился раньше, чем закрыт блок "
                                        "(нет {% endif %} или {% endfor %}?)"),
        (r"unexpected '}'", "лишняя «}» (переменная пишется {{ имя }})"),
        (r"Encountered unknown tag '(\w+)'", "неизвестная команда «{0}»"),
        (r"unexpected char '(.)'", "недопустимый знак «{0}»"),
        (r"expected token '(.+?)', got '(.+?)'", "ожидалось «{0}», а написано «{1}»"),
        (r"no filter named '(.+?)'", "нет фильтра «{0}»; есть plural, date, datetime"),
    ]
    for pattern, ru in known:
        m = re.search(pattern, text)
        if m:
            return ru.format(*m.groups()) + f" [{text}]"
    return text


def _text_to_html(text: str) -> str:
    from markupsafe import escape

    return "".join(f"<p>{escape(p)}</p>" for p in text.split("\n\n") if p.strip())

