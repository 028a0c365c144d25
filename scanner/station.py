"""The station loop: scan → fill check → ALLOW / BLOCK → interlock → fill record.

The scale is locked at start and stays locked unless the last scan was allowed; it is
locked again after the fill is recorded, on the next scan, after the check's validity
(10 minutes by default) and on any error. Bad input never stops the loop: a scan that is
not a cylinder code, a server answering 5xx or nothing, an output that cannot be
driven, each ends in a locked scale and a reason on the screen.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ledger.codes import Scan, ScanError, parse_scan
from ledger.events import rfc3339
from ledger.params import DEFAULT
from ledger.reasons import CATALOGUE
from ledger.rules import Decision
from scanner.cache import StationCache
from scanner.client import LedgerClient, Refused, Unavailable
from scanner.display import Display, tell
from scanner.interlock import Interlock, InterlockError
from scanner.offline import NOT_CACHED, after_offline_fill, offline_check
from scanner.outcome import SCAN_INVALID, Outcome, local_reason
from scanner.sources import Input
from scanner.uplink import Uplink
from scanner.weighing import weight_problem


@dataclass
class Armed:
    """An allowed cylinder waiting for its fill weight."""

    outcome: Outcome
    until: dt.datetime


@dataclass
class Station:
    """One filling station's decisions and records."""

    station_id: int
    client: LedgerClient
    cache: StationCache
    uplink: Uplink
    interlock: Interlock
    display: Display
    now: Callable[[], dt.datetime]
    max_offline_age: dt.timedelta = dt.timedelta(hours=24)
    retry_online_after: dt.timedelta = dt.timedelta(seconds=10)
    armed: Armed | None = None
    _last_failure: dt.datetime | None = None

    # --- the loop --------------------------------------------------------------

    def start(self) -> None:
        """Lock the scale, then register and sync if the server answers."""
        self.lock()
        if self.uplink.tick():
            self.display.message("已连接服务器", "online")
        elif self.uplink.online or self.uplink.unauthorized:  # a token or station id problem
            self.display.message(
                "服务器拒绝本站，请检查令牌和站点编号",
                "the server refuses this station",
                alert=True,
            )
        else:
            self.display.message(
                "服务器无法连接，离线运行", "server unreachable: offline", alert=True
            )
        unrecordable = self.cache.count("unrecordable")
        if unrecordable:
            self.display.message(
                f"有{unrecordable}条离线拦截无法记入台账，请用 scanner queue 查看并报监管部门",
                f"{unrecordable} offline blocks could not be recorded: see `scanner queue`",
                alert=True,
            )

    def handle(self, item: Input) -> Outcome | None:
        """React to one input; never raises: whatever goes wrong, the scale ends locked."""
        try:
            return self._handle(item)
        except Exception as exc:  # the loop must outlive any fault, with the scale locked
            self.armed = None
            self.lock()
            reason = local_reason(
                "STATION_ERROR", f"本机程序错误：{exc!r}", f"station fault: {exc!r}"
            )
            tell(self.display, reason["message_zh"], reason["message_en"], alert=True)
            if item.kind != "scan":
                return None
            outcome = Outcome(item.text[:200], False, [reason], source=item.source)
            with contextlib.suppress(Exception):  # the display's own fault: told on stderr
                self.display.decision(outcome)
            return outcome

    def _handle(self, item: Input) -> Outcome | None:
        self.expire()
        if item.kind == "scan":
            return self.scan(item.text, item.source)
        if item.kind == "weight" and item.kg is not None:
            self.fill(item.kg)
        elif item.kind == "unreadable":
            self.display.message(f"无法识别二维码：{item.text}", "no QR code found", alert=True)
        elif item.kind == "error":
            self.display.message(item.text, "", alert=True)
        return None

    def expire(self) -> None:
        """Lock the scale once an allowed check is no longer valid."""
        if self.armed is not None and self.now() >= self.armed.until:
            self.armed = None
            self.lock()
            self.display.message("放行已超时，请重新扫码", "the allowance expired: scan again")

    def lock(self) -> bool:
        """Lock the scale; an output that cannot be driven is shown loudly."""
        try:
            self.interlock.deny()
        except InterlockError as exc:  # told on stderr if the display fails too (tell)
            tell(
                self.display, f"联锁输出故障，无法锁定充装秤：{exc}", "interlock fault", alert=True
            )
            return False
        return True

    # --- a scan ----------------------------------------------------------------

    def scan(self, text: str, source: str = "") -> Outcome:
        """Decide on one scan, drive the interlock, show it."""
        if self.armed is not None:  # a new scan cancels an unfinished allowance
            self.armed = None
            self.lock()
        outcome = self.decide(text)
        outcome.source = source
        if outcome.allowed:
            try:
                self.interlock.allow(outcome.code or "")
            except InterlockError as exc:
                outcome.allowed = False
                outcome.reasons.append(
                    local_reason("INTERLOCK_FAULT", f"联锁输出故障：{exc}", "interlock fault")
                )
                self.lock()
        if outcome.allowed:
            self.armed = Armed(outcome, self.now() + self._validity())
        self.display.decision(outcome)
        return outcome

    def _validity(self) -> dt.timedelta:
        # The jurisdiction's validity of an allowing check (cached by the last sync).
        try:
            minutes = json.loads(self.cache.meta("jurisdiction") or "{}").get(
                "fill_check_valid_minutes", DEFAULT.fill_check_valid_minutes
            )
            return dt.timedelta(minutes=float(minutes))
        except (ValueError, TypeError, AttributeError):
            return dt.timedelta(minutes=DEFAULT.fill_check_valid_minutes)

    def decide(self, text: str) -> Outcome:
        """The decision: the server's when it answers, else offline from the cache."""
        shown = text if len(text) <= 200 else text[:200] + "…"
        try:
            scan = parse_scan(text)
        except ScanError:
            return Outcome(shown, False, [SCAN_INVALID.to_dict()])
        key = None  # the online check's Idempotency-Key, named by an offline block after it
        if self._try_online():
            key = str(uuid.uuid4())
            try:
                return self._online(shown, text, scan, key)
            except Unavailable as exc:
                self.uplink.unavailable(exc)
                if exc.status == 401:  # a revoked or wrong token: never decided offline
                    return self._refused(shown, scan, Refused(401, exc.problem))
                self._last_failure = self.now()
            except Refused as exc:
                return self._refused(shown, scan, exc)
        return self._offline(shown, scan, key)

    def _try_online(self) -> bool:
        if self.uplink.online or self._last_failure is None:
            return True
        return self.now() - self._last_failure >= self.retry_online_after

    def _online(self, shown: str, text: str, scan: Scan, key: str) -> Outcome:
        doc = self.client.fill_check(self.station_id, text, key)
        try:
            decision = Decision.from_dict(doc)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise Unavailable(f"malformed fill-check answer: {exc!r}") from exc
        if not isinstance(doc.get("allowed"), bool) or (decision.allowed and decision.reasons):
            raise Unavailable("fill-check answer is not a clear allow or block")  # deny default
        self.uplink.online = True
        return Outcome(
            shown, decision.allowed, [r.to_dict() for r in decision.reasons],
            [w.to_dict() for w in decision.warnings], False, scan.code,
            doc.get("cylinder"), doc.get("check_id"),
        )  # fmt: skip

    def _refused(self, shown: str, scan: Scan, exc: Refused) -> Outcome:
        if exc.status == 422:
            return Outcome(shown, False, [SCAN_INVALID.to_dict()], code=scan.code)
        detail = str(exc.problem.get("detail") or exc.problem.get("title") or exc.status)
        reason = local_reason("SERVER_REFUSED", f"服务器拒绝：{detail}", f"refused: {detail}")
        return Outcome(shown, False, [reason], code=scan.code)

    def _offline(self, shown: str, scan: Scan, check_key: str | None = None) -> Outcome:
        check = offline_check(self.cache, scan, self.now(), self.max_offline_age)
        decision = check.decision
        outcome = Outcome(
            shown, decision.allowed, [r.to_dict() for r in decision.reasons],
            [w.to_dict() for w in decision.warnings], True, scan.code, check.cylinder,
        )  # fmt: skip
        if not decision.allowed:
            self._queue_blocked(outcome, decision, check_key)
        return outcome

    def _queue_blocked(self, outcome: Outcome, decision: Decision, key: str | None) -> None:
        """An offline BLOCK is queued as what it was: a signed ``fill_blocked`` event at the
        time of the scan, never as a fill check (a check replayed later could allow).
        A cylinder the cache does not hold is looked up when the event is sent (its id
        is part of the signed claim). Only reasons about the code scanned are recorded (the
        rules', and "not in the offline data"): a block for the station's own state (no
        cache, cache too old, clock off) judges no cylinder. ``key`` names the online check
        that failed first: had the server decided and recorded a block, it is not twice."""
        about_the_code = {*CATALOGUE, NOT_CACHED.code}
        codes = [r.code for r in decision.reasons if r.code in about_the_code]
        if not codes:
            return
        code = outcome.code or ""
        cylinder = outcome.cylinder
        cylinder_id = None if cylinder is None else str(cylinder.get("cylinder_id") or "")
        payload = {"station_id": self.station_id, "reasons": codes, "scan": code[:40],
                   "offline": True}  # fmt: skip
        if key is not None:
            payload["check_key"] = key
        self._queue_event(code, cylinder_id or None, "fill_blocked", payload)
        outcome.queued = True

    # --- a fill ----------------------------------------------------------------

    def fill(self, gross_kg: float) -> dict[str, Any] | None:
        """Record the fill of the allowed cylinder, then lock the scale."""
        if self.armed is None:
            self.display.message(
                "没有已放行的气瓶，忽略称重", "no allowed cylinder: weight ignored"
            )
            return None
        outcome = self.armed.outcome
        cylinder = outcome.cylinder or {}
        problem = weight_problem(gross_kg, cylinder)  # a typing slip is never recorded
        if problem is not None:
            self.display.message(*problem, alert=True)
            return None
        tare = cylinder["tare_kg"]
        self.armed = None
        self.lock()
        payload: dict[str, Any] = {
            "station_id": self.station_id, "gross_kg": gross_kg, "tare_kg": tare,
            "net_kg": round(gross_kg - tare, 3),
        }  # fmt: skip
        if outcome.offline:
            payload["offline"] = True
        cylinder_id = str(cylinder.get("id") or cylinder.get("cylinder_id"))
        with self.uplink.lock:
            body = self._queue_event(outcome.code or "", cylinder_id, "filled", payload)
            if outcome.offline:
                net = payload["net_kg"]
                after_offline_fill(self.cache, cylinder, self.station_id, self.now(), net)
        self.display.message(
            f"已记录充装：{outcome.code} 净重 {payload['net_kg']} kg"
            + ("（离线，待上传）" if outcome.offline else ""),
            "fill recorded" + (" (offline, queued)" if outcome.offline else ""),
        )
        if not outcome.offline:
            try:
                self.uplink.flush()
            except Unavailable:
                self.display.message("记录已排队，恢复连接后上传", "queued until reconnect")
        return body

    def _queue_event(
        self, code: str, cylinder_id: str | None, type_: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        event_id = str(uuid.uuid4())
        body: dict[str, Any] = {
            "type": type_, "id": event_id, "occurred_at": rfc3339(self.now()),
            "payload": payload, "cylinder": cylinder_id,
        }  # fmt: skip
        if cylinder_id is not None and self.uplink.can_sign:  # else signed when it is sent
            body["signature"] = self.uplink.sign(code, body)
        self.cache.enqueue("event", code, body, event_id, self.now())
        return body
