"""The exception hierarchy: policy lives in the exception types.

Each family tells the caller what to do with it:

* ``ConfigError`` stops start-up with one line that names the key and the fix;
  ``NoSettingsError``, no settings file at all, and ``MissingFilesError``, a configured
  folder that is missing or empty, exit 78 (EX_CONFIG) for a service manager.
* ``StorageError`` stops start-up with one line that names the path and the fix: the disk,
  not a setting, is at fault (exit codes: mailproc.startup).
* ``RuleFileError`` / ``TemplateError`` are librarian mistakes in edited files: reported as
  ``file:line: problem; fix`` and the last good set keeps running.
* ``MessageError`` is a problem with one message: it goes to the review folder with its reason,
  the loop goes on.
* ``TemporaryDeliveryError`` / ``PermanentDeliveryError`` split SMTP failures into "retry with
  backoff" (4xx, timeouts, disconnects) and "stop, record, tell a librarian" (5xx).
"""

from __future__ import annotations


class MailprocError(Exception):
    """Base of every error mailproc raises on purpose."""


class ConfigError(MailprocError):
    """A wrong setting. The message is one line naming the key and what to write instead."""

    #: the command's exit status (2: a wrong setting or input; see mailproc.cli)
    exit_code = 2


class MissingFilesError(ConfigError):
    """A folder or file the settings name is missing or empty: the installation is not
    finished (``mailproc init``, mailproc.pathcheck). Exit status 78, EX_CONFIG of
    sysexits.h, which the systemd unit does not restart."""

    exit_code = 78


class NoSettingsError(ConfigError):
    """No settings file was found for a command that works on the library's data: it stops
    with one line saying where it looked, exit 78 (EX_CONFIG of sysexits.h)."""

    exit_code = 78


class StoreError(MailprocError):
    """The database cannot be opened or migrated because of a setting (its URL, driver,
    user, password or name): restarting does not help."""


class StorageError(StoreError):
    """The data folder or the database cannot be written now: a read-only file system, a
    full disk, a database server that does not answer. Restarting later may help."""


class SourceError(MailprocError):
    """The mailbox cannot be reached or answered something we cannot use."""


class SourceUnavailable(SourceError):
    """A temporary outage of the mailbox (connection refused, reset, timed out)."""


class MessageError(MailprocError):
    """One message cannot be processed; it goes to review with this reason."""


class LoadError(MailprocError):
    """A librarian-edited file (rules, templates, plans) is broken.

    ``problems`` holds every ``file:line: problem; fix`` line found, so a librarian sees all
    of them at once instead of fixing one per run.
    """

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class RuleFileError(LoadError):
    """A rule file does not load."""


class TemplateError(LoadError):
    """A template does not load or render."""


class DeliveryError(MailprocError):
    """Sending a message failed."""


class TemporaryDeliveryError(DeliveryError):
    """4xx reply, timeout or disconnect: retried with backoff until the deadline."""


class PermanentDeliveryError(DeliveryError):
    """5xx reply: the outbox row is marked failed with the server's answer."""
