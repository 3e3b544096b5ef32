"""Every table of the exchange, gathered for Alembic and for tests that compare models to migrations."""

from suanshu.audit import models as _audit  # noqa: F401
from suanshu.billing import models as _billing  # noqa: F401
from suanshu.compute import models as _compute  # noqa: F401
from suanshu.core import idempotency as _idempotency  # noqa: F401
from suanshu.core import orgs as _orgs  # noqa: F401
from suanshu.core.db import Base
from suanshu.ledger import models as _ledger  # noqa: F401
from suanshu.market import models as _market  # noqa: F401
from suanshu.market import tables as _market_tables  # noqa: F401
from suanshu.market import users as _users  # noqa: F401  (console users and sessions)
from suanshu.policy import models as _policy  # noqa: F401
from suanshu.vault import models as _vault  # noqa: F401

metadata = Base.metadata
