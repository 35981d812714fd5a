"""Settings: one TOML file plus the environment, loaded into typed, frozen objects.

Where the file comes from, in order: ``--config FILE``, ``$MAILPROC_CONFIG``, ``./mailproc.toml``,
``/etc/mailproc/mailproc.toml`` (the service's, so an administrator's command on the server reads
the settings the daemon runs with), else the built-in defaults alone. Only ``demo``, ``inspect``
and the checks of files named on the command line run on built-in defaults: every command that
reads or writes the library's data refuses them (``require_file``), so it can never make a
fresh, empty database where it happens to stand. Every key may be overridden from the
environment as ``MAILPROC_<SECTION>_<KEY>`` (``MAILPROC_MAILBOX_URL``). Secrets (the mailbox and SMTP passwords,
the vault key) are never read from the settings file itself: only from the environment or from a
file named in the settings, so the settings file can be shown and versioned, and secrets are
never printed (``repr`` hides them).

The schema is the dataclasses below: each field's default and ``doc`` are the single source of
the shipped ``mailproc.example.toml`` (``mailproc config example`` writes it, a test compares).
A wrong value raises ``ConfigError`` with one line that names the key and the fix.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailproc.errors import ConfigError, NoSettingsError

ENV_PREFIX = "MAILPROC_"
#: the service's settings file, the last place looked (the systemd unit names it too)
SYSTEM_CONFIG = Path("/etc/mailproc/mailproc.toml")


def setting(default: Any, doc: str, kind: str | None = None, secret: bool = False) -> Any:
    """A documented setting; ``kind`` refines the type (duration, size, path, url, ...)."""
    return field(default=default, metadata={"doc": doc, "kind": kind, "secret": secret})


#: a URL's user:password@ (RFC 3986 3.2.1); the password runs to the authority's last "@"
_URL_PASSWORD = re.compile(r"\b([a-z][a-z0-9+.-]*://[^\s/?#:@]*:)([^\s/?#]+)@", re.I)


def url_has_password(value: str) -> bool:
    """Does any URL in ``value`` carry a password (``imap://user:PASSWORD@host``)?"""
    return isinstance(value, str) and _URL_PASSWORD.search(value) is not None


def redact(value: Any) -> Any:
    """``value`` with the password of every URL in it replaced by ``***`` (for ``config
    show``, ``status``, error messages); anything else unchanged."""
    if not isinstance(value, str) or isinstance(value, Secret):
        return value
    return _URL_PASSWORD.sub(lambda m: m.group(1) + "***@", value)


def url_password_error(key: str, where: str) -> ConfigError:
    """The one line a password inside a URL in the settings file gets: where it goes."""
    return ConfigError(f"{key}: secrets are not written in the settings file (a password in "
                       f"the URL); remove it and set {where}")


class Secret(str):
    """A string that never shows itself in a repr or a log line."""

    def __repr__(self) -> str:
        return "Secret('***')" if self else "Secret('')"


# ---------------------------------------------------------------------------------------------
# The schema. Keep every key documented: the example file is generated from these docs.


@dataclass(frozen=True)
class MailboxSettings:
    url: str = setting(
        "maildir:{data}/Maildir",
        "Where mail arrives: imap://user@host:port/INBOX (STARTTLS when the server offers it), "
        "imaps://user@host:port/INBOX, or maildir:PATH for a local Maildir (demo, offline). "
        "{data} stands for paths.data.",
        kind="mailbox_url",
    )
    password: Secret = setting(
        Secret(""),
        "Never written here: set MAILPROC_MAILBOX_PASSWORD or mailbox.password_file.",
        secret=True,
    )
    password_file: str = setting("", "A file holding the IMAP password (first line).", kind="path")
    tls_verify: bool = setting(True, "Verify the IMAP server's TLS certificate.")
    review_folder: str = setting(
        "На разбор", "Folder for messages that failed or need a person, with the reason recorded."
    )
    sent_folder: str = setting(
        "Sent", "Folder that receives a copy of every message sent. On IMAP the default means "
        "\"look it up\": the server's special-use \\Sent folder (RFC 6154), else one with a "
        "common name (Sent Items, Отправленные, ...), else Sent is created; any other value "
        "names the folder. Written as the rules write folders: \"/\" between levels, without "
        "the server's namespace prefix (INBOX.), which mailproc adds.")
    drafts_folder: str = setting(
        "Drafts", "Folder for proposed answers a librarian reviews; looked up like "
        "sent_folder (\\Drafts, Черновики).")
    junk_folder: str = setting(
        "Junk", "The spam folder, for rules that move mail there (move-to-folder: Junk); "
        "looked up like sent_folder (\\Junk, Spam, Спам).")
    trash_folder: str = setting(
        "Trash", "The deleted-mail folder, for rules that move mail there; looked up like "
        "sent_folder (\\Trash, Deleted Items, Корзина).")
    max_message_size: int = setting(
        "50MB", "Larger messages go to the review folder untouched.", kind="size"
    )
    poll_interval: float = setting(
        "60s", "How often to look for new mail where the server has no IDLE.", kind="duration"
    )
    idle_renew: float = setting(
        "9m", "IDLE is re-issued at least this often (RFC 2177 asks for under 29 minutes).",
        kind="duration",
    )
    timeout: float = setting(
        "60s", "Socket timeout; a connection silent longer than this is taken for dead.",
        kind="duration",
    )
    fetch_batch: int = setting(50, "Messages fetched per IMAP round trip.")
    max_attempts: int = setting(
        3, "A message whose processing was interrupted this many times (the process died in "
        "it or the pass failed on it) goes to the review folder untouched; 0 never gives up.",
    )


@dataclass(frozen=True)
class SmtpSettings:
    url: str = setting(
        "file:{data}/outbox",
        "Where mail goes: smtp://host:port (STARTTLS when offered), smtps://host:port, or "
        "file:PATH, a local outbox folder that receives each message as an .eml file. file: "
        "is for the demo; it writes messages in clear (registration documents included).",
        kind="smtp_url",
    )
    username: str = setting("", "SMTP login; empty for none.")
    password: Secret = setting(
        Secret(""), "Never written here: set MAILPROC_SMTP_PASSWORD or smtp.password_file.",
        secret=True,
    )
    password_file: str = setting("", "A file holding the SMTP password (first line).", kind="path")
    tls_verify: bool = setting(True, "Verify the SMTP server's TLS certificate.")
    connections: int = setting(2, "SMTP connections used in parallel.")
    timeout: float = setting("60s", "Socket timeout for one SMTP command.", kind="duration")
    retry_deadline: float = setting(
        "3d", "Temporary failures (4xx, timeouts) are retried until this long after queueing.",
        kind="duration",
    )
    max_message_size: int = setting(
        "20MB", "Attachments above this are split across numbered messages.", kind="size"
    )
    domain_rate: float = setting(
        0.0, "Messages per second to one recipient domain; 0 for no limit."
    )


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = setting(
        "sqlite:///{data}/mailproc.sqlite3",
        "SQLAlchemy URL: sqlite:///PATH (one instance) or postgresql+psycopg://user@host/db.",
        kind="db_url",
    )
    busy_timeout: float = setting(
        "30s", "SQLite: how long a writer waits for another before giving up.", kind="duration"
    )


@dataclass(frozen=True)
class PathsSettings:
    data: str = setting(
        "data", "Data folder: database, spool of raw messages, vault, outbox folder.", kind="path"
    )
    rules: str = setting(
        "rules",
        "Folder of the librarians' rule files (`mailproc init DIR` copies the shipped ones "
        "to DIR/rules). Missing or without rule files: `mailproc run` refuses to start "
        "(exit 78). Broken at a start: the last good rules stored in the database run; with "
        "none stored nothing is processed until the files are fixed. Empty (\"\") for no "
        "rules at all: built-in sorting only (bounces and automatic mail apart, the rest "
        "filed as processed).",
        kind="path",
    )
    templates: str = setting(
        "templates",
        "Folder of the librarians' templates, the registration forms in its forms/ "
        "(`mailproc init DIR` copies the shipped ones to DIR/templates). Missing or without "
        "templates: `mailproc run` refuses to start (exit 78).",
        kind="path",
    )


@dataclass(frozen=True)
class MailSettings:
    from_address: str = setting("personbibl@nlrs.ru", "The mailbox's own address.", kind="email")
    from_name: str = setting(
        "Персональный библиотекарь НБ РС(Я)", "Display name on everything sent."
    )
    librarians_address: str = setting(
        "personbibl@nlrs.ru",
        "Where notices for librarians go (broken rules, the daily digest).",
        kind="email",
    )
    timezone: str = setting(
        "Asia/Yakutsk", "The library's time zone: deadlines, the digest, and every time a "
        "command prints (with its offset).", kind="timezone")
    token_secret_file: str = setting(
        "",
        "A file with the key that signs tokens in Message-IDs; empty: generated under the data "
        "folder on first start. MAILPROC_MAIL_TOKEN_SECRET overrides.",
        kind="path",
    )


@dataclass(frozen=True)
class TrustSettings:
    authserv_ids: tuple = setting(
        (),
        "The authserv-ids of the library's own mail server, e.g. [\"mail.nlrs.ru\"]: only its "
        "Authentication-Results headers (RFC 8601) are believed, and only the topmost of them. "
        "Empty: nothing is verified, department mail is trusted by its From address alone, "
        "start-up warns and the digest says so. docs/admin.md tells how to find the id.",
        kind="list",
    )
    spf_aligned: bool = setting(
        False, "Also accept SPF pass for a MAIL FROM domain aligned with the From domain, when "
        "the server gives no DMARC pass and no aligned DKIM pass (weaker: forwarding breaks "
        "it, a shared outgoing server passes it).",
    )
    relays: tuple = setting(
        (),
        "Internal relays whose mail the server delivers without a verdict, by IP address, "
        "network or name, e.g. [\"10.0.0.5\", \"192.168.10.0/24\"]: a letter from a department, ЦКО or a librarian with no "
        "verdict is trusted when the library's server received it from one of them (its "
        "Received header, name or address in parentheses, never the HELO name). Empty: never.",
        kind="list",
    )
    relay_hops: int = setting(
        1, "How many Received headers at the top of a letter the library's own servers write "
        "(1 when the border server delivers into the mailbox itself, 2 when it hands the letter "
        "to Dovecot over LMTP, which adds its own); only these are read for relays.",
    )


@dataclass(frozen=True)
class OutboxSettings:
    retry_backoff: float = setting(
        "1m", "First wait after a temporary SMTP failure; doubled on each further one.",
        kind="duration",
    )
    retry_backoff_max: float = setting(
        "1h", "The longest wait between two attempts at one message.", kind="duration"
    )
    soft_bounce_limit: int = setting(
        3, "Soft (temporary) bounces after which an address is suppressed; a hard bounce "
        "suppresses it at once.",
    )
    unsubscribe_url: str = setting(
        "",
        "Public HTTPS address of the one-click unsubscribe (RFC 8058), e.g. "
        "\"https://nlrs.ru/mailproc\": mailings then carry <BASE/u/TOKEN> in List-Unsubscribe "
        "and List-Unsubscribe-Post, and whatever serves that address hands the request to "
        "mailproc.outreach.oneclick. A full address with {token} in it is used as written. "
        "Empty: mailings carry only the mailto unsubscribe.",
        kind="https_url",
    )
    render_timeout: float = setting(
        "2s", "A template that renders longer than this is stopped as broken.", kind="duration"
    )
    render_max_size: int = setting(
        "1MB", "A template whose result is larger than this is stopped as broken.", kind="size"
    )
    batch: int = setting(200, "Outbox rows claimed for sending in one database transaction.")


@dataclass(frozen=True)
class LogSettings:
    level: str = setting("info", "debug, info, warning or error.", kind="log_level")
    format: str = setting(
        "auto", "text, json, or auto (json when not on a terminal).", kind="log_format"
    )
    journal: str = setting(
        "auto", "yes, no, or auto: every line starts with its syslog priority (<3> error, "
        "<4> warning, <6> info, <7> debug) so that journalctl -p warning filters; auto: when "
        "stderr is the journal (systemd sets JOURNAL_STREAM).", kind="log_journal"
    )


@dataclass(frozen=True)
class RegistrationsSettings:
    required_documents: str = setting(
        "form,consent",
        "Documents a registration needs before it goes to ЦКО, comma-separated: form "
        "(анкета), application (заявление), consent (согласие на обработку ПД).",
        kind="doc_kinds",
    )
    retention: float = setting(
        "30d", "Registration documents are destroyed this long after the hand-off to ЦКО.",
        kind="duration",
    )
    incomplete_retention: float = setting(
        "90d", "A case still missing documents this long after its last mail is closed as "
        "rejected and its documents destroyed (152-FZ: no longer than the purpose needs).",
        kind="duration",
    )
    remove_original: bool = setting(
        True, "Once a reader's documents are sealed in the vault, replace the original mail in "
        "the shared mailbox by a copy without them (same headers and text, a line naming the "
        "case and the document kind instead of each document), so they do not sit in every "
        "librarian's mail client. Needs UIDPLUS (RFC 4315) on the IMAP server.",
    )
    without_uidplus: str = setting(
        "leave",
        "When the IMAP server cannot delete one message alone (no UIDPLUS): leave (keep the "
        "original where it is, no copy; warned once in the log and in mailproc status) or "
        "move (put the copy in its place and move the original to restricted_folder; needs "
        "MOVE, RFC 6851).",
        kind="without_uidplus",
    )
    restricted_folder: str = setting(
        "Персональные данные",
        "Where originals go with without_uidplus = \"move\" (a folder only the responsible "
        "librarian may open).",
    )
    forms_url: str = setting(
        "https://e.nlrs.ru",
        "Where readers download the registration forms (named in the \"documents missing\" "
        "answer); the forms themselves are also sent on request from templates/forms/.",
    )
    consent_purpose: str = setting(
        "регистрация читателя в ЭБ НБ РС(Я) и выдача читательского билета",
        "The purpose of processing written in the consent register.",
    )
    consent_term: float = setting(
        "1825d", "The term of the consent written in the consent register.",
        kind="duration",
    )
    audit_retention: float = setting(
        "0", "How long audit rows are kept; 0 keeps them for ever (the proof of destruction).",
        kind="duration",
    )


@dataclass(frozen=True)
class OrdersSettings:
    deadline_days: int = setting(
        2, "Working days a department has for a fragment request before one reminder is sent "
        "and the order shows as overdue; departments.yaml may set its own deadline_days.",
    )
    cap_share: float = setting(
        0.3, "Share of a book one reader may have digitised (pages delivered plus requested, "
        "per work): 0.3 is the 30% the instruction sets.",
    )
    holidays: str = setting(
        "01-01,01-02,01-03,01-04,01-05,01-06,01-07,01-08,02-23,03-08,04-27,05-01,05-09,06-12,"
        "06-21,09-27,11-04",
        "Non-working days besides weekends, comma-separated: MM-DD every year (Russian public "
        "holidays; Yakutia's 04-27, 06-21 Ысыах, 09-27), YYYY-MM-DD for one year's transfers.",
        kind="holidays",
    )
    folder: str = setting(
        "Заказы", "Folder for departments' replies once their order is delivered or updated."
    )
    articles_department: str = setting(
        "periodicals", "Department key (departments.yaml) for articles without a fund code."
    )
    extra_forward_types: str = setting(
        "",
        "Types of files forwarded to readers besides the scan types (JPEG, PNG, TIFF, HEIC, "
        "PDF, DjVu), as detected from the bytes, comma-separated, e.g. \"image/webp, image/gif\". "
        "A department's file of any other type is not sent: the reply goes to review naming "
        "the file and its type. Executables, scripts and HTML are refused here.",
        kind="forward_types",
    )

    @property
    def forward_types(self) -> tuple[str, ...]:
        """``extra_forward_types`` as a tuple of lower-case types."""
        return tuple(t.strip().lower() for t in self.extra_forward_types.split(",")
                     if t.strip())


@dataclass(frozen=True)
class VaultSettings:
    key: Secret = setting(
        Secret(""),
        "Never written here: set MAILPROC_VAULT_KEY (Fernet keys, newest first, separated by "
        "commas) or vault.key_file.",
        secret=True,
    )
    key_file: str = setting(
        "", "A file with the vault's Fernet keys, one a line, newest first; `mailproc vault "
        "rotate-key` adds a new one and re-encrypts.", kind="path",
    )
    dir: str = setting(
        "{data}/vault", "Folder of the encrypted registration documents.", kind="path"
    )


@dataclass(frozen=True)
class OutreachSettings:
    column_map: str = setting(
        "",
        "Extra column names for contacts import, 'Header=field' separated by ';' (e.g. "
        "'Ф.И.О. сотрудника=name; Эл. адрес=email'); fields: name, position, organisation, "
        "email, phone, segment, interests, consent, groups, contract, head_name, head_email, "
        "resp_name, resp_email ... Built-in Russian headers need no entry.",
    )
    grace: float = setting(
        "2h", "A planned mailing missed by more than this (daemon down) is not sent late: it is "
        "recorded as missed and shown by 'mailproc mailings show'.", kind="duration",
    )
    window: str = setting(
        "09:00-18:00", "Default sending window in the library's time zone; a mailing file may "
        "set its own.",
    )
    days: str = setting(
        "mon-fri", "Default sending days: mon-fri, every day (mon-sun), or a list like mon,wed,fri.",
    )
    batch: int = setting(
        200, "Recipients handed to the outbox per mailing in one pass: mailings flow in steps "
        "and never crowd out replies to readers.",
    )
    max_table_rows: int = setting(
        50_000, "A contact table (XLSX/CSV, mailed or imported) with more rows is refused; a "
        "mailed one goes to review with the limit named.",
    )
    max_table_columns: int = setting(
        500, "A contact table with a row of more columns is refused.",
    )
    max_table_cells: int = setting(
        1_000_000, "A contact table with more cells in all is refused.",
    )
    max_inflated_size: int = setting(
        "20MB", "An XLSX whose archive holds a part larger than this once unpacked is refused: "
        "checked in the archive's directory before unpacking and counted while unpacking.",
        kind="size",
    )
    max_table_time: float = setting(
        "30s", "A contact table that takes longer to read is refused.", kind="duration",
    )


@dataclass(frozen=True)
class RulesSettings:
    responses_per_sender: int = setting(
        3,
        "Automatic messages caused by one sender's mail in 24 hours, at most: replies, "
        "forwards, questions routed to a department, order requests, the hand-off to ЦКО "
        "(counted, never held: once per case); 0 for no limit. Past it nothing more goes out "
        "for that sender: questions wait for a librarian, orders go to review, and the digest "
        "names the sender. Mail to the librarians and the letters of the library's own "
        "addresses (departments.yaml) do not count. Automatic mail and bounces are never "
        "answered at all.",
    )
    reload_interval: float = setting(
        "2s", "How often the daemon looks for changed rule and template files.", kind="duration"
    )


@dataclass(frozen=True)
class QuestionsSettings:
    default_mode: str = setting(
        "",
        "How ready answers go out: send (at once), draft (into the Drafts folder for a librarian "
        "to review and send), or empty to use each answer's mode in rules/answers.yaml.",
        kind="answer_mode",
    )
    answer_modes: str = setting(
        "",
        "Per-answer overrides, e.g. \"temporary-access=send, litres=draft\" (keys from "
        "rules/answers.yaml); they win over default_mode.",
    )
    department_deadline: float = setting(
        "0",
        "How long a department has to answer a routed question before one reminder; 0 uses "
        "each department's deadline_days from rules/departments.yaml.",
        kind="duration",
    )


@dataclass(frozen=True)
class DigestSettings:
    enabled: bool = setting(True, "Send the librarians one digest mail each working morning.")
    time: str = setting(
        "08:30", "When the digest is sent, in the library's time zone (HH:MM); a daemon started "
        "later that working day sends it at once.", kind="clock",
    )
    days: str = setting(
        "mon-fri", "Working days the digest is sent on: mon-fri, mon-sun or a list like "
        "mon,wed,fri; orders.holidays are skipped too.",
    )
    to: str = setting("", "Who receives the digest; empty means mail.librarians_address.")


@dataclass(frozen=True)
class MetricsSettings:
    enabled: bool = setting(
        False, "Serve Prometheus metrics (counters and latency histograms, no personal data)."
    )
    listen: str = setting(
        "127.0.0.1:9464", "Address and port of the metrics endpoint; keep it on loopback and "
        "let a reverse proxy or the local Prometheus reach it.",
    )


@dataclass(frozen=True)
class ClusterSettings:
    lease_retry: float = setting(
        "2s", "How often an instance tries to take a mailbox another instance holds (on "
        "PostgreSQL a mailbox is read by one instance at a time; a dead holder's lease frees at "
        "once, so the mailbox is taken over within this time).", kind="duration",
    )
    lease_check: float = setting(
        "5s", "How often the holder checks that its lease connection is still alive.",
        kind="duration",
    )
    stale_job: float = setting(
        "30m", "A scheduled job claimed but not finished for this long (its instance died) "
        "may be run again by another instance.", kind="duration",
    )


@dataclass(frozen=True)
class JobsSettings:
    mailings_every: float = setting("1m", "How often due mailings are queued.", kind="duration")
    reminders_every: float = setting(
        "15m", "How often order and question reminders are looked for (working hours only).",
        kind="duration",
    )
    working_hours: str = setting(
        "09:00-18:00", "When reminders go out, in the library's time zone (HH:MM-HH:MM).",
    )
    retention_at: str = setting(
        "03:00", "When the daily retention purge runs (HH:MM, library time).", kind="clock",
    )
    digest_every: float = setting(
        "5m", "How often the digest is checked for being due (it is sent once a day at "
        "digest.time).", kind="duration",
    )
    hooks_every: float = setting(
        "60s", "The post-intake steps (questions sync, registrations tidy) run after a pass "
        "that processed mail, and at least this often.", kind="duration",
    )
    outbox_every: float = setting(
        "1s", "How often the daemon's sender looks for due outbox rows.", kind="duration",
    )
    misfire_grace: float = setting(
        "5m", "A job whose time passed while the daemon was busy or stopped still runs if it "
        "is late by less than this.", kind="duration",
    )


@dataclass(frozen=True)
class DaemonSettings:
    stall_after: float = setting(
        "5m", "A loop of the daemon (a mailbox's intake, the sender, a scheduled job) that has "
        "been failing this long with no progress (mailbox or database away, disk full), or "
        "silent this long beyond its own period (hung), is stalled: `mailproc status` and the "
        "digest say so, and the systemd watchdog is no longer petted, so systemd restarts the "
        "service.", kind="duration",
    )
    restart_limit: int = setting(
        5, "A loop that stops on an unexpected error is restarted in the process with backoff "
        "(1 s doubling to 1 min); after this many stops in a row without progress between them "
        "the daemon exits with code 70 and systemd restarts it.",
    )


@dataclass(frozen=True)
class Settings:
    mailbox: MailboxSettings = field(default_factory=MailboxSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    paths: PathsSettings = field(default_factory=PathsSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    trust: TrustSettings = field(default_factory=TrustSettings)
    log: LogSettings = field(default_factory=LogSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    registrations: RegistrationsSettings = field(default_factory=RegistrationsSettings)
    vault: VaultSettings = field(default_factory=VaultSettings)
    orders: OrdersSettings = field(default_factory=OrdersSettings)
    outreach: OutreachSettings = field(default_factory=OutreachSettings)
    rules: RulesSettings = field(default_factory=RulesSettings)
    questions: QuestionsSettings = field(default_factory=QuestionsSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    jobs: JobsSettings = field(default_factory=JobsSettings)
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    source: str = ""  # the settings file used, "" for built-in defaults
    #: [mailboxes.NAME] tables (mailproc.mailboxes.NamedMailbox); empty = the one [mailbox]
    mailboxes: tuple = ()
    #: which of them these settings are for, set by mailproc.mailboxes.settings_for; "" for
    #: the installation's own settings (see mailproc.mailboxes.name_of)
    mailbox_name: str = ""

    @property
    def data_dir(self) -> Path:
        return Path(self.paths.data)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.mail.timezone)


SECTIONS: dict[str, type] = {
    f.name: f.default_factory  # type: ignore[misc]
    for f in fields(Settings)
    if f.default_factory is not dataclasses.MISSING
}

# ---------------------------------------------------------------------------------------------
# Value parsers: each returns the typed value or raises ValueError with the expected form.

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|K|M|G)?\s*$", re.I)
_SIZE_UNITS = {None: 1, "B": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2,
               "G": 1024**3, "GB": 1024**3}
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


def parse_duration(value: Any) -> float:
    """'60s', '5m', '3d', '250ms' or a plain number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 60s, 5m, 2h or 3d")
    if isinstance(value, (int, float)):
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError("expected a duration such as 60s, 5m, 2h or 3d")
    return float(m.group(1)) * _DURATION_UNITS[m.group(2)]


def parse_size(value: Any) -> int:
    """'50MB', '512KB' or a plain number of bytes (binary units: 1 MB = 1024 KB)."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 50MB or 512KB")
    if isinstance(value, int):
        return value
    m = _SIZE.match(str(value))
    if not m:
        raise ValueError("expected a size such as 50MB or 512KB")
    unit = m.group(2).upper() if m.group(2) else None
    return int(float(m.group(1)) * _SIZE_UNITS[unit])


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _check_choice(value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError("expected one of " + ", ".join(choices))
    return value


def _check_prefix(value: str, prefixes: tuple[str, ...], example: str) -> str:
    if not value.startswith(prefixes):
        raise ValueError(f"expected a URL such as {example}")
    return value


def _check_email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("expected an address such as personbibl@nlrs.ru")
    return value


def _check_forward_types(value: str) -> str:
    from mailproc.outbound.filenames import MIME_TYPE, never_forwarded  # noqa: PLC0415

    for item in (t.strip().lower() for t in value.split(",")):
        if not item:
            continue
        if not MIME_TYPE.match(item):
            raise ValueError(f"expected MIME types such as image/webp, comma-separated; "
                             f"{item!r} is not one")
        if never_forwarded(item):
            raise ValueError(f"{item} is a program or active content and is never forwarded "
                             f"to readers")
    return value


def _check_doc_kinds(value: str) -> str:
    kinds = [k.strip() for k in value.split(",") if k.strip()]
    if not kinds or any(k not in ("form", "application", "consent") for k in kinds):
        raise ValueError("expected a list such as form,consent (of form, application, consent)")
    return ",".join(kinds)


def parse_list(value: Any) -> tuple[str, ...]:
    """A TOML array of strings, or (from the environment) the same items comma-separated."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError('expected a list of names in quotes such as ["mail.nlrs.ru"]')
    return tuple(v.strip() for v in value if v.strip())


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("expected an IANA time zone such as Asia/Yakutsk") from None
    return value


_KIND_CHECKS = {
    "answer_mode": lambda v: v.lower() if not v else _check_choice(v.lower(), ("send", "draft")),
    "duration": parse_duration,
    "size": parse_size,
    "mailbox_url": lambda v: _check_prefix(
        v, ("imap://", "imaps://", "maildir:"), "imaps://personbibl@mail.example:993/INBOX"),
    "smtp_url": lambda v: _check_prefix(
        v, ("smtp://", "smtps://", "file:"), "smtp://127.0.0.1:25"),
    "db_url": lambda v: _check_prefix(
        v, ("sqlite:", "postgresql"), "sqlite:///data/mailproc.sqlite3"),
    "email": _check_email,
    "https_url": lambda v: v if not v else _check_prefix(
        v, ("https://",), "https://nlrs.ru/mailproc (one-click unsubscribe needs HTTPS)"),
    "doc_kinds": lambda v: _check_doc_kinds(v),
    "forward_types": _check_forward_types,
    "timezone": _check_timezone,
    "log_level": lambda v: _check_choice(v.lower(), ("debug", "info", "warning", "error")),
    "log_format": lambda v: _check_choice(v.lower(), ("auto", "text", "json")),
    "log_journal": lambda v: _check_choice(v.lower(), ("auto", "yes", "no")),
    "without_uidplus": lambda v: _check_choice(v.lower(), ("leave", "move")),
    "holidays": lambda v: _check_holidays(v),
    "clock": lambda v: _check_clock(v),
}


def _check_clock(value: str) -> str:
    m = re.match(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*$", value)
    if not m:
        raise ValueError("expected a time of day such as 08:30")
    return f"{int(m.group(1)):02d}:{m.group(2)}"


def _check_holidays(value: str) -> str:
    from mailproc.orders.workdays import check_holidays  # the calendar's own parser

    try:
        return check_holidays(value)
    except (TypeError, ValueError):
        raise ValueError("expected dates such as 01-07,04-27 or 2026-12-31, comma-separated") \
            from None


def _convert(f: dataclasses.Field, value: Any) -> Any:
    kind = f.metadata.get("kind")
    if kind == "list":
        return parse_list(value)
    if kind in ("duration", "size"):
        return _KIND_CHECKS[kind](value)
    if f.type in ("bool", bool):
        return _parse_bool(value)
    if f.type in ("int", int):
        if isinstance(value, bool):
            raise ValueError("expected a whole number")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ValueError("expected a whole number") from None
    if f.type in ("float", float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError("expected a number") from None
    if not isinstance(value, str):
        raise ValueError("expected text in quotes")
    if kind in _KIND_CHECKS:
        value = _KIND_CHECKS[kind](value)
    if f.metadata.get("secret"):
        return Secret(value)
    return value


# ---------------------------------------------------------------------------------------------
# Loading


def find_config_file(explicit: str | None, environ: dict[str, str],
                     system: Path | None = None, service: bool = True) -> Path | None:
    """The settings file to read, in the documented order; None means built-in defaults.

    ``system`` stands for ``/etc/mailproc/mailproc.toml`` (``SYSTEM_CONFIG``, which tests
    replace); ``service=False`` does not look there (``mailproc demo``)."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"--config {explicit}: no such file; give the path of a settings "
                              f"file such as mailproc.example.toml")
        return path
    env = environ.get("MAILPROC_CONFIG")
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"MAILPROC_CONFIG={env}: no such file; point it at an existing "
                              f"settings file or unset it")
        return path
    local = Path("mailproc.toml")
    if local.is_file():
        return local
    if not service:
        return None
    system = SYSTEM_CONFIG if system is None else system
    return system if system.is_file() else None


def places_looked(system: Path | None = None) -> str:
    """Where ``find_config_file`` looked, for the line that says it found nothing."""
    system = SYSTEM_CONFIG if system is None else system
    where = f"looked for --config, $MAILPROC_CONFIG, {Path.cwd() / 'mailproc.toml'} and {system}"
    if system.parent.exists() and not os.access(system.parent, os.R_OK | os.X_OK):
        where += f" ({system.parent} is not readable by this user: run the command as the " \
                 f"service's user, e.g. sudo -u mailproc mailproc ...)"
    return where


def require_file(settings: "Settings", system: Path | None = None) -> "Settings":
    """``settings`` if they come from a settings file; else ``NoSettingsError`` saying where
    the file was looked for. Commands that read or write the library's data call this: on
    built-in defaults they would open (and create) a database of their own in the working
    directory instead of the service's."""
    if settings.source:
        return settings
    raise NoSettingsError(f"no settings file ({places_looked(system)}); this command "
                          f"works on the library's data and does not run on built-in "
                          f"defaults: give --config FILE or set MAILPROC_CONFIG")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the line it names") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None


def _read_secret_file(key: str, path: str) -> Secret:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path} ({exc.strerror}); fix the path or the "
                          f"file's permissions") from None
    return Secret(lines[0].strip() if lines else "")


