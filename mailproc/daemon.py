"""The daemon: an asyncio main loop; per mailbox an intake thread and an IDLE thread; one
sender task; the scheduled jobs; the lease, watchdog and signal handling.

Why this shape: imapclient is synchronous and not thread-safe, so every connection lives in
exactly one thread. Each mailbox's intake connection belongs to its own single-thread
executor (every pass, every filing, the post-intake hooks run there); its IDLE watcher owns a
second connection (RFC 2177 IDLE blocks the connection it runs on) and only hands "something
changed" to the loop. The sender (mailproc.outbound.sender) is an asyncio task with its own
connections for Sent copies. Scheduled jobs (mailproc.jobs) are fired by APScheduler's
AsyncIOScheduler into worker threads, one instance of a job at a time, missed firings
coalesced. The loop itself never blocks: it waits for wake-ups, timers and signals.

Several instances (mailproc.cluster): a mailbox is processed only while this instance holds
its lease; a mailbox held elsewhere is tried again every ``cluster.lease_retry``, so it is
taken over within seconds of its holder dying.

SIGTERM/SIGINT set a flag the intake checks between messages, so the current message is
finished (its transaction and its move), the pass returns, and the process exits 0 well
within 5 s. Anything interrupted harder (SIGKILL) is recovered on the next start; see the
exactly-once notes in mailproc.intake. SIGHUP reloads the rules and templates.

No silent stall (mailproc.heartbeat): each mailbox's intake, the sender and each scheduled
job keep a heartbeat of their last progress. A loop that stops on an exception is restarted
here with backoff (``supervise``); after ``daemon.restart_limit`` stops in a row without
progress the daemon exits 70 and systemd restarts it. A database or disk failure is never
reported as the mailbox's (mailproc.faults): the pass is tried again with its own backoff,
the mailbox connection kept, so intake resumes by itself once the disk has space again.

systemd (sd_notify(3)): READY=1 once every mailbox is connected here or held by another
instance, WATCHDOG=1 from a loop timer only while no loop is stalled (a hung event loop
stops it too), STOPPING=1 on the way out.

The daemon keeps a state file (mailproc.runstate: ``run/daemon.json`` under the data folder,
written in place so a full disk does not stop it) with its pid, each mailbox's connection
state and each loop's heartbeat, which ``mailproc status`` shows.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import signal
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from mailproc.errors import SourceUnavailable

log = logging.getLogger("mailproc.daemon")

#: seconds after SIGTERM/SIGINT when the process leaves even if a step has not returned
HARD_EXIT_AFTER = 4.5
#: the longest a healthy intake or sender goes between two heartbeats (a pass at least a
#: minute apart, see MailboxRunner._read); daemon.stall_after is added to it
INTAKE_PERIOD = 60.0
SENDER_PERIOD = 60.0
#: how often the heartbeats are checked, the state file written, the watchdog petted
TICK = 1.0


def _hard_exit(code: int = 0) -> None:
    log.warning("the current step did not finish in time; exiting, the next start recovers")
    logging.shutdown()
    os._exit(code)


def state_path(app) -> Path:
    from mailproc import runstate

    return runstate.path_in(app.data_dir)


def write_state(app, mailbox_name: str | None = None, **fields) -> None:
    """Record this process's state; ``mailbox`` is a summary of every mailbox's state.
    Never raises: a state file that cannot be written is logged (mailproc.runstate)."""
    from mailproc.runstate import STATE

    STATE.update(app.settings.data_dir, mailbox_name, **fields)


def read_state(app) -> dict:
    """The daemon's last written state, with ``running`` checked against the pid."""
    from mailproc import runstate

    data = runstate.read(state_path(app))
    if data is None:
        return {"running": False, "mailbox": "unknown"}
    try:
        os.kill(int(data.get("pid", 0)), 0)
        data["running"] = data.get("mailbox") != "stopped"
    except (OSError, ValueError):
        data["running"] = False
    if not data["running"]:
        data["mailbox"] = "not connected (daemon not running)"
    return data


