"""Errors a use case raises; the web shell maps each to one HTTP status."""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Base of every refusal: nothing was changed."""

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(LedgerError):
    """No such cylinder, event, leaf or record."""


class Forbidden(LedgerError):
    """The actor's role or enterprise may not do this."""


class Invalid(LedgerError):
    """Malformed or out-of-range input."""


class Conflict(LedgerError):
    """The request is well-formed but the ledger's state or rules forbid it."""


def unknown_code(code: str) -> NotFound:
    """The refusal for a code this ledger never registered (shown to drivers, station staff
    and the public alike: it says what to do with the cylinder)."""
    shown = code[:40]
    return NotFound(
        f"查无此码 {shown}：本系统未登记此气瓶，不得充装、配送或使用，请交回站点核查 / "
        f"no cylinder with code {shown}: not registered in this ledger; it must not be "
        "filled, delivered or used: return it to the station"
    )


def not_allowed_to_record(role: str, event_type: str, other_enterprise: bool) -> Forbidden:
    """The refusal for a record the actor may not make on this cylinder."""
    if other_enterprise:
        return Forbidden(
            f"此瓶属于其他企业（非自有产权），不能记录「{event_type}」，请交回其产权单位 / "
            f"this cylinder belongs to another enterprise: you may not record '{event_type}' "
            "on it; return it to its owner"
        )
    return Forbidden(
        f"你的角色（{role}）不能记录「{event_type}」 / role {role} may not record "
        f"'{event_type}' on this cylinder"
    )
