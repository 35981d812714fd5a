"""The modules whose import fills the condition and action registries.

Domain packages (orders, registrations, questions, outreach, outbound's bounce handling)
register their actions in their own ``actions.py``; add the module here. A module that does not
exist yet is skipped (its issue is being built), so rules naming its actions fail the check
with a clear "unknown action" instead of the daemon failing to start.
"""

from __future__ import annotations

import importlib
import logging

log = logging.getLogger("mailproc.sorting.plugins")

PLUGINS = [
    "mailproc.sorting.conditions",
    "mailproc.sorting.actions",
    "mailproc.outbound.actions",  # handle-bounce (issue 5)
    "mailproc.orders.actions",  # create-order, match-order (issue 6)
    "mailproc.registrations.actions",  # take-registration (issue 7)
    "mailproc.questions.actions",  # route-question, record-need (issue 8)
    "mailproc.outreach.actions",  # issue 9
]

_loaded = False


def load_plugins() -> None:
    global _loaded
    if _loaded:
        return
    for name in PLUGINS:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                log.debug("plugin %s not present", name)
                continue
            raise
    _loaded = True
