"""Validation of registry input: each reader names the field it refuses (raises Invalid).

The API's schemas check types and shapes first; these checks hold for every caller.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TypeVar

from ledger.cylinders import CONTROL_CHARS
from ledger.errors import Invalid
from ledger.registry import MAX_ID

E = TypeVar("E", bound=StrEnum)

# 统一社会信用代码 (GB 32100-2015): 18 characters, digits and capitals without I, O, S, V, Z.
CREDIT_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}$")
GS1_PREFIX = re.compile(r"^[0-9]{6,12}$")  # a GS1 company prefix is 6 to 12 digits
PHONE = re.compile(r"^\+?[0-9][0-9 -]{4,30}$")
# 渝A·D12345: province, issuing letter, separator, 5 or 6 characters, optional 挂/学/警 suffix.
PLATE = re.compile(r"^([\u4e00-\u9fff])([A-Z])[·•.\- ]?([A-Z0-9]{5,6})([\u4e00-\u9fff]?)$")


def text(data: Mapping[str, Any], key: str, limit: int, *, required: bool = True) -> str | None:
    """A trimmed line of text of at most ``limit`` characters, without control characters."""
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise Invalid(f"'{key}' 必填且须为文本 / is required and must be text", field=key)
    if CONTROL_CHARS.search(value) or _unencodable(value):
        raise Invalid(
            f"'{key}' 含控制字符或无效字符 / contains control or invalid characters", field=key
        )
    value = value.strip()
    if len(value) > limit:
        raise Invalid(f"'{key}' 超过 {limit} 个字符 / is longer than {limit} characters", field=key)
    return value


def _unencodable(value: str) -> bool:
    """Lone surrogates (JSON lets "\\ud800" through) cannot be stored as UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def required_text(data: Mapping[str, Any], key: str, limit: int) -> str:
    """A non-blank line of text (see ``text``)."""
    value = text(data, key, limit)
    assert value is not None
    return value


def date(data: Mapping[str, Any], key: str, *, required: bool = True) -> dt.date | None:
    """An ISO date (YYYY-MM-DD)."""
    value = data.get(key)
    if value is None and not required:
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        return dt.date.fromisoformat(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise Invalid(f"'{key}' 须为日期 YYYY-MM-DD / must be a date", field=key) from None


def record_id(data: Mapping[str, Any], key: str) -> int | None:
    """An optional id of another record: a positive 32-bit integer."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise Invalid(f"'{key}' 须为正整数编号 / must be a positive 32-bit id", field=key)
    return value


def choice(data: Mapping[str, Any], key: str, kind: type[E]) -> E:
    """One of an enumeration's values."""
    value = data.get(key)
    try:
        return kind(str(value))
    except ValueError:
        allowed = ", ".join(kind)
        raise Invalid(
            f"'{key}' 须为以下之一：{allowed} / must be one of: {allowed}", field=key
        ) from None


def flag(data: Mapping[str, Any], key: str, default: bool | None = None) -> bool:
    """A boolean (required when there is no default)."""
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise Invalid(f"'{key}' 须为 true 或 false / must be true or false", field=key)
    return value


def coordinate(data: Mapping[str, Any], key: str, bound: float) -> float | None:
    """A latitude (bound 90) or longitude (bound 180) in degrees, or None."""
    value = data.get(key)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not -bound <= value <= bound
    ):
        raise Invalid(f"'{key}' 须在 ±{bound} 度之内 / must lie within ±{bound}°", field=key)
    return float(value)


def matching(data: Mapping[str, Any], key: str, limit: int, pattern: re.Pattern[str]) -> str | None:
    """Optional text that must match a pattern."""
    value = text(data, key, limit, required=False)
    if value is not None and not pattern.fullmatch(value):
        raise Invalid(f"'{key}' 格式不正确 / is not in the expected format", field=key)
    return value


def plate(data: Mapping[str, Any], key: str = "plate") -> str:
    """A Chinese number plate, spelled the one way the registry stores it (渝A·D12345)."""
    value = required_text(data, key, 16).upper()
    found = PLATE.fullmatch(value)
    if found is None:
        raise Invalid(f"'{key}' 不是车牌号 (如 渝A·D12345) / is not a number plate", field=key)
    province, letter, number, suffix = found.groups()
    return f"{province}{letter}·{number}{suffix}"


def public_key(data: Mapping[str, Any], key: str = "public_key") -> bytes | None:
    """A raw 32-byte Ed25519 public key given in base64 (standard or URL-safe)."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise Invalid(f"'{key}' 须为 base64 / must be base64 text", field=key)
    try:
        raw = base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(f"'{key}' 须为 base64 / must be base64", field=key) from None
    if len(raw) != 32:
        raise Invalid(f"'{key}' 须为 32 字节的 Ed25519 公钥 / must be 32 bytes", field=key)
    return raw


def only(data: Mapping[str, Any], allowed: set[str]) -> None:
    """Refuse fields a use case does not know (a typo must not pass silently)."""
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise Invalid(f"未知字段 / unknown fields: {', '.join(unknown)}", fields=unknown)
