"""The scheduler process (``flask --app wsgi jobs run``): one APScheduler 3.x process, never
inside the web workers.

Jobs: integrate + checkpoint (every 10 s), the expiry sweep with webhook delivery, to the
global webhook and to the owners' own (hourly), an audit a regulator asked for (looked for
every 15 s); nightly: the stale-cylinder report, the audit (state projection included),
the events table's monthly partitions three months ahead (PostgreSQL), the purge of public
reports past retention and of owners' finished webhook deliveries. Each job runs under its
own advisory lock taken with ``wait=False`` (PostgreSQL's; on SQLite a file lock beside the
database, ``ledger.file_locks``): a second scheduler process skips a job the first is
running, and every job is idempotent besides (unique keys), so nothing is done twice.
A job that meets a database error (gone away, disk full) or a system one (a verdict file
that cannot be written) logs it and changes nothing; the next run retries, with a fresh
connection, since SQLAlchemy drops a broken one. A nightly job is tried again every hour
until it has run that day.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from flask import Flask
from sqlalchemy.exc import DBAPIError, OperationalError

from app import audits, outbound
from app.job_guard import Result, guarded, logger
from app.runtime import Runtime
from ledger import (
    audit_requests,
    checkpoint_memory,
    job_status,
    log,
    notifications,
    owner_delivery,
    partitions,
    sweeps,
)
from ledger.notifications import Delivery
from ledger.public_reports import purge_expired_reports
from ledger.store import transaction


def integrate_and_checkpoint(app: Flask) -> Result:
    """Integrate everything pending and publish a checkpoint (idempotent), never one that
    does not extend the last this server signed (``ledger.checkpoint_memory``)."""
    memory = checkpoint_memory.path_in(app.extensions["ledger"].keys_dir)
    signed: list[str] = []

    def body(rt: Runtime, session: Any) -> Result:
        old = new = log.log_state(session).size
        while True:
            step = log.integrate(session)
            new = step.new_size
            if step.new_size == step.old_size:
                break
        done = {"integrated": new - old, "tree_size": new}
        try:
            cp = checkpoint_memory.publish(
                session, rt.authority.server, rt.authority.origin, memory
            )
        except checkpoint_memory.LogForkError as exc:  # integrated, nothing signed: say so
            logger.error("checkpoint refused", error=exc.detail)
            return {**done, "status": "refused", "error": exc.detail[:300]}
        signed.append(cp.note)
        return {**done, "checkpoint_size": cp.size}

    result = guarded(app, "integrate", body)
    # Only once committed is it a promise to keep: a checkpoint whose commit failed was
    # never published, and remembering it would refuse every later one.
    if memory is not None and signed and result["status"] == "done":
        try:
            checkpoint_memory.remember(memory, signed[0])
        except OSError as exc:
            logger.error("last checkpoint not kept on disk", path=str(memory), error=str(exc))
    return result


def expiry_sweep(app: Flask) -> Result:
    """Notify owners of cylinders gone overdue or past end of life; deliver to the global
    webhook (when configured) and to the owners' own webhooks."""
    url: str = app.config.get("NOTIFY_WEBHOOK_URL") or ""

    def body(rt: Runtime, session: Any) -> Result:
        now = rt.now()
        made = sweeps.expiry_sweep(session, rt.params.today(now), now)
        return {"overdue": made.overdue, "end_of_life": made.end_of_life,
                "owner_queued": made.to_owners}  # fmt: skip

    def to_city(rt: Runtime) -> Delivery:  # everything; signed when the city set a secret
        secret = app.config.get("NOTIFY_WEBHOOK_SECRET")
        post = _signing(secret) if secret else _post
        return notifications.deliver(rt.engine, url, post, rt.now())

    def to_owners(rt: Runtime) -> Delivery:  # signed, each owner its own, public hosts only
        private_ok = bool(app.config.get("WEBHOOK_ALLOW_PRIVATE"))

        def post(url: str, body: bytes, headers: dict[str, str]) -> int:
            return _post_bytes(url, body, headers, private_ok)

        return owner_delivery.deliver_to_owners(rt.engine, post, rt.now())

    result = guarded(app, "expiry_sweep", body)
    if result["status"] == "busy":
        return result  # another scheduler sweeps, and delivers right after
    # Delivery sends what is committed, under locks of its own: a sweep that failed holds
    # up none of the notifications made before it.
    if url:
        result.update(_deliver(app, "webhook", "", to_city))
    result.update(_deliver(app, "owner_webhooks", "owner_", to_owners))
    return result


def _deliver(app: Flask, lock: str, prefix: str, send: Callable[[Runtime], Delivery]) -> Result:
    """Send what a webhook has not taken yet, under a lock of its own held in a plain
    transaction (no write lock): each POST runs with no transaction of the ledger open.
    The result's keys are ``prefix`` + delivered, delivery_failed, … (delivery_status)."""

    def body(rt: Runtime, _session: Any) -> Result:
        sent = send(rt)
        if sent.given_up:
            logger.error(
                f"{prefix.replace('_', ' ')}webhook delivery given up: notifications stay"
                " unsent, readable in the API",
                given_up=sent.given_up,
                attempts=notifications.MAX_ATTEMPTS,
            )
        return {"delivered": sent.delivered, "delivery_failed": sent.failed,
                "delivery_given_up": sent.given_up}  # fmt: skip

    done = {k: v for k, v in guarded(app, lock, body, write=False).items() if k != "job"}
    done["delivery_status"] = done.pop("status")
    return {prefix + key: value for key, value in done.items()}


