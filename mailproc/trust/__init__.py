"""Sender authentication: may a letter speak for a department, ЦКО or the librarians?

mailproc does not verify DKIM, SPF or DMARC itself: the library's own mail server does and
records its verdict in ``Authentication-Results`` (RFC 8601). This package only reads that
verdict, believing the server's own header alone, and applies the library's policy to it.

- :mod:`.verdict`  the server's verdict: its topmost header of a trusted authserv-id (authres);
- :mod:`.relay`    internal relays named in the settings, read from the top Received headers;
- :mod:`.auth`     is the From domain authenticated (DMARC, aligned DKIM, aligned SPF, relay)?
- :mod:`.policy`   which sender class a From address claims, and whether the letter may act
                   as that sender (the Sorter refuses its actions otherwise, see
                   mailproc.sorting.runtime).

Everything here is a pure function of the Letter's decoded headers, the settings and the
departments directory.
"""

from mailproc.trust.auth import Auth, authenticate
from mailproc.trust.policy import Claim, Judgement, claim_of, judge, warn_if_unverified

__all__ = ["Auth", "Claim", "Judgement", "authenticate", "claim_of", "judge",
           "warn_if_unverified"]
