"""Mailbox sources: where mail arrives and where processed mail is filed.

Only this package talks to IMAP (imapclient) or the Maildir on disk.
"""

from mailproc.mailbox.base import MailboxSource, MessageRef, open_source, source_name

__all__ = ["MailboxSource", "MessageRef", "open_source", "source_name"]