def load_settings(
    config: str | None = None,
    environ: dict[str, str] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    service: bool = True,
) -> Settings:
    """Read settings from the file, the environment and explicit overrides (in that order).
    ``service=False`` leaves the service's ``/etc/mailproc/mailproc.toml`` out of the look-up.

    Relative paths in a settings file are taken relative to that file's folder, so a service
    started from any working directory finds the same files; with built-in defaults they are
    relative to the working directory.
    """
    environ = dict(os.environ if environ is None else environ)
    path = find_config_file(config, environ, service=service)
    raw: dict[str, Any] = _read_toml(path) if path else {}
    base = path.parent.resolve() if path else Path.cwd()

    named = raw.pop("mailboxes", None)  # [mailboxes.NAME]: see mailproc.mailboxes
    for section, value in raw.items():
        if section not in SECTIONS:
            raise ConfigError(f"{path}: unknown section [{section}]; known sections: "
                              + ", ".join(SECTIONS))
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: {section} must be a section [{section}], not a value")

    built: dict[str, Any] = {}
    for section, cls in SECTIONS.items():
        given = dict(raw.get(section, {}))
        known = {f.name: f for f in fields(cls)}
        for key in given:
            if key not in known:
                close = _closest(key, known)
                hint = f"; did you mean {section}.{close}?" if close else ""
                raise ConfigError(f"{section}.{key}: unknown setting{hint}")
        values: dict[str, Any] = {}
        for name, f in known.items():
            dotted = f"{section}.{name}"
            env_key = f"{ENV_PREFIX}{section.upper()}_{name.upper()}"
            if f.metadata.get("secret") and name in given:
                raise ConfigError(f"{dotted}: secrets are not written in the settings file; set "
                                  f"{env_key} or {section}.{name}_file")
            if overrides and name in overrides.get(section, {}):
                value, origin = overrides[section][name], "override"
            elif env_key in environ:
                value, origin = environ[env_key], env_key
            elif name in given:
                value, origin = given[name], "file"
            else:
                value, origin = f.default, "default"
            if origin == "file" and url_has_password(value):
                raise url_password_error(dotted, _password_home(section, known, env_key))
            try:
                value = _convert(f, value)
            except ValueError as exc:
                where = f" (from {env_key})" if origin == env_key else ""
                raise ConfigError(f"{dotted}: {exc}, got {_show(f, value)}{where}") from None
            # "{data}/..." is relative to the data folder, resolved when {data} is replaced
            # below, not to the settings file's folder
            if f.metadata.get("kind") == "path" and value and origin != "default" \
                    and not value.startswith("{data}"):
                value = str((base / value) if not Path(value).is_absolute() else Path(value))
            values[name] = value
        built[section] = values

    data = built["paths"]["data"]
    for section, values in built.items():
        for name, value in list(values.items()):
            if isinstance(value, str) and "{data}" in value:
                values[name] = type(value)(value.replace("{data}", data))
        for name in list(values):
            if name.endswith("_file") and name[:-5] in values and values[name]:
                secret_name = name[:-5]
                env_key = f"{ENV_PREFIX}{section.upper()}_{secret_name.upper()}"
                if not values[secret_name] and env_key not in environ:
                    values[secret_name] = _read_secret_file(f"{section}.{name}", values[name])

    from mailproc.mailboxes import parse_mailboxes  # noqa: PLC0415 - avoids an import cycle

    return Settings(
        **{section: SECTIONS[section](**values) for section, values in built.items()},
        source=str(path) if path else "",
        mailboxes=parse_mailboxes(named, base, environ, built),
    )


