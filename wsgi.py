"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi``."""

from app import create_app
from ledger.settings import ConfigError

try:
    app = create_app()
except ConfigError as exc:  # a bad setting: one line for the operator, not a traceback
    raise SystemExit(f"配置错误 / configuration error: {exc}") from None
