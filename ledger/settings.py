"""Settings from the environment that the service cannot start without being right: checked
before anything starts (by ``app.config.load``, and by gunicorn's master before it spawns
a worker: gunicorn.conf.py). Pure: no Flask, so the master imports only this."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ledger.errors import LedgerError
from ledger.note import NoteError, check_key_name
from ledger.params import Jurisdiction


class ConfigError(RuntimeError):
    """A setting the service cannot start with: its name, its value and what it must be.
    (A RuntimeError: gunicorn prints it as one line, ``Error: …``, and stops.)"""


# Whole-number settings: (default, lowest, highest). A value out of range is refused at the
# start, not discovered at night by the job it breaks.
WHOLE_NUMBERS: dict[str, tuple[int, int, int]] = {
    "STALE_DAYS": (90, 1, 36500),
    "LIST_PAGE_SIZE": (100, 1, 10000),
    "PUBLIC_REPORT_KEEP_DAYS": (730, 0, 36500),
    "OWNER_DELIVERY_KEEP_DAYS": (90, 0, 36500),
    "AUDIT_IN_REQUEST_MAX_EVENTS": (20000, 0, 10**9),
    "PROXY_HOPS": (0, 0, 10),
    "IDEMPOTENCY_CLAIM_SECONDS": (30, 1, 86400),
    # SQLite: how long a write waits for another process's write lock, then 503 "locked".
    "SQLITE_BUSY_TIMEOUT_SECONDS": (5, 1, 600),
    # gunicorn.conf.py's (WEB_CONCURRENCY unset: min(2, the cores), see there).
    "WEB_CONCURRENCY": (2, 1, 64),
    "WEB_THREADS": (4, 1, 64),
}
ON, OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
SWITCHES = {"RATELIMIT_ENABLED": True, "WEBHOOK_ALLOW_PRIVATE": False}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# The databases the service runs on, as a URL names them: psycopg 3 and Python's sqlite3.
DATABASES = ("postgresql", "postgresql+psycopg", "sqlite", "sqlite+pysqlite")
_DIGITS = re.compile(r"[+-]?[0-9]{1,12}")  # ASCII only: int() would take "١" or "1_000"


def switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    """An on/off setting: 1, true, yes, on / 0, false, no, off (any case); unset or blank,
    its default. Anything else is refused: "enabled" read as off would turn a protection off
    without a word."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ON or raw in OFF:
        return raw in ON
    raise ConfigError(
        f"{name} 须为 1/true/yes/on 或 0/false/no/off / must be on (1, true, yes, on) or off "
        f"(0, false, no, off), got {raw[:40]!r}"
    )


def whole_number(env: Mapping[str, str], name: str) -> int:
    """Setting ``name`` from the environment (its default when unset or blank)."""
    default, low, high = WHOLE_NUMBERS[name]
    raw = env.get(name, "").strip()
    if not raw:
        return default
    value = int(raw) if _DIGITS.fullmatch(raw) else None
    if value is None or not low <= value <= high:
        raise ConfigError(
            f"{name} 须为 {low} 到 {high} 之间的整数 / must be a whole number from {low} to "
            f"{high}, got {raw[:40]!r}"
        )
    return value