def _password_home(section: str, known: dict[str, Any], env_key: str) -> str:
    """Where a password found in a URL of ``section`` belongs instead."""
    if "password" in known:
        return f"{ENV_PREFIX}{section.upper()}_PASSWORD or {section}.password_file"
    if section == "database":
        return (f"{env_key} (the whole URL, from the environment) or a ~/.pgpass file "
                f"(PostgreSQL reads it)")
    return f"{env_key} (from the environment)"


def _show(f: dataclasses.Field, value: Any) -> str:
    return "***" if f.metadata.get("secret") else repr(redact(value))


def _closest(word: str, candidates: dict[str, Any]) -> str | None:
    import difflib

    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return match[0] if match else None


def example_toml() -> str:
    """The documented example settings file, generated from the schema."""
    out = [
        "# mailproc settings. Every key is shown with its default; delete what you do not change.",
        "# Each key may be overridden from the environment as MAILPROC_<SECTION>_<KEY>.",
        "# Relative paths are relative to this file's folder.",
        "",
    ]
    for section, cls in SECTIONS.items():
        out.append(f"[{section}]")
        for f in fields(cls):
            for line in _wrap(f.metadata["doc"]):
                out.append(f"# {line}")
            if f.metadata.get("secret"):
                out.append(f"# {f.name} = (environment only)")
            else:
                out.append(f"{f.name} = {_toml_value(f.default)}")
            out.append("")
    from mailproc.mailboxes import EXAMPLE  # noqa: PLC0415

    out.append(EXAMPLE)
    return "\n".join(out).rstrip() + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _wrap(text: str, width: int = 96) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width=width) or [""]
