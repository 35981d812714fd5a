"""mailproc: the mail processor behind the library's personal librarian mailbox."""

__version__ = "0.1.0"
