"""The measurements behind each row of the benchmark table (issue 11).

Every figure that another helper's script already measures is taken from it: imported
functions where the script has them (intake_throughput, intake_latency, intake_memory,
send_vs_bare), else the script runs as a subprocess and its printed figures are parsed
(decide_vs_decode, order_matching, decode_speed). What is measured here is only what no script
had: the realistic mailbox filled once and shared by the intake rows, imapfilter sorting it, and
Postfix's smtp-source as the practical SMTP limit.

Each ``measure_*`` function fills the rows it owns (``rows[key].set(...)``); the runner catches
what it raises and writes the error into the rows it left empty.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.bench.mailbox_gen import mailbox
from tests.servers.dovecot import DovecotServer
from tests.servers.mailproc import MailprocSetup

ROOT = Path(__file__).resolve().parents[2]
SMTP_SOURCE = "/usr/sbin/smtp-source"
#: what a reader waits with a helpdesk that polls its mailbox (fixed reference, seconds)
HELPDESK_POLL = (30.0, 60.0)


@dataclass(frozen=True)
class Plan:
    """The counts of one run: ``full`` for ``make bench``, ``quick`` for ``make bench-quick``."""
    name: str
    intake_small: int
    intake_big: int
    deliveries: int
    big_message_mb: int
    rss_first: int
    rss_second: int
    letters: int
    sends: int
    connections: int
    open_orders: tuple[int, int]
    replies: int

    @classmethod
    def full(cls) -> "Plan":
        return cls("full", 1000, 10_000, 20, 40, 1000, 10_000, 10_000, 10_000, 4,
                   (10, 10_000), 300)

    @classmethod
    def quick(cls) -> "Plan":
        return cls("quick", 100, 1000, 10, 40, 100, 1000, 1000, 1000, 4, (10, 1000), 100)


# -- helpers ------------------------------------------------------------------------------

def script(name: str, *args: str, timeout: float = 900) -> str:
    """Run ``tests/bench/NAME`` as the scripts' authors run it; its stdout, or an error."""
    res = subprocess.run([sys.executable, str(ROOT / "tests" / "bench" / name), *args],
                         cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    if res.returncode != 0:
        raise RuntimeError(f"{name} exited {res.returncode}: "
                           f"{(res.stderr or res.stdout).strip().splitlines()[-1:]}")
    return res.stdout


def grab(pattern: str, text: str, cast=float):
    m = re.search(pattern, text, re.MULTILINE)
    if m is None:
        raise RuntimeError(f"figure not found in the script's output: {pattern!r}")
    return cast(m.group(1))


def folder_counts(server: DovecotServer) -> dict[str, int]:
    out = {}
    for line in server.doveadm("-f", "tab", "mailbox", "status", "-u", server.user,
                               "messages", "*").splitlines()[1:]:
        name, _, count = line.rpartition("\t")
        out[name] = int(count)
    return out


def move_all_to_inbox(server: DovecotServer) -> dict[str, int]:
    """Server-side: the generated messages in every folder back into INBOX (a rename in the
    Maildir); what mailproc appended itself (Sent copies, notices) stays where it is.
    Returns how many messages each folder held."""
    counts = folder_counts(server)
    for name, count in counts.items():
        if name != "INBOX" and count:
            server.doveadm("move", "-u", server.user, "INBOX", "mailbox", name,
                           "header", "Message-ID", "<bench-")
    return {k: v for k, v in counts.items() if v}


def maildir_mb(server: DovecotServer) -> float:
    total = 0
    for dirpath, _dirs, files in os.walk(server.maildir):
        if os.path.basename(dirpath) in ("cur", "new"):
            total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    return total / 1024 / 1024


# -- 1 and 6a: intake throughput and its growth, on one generated mailbox ----------------

def measure_intake(plan: Plan, rows) -> None:
    from tests.bench.intake_throughput import bare_fetch_rate, run_once_rate

    small, big = plan.intake_small, plan.intake_big
    with DovecotServer() as server:
        work = Path(tempfile.mkdtemp(prefix="mailproc-bench-"))
        try:
            # the fixed cost of one run (start, migrate a fresh database, log in), so that the
            # growth row compares the cost per message, not how well it is amortised
            empty_s = 1 / run_once_rate(MailprocSetup(work / "empty", server), 1)[0]
            t0 = time.perf_counter()
            server.deliver_many(mailbox(big, seed=1))
            fill_s = time.perf_counter() - t0
            total_mb = maildir_mb(server)
            # the first ``small`` messages alone: the rest wait in a folder mailproc ignores
            server.doveadm("mailbox", "create", "-u", server.user, "Hold")
            server.doveadm("move", "-u", server.user, "Hold", "mailbox", "INBOX",
                           "uid", f"{small + 1}:*")
            small_mb = maildir_mb(server) - _folder_mb(server, "Hold")
            def intake_run(setup: MailprocSetup, mb: float) -> dict:
                """run --once on what waits in INBOX, against a bare fetch of the same."""
                bare_fetch_rate(server)  # warm the page cache, as run --once finds it warm
                got, bare = bare_fetch_rate(server)
                rate, summary = run_once_rate(setup, got)
                return {"messages": got, "mb": mb, "bare_per_s": bare, "mailproc_per_s": rate,
                        "summary": "; ".join(summary.splitlines()),
                        "left_in_inbox": server.count("INBOX")}

            results = {}
            for mb, name in ((small_mb, "small"), (total_mb, "big")):
                if name == "big":
                    move_all_to_inbox(server)
                results[name] = intake_run(shipped_rules(MailprocSetup(work / name, server)), mb)
            results["big"]["folders"] = move_all_to_inbox(server)
            # issue 3's measurement: the intake itself, sorting with its built-in decision
            # (the shipped rules' replies, hand-offs and Sent copies are rows 1a and 1b)
            results["builtin"] = intake_run(MailprocSetup(work / "builtin", server), total_mb)
            move_all_to_inbox(server)
            imapfilter_s, sorted_into = imapfilter_sort(server, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    for key, name in (("1a", "small"), ("1b", "big"), ("1d", "builtin")):
        r = results[name]
        mb_s = r["mailproc_per_s"] * r["mb"] / r["messages"]
        rows[key].set(
            figure=f"{r['mailproc_per_s']:.1f} msg/s, {mb_s:.1f} MB/s",
            baseline=f"bare fetch {r['bare_per_s']:.0f} msg/s",
            ratio=r["mailproc_per_s"] / r["bare_per_s"],
            detail=f"{r['messages']} msgs, avg {r['mb'] * 1024 / r['messages']:.0f} KB; "
                   f"{r['summary']}; left in INBOX {r['left_in_inbox']}",
            values={**r, "fill_s": fill_s})
    b = results["big"]
    imapfilter_rate = b["messages"] / imapfilter_s
    rows["1c"].set(figure=f"{b['mailproc_per_s']:.1f} msg/s",
                   baseline=f"imapfilter {imapfilter_rate:.0f} msg/s",
                   ratio=b["mailproc_per_s"] / imapfilter_rate,
                   detail=f"imapfilter: SEARCH by headers + MOVE into 3 folders, "
                          f"{imapfilter_s:.1f} s, folders {sorted_into}; mailproc's folders "
                          f"{b['folders']}",
                   values={"imapfilter_s": imapfilter_s, "imapfilter_per_s": imapfilter_rate,
                           "folders": sorted_into})
    s = results["small"]
    per_small = 1000 * (s["messages"] / s["mailproc_per_s"] - empty_s) / s["messages"]
    per_big = 1000 * (b["messages"] / b["mailproc_per_s"] - empty_s) / b["messages"]
    rows["6a"].set(figure=f"{per_big:.1f} ms/msg at {b['messages']}",
                   baseline=f"{per_small:.1f} ms/msg at {s['messages']}",
                   ratio=per_big / per_small,
                   detail=f"run --once time less its fixed cost ({empty_s:.1f} s on an empty "
                          f"mailbox), per message; avg size {s['mb'] * 1024 / s['messages']:.0f}"
                          f" vs {b['mb'] * 1024 / b['messages']:.0f} KB",
                   values={"ms_per_msg_big": per_big, "ms_per_msg_small": per_small,
                           "empty_run_s": empty_s})


def shipped_rules(setup: MailprocSetup) -> MailprocSetup:
    """The fixture starts with an empty rules folder (built-in sorting); the table measures
    the shipped rules and templates, as a library would run them."""
    from mailproc.registrations.vault import new_key

    shutil.copytree(ROOT / "rules", setup.rules, dirs_exist_ok=True)
    (setup.root / "templates").symlink_to(ROOT / "templates")
    # the shipped rules take registration documents into the vault: a library has its key
    setup.env.setdefault("MAILPROC_VAULT_KEY", new_key())
    return setup


def _folder_mb(server: DovecotServer, folder: str) -> float:
    total = 0
    for sub in ("cur", "new"):
        d = server.maildir / f".{folder}" / sub
        if d.exists():
            total += sum(p.stat().st_size for p in d.iterdir())
    return total / 1024 / 1024


IMAPFILTER_CONFIG = """\
options.timeout = 600
options.create = true
options.expunge = true
options.info = false
account = IMAP {{ server = '127.0.0.1', port = {port}, username = '{user}',
                 password = '{password}' }}
inbox = account.INBOX
automatic = inbox:contain_field('Auto-Submitted', 'auto') + inbox:contain_field('Precedence', 'bulk')
automatic:move_messages(account['Automatic'])
departments = account.INBOX:contain_from('@nlrs.example')
departments:move_messages(account['Departments'])
readers = account.INBOX:select_all()
readers:move_messages(account['Readers'])
"""


def imapfilter_sort(server: DovecotServer, work: Path) -> tuple[float, dict[str, int]]:
    """What an administrator would script instead of mailproc: imapfilter sorting INBOX into
    three folders by headers (server-side SEARCH and MOVE). Returns (seconds, counts)."""
    if shutil.which("imapfilter") is None:
        raise RuntimeError("imapfilter is not installed (make system-packages)")
    home = work / "imapfilter"
    home.mkdir(parents=True, exist_ok=True)
    config = home / "config.lua"
    config.write_text(IMAPFILTER_CONFIG.format(port=server.port, user=server.user,
                                               password=server.password))
    t0 = time.perf_counter()
    res = subprocess.run(["imapfilter", "-c", str(config)], capture_output=True, text=True,
                         env={**os.environ, "HOME": str(home)}, timeout=900)
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"imapfilter exited {res.returncode}: {res.stderr.strip()[-300:]}")
    counts = {f: server.count(f) for f in ("INBOX", "Automatic", "Departments", "Readers")}
    return seconds, counts


# -- 2: latency ---------------------------------------------------------------------------

def measure_latency(plan: Plan, rows) -> None:
    from tests.bench.intake_latency import measure

    r = measure(plan.deliveries)
    (bare_med, bare_p90), (med, p90) = r["bare"], r["daemon"]
    rows["2a"].set(figure=f"median {med * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms",
                   baseline=f"helpdesk poll {HELPDESK_POLL[0]:.0f}-{HELPDESK_POLL[1]:.0f} s",
                   ratio=med / HELPDESK_POLL[0], ok=med <= 1.0,
                   detail=f"{plan.deliveries} deliveries while `run` idles; ratio to the "
                          f"30 s end of the poll interval",
                   values={"median_s": med, "p90_s": p90, "deliveries": plan.deliveries})
    rows["2b"].set(figure=f"median {med * 1000:.0f} ms",
                   baseline=f"bare IDLE notice {bare_med * 1000:.0f} ms "
                            f"(p90 {bare_p90 * 1000:.0f})",
                   ratio=med / bare_med,
                   detail="Dovecot 2.3 waits ~0.5 s before it notifies IDLE",
                   values={"bare_median_s": bare_med, "bare_p90_s": bare_p90})


# -- 3: memory ----------------------------------------------------------------------------

def measure_big_message(plan: Plan, rows) -> None:
    from tests.bench.intake_memory import big_message_rss

    r = big_message_rss(plan.big_message_mb)
    rows["3a"].set(figure=f"peak RSS {r['peak_mb']:.0f} MB ({r['size_mb']:.0f} MB message)",
                   baseline=f"run --once, empty mailbox {r['baseline_mb']:.0f} MB",
                   ratio=r["peak_mb"] / r["baseline_mb"], ok=r["peak_mb"] < 300,
                   detail=f"row state {r['states']}", values=r)


def measure_registration_rss(plan: Plan, rows) -> None:
    from tests.bench.intake_memory import big_message_rss

    r = big_message_rss(plan.big_message_mb, shipped=True)
    rows["3c"].set(figure=f"peak RSS {r['peak_mb']:.0f} MB ({r['size_mb']:.0f} MB letter)",
                   baseline=f"run --once, empty mailbox {r['baseline_mb']:.0f} MB",
                   ratio=r["peak_mb"] / r["baseline_mb"], ok=r["peak_mb"] < 300,
                   detail=f"checked, sealed, handed to ЦКО and sent; row state {r['states']}, "
                          f"case {r['cases']}", values=r)


def measure_rss_growth_rules(plan: Plan, rows) -> None:
    from tests.bench.intake_memory import growth_rss

    g = growth_rss(plan.rss_first, plan.rss_second, shipped=True)
    rows["3d"].set(figure=f"RSS {g['rss_second_mb']:.0f} MB after {g['second']}",
                   baseline=f"RSS {g['rss_first_mb']:.0f} MB after {g['first']}",
                   ratio=g["ratio"], detail="`run` daemon, seeded realistic mailbox",
                   values=g)


def measure_rss_growth(plan: Plan, rows) -> None:
    from tests.bench.intake_memory import growth_rss

    g = growth_rss(plan.rss_first, plan.rss_second)
    rows["3b"].set(figure=f"RSS {g['rss_second_mb']:.0f} MB after {g['second']}",
                   baseline=f"RSS {g['rss_first_mb']:.0f} MB after {g['first']}",
                   ratio=g["ratio"], detail="`run` daemon, small text messages", values=g)


# -- 4: deciding vs decoding --------------------------------------------------------------

def measure_decide(plan: Plan, rows) -> None:
    out = script("decide_vs_decode.py", str(plan.letters))
    decode_s = grab(r"^decode:\s+([\d.]+) s", out)
    decide_s = grab(r"^decide \(stored Letters\):\s*([\d.]+) s", out)
    rules = grab(r"rules: (\d+)", out, int)
    rows["4"].set(figure=f"decide {decide_s:.2f} s ({decide_s / plan.letters * 1e6:.0f} us/letter)",
                  baseline=f"decode {decode_s:.2f} s ({decode_s / plan.letters * 1e6:.0f} us)",
                  ratio=decide_s / decode_s,
                  detail=f"{plan.letters} stored Letters (labelled corpus repeated), "
                         f"{rules} shipped rules",
                  values={"decide_s": decide_s, "decode_s": decode_s, "letters": plan.letters})


# -- 5: sending ---------------------------------------------------------------------------

def measure_send(plan: Plan, rows) -> None:
    from tests.bench.send_vs_bare import run

    r = run(plan.sends, plan.connections)
    # send_vs_bare reports the bare rate and the median of the per-round ratios: their product
    # is the pipeline's rate the ratio stands for
    pipeline = r["bare_per_s"] * r["ratio_pipeline"]
    rows["5a"].set(figure=f"render+send ~{pipeline:.0f} msg/s",
                   baseline=f"bare aiosmtplib {r['bare_per_s']} msg/s",
                   ratio=r["ratio_pipeline"],
                   detail=f"{r['messages']} msgs, {r['connections']} connections, median of "
                          f"{r['rounds']} rounds {r['ratios_pipeline_each_round']}; "
                          f"render/queue alone {r['enqueue_render_per_s']} msg/s",
                   values=r)
    rows["5b"].set(figure=f"send only {r['mailproc_send_per_s']} msg/s",
                   baseline=f"bare aiosmtplib {r['bare_per_s']} msg/s",
                   ratio=r["ratio_send_only"], detail="deliver_due of queued rows",
                   values={})
    size = rendered_size()
    src_rate = smtp_source_rate(plan.sends, plan.connections, size)
    rows["5c"].set(figure=f"render+send ~{pipeline:.0f} msg/s",
                   baseline=f"smtp-source {src_rate:.0f} msg/s",
                   ratio=pipeline / src_rate,
                   detail=f"smtp-source -s {plan.connections} -d, {size} B messages "
                          f"(mailproc's rendered size), {plan.sends} msgs",
                   values={"smtp_source_per_s": src_rate, "message_bytes": size})


def rendered_size() -> int:
    """Bytes of one personalised message as mailproc renders it for the send rows."""
    from sqlalchemy import select

    from mailproc.app import App
    from mailproc.outbound.models import OutboxMessage
    from mailproc.outbound.sender import Sender
    from tests.bench.send_vs_bare import fill_part
    from tests.servers.smtp import outbound_settings

    with tempfile.TemporaryDirectory(prefix="send-size-") as tmp:
        app = App(outbound_settings(Path(tmp) / "data", "smtp://127.0.0.1:9"))
        fill_part(app, 0, 1)
        with app.db.session() as s:
            row = s.scalars(select(OutboxMessage)).first()
            size = len(Sender(app.settings, app.db, source=None).raw_of(row))
        app.db.dispose()
    return size


def smtp_source_rate(n: int, sessions: int, size: int) -> float:
    """Postfix's C client against Postfix's smtp-sink: the practical limit of SMTP here."""
    from tests.bench.send_vs_bare import free_port, start_sink

    if not Path(SMTP_SOURCE).exists():
        raise RuntimeError(f"{SMTP_SOURCE} not found (make system-packages)")
    port = free_port()
    sink = start_sink(port)
    try:
        t0 = time.perf_counter()
        subprocess.run([SMTP_SOURCE, "-s", str(sessions), "-d", "-m", str(n), "-l", str(size),
                        "-f", "personbibl@nlrs.example", "-t", "reader@example.org",
                        f"127.0.0.1:{port}"], check=True, capture_output=True, timeout=600)
        return n / (time.perf_counter() - t0)
    finally:
        sink.terminate()
        sink.wait()


# -- 6b: order matching -------------------------------------------------------------------

ORDER_LINE = re.compile(r"^(\S.*?)\s+(\d+) us\s+(\d+) us\s+([\d.]+)x\s+([\d.]+)x\s+([\d.]+)x\s*$",
                        re.MULTILINE)


def measure_orders(plan: Plan, rows) -> None:
    small, big = plan.open_orders
    out = script("order_matching.py", "--replies", str(plan.replies), "--sizes", f"{small},{big}")
    kinds = {m.group(1).strip(): [float(x) for x in m.groups()[1:]]
             for m in ORDER_LINE.finditer(out)}
    base = kinds.pop("select by token (baseline)", None)
    if not kinds:
        raise RuntimeError("no figures in order_matching.py's output")
    for key, kind in zip(ORDER_KEYS, ORDER_KINDS):
        if kind not in kinds:
            rows[key].set(error=f"kind {kind!r} missing from order_matching.py's output")
            continue
        a, b, ratio, net, _over = kinds[kind]
        rows[key].set(figure=f"{b:.0f} us/reply at {big} open",
                      baseline=f"{a:.0f} us/reply at {small} open",
                      ratio=ratio,
                      detail=f"net of the indexed SELECT's own growth {net:.2f}x"
                             + (f"; SELECT by token {base[0]:.0f} -> {base[1]:.0f} us"
                                if base else ""),
                      values={"us_small": a, "us_big": b, "net": net})


ORDER_KINDS = ("thread", "signed", "subject", "words", "vague")
ORDER_KEYS = tuple(f"6b-{k}" for k in ORDER_KINDS)


# -- extra: decode_letter against the standard library -----------------------------------

def measure_decode(plan: Plan, rows) -> None:
    out = script("decode_speed.py")
    ours = grab(r"^decode_letter\s+([\d.]+) messages/s", out)
    full = grab(r"^parse\+decode parts\s+([\d.]+) messages/s", out)
    bare = grab(r"^bare email parse\s+([\d.]+) messages/s", out)
    rows["7"].set(figure=f"decode_letter {ours:.0f} msg/s",
                  baseline=f"stdlib parse+decode {full:.0f} msg/s",
                  ratio=ours / full,
                  detail=f"one 650 KB message with 4 photos; stdlib compat32 parse alone "
                         f"{bare:.0f} msg/s",
                  values={"decode_letter_per_s": ours, "stdlib_full_per_s": full,
                          "stdlib_parse_per_s": bare})
