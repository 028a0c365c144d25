"""Rate limits shared between gunicorn workers through Redis (RATELIMIT_STORAGE_URI).

Two application instances stand for two workers: with ``memory://`` each counts alone, with
one Redis they enforce one combined limit. Skipped when no Redis answers at
``TEST_REDIS_URL`` (default redis://127.0.0.1:6379).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")


def _redis_answers() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


@pytest.fixture
def workers(db_url: str, tmp_path: Path) -> Iterator[Callable[[str], list[Any]]]:
    """``workers(storage_uri)``: two app instances on one database and one limit storage."""
    from app import create_app

    made: list[Any] = []
    prefix = f"test-{uuid.uuid4().hex[:8]}"  # this test's own counters in a shared Redis

    def start(storage: str) -> list[Any]:
        for _ in range(2):
            made.append(create_app({
                "TESTING": True, "DATABASE_URL": db_url,
                "INSTANCE_PATH": str(tmp_path / "instance"), "KEYS_DIR": str(tmp_path / "keys"),
                "RATELIMIT_ENABLED": True, "RATELIMIT_PUBLIC": "5 per minute",
                "RATELIMIT_STORAGE_URI": storage, "RATELIMIT_KEY_PREFIX": prefix,
                "LOG_REQUESTS": False,
            }))  # fmt: skip
        return made[-2:]

    yield start
    for app in made:
        app.extensions["ledger"].engine.dispose()


def _alternate(apps: list[Any], n: int) -> list[int]:
    clients = [a.test_client() for a in apps]
    return [clients[i % 2].get("/c/NOSUCHCODE").status_code for i in range(n)]


def test_in_memory_each_worker_counts_alone(workers: Any) -> None:
    assert _alternate(workers("memory://"), 10) == [404] * 10  # 5 each: nobody is limited


@pytest.mark.skipif(not _redis_answers(), reason=f"no Redis answers at {REDIS_URL}")
def test_workers_sharing_redis_enforce_one_combined_limit(workers: Any) -> None:
    answers = _alternate(workers(REDIS_URL), 7)
    assert answers == [404] * 5 + [429, 429]  # the 6th request, whichever worker gets it


def test_an_unreachable_redis_never_makes_a_500(workers: Any) -> None:
    apps = workers("redis://127.0.0.1:1")  # nothing listens on port 1
    assert _alternate(apps, 4) == [404] * 4  # counted in memory meanwhile