def deliver_outbox(app, source) -> None:
    """Send what is due; a sending problem never stops the intake."""
    from mailproc.outbound.sender import deliver_due

    try:
        deliver_due(app, source)
    except SourceUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - sending problems are the sender's to record
        log.warning("outbox pass failed: %s", type(exc).__name__)


def reload_rules(app) -> None:
    """Pick up edited rule and template files (the sorter fingerprints both folders; the
    outbox's template cache checks modification times on its own)."""
    try:
        if app.sorter.reload_if_changed():
            ruleset = app.sorter.ruleset
            log.info("rules reloaded: version %s", ruleset.version if ruleset else "none")
    except Exception as exc:  # noqa: BLE001 - the last good rules keep running
        log.warning("rules reload failed: %s", type(exc).__name__)


class IntakeWorker:
    """Owns one mailbox's intake connection; every method runs in its worker thread.

    Failures are kept apart (mailproc.faults): the mailbox unreachable closes the connection
    and reconnects with the mailbox's backoff; the database or the disk failing (a full disk,
    a database server away) keeps the connection and tries the pass again with their own
    backoff, so the log names what is wrong and intake resumes by itself when it is fixed."""

    def __init__(self, app, stop: threading.Event, name: str = "default", beat=None):
        from mailproc.faults import reason
        from mailproc.heartbeat import Beat
        from mailproc.mailbox.imap import Backoff

        self.app = app
        self.name = name
        self.stop = stop
        self.beat = beat or Beat(f"intake {name}", INTAKE_PERIOD)
        self.source = app.source()
        self.intake = None
        self.opened = False  # the mailbox was connected once (a failing pass may follow)
        self.backoff = Backoff(what="mailbox")
        # at most half a minute between tries: intake resumes within a minute of the disk
        # having space again (docs/admin.md)
        self.trouble = Backoff(cap=30.0, what=f"intake {name}", verb="failing", reason=reason)
        self.hooks_at = 0.0
        #: True while the rules are broken and no good set is stored (nothing is processed)
        self.waiting = False

    def _between_messages(self) -> bool:
        """The intake asks this after every message: a sign of life (progress is marked
        when the pass has committed its work), and the stop flag."""
        self.beat.alive()
        return self.stop.is_set()

    def one_pass(self, deliver: bool = False) -> bool:
        """Connect if needed, process what waits, run the post-intake hooks when due.
        False when the mailbox is unreachable or the pass failed."""
        from mailproc import jobs

        try:
            if self.intake is None or not getattr(self.source, "connected", True):
                self.source.open()
                if self.intake is None:
                    self.intake = self.app.intake(self.source)
                    self.intake.should_stop = self._between_messages
                self.backoff.succeeded()
                self.opened = True
                write_state(self.app, self.name, mailbox="connected")
            reload_rules(self.app)
            self.waiting = not self.app.sorter.ready
            if self.waiting:  # broken rules, none stored: mail waits untouched until fixed
                return True
            stats = self.intake.run_once()
            busy = stats.processed or stats.review or stats.recovered or stats.rematched
            # the pass committed: that is progress, whatever the hooks below take (a failing
            # hook marks the loop failing again through _failed)
            self.trouble.succeeded()
            self.beat.progress("working" if busy else "idle")
            if busy:
                log.info("pass: processed %d, review %d, recovered %d, rematched %d",
                         stats.processed, stats.review, stats.recovered, stats.rematched)
            due = time.monotonic() - self.hooks_at >= self.app.settings.jobs.hooks_every
            if (busy or due) and not self.stop.is_set():
                self.hooks_at = time.monotonic()
                jobs.after_intake(self.app, self.source)
                if deliver:
                    deliver_outbox(self.app, self.source)
                jobs.after_outbox(self.app, self.source)
            return True
        except SourceUnavailable as exc:
            self.beat.failing(f"mailbox unreachable ({type(exc).__name__})", "waiting")
            return self._reconnect(exc)
        except Exception as exc:  # noqa: BLE001 - the daemon outlives any surprise
            return self._failed(exc)

    def _failed(self, exc: Exception) -> bool:
        """The database, the disk or the code failed the pass: not the mailbox's fault. The
        connection stays; the pass is tried again after this trouble's backoff."""
        from mailproc.faults import kind, reason

        self.beat.failing(reason(exc))
        log.debug("intake pass traceback", exc_info=True)
        if kind(exc) == "internal":  # a surprise may have left the connection in any state
            self.source.close()
        self.stop.wait(self.trouble.failed(exc))
        return False

    def _reconnect(self, exc: Exception) -> bool:
        """Drop the connection and wait out the backoff; the next pass reconnects."""
        from mailproc import metrics

        self.source.close()
        metrics.inc_reconnect()
        write_state(self.app, self.name, mailbox="reconnecting")
        self.stop.wait(self.backoff.failed(exc))
        return False

    def close(self) -> None:
        self.source.close()


