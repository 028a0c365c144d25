"""The reason catalogue: stable machine codes with Chinese and English messages (DESIGN §5).

Codes are a contract (stations, phones and dashboards switch on them); messages may
carry details such as the date a cylinder fell due.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# code: (Chinese, English); `{}` placeholders are filled with details.
CATALOGUE: dict[str, tuple[str, str]] = {
    "UNKNOWN_CODE": ("未登记的气瓶码，禁止充装", "unknown cylinder code: not registered"),
    "FORGED_CODE": (
        "气瓶码签名无效，疑似伪造",
        "the code's signature is invalid: suspected forgery",
    ),
    "CODE_RETIRED": ("此码已因换码注销，{}", "this code was retired by relabelling, {}"),
    "SCRAPPED": ("气瓶已报废{}", "cylinder scrapped{}"),  # condemned: （检验判废）
    "PAST_SERVICE_LIFE": (
        "超出设计使用年限（{}到期）",
        "past its design service life (ended {})",
    ),
    "INSPECTION_OVERDUE": ("超期未检（{}应检）", "periodic inspection overdue (due {})"),
    "REFURBISHED": ("疑似旧品翻新：{}", "suspected refurbished cylinder: {}"),
    "NOT_OWNED": (
        "非自有产权气瓶（产权单位：{}）",
        "not owned by this station's enterprise (owner: {})",
    ),
    "STATION_NOT_LICENSED": (
        "本充装站无有效气瓶充装许可证",
        "this station holds no valid cylinder filling licence",
    ),
    "OWNER_NOT_LICENSED": ("产权单位{}", "the owner enterprise {}"),
    "HELD": ("气瓶被扣留或有未结报告：{}", "cylinder held or under an open report: {}"),
    "SUSPECTED_CLONE": ("疑似克隆码：{}", "suspected cloned code: {}"),
    "ALREADY_FILLED": (
        "本站已于{}充装此瓶，此后未配送或回收：气瓶应仍是满的，不得重复充装",
        "filled at this station {} with no delivery or return since: it should still be "
        "full; do not fill it again",
    ),
    "LABEL_DAMAGED": (
        "标签已报损，须先换码",
        "label reported damaged: relabel before use",
    ),
    "OVERFILLED": (
        "上次充装超重（净重{}kg），不得出站",
        "overfilled at the last fill (net {} kg): may not leave the station",
    ),
    "DUAL_PHASE_TO_RESTAURANT": (
        "气液双相气瓶不得配送至餐饮或食堂用户",
        "dual-phase cylinders may not be delivered to restaurants or canteens",
    ),
    "BASEMENT_SITE": (
        "禁止向地下或半地下场所配送",
        "no delivery to a basement or semi-basement site",
    ),
    "VEHICLE_NOT_PERMITTED": ("车辆不符合要求：{}", "vehicle not permitted: {}"),
    "DRIVER_NOT_BOUND": (
        "送气工与车辆不对应（人车对应）",
        "the driver is not bound to this vehicle",
    ),
    "SAFETY_CHECK_FAILED": ("随瓶安检不合格：{}", "at-delivery safety check failed: {}"),
    "ILLEGAL_TRANSITION": ("操作不合流程：{}", "not allowed in the cylinder's current state: {}"),
    "NO_ALLOWING_CHECK": (
        "未经充装前检查放行，不得记录充装",
        "no allowing fill check of this cylinder at this station in the last {} minutes",
    ),
    # Warnings (never block)
    "INSPECTION_DUE_SOON": ("{}前须定期检验", "periodic inspection due on {}"),
    "END_OF_LIFE_SOON": ("设计使用年限将于{}届满", "design service life ends on {}"),
    "SHORT_WEIGHT": ("充装净重不足（{}kg）", "short weight at filling (net {} kg)"),
}

# Codes a station may name in a `fill_blocked` it sends itself (a check blocked offline):
# the fill check's blocking reasons, and the station's own offline ones (scanner/offline.py).
FILL_BLOCK_CODES = frozenset(
    {
        "UNKNOWN_CODE", "FORGED_CODE", "CODE_RETIRED", "SCRAPPED", "PAST_SERVICE_LIFE",
        "INSPECTION_OVERDUE", "REFURBISHED", "NOT_OWNED", "STATION_NOT_LICENSED",
        "OWNER_NOT_LICENSED", "HELD", "SUSPECTED_CLONE", "ALREADY_FILLED", "LABEL_DAMAGED",
        "OFFLINE_NO_CACHE", "OFFLINE_CACHE_TOO_OLD", "OFFLINE_CLOCK_WRONG", "OFFLINE_NOT_CACHED",
    }
)  # fmt: skip

# Short names for lists and charts (the full messages carry the details).
SHORT_NAMES: dict[str, tuple[str, str]] = {
    "UNKNOWN_CODE": ("未登记", "unknown code"),
    "FORGED_CODE": ("伪造码", "forged code"),
    "CODE_RETIRED": ("已注销码", "retired code"),
    "SCRAPPED": ("已报废", "scrapped"),
    "PAST_SERVICE_LIFE": ("超设计年限", "past service life"),
    "INSPECTION_OVERDUE": ("超期未检", "inspection overdue"),
    "REFURBISHED": ("旧品翻新", "refurbished"),
    "NOT_OWNED": ("非自有产权", "not owned"),
    "STATION_NOT_LICENSED": ("充装站无证", "station not licensed"),
    "OWNER_NOT_LICENSED": ("产权单位无证", "owner not licensed"),
    "HELD": ("扣留/报告", "held"),
    "SUSPECTED_CLONE": ("疑似克隆", "suspected clone"),
    "ALREADY_FILLED": ("已充装未出站", "already filled"),
    "LABEL_DAMAGED": ("标签损坏", "label damaged"),
    "OVERFILLED": ("超装", "overfilled"),
    "DUAL_PHASE_TO_RESTAURANT": ("双相瓶进餐饮", "dual-phase to restaurant"),
    "BASEMENT_SITE": ("地下场所", "basement site"),
    "VEHICLE_NOT_PERMITTED": ("车辆不合规", "vehicle not permitted"),
    "DRIVER_NOT_BOUND": ("人车不对应", "driver not bound"),
    "SAFETY_CHECK_FAILED": ("安检不合格", "safety check failed"),
    "ILLEGAL_TRANSITION": ("流程不符", "illegal transition"),
    "NO_ALLOWING_CHECK": ("未经检查", "no allowing check"),
    "INSPECTION_DUE_SOON": ("即将到检", "inspection due soon"),
    "END_OF_LIFE_SOON": ("即将到年限", "end of life soon"),
    "SHORT_WEIGHT": ("短斤少两", "short weight"),
    # A station's own, offline (scanner/offline.py)
    "OFFLINE_NO_CACHE": ("无离线数据", "no offline data"),
    "OFFLINE_CACHE_TOO_OLD": ("离线数据过期", "offline data too old"),
    "OFFLINE_CLOCK_WRONG": ("站点时钟不准", "station clock off"),
    "OFFLINE_NOT_CACHED": ("离线无法确认", "not in offline data"),
}


def short_name(code: str, *, english: bool = False) -> str:
    """A reason code's short name, Chinese (or English); an unknown code as itself."""
    names = SHORT_NAMES.get(code)
    return code if names is None else names[1 if english else 0]


