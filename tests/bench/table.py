"""The benchmark runner and its one table (issue 11).

Every row holds a figure, its baseline measured in the same run, their ratio, and the target
an issue sets, if any. Figures from one run on a shared machine move by 15-25% (measured on
the project's 2-core test machines); ratios to a baseline measured minutes apart move much
less, which is why the table is built around them. A measurement that fails writes its error
into its rows and the run goes on to the next one.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from tests.bench import rows as m


@dataclass
class Row:
    key: str
    name: str
    target: str = ""             # what an issue asks, as text ("ratio >= 0.25"); "" = none
    check: object = None         # callable(ratio) -> bool, for targets on the ratio
    figure: str = ""
    baseline: str = ""
    ratio: float | None = None
    ok: bool | None = None       # None: no target, or no figure
    detail: str = ""
    error: str = ""
    values: dict = field(default_factory=dict)
    seconds: float = 0.0         # wall time of the measurement that filled the row

    def set(self, *, ok: bool | None = None, **fields) -> None:
        for k, v in fields.items():
            setattr(self, k, v)
        if ok is not None:
            self.ok = ok
        elif self.check is not None and self.ratio is not None:
            self.ok = bool(self.check(self.ratio))

    @property
    def verdict(self) -> str:
        if self.error:
            return "ERROR"
        if self.ok is None:
            return "-" if self.figure else ""
        return "ok" if self.ok else "MISS"

    def as_json(self) -> dict:
        d = asdict(self)
        d.pop("check")
        d["verdict"] = self.verdict
        return d


def at_least(x: float):
    return lambda r: r >= x


def below(x: float):
    return lambda r: r < x


def at_most(x: float):
    return lambda r: r <= x


#: "flat" growth: within the run-to-run noise of one figure on these machines (15-25%)
FLAT = 1.25


def build_rows(plan: m.Plan) -> list[Row]:
    s, b = plan.intake_small, plan.intake_big
    o_small, o_big = plan.open_orders
    rows = [
        Row("1d", f"intake run --once, built-in sorting, {b:,} msgs", "ratio >= 0.25 (issue 3)",
            at_least(0.25)),
        Row("1a", f"intake + shipped rules' work, {s:,} msgs"),
        Row("1b", f"intake + shipped rules' work, {b:,} msgs"),
        Row("1c", f"intake vs imapfilter, {b:,} msgs"),
        Row("2a", "latency delivery -> moved", "median <= 1 s (issue 3)"),
        Row("2b", "latency vs bare IDLE notice"),
        Row("3a", f"peak RSS, {plan.big_message_mb} MB message", "< 300 MB (issue 3)"),
        Row("3b", f"RSS after {plan.rss_second:,} vs {plan.rss_first:,} msgs",
            "ratio <= 1.20 (issue 3)", at_most(1.20)),
        Row("3c", f"peak RSS, {plan.big_message_mb} MB registration letter, shipped rules",
            "< 300 MB (issue 18)"),
        Row("3d", f"RSS after {plan.rss_second:,} vs {plan.rss_first:,} msgs, shipped rules",
            "ratio <= 1.20 (issue 18)", at_most(1.20)),
        Row("4", f"decide vs decode, {plan.letters:,} Letters", "ratio < 0.10 (issue 4)",
            below(0.10)),
        Row("5a", f"send {plan.sends:,} personalised", "ratio >= 0.50 (issue 5)",
            at_least(0.50)),
        Row("5b", "send only (queued rows)"),
        Row("5c", "send vs smtp-source (C)"),
        Row("6a", f"intake cost/msg {b:,} vs {s:,}", f"flat, ratio <= {FLAT}", at_most(FLAT)),
    ]
    rows += [Row(key, f"order match '{kind}', {o_big:,} vs {o_small} open",
                 f"flat, ratio <= {FLAT} (issue 11)", at_most(FLAT))
             for key, kind in zip(m.ORDER_KEYS, m.ORDER_KINDS)]
    rows.append(Row("7", "decode_letter vs stdlib parse"))
    return rows


#: (title, function, keys of the rows it fills), in the order they run
MEASUREMENTS = [
    ("intake throughput + imapfilter + growth", m.measure_intake,
     ("1d", "1a", "1b", "1c", "6a")),
    ("latency", m.measure_latency, ("2a", "2b")),
    ("peak RSS with a big message", m.measure_big_message, ("3a",)),
    ("RSS growth", m.measure_rss_growth, ("3b",)),
    ("peak RSS with a registration letter, shipped rules", m.measure_registration_rss,
     ("3c",)),
    ("RSS growth, shipped rules", m.measure_rss_growth_rules, ("3d",)),
    ("decide vs decode", m.measure_decide, ("4",)),
    ("sending", m.measure_send, ("5a", "5b", "5c")),
    ("order matching", m.measure_orders, m.ORDER_KEYS),
    ("decode_letter", m.measure_decode, ("7",)),
]


def run(plan: m.Plan, only: set[str] | None = None, log=sys.stderr) -> dict:
    rows = build_rows(plan)
    by_key = {r.key: r for r in rows}
    started = datetime.now(timezone.utc)
    load_before = os.getloadavg()
    t_all = time.perf_counter()
    ran: set[str] = set()
    for i, (title, fn, keys) in enumerate(MEASUREMENTS, 1):
        if only and not any(k.startswith(o) for k in keys for o in only):
            continue
        ran.update(keys)
        print(f"[{i}/{len(MEASUREMENTS)}] {title} ...", file=log, flush=True)
        t0 = time.perf_counter()
        try:
            fn(plan, by_key)
        except Exception as exc:  # a failing row is reported in the table, the run goes on
            message = f"{type(exc).__name__}: {exc}".strip()[:300]
            traceback.print_exc(file=log)
            for key in keys:
                if not by_key[key].figure and not by_key[key].error:
                    by_key[key].error = message
        seconds = time.perf_counter() - t0
        for key in keys:
            by_key[key].seconds = round(seconds, 1)
        print(f"      {seconds:.0f} s", file=log, flush=True)
    return {"plan": asdict(plan), "started": started.isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - t_all, 1),
            "machine": machine(load_before),
            "rows": [r.as_json() for r in rows if r.key in ran]}


def machine(load_before) -> dict:
    cpu = ""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024 ** 3
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem_gb, 1),
            "os": _os_name(), "kernel": platform.release(), "python": platform.python_version(),
            "dovecot": _version(["dovecot", "--version"]),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()]}


def _os_name() -> str:
    try:
        for line in open("/etc/os-release", encoding="utf-8"):
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def _version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


# -- output ---------------------------------------------------------------------------------

COLUMNS = (("#", "key"), ("row", "name"), ("figure", "figure"), ("baseline (same run)", "baseline"),
           ("ratio", "ratio"), ("target", "target"), ("", "verdict"))


def _cells(row: dict) -> list[str]:
    out = []
    for _title, k in COLUMNS:
        v = row[k]
        if k == "ratio":
            v = "" if v is None else f"{v:.2f}" if v >= 1 else f"{v:.3f}" if v >= 0.01 else f"{v:.4f}"
        if k == "figure" and row["error"]:
            v = "ERROR: " + row["error"]
        out.append(str(v))
    return out


def machine_line(result: dict) -> str:
    mc = result["machine"]
    return (f"{mc['cpu']}, {mc['cores']} cores, {mc['memory_gb']} GB, {mc['os']}, "
            f"Python {mc['python']}, Dovecot {mc['dovecot'].split()[0] if mc['dovecot'] else '?'}"
            f"; load {mc['load_before'][0]} before, {mc['load_after'][0]} after; "
            f"{result['plan']['name']} plan, {result['seconds']:.0f} s, {result['started']}")


def text_table(result: dict) -> str:
    rows = [[t for t, _k in COLUMNS]] + [_cells(r) for r in result["rows"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    widths[2] = min(widths[2], 70)
    lines = []
    for n, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if i != 4 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines.append("machine: " + machine_line(result))
    misses = [r for r in result["rows"] if r["verdict"] in ("MISS", "ERROR")]
    for r in misses:
        lines.append(f"{r['verdict']} {r['key']}: {r['error'] or r['detail']}")
    return "\n".join(lines)


def markdown_table(result: dict) -> str:
    lines = ["| " + " | ".join(t or "verdict" for t, _k in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    for r in result["rows"]:
        lines.append("| " + " | ".join(c.replace("|", "/") for c in _cells(r)) + " |")
    lines.append("")
    lines.append("Machine: " + machine_line(result) + ".")
    return "\n".join(lines)


def write_json(result: dict, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=2)
        f.write("\n")