class MailboxRunner:
    """One mailbox in the daemon: take its lease, then read it until stopped or the lease
    is lost; then wait for the lease again."""

    def __init__(self, name: str, app, leases, stop: threading.Event, total: int = 1,
                 first_delay: float = 0.0, beat=None):
        from mailproc.heartbeat import Beat
        from mailproc.mailboxes import lease_name

        self.name = name
        self.beat = beat or Beat(f"intake {name}", INTAKE_PERIOD)
        self.app = app
        self.leases = leases
        self.lease = lease_name(app.settings)
        self.stop = stop
        self.total = total  # mailboxes of the installation, for the fair share
        self.first_delay = first_delay  # spreads simultaneous starts over the mailboxes
        self.wake = asyncio.Event()
        self.settled = asyncio.Event()  # connected here, or known to be held elsewhere
        self.taken_at: float | None = None
        self.give_up = False  # set by the rebalancer: hand this mailbox to another instance

    def _try_take(self) -> bool:
        """Take the lease if free and this instance holds less than its fair share."""
        from mailproc.cluster import fair_share

        if self.leases.holds(self.lease):
            return True
        if self.leases.held("mailbox:") >= fair_share(self.total, self.leases.instances()):
            return False
        return self.leases.acquire(self.lease)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        retry = self.app.settings.cluster.lease_retry
        if self.first_delay:
            await self._sleep(self.first_delay)
        while not self.stop.is_set():
            got = await loop.run_in_executor(None, self._try_take)
            if not got and not self.leases.reachable:  # the database is away, not taken
                write_state(self.app, self.name, mailbox="waiting for the database")
                self.beat.failing("database: lease connection lost", "waiting")
                await self._sleep(retry)
                continue
            if not got:
                write_state(self.app, self.name, mailbox="read by another instance")
                self.beat.progress("idle")  # by choice: another instance reads it
                self.settled.set()
                await self._sleep(retry)
                continue
            self.taken_at = time.time()
            self.give_up = False
            try:
                await self._read(loop)
            finally:
                self.taken_at = None
                await loop.run_in_executor(None, self.leases.release, self.lease)
            if self.give_up and not self.stop.is_set():
                log.info("mailbox %s handed over to balance the instances", self.name)
                await self._sleep(retry * 3)  # let the others take it first

    async def _sleep(self, seconds: float) -> None:
        self.wake.clear()
        try:
            await asyncio.wait_for(self.wake.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass

    async def _read(self, loop) -> None:
        box_stop = threading.Event()  # the global stop, or this lease lost
        executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"intake-{self.name}")
        worker = await loop.run_in_executor(executor, IntakeWorker, self.app, box_stop,
                                            self.name, self.beat)
        watcher = None
        if hasattr(worker.source, "clone"):
            from mailproc.mailbox.imap import IdleWatcher

            watcher = IdleWatcher(worker.source.clone(),
                                  lambda: loop.call_soon_threadsafe(self.wake.set), box_stop)
            watcher.start()
        poll = self.app.settings.mailbox.poll_interval
        # without an IDLE watcher (Maildir) poll the folder once a second
        idle_wait = min(poll, 60.0) if watcher is not None else 1.0
        idle_wait = min(idle_wait, self.app.settings.jobs.hooks_every)

        def watch_stop() -> None:
            if self.stop.is_set() or self.give_up or not self.leases.holds(self.lease):
                box_stop.set()
                self.wake.set()

        guard = asyncio.create_task(self._guard(watch_stop))
        try:
            while not box_stop.is_set():
                self.wake.clear()
                ok = await loop.run_in_executor(executor, worker.one_pass)
                if ok or worker.opened:  # connected: READY=1 even if the disk fails the pass
                    self.settled.set()
                if box_stop.is_set() or not ok:
                    continue  # a failed pass already slept its backoff
                # waiting for fixed rules: look again as often as the hot-reload check
                wait = min(idle_wait, self.app.settings.rules.reload_interval) \
                    if worker.waiting else idle_wait
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout=wait)
                except asyncio.TimeoutError:
                    pass
        finally:
            guard.cancel()
            box_stop.set()
            await loop.run_in_executor(executor, worker.close)
            executor.shutdown(wait=False)
            if watcher is not None:
                await loop.run_in_executor(None, watcher.join, 1.5)
            if not self.stop.is_set() and not self.give_up and \
                    not self.leases.holds(self.lease):
                log.warning("mailbox %s: lease lost; reading stops until it is taken again",
                            self.name)

    @staticmethod
    async def _guard(check) -> None:
        while True:
            check()
            await asyncio.sleep(0.2)


