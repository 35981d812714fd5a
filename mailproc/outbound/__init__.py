"""Mail out: templates, the durable outbox, the SMTP sender, Sent copies and bounces.

Only this package imports aiosmtplib. Everything mailproc sends is an outbox row first
(``outbox.enqueue``, in the caller's transaction); ``sender.deliver_due`` sends what is due.
"""
