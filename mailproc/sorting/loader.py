"""Rule files -> RuleSet, with every problem reported for a librarian, in Russian.

Rule files are ``rules/NN-name.yaml`` (two digits first), read in file-name order; the other
YAML files in ``rules/`` (lists.yaml, departments.yaml, answers.yaml, ...) are data. Each rule
file is a list of rules. PyYAML's compose() keeps the line and column of every node, so each
problem reads ``file:line:column: правило «name»: what is wrong; what to write instead``.
All problems are collected, not just the first, so one run shows everything to fix.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node as YNode, ScalarNode, SequenceNode

from mailproc.errors import LoadError, RuleFileError
from mailproc.sorting.directory import Directory, load_directory
from mailproc.sorting.params import ArgError, Env, closest
from mailproc.sorting.registry import Catalogue, catalogue
from mailproc.sorting.rules import All, Any_, Leaf, Node, Not, Rule, RuleAction, RuleSet, Where

RULE_KEYS = ("name", "description", "when", "then", "stop")
GROUPS = ("all", "any", "not")
CATCH_ALL = ("always", "всегда")
#: the data files the rules themselves load (the departments directory and named lists); they
#: are part of a rule set, its version and its stored copy. answers.yaml and mailings.yaml are
#: read by their own modules when used, not by the rules.
DATA_FILES = ("lists.yaml", "departments.yaml")


def rule_files(rules_dir: Path) -> list[Path]:
    return sorted(p for p in Path(rules_dir).glob("*.yaml") if p.name[:2].isdigit())


def fingerprint(*folders: Path | str | None) -> str:
    """Changes when any file in the folders changes: name, size and modification time."""
    h = hashlib.sha256()
    for folder in folders:
        if folder is None or not Path(folder).is_dir():
            continue
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                st = path.stat()
                h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


class Problem(Exception):
    def __init__(self, node: YNode | None, what: str, hint: str = ""):
        super().__init__(what)
        self.node, self.what, self.hint = node, what, hint


class _FileLoader:
    def __init__(self, path: Path, shown: str, cat: Catalogue, env: Env, data: bytes):
        self.path, self.shown, self.cat, self.env, self.data = path, shown, cat, env, data
        self.problems: list[str] = []
        self.rule = ""
        self._yaml: yaml.SafeLoader | None = None

    # -- reporting ------------------------------------------------------------------------

    def where(self, node: YNode | None) -> Where:
        mark = node.start_mark if node is not None else None
        return Where(self.shown, mark.line + 1 if mark else 1, mark.column + 1 if mark else 1)

    def report(self, node: YNode | None, what: str, hint: str = "") -> None:
        rule = f"правило «{self.rule}»: " if self.rule else ""
        self.problems.append(f"{self.where(node)}: {rule}{what}" + (f"; {hint}" if hint else ""))

    def value(self, node: YNode) -> Any:
        return self._yaml.construct_document(node)

    # -- the file -------------------------------------------------------------------------

    def load(self) -> list[Rule]:
        try:
            self._yaml = yaml.SafeLoader(self.data.decode("utf-8"))
            root = self._yaml.get_single_node()
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{self.shown}:{mark.line + 1}:{mark.column + 1}" if mark else self.shown
            self.problems.append(f"{where}: ошибка разметки YAML: {getattr(exc, 'problem', exc)}; "
                                 f"проверьте отступы, двоеточия и кавычки")
            return []
        except UnicodeDecodeError as exc:
            self.problems.append(f"{self.shown}:1:1: файл не читается ({exc}); сохраните его "
                                 f"в кодировке UTF-8")
            return []
        if root is None:
            return []
        if not isinstance(root, SequenceNode):
            self.report(root, "файл правил должен быть списком правил",
                        "начните каждое правило со строки «- name: ...»")
            return []
        rules = []
        for item in root.value:
            self.rule = ""
            try:
                rules.append(self.rule_of(item))
            except Problem as p:
                self.report(p.node, p.what, p.hint)
        self.rule = ""
        return [r for r in rules if r is not None]

    def rule_of(self, node: YNode) -> Rule | None:
        if not isinstance(node, MappingNode):
            raise Problem(node, "правило должно быть словарём с полями name, description, when, "
                                "then", "начните правило со строки «- name: Название»")
        fields: dict[str, tuple[YNode, YNode]] = {}
        for key, val in node.value:
            fields[str(key.value)] = (key, val)
        if "name" in fields and isinstance(fields["name"][1], ScalarNode):
            self.rule = str(fields["name"][1].value).strip()
        before = len(self.problems)
        for key, (knode, _) in fields.items():
            if key not in RULE_KEYS:
                c = closest(key, RULE_KEYS)
                self.report(knode, f"неизвестное поле «{key}»",
                            f"может быть, «{c}»?" if c else "поля правила: " + ", ".join(RULE_KEYS))
        if not self.rule:
            raise Problem(node, "у правила нет названия", "добавьте строку «name: Название правила»")
        description = ""
        if "description" in fields:
            description = str(self.value(fields["description"][1]) or "")
        else:
            self.report(node, "нет описания", "добавьте «description: » с пояснением по-русски")
        when = None
        if "when" in fields:
            when = self.condition_tree(fields["when"][1], top=True)
            if isinstance(when, All) and not when.items:
                when = None
        then = self.actions(fields["then"][1]) if "then" in fields else []
        stop = True
        if "stop" in fields:
            stop = self.value(fields["stop"][1])
            if not isinstance(stop, bool):
                self.report(fields["stop"][1], f"stop должно быть true или false, а не «{stop}»",
                            "напишите stop: true (дальше не смотреть) или stop: false")
                stop = True
        if len(self.problems) > before:
            return None
        return Rule(self.rule, description, when, then, stop, self.where(node))

    # -- conditions -----------------------------------------------------------------------

    def condition_tree(self, node: YNode, top: bool = False) -> Node | None:
        """all/any/not groups of conditions; a list or a multi-key mapping means "all"."""
        if isinstance(node, ScalarNode):
            name = str(node.value).strip()
            if top and name in CATCH_ALL:
                return None
            return self.leaf(node, name, None)
        if isinstance(node, SequenceNode):
            return All([n for n in (self.safe_tree(item) for item in node.value) if n])
        if isinstance(node, MappingNode):
            parts = []
            for key, val in node.value:
                name = str(key.value).strip()
                if name in ("all", "any"):
                    if not isinstance(val, SequenceNode):
                        self.report(val, f"после «{name}:» нужен список условий",
                                    "каждое условие с новой строки после «- »")
                        continue
                    items = [n for n in (self.safe_tree(i) for i in val.value) if n]
                    parts.append(All(items) if name == "all" else Any_(items))
                elif name == "not":
                    inner = self.safe_tree(val)
                    if inner is not None:
                        parts.append(Not(inner))
                else:
                    leaf = self.safe_leaf(key, name, val)
                    if leaf is not None:
                        parts.append(leaf)
            return parts[0] if len(parts) == 1 else All(parts)
        raise Problem(node, "непонятное условие", "напишите «имя-условия: значение»")

    def safe_tree(self, node: YNode) -> Node | None:
        try:
            return self.condition_tree(node)
        except Problem as p:
            self.report(p.node, p.what, p.hint)
            return None

    def safe_leaf(self, key: YNode, name: str, val: YNode | None) -> Node | None:
        try:
            return self.leaf(key, name, val)
        except Problem as p:
            self.report(p.node, p.what, p.hint)
            return None

    def leaf(self, key: YNode, name: str, val: YNode | None) -> Leaf:
        spec = self.cat.conditions.get(name)
        if spec is None:
            c = closest(name, list(self.cat.conditions) + list(GROUPS))
            raise Problem(key, f"неизвестное условие «{name}»",
                          f"может быть, «{c}»?" if c else "список условий: mailproc rules list")
        raw = None if val is None else self.value(val)
        if not spec.params:
            if raw in (None, True, False):
                return Leaf(name, spec.func, {}, name if raw is not False else f"не {name}",
                            negate=raw is False)
            raise Problem(val, f"условие «{name}» пишется без значения",
                          f"напишите «{name}: true» или «{name}: false»")
        args = self.arguments(f"условие «{name}»", spec.params, raw, val or key)
        return Leaf(name, spec.func, args, _label(name, raw))

    # -- actions --------------------------------------------------------------------------

    def actions(self, node: YNode) -> list[RuleAction]:
        if not isinstance(node, SequenceNode):
            self.report(node, "then должен быть списком действий",
                        "каждое действие с новой строки после «- », например «- move-to-folder: "
                        "Вопросы»")
            return []
        out = []
        for item in node.value:
            try:
                out.append(self.action(item))
            except Problem as p:
                self.report(p.node, p.what, p.hint)
        return out

    def action(self, node: YNode) -> RuleAction:
        if isinstance(node, ScalarNode):
            key, name, val = node, str(node.value).strip(), None
        elif isinstance(node, MappingNode) and len(node.value) == 1:
            key, val = node.value[0]
            name = str(key.value).strip()
        else:
            raise Problem(node, "действие пишется как «имя-действия: значение»",
                          "по одному действию на строку после «- »")
        spec = self.cat.actions.get(name)
        if spec is None:
            c = closest(name, self.cat.actions)
            raise Problem(key, f"неизвестное действие «{name}»",
                          f"может быть, «{c}»?" if c else "список действий: mailproc rules list")
        raw = None if val is None else self.value(val)
        args = self.arguments(f"действие «{name}»", spec.params, raw, val or key)
        return RuleAction(name, _json_safe(_named_args(spec.params, raw)), args, spec)

    # -- arguments ------------------------------------------------------------------------

    def arguments(self, what: str, params, raw, node: YNode) -> dict[str, Any]:
        named = _named_args(params, raw)
        if named is None:
            raise Problem(node, f"{what}: нужно значение",
                          "параметры: " + ", ".join(f"{k} ({p.show()})" for k, p in params.items()))
        out: dict[str, Any] = {}
        for pname, value in named.items():
            if pname not in params:
                c = closest(pname, params)
                raise Problem(_entry(node, pname, key=True), f"{what}: неизвестный параметр «{pname}»",
                              f"может быть, «{c}»?" if c else "параметры: " + ", ".join(params))
            try:
                out[pname] = params[pname].convert(value, self.env)
            except ArgError as exc:
                raise Problem(_entry(node, pname, key=False), f"{what}: {exc.what}", exc.hint) from None
        for pname, p in params.items():
            if pname not in named and not p.optional:
                raise Problem(node, f"{what}: не указан параметр «{pname}»",
                              f"добавьте «{pname}: …» ({p.show()})")
        return out


def _named_args(params, raw) -> dict[str, Any] | None:
    """A mapping names the parameters; a plain value or list goes to the first parameter."""
    if raw is None:
        return {} if all(p.optional for p in params.values()) else None
    if isinstance(raw, dict):
        return {str(k): v for k, v in raw.items()}
    first = next(iter(params))
    return {first: raw}


def _entry(node: YNode, name: str, key: bool) -> YNode:
    """The key (or value) node of ``name`` in a mapping node, to point at; else the node."""
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if str(k.value) == name:
                return k if key else v
    return node


def _label(name: str, raw: Any) -> str:
    if raw is None:
        return name
    if isinstance(raw, list):
        shown = ", ".join(map(str, raw[:3])) + (", …" if len(raw) > 3 else "")
    elif isinstance(raw, dict):
        shown = ", ".join(f"{k}={v}" for k, v in raw.items())
    else:
        shown = str(raw)
    return f"{name}: {shown}"


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False, default=str)) if value else {}


def load_rules(rules_dir: str | Path, *, templates_dir: str | Path | None = None,
               cat: Catalogue | None = None, shown_root: str | Path | None = None) -> RuleSet:
    """Load every rule file in order; RuleFileError lists every problem found."""
    rules_dir = Path(rules_dir)
    cat = cat or catalogue()
    problems: list[str] = []
    if not rules_dir.is_dir():
        raise RuleFileError([f"{rules_dir}: нет такой папки правил; проверьте paths.rules"])
    try:
        directory = load_directory(rules_dir / "departments.yaml", rules_dir / "lists.yaml")
    except LoadError as exc:
        problems.extend(exc.problems)
        directory = Directory()
    env = Env(directory=directory, templates_dir=Path(templates_dir) if templates_dir else None)
    rules: list[Rule] = []
    files = rule_files(rules_dir)
    digest = hashlib.sha256()
    sources: dict[str, bytes] = {}  # every file of the set, as read: kept as the last good set
    for path in files:
        shown = _shown(path, shown_root)
        try:
            sources[path.name] = data = path.read_bytes()
        except OSError as exc:
            problems.append(f"{shown}:1:1: файл не читается ({exc.strerror}); проверьте права "
                            f"на файл")
            continue
        fl = _FileLoader(path, shown, cat, env, data)
        rules.extend(fl.load())
        problems.extend(fl.problems)
        digest.update(path.name.encode() + b"\0" + data)
    for name in DATA_FILES:
        if (rules_dir / name).exists():
            sources[name] = (rules_dir / name).read_bytes()
            digest.update(sources[name])
    problems.extend(_order_problems(rules))
    if not files:
        problems.append(f"{rules_dir}: нет ни одного файла правил; файлы правил называются "
                        f"NN-имя.yaml, например 10-automatic.yaml")
    if problems:
        raise RuleFileError(problems)
    return RuleSet(rules, directory, digest.hexdigest()[:16], [str(p) for p in files], sources)


def _shown(path: Path, root: str | Path | None) -> str:
    try:
        return str(path.relative_to(root)) if root else str(path)
    except ValueError:
        return str(path)


def _order_problems(rules: list[Rule]) -> list[str]:
    """Duplicate names; rules nothing can reach because a catch-all stops above them."""
    problems = []
    seen: dict[str, Rule] = {}
    catch_all: Rule | None = None
    for rule in rules:
        prefix = f"{rule.where}: правило «{rule.name}»: "
        if rule.name in seen:
            problems.append(prefix + f"такое название уже есть у правила в {seen[rule.name].where}; "
                            "дайте правилу другое название")
        seen.setdefault(rule.name, rule)
        if catch_all is not None:
            problems.append(prefix + f"никогда не сработает: правило «{catch_all.name}» "
                            f"({catch_all.where}) выше берёт все письма; перенесите то правило в "
                            "конец или добавьте ему условие when, или stop: false")
        elif rule.when is None and rule.stop:
            catch_all = rule
    return problems
