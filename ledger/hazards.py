"""Refused dispatches and deliveries for the regulator: the hazards the road checks found.

A dispatch or delivery the rules refuse is recorded as a ``delivery_blocked`` event
(``{check, reasons, vehicle?, driver?, customer_id?, failed_items?}``, the customer file as
its ``site_id``): a failed 随瓶安检 item, a basement site, a dual-phase cylinder for a
restaurant, an illegal cylinder on the road. This read model lists them, newest first, as
a ``Listing`` of ``ledger.oversight`` (counted, paged, streamed to CSV).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import col

from ledger.model import Customer, Cylinder, Enterprise, Event
from ledger.oversight import AnyRow, Listing


@dataclass(frozen=True)
class RefusedMove:
    """One refused dispatch or delivery: when, which cylinder, whose, where to, and why."""

    at: dt.datetime
    code: str
    owner: str
    check: str  # dispatch | delivery
    reasons: tuple[str, ...]
    failed_items: tuple[str, ...]  # the safety checklist's items that failed
    vehicle: str | None
    customer: str | None  # the customer file's name and address; None once erased
    customer_kind: str | None


def refused_moves_listing(since: dt.datetime, check: str | None = None) -> Listing[RefusedMove]:
    """Refused dispatches and deliveries since a time (``check``: only one of the two)."""
    query = (
        select(
            col(Event.occurred_at),
            col(Event.payload),
            col(Cylinder.code),
            col(Enterprise.name),
            col(Customer.name),
            col(Customer.address),
            col(Customer.kind),
            col(Customer.erased_at),
        )
        .join(Cylinder, col(Cylinder.id) == col(Event.cylinder_id))
        .join(Enterprise, col(Enterprise.id) == col(Cylinder.owner_id))
        .outerjoin(Customer, col(Customer.id) == col(Event.site_id))
        .where(col(Event.type) == "delivery_blocked", col(Event.occurred_at) >= since)
        .order_by(col(Event.occurred_at).desc(), col(Event.id).desc())
    )
    listing = Listing(query, _refused_move)
    if check is None:
        return listing
    # Exact on the canonical payload text: a quote inside any value is escaped (\"), so
    # only the key itself reads "check":"delivery".
    matches = col(Event.payload).contains(f'"check":"{check}"', autoescape=True)
    return Listing(query.where(matches), _refused_move)


def _refused_move(row: AnyRow) -> RefusedMove:
    at, payload, code, owner, name, address, kind, erased_at = row
    p = json.loads(payload)
    customer = None if name is None or erased_at is not None else f"{name}（{address}）"
    return RefusedMove(
        at=at,
        code=code,
        owner=owner,
        check=p["check"],
        reasons=tuple(p["reasons"]),
        failed_items=tuple(p.get("failed_items") or ()),
        vehicle=p.get("vehicle"),
        customer=customer,
        customer_kind=None if erased_at is not None else kind,
    )
