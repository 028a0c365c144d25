"""An application with the rate limiter on (the shared fixture runs with it off)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def limited_app(db_url: str, tmp_path: Path) -> Iterator[Any]:
    """The demo application with small limits and the limiter enabled."""
    from app import create_app
    from app.demo import seed
    from app.runtime import runtime
    from ledger.store import transaction

    application = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": db_url,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "KEYS_DIR": str(tmp_path / "keys"),
            "PUBLIC_BASE_URL": "https://ledger.test",
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_PUBLIC": "5 per minute",
            "RATELIMIT_REPORT": "2 per hour",
            "RATELIMIT_LOGIN": "3 per minute",
            "WTF_CSRF_ENABLED": False,
        }
    )
    with application.app_context():
        rt = runtime()
        with transaction(rt.engine) as session:
            demo_json = Path(application.instance_path) / "demo.json"
            seed(session, rt.authority, rt.now(), demo_json, history=False)
    application.config["DEMO"] = json.loads(demo_json.read_text())
    yield application
    application.extensions["ledger"].engine.dispose()