def _run_job(app, job, beat) -> str:
    """One firing of a scheduled job, marking its heartbeat: a firing that ran, was not due
    or was taken by another instance is progress; a failed one is not (mailproc.jobs has
    logged why)."""
    from mailproc import jobs

    outcome = jobs.run_job(app, job)
    if outcome == "failed":
        beat.failing("job failed (see the log)")
    else:
        beat.progress("idle")
    return outcome


def _scheduler(app, loops=None):
    """APScheduler firing every job of mailproc.jobs into worker threads, each with its
    heartbeat in ``loops`` (period: the job's interval, a day for daily jobs)."""
    from mailproc.heartbeat import Loops

    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    from mailproc import jobs

    settings = app.settings
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per firing is noise
    scheduler = AsyncIOScheduler(timezone=settings.tz, job_defaults={
        "max_instances": 1, "coalesce": True,
        "misfire_grace_time": max(1, int(settings.jobs.misfire_grace))})
    start = datetime.now(timezone.utc)
    for job in jobs.JOBS:
        if job.every is not None:
            trigger = IntervalTrigger(seconds=max(1.0, job.every(settings)))
        else:
            hour, minute = map(int, job.at(settings).split(":"))
            trigger = CronTrigger(hour=hour, minute=minute, timezone=settings.tz)
        # once at start as well: a daemon started late catches up; the period claim in
        # mailproc.jobs keeps it to one run per period across restarts and instances
        # a job that fails is retried at its next firing; only a hung one withholds the watchdog
        beat = (loops or Loops(0)).beat(
            f"job {job.name}", job.every(settings) if job.every is not None else 86400.0,
            restart_helps=False)
        scheduler.add_job(_run_job, trigger, args=[app, job, beat], id=job.name,
                          name=job.name, next_run_time=start)
    return scheduler


async def _lease_checker(leases, every: float, runners, beat=None) -> None:
    """Every ``cluster.lease_check``: is the lease connection alive (else every mailbox
    stops), and does this instance hold more than its fair share (then it hands over the
    mailbox it took last, so a newly started instance gets work)."""
    from mailproc.cluster import fair_share

    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(every)
        if not await loop.run_in_executor(None, leases.check):
            for runner in runners:
                runner.wake.set()
        if leases.slot < 0:
            await loop.run_in_executor(None, leases.join)
        if beat is not None:
            beat.progress("idle")
        holding = [r for r in runners if r.taken_at is not None and not r.give_up]
        if len(holding) <= 1:
            continue
        share = fair_share(len(runners), await loop.run_in_executor(None, leases.instances))
        if len(holding) > share:
            last = max(holding, key=lambda r: r.taken_at)
            last.give_up = True
            last.wake.set()


