"""Imports every module that defines tables, so ``metadata`` is complete for Alembic.

A module that adds tables adds its import here.
"""

from mailproc.store import models  # noqa: F401
from mailproc.store import counters  # noqa: F401
from mailproc.orders import models as order_models  # noqa: F401
from mailproc.questions import models as question_models  # noqa: F401
from mailproc.outreach import models as outreach_models  # noqa: F401
from mailproc.registrations import models as registration_models  # noqa: F401
from mailproc.registrations import mailbox_models as redaction_models  # noqa: F401
from mailproc.outbound import models as outbound_models  # noqa: F401
from mailproc import jobs as job_models  # noqa: F401
from mailproc.sorting import limits as limit_models  # noqa: F401
from mailproc.sorting import models as rule_set_models  # noqa: F401
from mailproc import attempts as attempt_models  # noqa: F401
from mailproc.store.base import Base

metadata = Base.metadata