def _post(url: str, body: dict[str, Any], headers: dict[str, str]) -> int:
    return httpx.post(url, json=body, headers=headers, timeout=10.0).status_code


def _signing(secret: str) -> Callable[[str, dict[str, Any], dict[str, str]], int]:
    """The global webhook's POST, signed as the owners' are (``Ledger-Signature``, at the
    moment it starts) with the city's ``NOTIFY_WEBHOOK_SECRET``; its URL is the operator's,
    so internal hosts are fine."""

    def post(url: str, doc: dict[str, Any], headers: dict[str, str]) -> int:
        body = owner_delivery.body_bytes(doc)
        signed = {
            **headers,
            "Content-Type": "application/json",
            owner_delivery.HEADER: owner_delivery.signature(secret, int(time.time()), body),
        }
        return _post_bytes(url, body, signed, True)

    return post


def _post_bytes(url: str, body: bytes, headers: dict[str, str], private_ok: bool) -> int:
    """POST exactly ``body`` (the bytes the signature covers) with ``headers`` to an owner's
    URL: refused before connecting when its host is not public, unless ``private_ok``."""
    return outbound.post(url, body, headers, private_ok=private_ok)


def stale_report(app: Flask) -> Result:
    """Once a day: count the cylinders no event touched for STALE_DAYS days, by owner."""
    days = int(app.config.get("STALE_DAYS", 90))
    return _daily(app, "stale_report", lambda rt, _s: sweeps.stale_report(_s, rt.now(), days))


def nightly_audit(app: Flask) -> Result:
    """Once a day: audit the whole ledger; record the verdict for the regulator's overview."""

    def body(rt: Runtime, _session: Any) -> Result:
        verdict = audits.run_and_keep(rt, app.instance_path)
        return {"ok": verdict["ok"], "detail": verdict}

    return _daily(app, "audit", body)


def requested_audit(app: Flask) -> Result:
    """An audit a regulator asked for on the overview page (``ledger.audit_requests``); under
    the nightly audit's lock, so the two never run at once. Nothing to do, nothing done."""

    def body(rt: Runtime, session: Any) -> Result:
        asked = audit_requests.pending(session)
        if asked is None:
            return {"requested": False}
        try:
            verdict = audits.run_and_keep(rt, app.instance_path)
        except audits.VerdictNotKept as exc:  # audited: the verdict is recorded below
            logger.error("audit verdict file not written", error=str(exc)[:300])
            verdict = exc.verdict
        except (OperationalError, DBAPIError):
            raise  # the database: the request stays, the next run retries it
        except Exception as exc:  # anything else would fail again: recorded, not retried
            logger.exception("requested audit failed", asked_at=asked.period)
            verdict = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        with transaction(rt.engine) as tx:
            audit_requests.mark_done(tx, asked, verdict["ok"], verdict, rt.now())
        return {"requested": True, "asked_at": asked.period, "ok": verdict["ok"]}

    return guarded(app, "audit", body, write=False)


def partition_maintenance(app: Flask) -> Result:
    """Once a day: the events table's monthly partitions up to three months ahead (PostgreSQL;
    nothing to do on SQLite). Idempotent: a month that exists is left alone."""

    def body(rt: Runtime, _session: Any) -> Result:
        try:
            created = partitions.maintain(rt.engine, rt.now(), months_ahead=3)
        except partitions.PartitionError as exc:  # rows waiting in DEFAULT could not move
            return {"ok": False, "error": str(exc)}
        return {"created": created}

    return _daily(app, "partitions", body)


def purge_reports(app: Flask) -> Result:
    """Once a day: blank the personal fields of public reports closed past retention."""
    keep_days: int = app.config["PUBLIC_REPORT_KEEP_DAYS"]  # app/config.py: 730 by default

    def body(rt: Runtime, _session: Any) -> Result:
        with transaction(rt.engine) as tx:
            purged = purge_expired_reports(tx, rt.now(), keep_days)
        return {"purged": purged, "keep_days": keep_days}

    return _daily(app, "purge_reports", body)


def purge_deliveries(app: Flask) -> Result:
    """Once a day: delete owners' webhook delivery records finished past retention."""
    keep_days: int = app.config["OWNER_DELIVERY_KEEP_DAYS"]  # app/config.py: 90 by default

    def body(rt: Runtime, _session: Any) -> Result:
        with transaction(rt.engine) as tx:
            deleted = owner_delivery.purge_finished(tx, rt.now(), keep_days)
        return {"deleted": deleted, "keep_days": keep_days}

    return _daily(app, "purge_deliveries", body)


def _daily(app: Flask, name: str, run: Callable[[Runtime, Any], Result]) -> Result:
    def body(rt: Runtime, session: Any) -> Result:
        period = job_status.local_day(rt.now(), app.config["LOCAL_TIMEZONE"]).isoformat()
        if sweeps.already_ran(session, name, period):
            return {"period": period, "already": True}
        started = rt.now()
        detail = run(rt, session)
        ok = bool(detail.get("ok", True))
        with transaction(rt.engine) as tx:
            recorded = sweeps.record_run(tx, name, period, started, ok, detail, rt.now())
        return {"period": period, "already": not recorded, "ok": ok}

    return guarded(app, name, body, write=False)


JOBS: dict[str, Callable[[Flask], Result]] = {
    "integrate": integrate_and_checkpoint,
    "expiry_sweep": expiry_sweep,
    "stale_report": stale_report,
    "audit": nightly_audit,
    "requested_audit": requested_audit,
    "partitions": partition_maintenance,
    "purge_reports": purge_reports,
    "purge_deliveries": purge_deliveries,
}
