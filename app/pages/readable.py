"""An event's payload as the regulator reads it: each field named, each value in words.

The trace page shows these lines first and the recorded payload (the text that was hashed
and signed) whole beneath them, so an auditor still sees exactly what the chain holds. A
field this module does not know is shown as recorded, under its own name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.pages.common import english
from ledger.reasons import CHECKLIST_LABELS, short_name

FIELDS = {
    "gross_kg": _l("Gross"), "tare_kg": _l("Tare"), "net_kg": _l("Net"),
    "capacity_kg": _l("Capacity"), "reasons": _l("Reasons"), "scan": _l("Scanned"),
    "offline": _l("Recorded offline"), "check": _l("Refused at"), "vehicle": _l("Vehicle"),
    "driver": _l("Driver (actor)"), "customer_id": _l("Customer (number)"),
    "checklist": _l("Safety check"), "failed_items": _l("Failed items"),
    "result": _l("Result"), "next_due": _l("Next inspection"), "agency": _l("Agency"),
    "new_code": _l("New code"), "to_enterprise": _l("To enterprise"), "kind": _l("Kind"),
    "note": _l("Note"), "reason": _l("Reason"), "code": _l("Code"), "serial": _l("Serial"),
    "manufacturer": _l("Manufacturer"), "manufactured_on": _l("Made on"),
    "model": _l("Model"), "dual_phase": _l("Dual-phase"), "owner": _l("Owner (enterprise)"),
    "last_inspected_on": _l("Last inspected on"),
    "service_life_years": _l("Stamped service life (years)"),
    "duplicate_serial_of": _l("Serial already registered as"),
}  # fmt: skip
HIDDEN = frozenset({"station_id", "check_key"})  # the station is shown beside; a retry key


def readable(payload: str | Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field name, value) in the page's language, for the fields that hold something."""
    fields = json.loads(payload) if isinstance(payload, str) else payload
    lines = []
    for key, value in fields.items():
        if key in HIDDEN or value is None or value == [] or value == {}:
            continue
        name = str(FIELDS[key]) if key in FIELDS else key
        lines.append((name, _VALUES.get(key, _plain)(value)))
    return lines


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _kg(value: Any) -> str:
    return f"{value} kg"


def _reasons(codes: Any) -> str:
    return "、".join(short_name(str(c), english=english()) for c in codes)


def checklist_name(item: str) -> str:
    """A safety-checklist item's name in the page's language (角阀, …); an unknown item as
    itself."""
    names = CHECKLIST_LABELS.get(item)
    return item if names is None else names[1 if english() else 0]


def _checklist(answers: Any) -> str:
    marks = {True: "✓", False: "✗", None: str(_("not applicable"))}
    return "、".join(f"{checklist_name(k)} {marks.get(v, str(v))}" for k, v in answers.items())


def _items(items: Any) -> str:
    return "、".join(checklist_name(str(i)) for i in items)


def _choice(names: Callable[[], Mapping[str, str]]) -> Callable[[Any], str]:
    return lambda value: names().get(str(value), str(value))


def _checks() -> dict[str, str]:
    return {"dispatch": _("loading"), "delivery": _("delivery")}


def _results() -> dict[str, str]:
    return {
        "pass": _("passed inspection"),
        "fail": _("failed inspection"),
        "scrap": _("to be scrapped"),
    }


def _report_kinds() -> dict[str, str]:
    return {
        "lost": _("lost"), "stolen": _("stolen"), "seized": _("seized"),
        "suspected_fake": _("suspected fake"), "refurbished": _("refurbished"),
        "label_damaged": _("label damaged"), "offline_conflict": _("offline record conflict"),
    }  # fmt: skip


_VALUES: dict[str, Callable[[Any], str]] = {
    "gross_kg": _kg, "tare_kg": _kg, "net_kg": _kg, "capacity_kg": _kg,
    "reasons": _reasons, "checklist": _checklist, "failed_items": _items,
    "check": _choice(_checks), "result": _choice(_results), "kind": _choice(_report_kinds),
}  # fmt: skip
