"""Owners' notifications (overdue for inspection, end of service life), read through the API.

The expiry sweep writes them and POSTs them to a webhook when one is configured; an owner
without one reads them here. Who may read which is ``ledger.notification_queries``'s.
"""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import Boolean, Integer, List, Nested, String
from apiflask.validators import OneOf, Range

from app.api import api
from app.api.registry_schemas import ID
from app.auth import auth, current_actor
from app.runtime import runtime
from ledger import notification_queries as queries
from ledger.store import transaction
from ledger.sweeps import KINDS


class NotificationQuery(Schema):
    limit = Integer(
        load_default=queries.DEFAULT_LIMIT,
        validate=Range(1, queries.MAX_LIMIT),
        metadata={"description": "每页条数 / items per page"},
    )
    kind = String(validate=OneOf(KINDS), metadata={"description": "只看此类 / only this kind"})
    undelivered = Boolean(
        load_default=False,
        metadata={"description": "只看 webhook 未接收的 / only those the webhook has not taken"},
    )
    before_id = Integer(
        validate=ID,
        metadata={"description": "下一页：上一页的 next_before_id / the previous next_before_id"},
    )
    enterprise_id = Integer(
        validate=ID,
        metadata={"description": "只看此企业（监管）/ only this enterprise (oversight)"},
    )


class NotificationItem(Schema):
    id = Integer()
    enterprise_id = Integer()
    cylinder_id = String()
    code = String()
    kind = String(metadata={"enum": list(KINDS)})
    due_on = String(metadata={"format": "date"})
    message = String()
    created_at = String(metadata={"format": "date-time"})
    delivered_at = String(allow_none=True, metadata={"format": "date-time"})
    attempts = Integer()


class NotificationListOut(Schema):
    items = List(Nested(NotificationItem))
    next_before_id = Integer(allow_none=True)


@api.get("/notifications")
@api.auth_required(auth)
@api.input(NotificationQuery, location="query", arg_name="query")
@api.output(NotificationListOut)
@api.doc(
    summary="业主通知，新的在前 / Owners' notifications, newest first",
    description="企业管理员看本企业的；监管部门看全部，可按企业筛选。"
    " An enterprise admin reads its own; regulators read all and may filter by enterprise.",
    responses=[401, 403, 422],
)
def list_notifications(query: dict[str, Any]) -> Any:
    actor = current_actor()
    assert actor is not None  # the token is required
    with transaction(runtime().engine, write=False) as session:
        found = queries.page(session, actor, **query)
    return {"items": found.items, "next_before_id": found.next_before_id}
