"""Is a gross weight plausible for the allowed cylinder, before anything is recorded?

The bound is ``ledger.weighing``'s (tare + 1.5× capacity, the web page's too): a reading
above it is a slip, refused and asked again; nothing is recorded.
"""

from __future__ import annotations

from typing import Any

from ledger.weighing import MAX_NET_PER_CAPACITY, gross_limit


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def weight_problem(gross_kg: float, cylinder: dict[str, Any]) -> tuple[str, str] | None:
    """Why this reading cannot be the cylinder's gross weight (Chinese, English), or None."""
    tare, capacity = _number(cylinder.get("tare_kg")), _number(cylinder.get("capacity_kg"))
    if tare is None or capacity is None or capacity <= 0:
        return (
            f"缺少气瓶皮重或容量（皮重{tare}kg，容量{capacity}kg），无法记录充装，请重新扫码",
            "the cylinder's tare or capacity is unknown: scan again",
        )
    if gross_kg <= tare:
        return (
            f"称重读数无效（毛重{gross_kg}kg，不大于皮重{tare}kg），请重新称重",
            "the reading is not above the tare: weigh again",
        )
    limit = gross_limit(tare, capacity)
    if gross_kg > limit:
        return (
            f"称重读数不合理（毛重{gross_kg}kg，超过上限{limit}kg = 皮重{tare}kg"
            f" + 容量{capacity}kg×{MAX_NET_PER_CAPACITY}），未记录，请核对后重新输入",
            f"implausible reading: gross {gross_kg} kg is above {limit} kg (tare + "
            f"{MAX_NET_PER_CAPACITY}× capacity); nothing recorded, check and type it again",
        )
    return None
