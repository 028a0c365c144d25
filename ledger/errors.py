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
