"""How long the oldest event has waited for a signed checkpoint: the regulator's alarm.

The scheduler integrates and signs every 10 s, so an event older than a few minutes that
no checkpoint signs means the scheduler is down, or refuses to sign a log that does not
extend the last checkpoint it signed (``ledger.checkpoint_memory``): either way nobody can
prove that event is in the ledger until someone acts.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlmodel import Session, col

from ledger import log
from ledger.event_ids import recorded_at_by_id
from ledger.model import LogLeaf, LogPending

ALERT_AFTER = dt.timedelta(minutes=2)  # as the checkpoint-lag alert (docs/deploy.md §7)


def oldest_unsigned(session: Session) -> dt.datetime | None:
    """When the oldest event no checkpoint signs yet was recorded; None when all are signed.

    It is the first leaf beyond the newest checkpoint or, when every leaf is signed, the
    oldest event still waiting to be integrated.
    """
    newest = log.latest_checkpoint(session)
    ids = recorded_at_by_id(session.get_bind().dialect.name)
    first_unsigned_leaf = (
        select(ids.c.recorded_at)
        .join(LogLeaf, col(LogLeaf.event_id) == ids.c.id)
        .where(col(LogLeaf.leaf_index) == (newest.size if newest is not None else 0))
    )
    at: dt.datetime | None = session.execute(first_unsigned_leaf).scalar_one_or_none()
    if at is not None:
        return at
    oldest_pending = (
        select(ids.c.recorded_at)
        .join(LogPending, col(LogPending.event_id) == ids.c.id)
        .order_by(col(LogPending.seq))
        .limit(1)
    )
    pending: dt.datetime | None = session.execute(oldest_pending).scalar_one_or_none()
    return pending


def overdue(session: Session, now: dt.datetime) -> dt.datetime | None:
    """``oldest_unsigned`` when it has waited longer than ``ALERT_AFTER``, else None."""
    since = oldest_unsigned(session)
    return since if since is not None and now - since > ALERT_AFTER else None
