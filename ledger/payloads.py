"""Payload schemas of the event types (DESIGN §8): what each type's payload may hold.

Validation only; the bytes that get hashed are ``ledger.events``'s business.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from ledger.events import PayloadError, canonical
from ledger.reasons import FILL_BLOCK_CODES

MAX_ID = 2**31 - 1  # ids are 32-bit INTEGER columns in PostgreSQL
REPORT_KINDS = ("lost", "stolen", "seized", "suspected_fake", "refurbished", "label_damaged")
# Reports only the server files: an offline fill that the rules would have blocked.
SERVER_REPORT_KINDS = ("offline_conflict",)
BLOCKED_CHECKS = ("dispatch", "delivery")
INSPECTION_RESULTS = ("pass", "fail", "scrap")
CHECKLIST_ITEMS = (
    "valve", "hose", "regulator", "leak_test", "ventilation",
    "single_gas_source", "storage_room", "not_basement",
)  # fmt: skip
# Items that may not apply at a site, recorded as null: a cylinder room is required only
# where over 100 kg is stored (a household, a small shop has none).
NOT_APPLICABLE_ITEMS = ("storage_room",)


def _number(p: Mapping[str, Any], key: str, *, required: bool = True) -> None:
    value = p.get(key)
    if value is None and not required:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise PayloadError(f"'{key}' 须为非负数 / '{key}' must be a non-negative number")


def _int(p: Mapping[str, Any], key: str, *, required: bool = True) -> None:
    value = p.get(key)
    if value is None and not required:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise PayloadError(f"'{key}' 须为正整数编号 / '{key}' must be a positive integer id")


def _text(p: Mapping[str, Any], key: str, *, required: bool = True, max_len: int = 500) -> None:
    value = p.get(key)
    if value is None and not required:
        return
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise PayloadError(
            f"'{key}' 须为非空文本，最多 {max_len} 字 / '{key}' must be a non-empty string of at "
            f"most {max_len} characters"
        )


def _choice(p: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> None:
    if p.get(key) not in choices:
        raise PayloadError(
            f"'{key}' 须为以下之一：{', '.join(choices)} / '{key}' must be one of: "
            f"{', '.join(choices)}"
        )


def _date(p: Mapping[str, Any], key: str, *, required: bool = True) -> None:
    value = p.get(key)
    if value is None and not required:
        return
    try:
        dt.date.fromisoformat(str(value))
    except (TypeError, ValueError) as exc:
        raise PayloadError(
            f"'{key}' 须为日期 YYYY-MM-DD / '{key}' must be a date YYYY-MM-DD"
        ) from exc


def _flag(p: Mapping[str, Any], key: str) -> None:
    if key in p and not isinstance(p[key], bool):
        raise PayloadError(f"'{key}' 须为是或否 / '{key}' must be true or false")


def _codes(p: Mapping[str, Any], key: str = "reasons") -> None:
    value = p.get(key)
    if (
        not isinstance(value, list)
        or not value
        or len(value) > 32
        or not all(isinstance(c, str) and c.isupper() and 0 < len(c) <= 40 for c in value)
    ):
        raise PayloadError(
            f"'{key}' 须为非空的原因代码列表 / '{key}' must be a non-empty list of reason codes"
        )


def _check_key(p: Mapping[str, Any]) -> None:
    """An offline block names the fill check that timed out before it (its Idempotency-Key)."""
    if "check_key" not in p:
        return
    _text(p, "check_key", max_len=255)
    if p.get("offline") is not True:
        raise PayloadError(
            "'check_key' 只用于离线拦截 / 'check_key' names the timed-out check of an offline "
            "block only"
        )


def _fill_block_codes(p: Mapping[str, Any]) -> None:
    _codes(p)
    unknown = sorted(set(p["reasons"]) - FILL_BLOCK_CODES)
    if unknown:
        raise PayloadError(
            f"未知的拦截原因代码 / unknown fill-check reason codes: {', '.join(unknown)}"
        )


def _answered(checklist: Mapping[str, Any], item: str) -> bool:
    value = checklist.get(item, ...)
    return isinstance(value, bool) or (value is None and item in NOT_APPLICABLE_ITEMS)


def _checklist(p: Mapping[str, Any]) -> None:
    checklist = p.get("checklist")
    if not isinstance(checklist, dict):
        raise PayloadError("安全检查须为是/否各项 / 'checklist' must be an object of booleans")
    missing = [item for item in CHECKLIST_ITEMS if not _answered(checklist, item)]
    if missing:
        raise PayloadError(
            f"安全检查项目缺失或不是是/否 / checklist items missing or not true/false: "
            f"{', '.join(missing)} (only {', '.join(NOT_APPLICABLE_ITEMS)} may be null: "
            "not applicable)"
        )
    extra = sorted(set(checklist) - set(CHECKLIST_ITEMS))  # the chain is forever: no notes
    if extra:
        raise PayloadError(f"安全检查只含规定项目 / unknown checklist items: {', '.join(extra)}")


Check = Callable[[Mapping[str, Any]], None]


def _checks(*checks: Check) -> Check:
    def run(p: Mapping[str, Any]) -> None:
        for check in checks:
            check(p)

    return run


_SCHEMAS: dict[str, tuple[set[str], Check]] = {
    "registered": ({"code", "serial", "manufacturer", "manufactured_on", "model", "capacity_kg",
                    "tare_kg", "dual_phase", "owner", "last_inspected_on", "service_life_years",
                    "duplicate_serial_of"},
                   _checks(partial(_text, key="code"), partial(_text, key="serial"))),
    "filled": ({"station_id", "gross_kg", "tare_kg", "net_kg", "offline"},
               _checks(partial(_int, key="station_id"), partial(_number, key="gross_kg"),
                       partial(_number, key="net_kg"),
                       partial(_number, key="tare_kg", required=False),
                       partial(_flag, key="offline"))),
    "fill_blocked": ({"station_id", "reasons", "scan", "offline", "check_key"},
                     _checks(partial(_int, key="station_id"), _fill_block_codes,
                             partial(_text, key="scan", required=False, max_len=40),
                             partial(_flag, key="offline"), _check_key)),
    "delivery_blocked": ({"check", "reasons", "vehicle", "driver", "customer_id", "failed_items"},
                         _checks(partial(_choice, key="check", choices=BLOCKED_CHECKS), _codes,
                                 partial(_text, key="vehicle", required=False, max_len=16),
                                 partial(_int, key="driver", required=False),
                                 partial(_int, key="customer_id", required=False))),
    "dispatched": ({"vehicle", "driver"},
                   _checks(partial(_text, key="vehicle", max_len=16),
                           partial(_int, key="driver", required=False))),
    "delivered": ({"customer_id", "checklist"},
                  _checks(partial(_int, key="customer_id"), _checklist)),
    "returned": ({"customer_id"}, partial(_int, key="customer_id", required=False)),
    "inspected": ({"result", "next_due", "agency"},
                  _checks(partial(_choice, key="result", choices=INSPECTION_RESULTS),
                          partial(_date, key="next_due", required=False))),
    "relabelled": ({"new_code"}, partial(_text, key="new_code", max_len=20)),
    "ownership_transferred": ({"to_enterprise"}, partial(_int, key="to_enterprise")),
    "reported": ({"kind", "note"},
                 _checks(partial(_choice, key="kind", choices=REPORT_KINDS + SERVER_REPORT_KINDS),
                         partial(_text, key="note", required=False))),
    "held": ({"reason"}, partial(_text, key="reason")),
    "released": ({"reason"}, partial(_text, key="reason", required=False)),
    "scrapped": ({"reason"}, partial(_text, key="reason", required=False)),
}  # fmt: skip


def validate_payload(event_type: str, payload: Any) -> dict[str, Any]:
    """Check a payload against its type's schema; return it as a plain dict."""
    if event_type not in _SCHEMAS:
        raise PayloadError(f"未知的事件类型 / unknown event type {event_type!r}")
    if not isinstance(payload, dict):
        raise PayloadError("payload 须为 JSON 对象 / payload must be a JSON object")
    allowed, check = _SCHEMAS[event_type]
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise PayloadError(
            f"{event_type} 不含这些字段 / unknown payload fields for {event_type}: "
            f"{', '.join(unknown)}"
        )
    check(payload)
    try:
        canonical(payload)  # floats that JSON cannot carry (NaN, huge ints) fail here
    except Exception as exc:
        raise PayloadError(
            f"payload 含无法记录的值 / payload cannot be canonicalised: {exc}"
        ) from exc
    return dict(payload)
