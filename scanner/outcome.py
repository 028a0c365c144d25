"""One scan's outcome at the station, as shown and as printed with ``--json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ledger.reasons import Reason

SCAN_INVALID = Reason(
    "SCAN_INVALID",
    "不是本系统的气瓶码，禁止充装",
    "not a cylinder code of this system",
)


def local_reason(code: str, zh: str, en: str) -> dict[str, str]:
    """A station-local reason (never from the server) as a JSON dict."""
    return Reason(code, zh, en).to_dict()


@dataclass
class Outcome:
    """The decision on one scan, whoever took it (server, or offline from the cache)."""

    scan: str
    allowed: bool
    reasons: list[dict[str, Any]]
    warnings: list[dict[str, Any]] = field(default_factory=list)
    offline: bool = False
    code: str | None = None
    cylinder: dict[str, Any] | None = None
    check_id: Any = None
    source: str = ""
    queued: bool = False  # an offline block was queued for the server

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` line: scan, allowed, reasons, offline, and details."""
        return {
            "scan": self.scan,
            "allowed": self.allowed,
            "reasons": self.reasons,
            "offline": self.offline,
            "code": self.code,
            "warnings": self.warnings,
            "check_id": self.check_id,
            "source": self.source,
        }