async def _main(app) -> int:
    from mailproc.cluster import Leases, SentRouter
    from mailproc.heartbeat import Loops
    from mailproc.runstate import STATE, read
    from mailproc.sdnotify import notify, watchdog_interval
    from mailproc.startup import EX_SOFTWARE
    from mailproc.supervisor import heartbeat, supervise

    from mailproc import metrics

    loop = asyncio.get_running_loop()
    stop = threading.Event()
    stopping = asyncio.Event()
    exit_code = 0
    metrics_server = metrics.serve(app.settings)  # off unless [metrics] enabled
    daemon_settings = app.settings.daemon
    # the stall history survives restarts: the digest reports stalls since the last one
    loops = Loops(daemon_settings.stall_after,
                  (read(state_path(app)) or {}).get("stalls", []))
    STATE.loops = loops
    apps = app.mailbox_apps()
    leases = Leases(app.db)
    slot = await loop.run_in_executor(None, leases.join)
    # instance slot i tries mailbox i first, the next one a little later, and so on: several
    # instances started together spread over the mailboxes instead of racing for the first
    retry = app.settings.cluster.lease_retry
    runners = [MailboxRunner(name, box_app, leases, stop, total=len(apps),
                             first_delay=((i - slot) % len(apps)) * min(0.5, retry / 2),
                             beat=loops.beat(f"intake {name}", INTAKE_PERIOD))
               for i, (name, box_app) in enumerate(apps.items())]

    def request_stop() -> None:
        if not stop.is_set():
            log.info("stop requested: finishing the current message")
            # a step stuck on a dead server must not hold the exit past 5 s; every state on
            # disk is recoverable (see mailproc.intake), so leaving hard is safe
            guard = threading.Timer(HARD_EXIT_AFTER, lambda: _hard_exit(exit_code))
            guard.daemon = True
            guard.start()
        stop.set()
        stopping.set()
        for runner in runners:
            runner.wake.set()

    def give_up(name: str) -> None:
        nonlocal exit_code
        exit_code = EX_SOFTWARE
        request_stop()

    def reload() -> None:
        log.info("SIGHUP: reloading rules and templates")
        for box_app in apps.values():
            loop.run_in_executor(None, reload_rules, box_app)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop)
    loop.add_signal_handler(signal.SIGHUP, reload)

    def supervised(beat, start):
        return asyncio.create_task(supervise(beat, start, stopping,
                                             daemon_settings.restart_limit, give_up),
                                   name=beat.name)

    tasks = [supervised(r.beat, r.run) for r in runners]
    lease_check = app.settings.cluster.lease_check
    helpers = [supervised(loops.beat("leases", lease_check),
                          lambda: _lease_checker(leases, lease_check, runners,
                                                 loops.beats["leases"]))]
    watchdog = watchdog_interval()
    helpers.append(asyncio.create_task(heartbeat(
        loops, lambda: STATE.flush(app.settings.data_dir), notify if watchdog else None,
        min(TICK, watchdog or TICK))))
    router = SentRouter(list(apps.values()))
    sender = _sender(app, router, stopping, loops.beat("sender", SENDER_PERIOD), supervised)
    scheduler = _scheduler(app, loops)
    scheduler.start()
    ready = asyncio.gather(*(r.settled.wait() for r in runners))
    stopped = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait([ready, stopped], return_when=asyncio.FIRST_COMPLETED)
        if not stop.is_set():
            notify("READY=1")
            log.info("ready: %d mailboxes", len(runners))
        await stopping.wait()
    finally:
        notify("STOPPING=1")
        ready.cancel()
        stopped.cancel()
        scheduler.shutdown(wait=False)
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(sender, return_exceptions=True)
        for h in helpers:
            h.cancel()
        await loop.run_in_executor(None, router.close)
        leases.close()
        if metrics_server is not None:
            metrics_server.shutdown()
        for beat in loops.beats.values():
            beat.progress("stopped")
        write_state(app, mailbox="stopped")
    log.info("stopped" if not exit_code else f"stopped with exit code {exit_code}")
    return exit_code


def _sender(app, router, stopping: asyncio.Event, beat, supervised):
    from mailproc.outbound.sender import Sender

    def start():
        sender = Sender.from_app(app, router)
        sender.on_progress = lambda: beat.progress("working")
        return sender.run_forever(stopping, app.settings.jobs.outbox_every, beat)

    return supervised(beat, start)


def run_daemon(app) -> int:
    return asyncio.run(_main(app))
