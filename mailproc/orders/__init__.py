"""Fragment and article orders (instruction, section 5).

A reader asks for pages of a book or an article; the request goes to the department that holds
the fund; photos or scans come back to the mailbox and are forwarded to the reader.

Pure deciding code (``parse``, ``routing``, ``matching``, ``checks``, ``cap``, ``workdays``)
is kept apart from the code that touches the database and the outbox (``service``,
``reminders``) and from the sorting actions that glue them to incoming mail (``actions``).
"""