def check_environment(env: Mapping[str, str]) -> None:
    """Refuse (ConfigError) the settings the service could not start with; gunicorn's master
    runs this before any worker starts (gunicorn.conf.py)."""
    for name in WHOLE_NUMBERS:
        whole_number(env, name)
    for name, default in SWITCHES.items():
        switch(env, name, default)
    integrate = env.get("INTEGRATE_AFTER_WRITE", "").strip().lower()
    if integrate and integrate not in (*ON, *OFF, "background"):
        raise ConfigError(
            "INTEGRATE_AFTER_WRITE 须为 1、background 或 0 / must be 1 (in the request), "
            f"background (in a thread) or 0 (never), got {integrate[:40]!r}"
        )
    if "WEB_CONCURRENCY" in env and not env["WEB_CONCURRENCY"].strip():
        # gunicorn itself reads it, before gunicorn.conf.py, and stops on a blank one.
        raise ConfigError(
            "WEB_CONCURRENCY 不能为空 / must not be blank (gunicorn cannot start with it): "
            "give a number or remove the line"
        )
    check_timezone(env.get("LEDGER_TIMEZONE", "Asia/Shanghai"))
    if "DATABASE_URL" in env:
        check_database_url(env["DATABASE_URL"])
    level = env.get("LOG_LEVEL", "INFO")
    if level.strip().upper() not in LOG_LEVELS:
        raise ConfigError(
            f"LOG_LEVEL 须为 {'、'.join(LOG_LEVELS)} 之一 / must be one of "
            f"{', '.join(LOG_LEVELS)}, got {level[:40]!r}"
        )
    if "LEDGER_ORIGIN" in env:
        try:
            check_key_name(env["LEDGER_ORIGIN"])
        except NoteError as exc:
            raise ConfigError(
                f"LEDGER_ORIGIN 不能用作检查点密钥名 / cannot name the checkpoint key: {exc} "
                "(a name such as city.example/ledger)"
            ) from None
    if "LEDGER_KEYS_DIR" in env and not env["LEDGER_KEYS_DIR"].strip():
        raise ConfigError(
            "LEDGER_KEYS_DIR 不能为空 / must not be blank (the folder of the signing keys): "
            "give the folder or remove the line"
        )


def check_database_url(url: str) -> None:
    """Refuse a DATABASE_URL that names no database this service can use (ConfigError)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"DATABASE_URL 不是数据库地址 / is not a database URL: {_shown(url)!r} (e.g. "
            "postgresql://user@host/ledger or sqlite:////srv/ledger/ledger.sqlite3)"
        ) from None
    if parsed.drivername == "postgres":
        raise ConfigError(
            "DATABASE_URL 须以 postgresql:// 开头 / must begin postgresql://, not postgres://"
        )
    if parsed.drivername not in DATABASES:
        raise ConfigError(
            f"DATABASE_URL 的数据库不受支持 / names a database this service cannot use: "
            f"{parsed.drivername!r} (PostgreSQL: postgresql:// or postgresql+psycopg://; "
            "SQLite: sqlite:///)"
        )


def _shown(url: str) -> str:
    """A setting's value as an error may show it: without a password in it."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)[:80]


def check_timezone(name: str) -> None:
    """Refuse to start with a time zone the system does not know (ConfigError)."""
    try:
        ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        raise ConfigError(
            f"LEDGER_TIMEZONE 不是有效的时区 / is not a time zone: {name!r} "
            "(an IANA name such as Asia/Shanghai)"
        ) from None


def load_jurisdiction(setting: Any, instance: Path) -> Jurisdiction:
    """The jurisdiction's parameters: a dict, a JSON file path (the ``JURISDICTION``
    setting), or ``instance``/jurisdiction.json when present, else the national defaults.

    A bad or missing file (ConfigError) stops the start-up naming it and what is wrong,
    never silently falling back to national defaults; gunicorn's master reads it before
    any worker starts (gunicorn.conf.py), every ``flask`` command when it builds the app.
    """
    if isinstance(setting, dict):
        try:
            return Jurisdiction.from_dict(setting)
        except LedgerError as exc:
            raise ConfigError(f"JURISDICTION 参数有误 / setting: {exc}") from None
    path = Path(setting) if setting else instance / "jurisdiction.json"
    if not path.exists():
        if setting:
            raise ConfigError(f"JURISDICTION 文件不存在 / file does not exist: {str(path)!r}")
        return Jurisdiction()
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict):
            raise ValueError("the file must hold one JSON object of parameters")
        return Jurisdiction.from_dict(doc)
    except (OSError, ValueError, LedgerError) as exc:
        raise ConfigError(f"JURISDICTION 文件有误 / file {str(path)!r}: {exc}") from None
