"""Cylinders and their events."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import current_app, request

from app.api import api
from app.api.presenters import cylinder_document, event_response, history_documents
from app.api.schemas import CylinderIn, EventIn
from app.auth import auth, current_actor
from app.idempotency import after_commit, transaction
from app.runtime import runtime
from ledger import codes, ids, permissions, service
from ledger.errors import Forbidden, Invalid


def idempotency_key() -> str | None:
    """The client's Idempotency-Key header, if any."""
    return request.headers.get("Idempotency-Key")


def after_write() -> None:
    """Integrate right after a committed write when so configured (never fails the write)."""
    rt = runtime()
    if rt.integrate_after_write and not after_commit(after_write):  # a keyed write: later
        if rt.integrate_in_background:
            rt.integrate_soon()
            return
        try:
            rt.integrate_quietly()
        except Exception:  # the event is committed; the scheduler will integrate it
            current_app.logger.exception("integration after write failed")


@api.post("/cylinders")
@api.auth_required(auth)
@api.input(CylinderIn, arg_name="body")
@api.doc(summary="Register a cylinder (赋码建档)", responses=[201, 403, 409, 422])
def register(body: dict[str, Any]) -> Any:
    rt = runtime()
    actor = current_actor()
    assert actor is not None
    with transaction(rt.engine) as session:
        cylinder, created = service.register_cylinder(
            session, rt.authority, actor, body, rt.now(), idempotency_key(), rt.params
        )
        doc = cylinder_document(session, cylinder, rt.authority, full=True, params=rt.params)
    after_write()
    return doc, 201 if created else 200


@api.get("/cylinders/<code>")
@api.auth_required(auth, optional=True)  # type: ignore[arg-type]  # APIFlask types it str
@api.doc(summary="A cylinder's current state (public fields for everyone)", responses=[200, 404])
def read(code: str) -> Any:
    rt = runtime()
    actor = current_actor()
    with transaction(rt.engine, write=False) as session:
        cylinder = service.find_cylinder(session, codes.normalise(code))
        full = permissions.can_read_history(actor, cylinder.owner_id)
        return cylinder_document(session, cylinder, rt.authority, full=full, params=rt.params)


@api.get("/cylinders/<code>/events")
@api.auth_required(auth)
@api.doc(summary="A cylinder's events and whether its chain verifies", responses=[200, 403, 404])
def events(code: str) -> Any:
    rt = runtime()
    with transaction(rt.engine, write=False) as session:
        cylinder = service.find_cylinder(session, codes.normalise(code))
        if not permissions.can_read_history(current_actor(), cylinder.owner_id):
            raise Forbidden("only the owner's staff and regulators read a cylinder's history")
        rows, defect = service.history(session, cylinder)
        return {
            "code": cylinder.code,
            "events": history_documents(session, cylinder.id, rows),
            "chain_valid": defect is None,
            "chain_defect": str(defect) if defect else None,
        }


@api.post("/cylinders/<code>/events")
@api.auth_required(auth)
@api.input(EventIn, arg_name="body")
@api.doc(summary="Record an event on a cylinder", responses=[201, 403, 404, 409, 422])
def append(code: str, body: dict[str, Any]) -> Any:
    rt = runtime()
    actor = current_actor()
    assert actor is not None
    signature = _signature(body.get("signature"))
    with transaction(rt.engine) as session:
        event_id = body.get("id") or ids.idempotent_id(actor, idempotency_key())
        result = service.append_event(
            session,
            rt.authority,
            actor,
            codes.normalise(code),
            body["type"],
            body["payload"],
            rt.now(),
            occurred_at=body.get("occurred_at"),
            event_id=event_id,
            signature=signature,
            params=rt.params,
        )
        doc = event_response(session, result.event, fresh=result.created)
    after_write()
    if result.refusal is not None:  # the refusal itself was recorded (committed above)
        error = service.refused(result.refusal)
        error.extra["recorded_event"] = {"id": result.event.id, "type": result.event.type}
        raise error
    doc["warnings"] = [w.to_dict() for w in result.warnings]
    if result.offline_conflict is not None:
        doc["offline_conflict"] = [r.to_dict() for r in result.offline_conflict.reasons]
    return doc, 201 if result.created else 200


def _signature(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("'signature' must be base64") from None
