"""Figures over the database rows: the librarians' daily digest and the statistics report.

Everything here reads; nothing changes a case. ``figures`` and ``digest`` compute plain dicts
from the rows (so the same figures feed the text, the JSON and the HTML), ``html`` draws them,
and ``digest.send_digest_if_due`` is the one call the scheduler makes.
"""