CHECKLIST_LABELS: dict[str, tuple[str, str]] = {
    "valve": ("角阀", "valve"),
    "hose": ("胶管", "hose"),
    "regulator": ("减压阀", "regulator"),
    "leak_test": ("检漏", "leak test"),
    "ventilation": ("通风", "ventilation"),
    "single_gas_source": ("无第二气源", "no second gas source"),
    "storage_room": ("瓶组间（存量超100kg）", "cylinder room (over 100 kg stored)"),
    "not_basement": ("非地下使用", "not used below ground"),
}


@dataclass(frozen=True)
class Reason:
    """One reason or warning: a stable code and its message in Chinese and English."""

    code: str
    message_zh: str
    message_en: str

    def to_dict(self) -> dict[str, str]:
        """JSON form: {code, message_zh, message_en}."""
        return {"code": self.code, "message_zh": self.message_zh, "message_en": self.message_en}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Reason:
        """Inverse of ``to_dict``."""
        return cls(d["code"], d["message_zh"], d["message_en"])


def reason(code: str, zh_detail: object = "", en_detail: object | None = None) -> Reason:
    """A catalogue reason with its details filled in (the English detail defaults to zh's)."""
    zh, en = CATALOGUE[code]
    en_value = zh_detail if en_detail is None else en_detail
    return Reason(code, zh.format(zh_detail), en.format(en_value))
