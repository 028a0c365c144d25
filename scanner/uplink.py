"""The station's link to the server: device key registration, cache sync, outbox flush.

The outbox is sent strictly in order, each write with its Idempotency-Key (and its
client-chosen event id), so a write whose answer was lost is simply sent again and the
server records it once. The first write the server cannot take now (no answer, 5xx,
401, 408, 429, ``Retry-After``) stops the flush until the next attempt; a write the
server refuses (any other 4xx) is kept with the server's answer and reported, never
retried forever.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ledger.events import parse_rfc3339
from scanner.cache import Outgoing, StationCache
from scanner.client import LedgerClient, Refused, Unavailable
from scanner.device import DeviceKey
from scanner.display import Display, reasons_text, tell
from scanner.sync_file import SyncFile

FULL_SYNC_EVERY = dt.timedelta(hours=1)
TOKEN_REFUSED = (
    "服务器不接受本站令牌（401，可能已被吊销），请检查配置；记录保留在本机，稍后重试",
    "the server does not accept this station's token (401, revoked?): check the configuration;"
    " records are kept and retried",
)

LOCAL_STORAGE_FAILED = (
    "本机存储故障（磁盘已满或只读？）：缓存未更新，待上传记录保留，稍后重试",
    "the station's disk failed (full or read-only?): the cache was not updated, queued"
    " records are kept and retried",
)
LOCAL_STORAGE_BUSY = (
    "本机缓存被占用（是否另开了一个扫码程序或备份软件？）：记录保留在本机，稍后重试",
    "the station's cache is locked by another process (a second scanner or a backup tool?):"
    " records are kept and retried",
)


def storage_alert(exc: Exception) -> tuple[str, str]:
    """The alert for a failure of the station's own storage: the cache file held by another
    process (SQLITE_BUSY, SQLITE_LOCKED: "database is locked") is not a failing disk."""
    if isinstance(exc, sqlite3.OperationalError):
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # an extended code's primary one
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "is locked" in str(exc):
            return LOCAL_STORAGE_BUSY
    return LOCAL_STORAGE_FAILED


@dataclass
class Identity:
    """Who the station is on the server: its actor id and whether its key is the registered one."""

    actor_id: int | None = None
    signing: bool = False


@dataclass
class Uplink:
    """Registration, sync and the ordered, idempotent flush of the outbox."""

    client: LedgerClient
    cache: StationCache
    key: DeviceKey
    station_id: int
    display: Display
    now: Callable[[], dt.datetime]
    identity: Identity = field(default_factory=Identity)
    online: bool = False
    unauthorized: bool = False  # the last answer was a 401 (shown once until it answers)
    # Held while a fill is queued and while the outbox is flushed: two flushes never
    # interleave, and a sync being stored lets a fill go first between its batches (and is
    # not put in place over a queued fill: scanner/sync_store.py).
    lock: threading.RLock = field(default_factory=threading.RLock)

    def register(self) -> None:
        """Learn the actor id, register the device key on first run (trust on first use)."""
        cached = self.cache.meta("actor_id")
        if cached:
            self.identity.actor_id = int(cached)
            self.identity.signing = self.cache.meta("key_id") == self.key.key_id
        me = self.client.me()
        if me.get("key_id") is None:
            try:
                me = self.client.register_key(self.key.public_b64())
            except Refused as exc:
                if exc.status != 409:  # 409: registered meanwhile (another start): re-read
                    raise
                me = self.client.me()
        self.identity.actor_id = int(me["id"])
        self.identity.signing = me.get("key_id") == self.key.key_id
        self.cache.set_meta("actor_id", str(me["id"]))
        self.cache.set_meta("key_id", str(me.get("key_id")))
        if not self.identity.signing:
            self._show(
                "本站登记的设备密钥与本机不符，事件将由服务器签名",
                "the registered device key is not this PC's: events are signed by the server",
                alert=True,
            )

    def sync(self) -> None:
        """Refresh the offline cache (only once the outbox is empty, so no local fill is
        lost): the cylinders changed since the last sync, and all of them every hour."""
        full_at, since = self.cache.meta("full_synced_at"), self.cache.meta("generated_at")
        full = (
            not full_at
            or not since
            or self.now() - dt.datetime.fromisoformat(full_at) >= FULL_SYNC_EVERY
        )
        if self.cache.pending():
            return
        # The answer goes to a file beside the cache and is read through once, then stored
        # a batch at a time without the lock (scanner/sync_store.py): a fill is never kept
        # waiting by the download, a bad answer, or more than one batch of the store. A fill
        # queued meanwhile keeps its state: the answer is not put in place (next sync).
        with self.cache.scratch_file() as file:
            self.client.sync(self.station_id, None if full else since, file)
            answer = SyncFile.check(file)
            self.cache.store_sync(
                answer.rest, self.now(), full=full, state_rows=answer.state_rows(),
                between_batches=self._after_any_fill, unless_pending=True,
            )  # fmt: skip

    def _after_any_fill(self) -> None:
        """Wait until a fill being queued (it holds the lock) is done."""
        with self.lock:
            pass

    def tick(self) -> bool:
        """Register if needed, flush, then sync; True when the server answered throughout."""
        try:
            if self.identity.actor_id is None or not self.cache.meta("key_id"):
                self.register()
            self.flush()
            self.sync()
        except Unavailable as exc:
            self.unavailable(exc)
            return False
        # Every message of a round goes through _show: a display that fails (the terminal
        # gone) is told on stderr and the round goes on, its work kept; only the station's
        # own failures below end it, each reported as what it is.
        except Refused as exc:
            self.online = True
            self._show("服务器拒绝", f"server refused: {exc}", alert=True)
            return False
        except (KeyError, TypeError, ValueError) as exc:  # an answer that is not what it should be
            self.online = False
            self._show("服务器应答异常", f"malformed answer: {exc!r}", alert=True)
            return False
        except (OSError, sqlite3.Error) as exc:  # the station's own disk (full, read-only) or
            zh, en = storage_alert(exc)  # its cache held by another process: retried next round
            self._show(zh, f"{en} ({exc})", alert=True)
            return False
        self.online = True
        self.unauthorized = False
        return True

    def _show(self, zh: str, en: str, *, alert: bool = False) -> None:
        """Show a message; a display that fails (the terminal gone) is told on stderr, never
        taken for a failure of the round (a storage failure, a bad answer)."""
        tell(self.display, zh, en, alert=alert)

    def unavailable(self, exc: Unavailable) -> None:
        """The server cannot take requests now; a 401 is a configuration problem (a token
        revoked or mistyped): shown to the operator, once until the server answers again."""
        self.online = False
        if exc.status == 401 and not self.unauthorized:
            self._show(*TOKEN_REFUSED, alert=True)
        self.unauthorized = exc.status == 401

    def flush(self) -> int:
        """Send every pending write in order; returns how many were answered."""
        sent = 0
        with self.lock:
            for item in self.cache.pending():
                try:
                    self._send(item)
                except Unavailable:
                    self.cache.attempted(item.seq)
                    self.online = False
                    raise
                sent += 1
        return sent

    @property
    def can_sign(self) -> bool:
        """True when events can be signed with this PC's key (it is the registered one)."""
        return self.identity.signing and self.identity.actor_id is not None

    def _send(self, item: Outgoing) -> None:
        if item.kind == "check":  # queued by an older version: never replayed as a live check
            return self._unrecordable(item, "a queued offline check (older version)")
        try:
            if item.body.get("cylinder") is None:
                item = self._attach_cylinder(item)
            answer = self._post(item)
        except Refused as exc:
            if exc.status == 404 and item.body.get("cylinder") is None:
                return self._unrecordable(item, "the server has no cylinder with this code")
            if self._expired_online_fill(item, exc):
                return self._send(self._as_offline(item))
            answer = {"status": exc.status, **exc.problem}
            self.cache.finish(item.seq, "rejected", answer, self.now())
            self._show(
                f"服务器拒收记录（{item.kind} {item.code}）：{reasons_text(exc.reasons) or exc}",
                f"the server refused a queued record ({exc.status})",
                alert=True,
            )
            return None
        conflict = answer.get("offline_conflict")
        if conflict:
            self.cache.finish(item.seq, "conflict", answer, self.now())
            self._show(
                f"离线充装冲突，已报监管部门：{item.code} {reasons_text(conflict)}",
                "offline fill conflict: the server would have blocked it; the regulator is told",
                alert=True,
            )
        else:
            self.cache.finish(item.seq, "sent", answer, self.now())
        warnings = [w for w in answer.get("warnings") or [] if isinstance(w, dict)]
        if warnings:  # recorded, but the server flags it (OVERFILLED, SHORT_WEIGHT…)
            self._show(
                f"服务器警告：{item.code} {reasons_text(warnings)}",
                "server warning: " + ", ".join(str(w.get("code", "")) for w in warnings),
                alert=True,
            )
        return None

    def _attach_cylinder(self, item: Outgoing) -> Outgoing:
        """An offline block of a code the cache did not hold: the server's cylinder id
        (part of the signed claim) is learnt now (a retired code's from the cache), the
        event signed as of its original time; ``Refused`` 404 when the server has no such
        cylinder."""
        cylinder = self.cache.retired_cylinder(item.code)  # a dead label: its cylinder
        if cylinder is None:
            cylinder = str(self.client.cylinder(item.code)["id"])
        body = {**item.body, "cylinder": cylinder}
        if self.can_sign:
            body["signature"] = self.sign(item.code, body)
        self.cache.replace_body(item.seq, body, item.idempotency_key)
        return Outgoing(item.seq, item.idempotency_key, item.kind, item.code, body,
                        item.status, item.attempts, None)  # fmt: skip

    def _unrecordable(self, item: Outgoing, why: str) -> None:
        """A block that no cylinder on the server can carry: kept here as ``unrecordable``
        (``python -m scanner queue`` lists it) and shown, never retried."""
        answer = {"status": "unrecordable", "detail": why}
        self.cache.finish(item.seq, "unrecordable", answer, self.now())
        self._show(
            f"离线拦截无法记入台账：{item.code}，已留本机记录（scanner queue），请报监管部门",
            f"an offline block cannot be recorded ({why}): {item.code}; kept locally",
            alert=True,
        )

    def _post(self, item: Outgoing) -> dict[str, Any]:
        # `cylinder` (the UUID the claim names) is kept for re-signing, not sent.
        body = {k: v for k, v in item.body.items() if k != "cylinder"}
        return self.client.post_event(item.code, body, item.idempotency_key)

    @staticmethod
    def _expired_online_fill(item: Outgoing, exc: Refused) -> bool:
        payload = item.body.get("payload", {})
        return (
            item.kind == "event"
            and item.body.get("type") == "filled"
            and exc.status == 409
            and not payload.get("offline")
            and any(r.get("code") == "NO_ALLOWING_CHECK" for r in exc.reasons)
        )

    def _as_offline(self, item: Outgoing) -> Outgoing:
        """An online fill the server could not take before its check expired: resend it as
        an offline fill (the server re-runs the rules as of the fill), same event id."""
        body = dict(item.body)
        body["payload"] = {**body["payload"], "offline": True}
        if "signature" in body:
            body["signature"] = self.sign(item.code, body)
        key = f"{item.idempotency_key}-offline-{uuid.uuid4().hex[:8]}"
        self.cache.replace_body(item.seq, body, key)
        return Outgoing(item.seq, key, item.kind, item.code, body, item.status, item.attempts, None)

    def sign(self, code: str, body: dict[str, Any]) -> str:
        """The device signature of a queued event body (FORMAT.md §3)."""
        assert self.identity.actor_id is not None
        return self.key.sign_claim(
            event_id=body["id"], cylinder=body["cylinder"], type=body["type"],
            occurred_at=parse_rfc3339(body["occurred_at"]), actor=self.identity.actor_id,
            station=int(body["payload"]["station_id"]), payload=body["payload"],
        )  # fmt: skip
