"""Configuration from the environment (DESIGN §8), with safe defaults for the demo."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from ledger.settings import ConfigError, check_environment, check_timezone, switch, whole_number


def load(app: Flask, overrides: dict[str, Any] | None) -> None:
    """Fill app.config from the environment, then from overrides."""
    instance = Path(app.instance_path)
    env = os.environ
    check_environment(env)  # gunicorn's settings too: a command refuses what gunicorn would
    try:
        instance.mkdir(parents=True, exist_ok=True)
        secret = env.get("SECRET_KEY") or _instance_secret(instance)
    except OSError as exc:  # read-only, a file in its place, no permission
        raise ConfigError(
            f"LEDGER_INSTANCE 文件夹无法使用 / cannot use the instance folder {instance}: "
            f"{exc.strerror or exc} (it holds demo.json and the session secret: a folder the "
            "service may write, or set SECRET_KEY)"
        ) from None
    in_background = env.get("INTEGRATE_AFTER_WRITE", "").strip().lower() == "background"
    app.config.from_mapping(
        DATABASE_URL=env.get("DATABASE_URL", f"sqlite:///{instance / 'ledger.sqlite3'}"),
        PUBLIC_BASE_URL=env.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000"),
        LEDGER_ORIGIN=env.get("LEDGER_ORIGIN", "cylinder-ledger.example/log"),
        SECRET_KEY=secret,
        KEYS_DIR=env.get("LEDGER_KEYS_DIR", str(instance / "keys")),
        # Integrate after each write so proofs are available at once: "1" in the request
        # itself, "background" in a thread of the process that the write wakes (the answer
        # does not wait; a burst of writes is one integration; gunicorn.conf.py's default),
        # "0" never. The scheduler (jobs run) also integrates on its own cadence.
        INTEGRATE_AFTER_WRITE=in_background or switch(env, "INTEGRATE_AFTER_WRITE", True),
        INTEGRATE_IN_BACKGROUND=in_background,
        # Jurisdiction parameters (ledger/params.py): a JSON file; default
        # instance/jurisdiction.json when present, else the national defaults.
        JURISDICTION=env.get("JURISDICTION"),
        # The scheduler (app/jobs.py): an optional webhook for owners' notifications, and
        # the days without an event after which a cylinder counts as stale.
        NOTIFY_WEBHOOK_URL=env.get("NOTIFY_WEBHOOK_URL") or None,
        # When set, its POSTs carry Ledger-Signature (HMAC-SHA256 with this secret), as the
        # owners' own webhooks' do (docs/deploy.md §4).
        NOTIFY_WEBHOOK_SECRET=env.get("NOTIFY_WEBHOOK_SECRET") or None,
        # Owners' own webhooks may name this host or private addresses only when "1" (tests,
        # a closed network); else such URLs are refused and not sent to (app/outbound.py).
        WEBHOOK_ALLOW_PRIVATE=switch(env, "WEBHOOK_ALLOW_PRIVATE", False),
        # Also the regulator's "not seen for N days" tile and list (default 90 days).
        STALE_DAYS=whole_number(env, "STALE_DAYS"),
        # The jurisdiction's clock: the scheduler's nights and daily jobs' days, the pages'
        # times and days (an IANA zone name).
        LOCAL_TIMEZONE=env.get("LEDGER_TIMEZONE", "Asia/Shanghai"),
        # Rows per page of the regulator's lists (their CSV exports are always complete).
        LIST_PAGE_SIZE=whole_number(env, "LIST_PAGE_SIZE"),
        # Days a closed public report keeps its note and sender hash (docs/privacy.md §2;
        # ledger.public_reports.purge_expired_reports).
        PUBLIC_REPORT_KEEP_DAYS=whole_number(env, "PUBLIC_REPORT_KEEP_DAYS"),
        # Days an owner's webhook delivery record is kept once delivered or given up
        # (docs/privacy.md §2; ledger.owner_delivery.purge_finished).
        OWNER_DELIVERY_KEEP_DAYS=whole_number(env, "OWNER_DELIVERY_KEEP_DAYS"),
        # The regulator's audit button runs the audit in the request up to this many events
        # in the log (seconds); a larger ledger's audit is run by the scheduler (app/jobs.py).
        AUDIT_IN_REQUEST_MAX_EVENTS=whole_number(env, "AUDIT_IN_REQUEST_MAX_EVENTS"),
        LOG_LEVEL=env.get("LOG_LEVEL", "INFO").strip(),
        MAX_CONTENT_LENGTH=256 * 1024,
        # Behind a TLS-terminating proxy: how many X-Forwarded-* hops to trust (app.security).
        PROXY_HOPS=whole_number(env, "PROXY_HOPS"),
        RATELIMIT_STORAGE_URI=env.get("RATELIMIT_STORAGE_URI", "memory://"),
        # A keyed write whose request died (kill -9) frees its key this late (app.idempotency).
        IDEMPOTENCY_CLAIM_SECONDS=whole_number(env, "IDEMPOTENCY_CLAIM_SECONDS"),
        # SQLite: a write waits this long for another's lock (a backup, a long command), then
        # answers 503 "locked" well within gunicorn's 30 s timeout (ledger.store_sqlite).
        SQLITE_BUSY_TIMEOUT_SECONDS=whole_number(env, "SQLITE_BUSY_TIMEOUT_SECONDS"),
        SYNC_LOCAL_STORAGE=False,
        SWAGGER_UI_CSS="/static/vendor/swagger-ui/swagger-ui.css",
        SWAGGER_UI_BUNDLE_JS="/static/vendor/swagger-ui/swagger-ui-bundle.js",
        SWAGGER_UI_STANDALONE_PRESET_JS="/static/vendor/swagger-ui/swagger-ui-standalone-preset.js",
        DOCS_FAVICON="/static/vendor/swagger-ui/favicon-32x32.png",
        SECURITY_SCHEMES={"BearerAuth": {"type": "http", "scheme": "bearer"}},
        INFO={
            "description": "一瓶一码 LPG cylinder ledger: registry, hash-chained events and a "
            "verifiable RFC 6962 log. Errors are RFC 9457 problem details."
        },
    )
    if env.get("RATELIMIT_ENABLED", "").strip():
        app.config["RATELIMIT_ENABLED"] = switch(env, "RATELIMIT_ENABLED", True)
    if overrides:
        app.config.update(overrides)
    check_public_base_url(app.config["PUBLIC_BASE_URL"])
    check_timezone(app.config["LOCAL_TIMEZONE"])


def check_public_base_url(url: str) -> bool:
    """Warn at startup when PUBLIC_BASE_URL is too long for the default label's QR.

    The QR carries ``{PUBLIC_BASE_URL}/c/{code}?s={signature}`` (DESIGN §4); past the limit
    its modules would be under 0.5 mm on the 70×37 mm label, so every default label and
    3×8 sheet is refused (422). Larger labels still print. False when over the limit.
    """
    from labels.layout import longest_base_url  # QR sizes: imported only at startup

    limit = longest_base_url()
    if len(url.rstrip("/")) <= limit:
        return True
    logging.getLogger("app.config").warning(
        "PUBLIC_BASE_URL 过长，默认标签无法打印 / PUBLIC_BASE_URL has %d characters, more "
        "than the %d that fit the QR of the default 70×37 mm label (3×8 sheet): those "
        "labels will be refused; shorten it or use larger labels (docs/deploy.md)",
        len(url.rstrip("/")),
        limit,
    )
    return False


def _instance_secret(instance: Path) -> str:
    """A per-instance random secret, kept in instance/ so sessions survive restarts."""
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
