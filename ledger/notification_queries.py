"""Reading owners' notifications: who may, and one page of them, newest first.

An enterprise's administrator reads its own enterprise's notifications: they ask the owner
to take cylinders out of service and send them for inspection or scrapping, a decision of
the enterprise's administration. Filling operators and drivers do not: the fill check
already refuses an overdue or expired cylinder where they work. The regulator (and the
system admin) read every enterprise's, and may name one. An enterprise role that names
another enterprise is refused (Forbidden), never answered an empty list.

Pages go backwards by id (keyset paging): ``before_id`` is the previous page's
``next_before_id``, so a page is never shifted by notifications written meanwhile and
each notification is read exactly once. A reader that keeps the highest id it has read
and reads down to it next time misses none either: notifications are written by the
expiry sweep alone (``sweeps.expiry_sweep``), under its job lock held until its commit
(``app.jobs.guarded``), so their ids become visible in increasing order. Reads only:
nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from ledger.errors import Forbidden, Invalid
from ledger.model import Actor, Role
from ledger.model_ops import Notification
from ledger.notifications import document
from ledger.registry import Policy
from ledger.sweeps import KINDS

READ = Policy(
    "查看通知 / read notifications",
    frozenset({Role.ADMIN, Role.REGULATOR}),
    frozenset({Role.ENTERPRISE_ADMIN}),
)
DEFAULT_LIMIT = 100
MAX_LIMIT = 500


@dataclass(frozen=True)
class Page:
    """Notifications newest first, and the ``before_id`` of the next page (None: no more)."""

    items: list[dict[str, Any]]
    next_before_id: int | None


def item(n: Notification) -> dict[str, Any]:
    """A notification as the API answers it: the webhook's document and its delivery."""
    return {
        **document(n),
        "cylinder_id": n.cylinder_id,
        "delivered_at": n.delivered_at.isoformat() if n.delivered_at else None,
        "attempts": n.attempts,
    }


def enterprise_in_scope(actor: Actor, enterprise_id: int | None) -> int | None:
    """The enterprise whose notifications the actor reads (None: every enterprise's)."""
    READ.check_role(actor)
    if actor.role in READ.everywhere:
        return enterprise_id
    if enterprise_id not in (None, actor.enterprise_id):
        raise Forbidden("只能查看本企业的通知 / only your own enterprise's notifications")
    assert actor.enterprise_id is not None  # enterprise roles always belong to one
    return actor.enterprise_id


def page(
    session: Session,
    actor: Actor,
    *,
    limit: int = DEFAULT_LIMIT,
    kind: str | None = None,
    undelivered: bool = False,
    before_id: int | None = None,
    enterprise_id: int | None = None,
) -> Page:
    """One page of the notifications the actor may read, newest (highest id) first.

    ``undelivered``: only those the webhook has not taken (given up ones included).
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit 须在 1–{MAX_LIMIT} / 'limit' must be 1–{MAX_LIMIT}", field="limit")
    if kind is not None and kind not in KINDS:
        raise Invalid(
            f"kind 须为 {' 或 '.join(KINDS)} / 'kind' must be {' or '.join(KINDS)}", field="kind"
        )
    owner = enterprise_in_scope(actor, enterprise_id)
    query = select(Notification).order_by(col(Notification.id).desc()).limit(limit + 1)
    if owner is not None:
        query = query.where(col(Notification.enterprise_id) == owner)
    if kind is not None:
        query = query.where(col(Notification.kind) == kind)
    if undelivered:
        query = query.where(col(Notification.delivered_at).is_(None))
    if before_id is not None:
        query = query.where(col(Notification.id) < before_id)
    rows = list(session.execute(query).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return Page([item(n) for n in rows], rows[-1].id if more else None)
