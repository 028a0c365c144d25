"""kill -9 between creating a record and storing its idempotent answer creates nothing twice.

A real gunicorn serves ``tests/reliability/fault_wsgi.py``; a keyed write whose key names a
crash point kills its worker there (SIGKILL, once per key). The client retries with the same
Idempotency-Key until it gets an answer: for every kind of record there is exactly one, and
the answer is the original one (a further retry replays the very same bytes).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from ledger.model import Actor, Customer, Cylinder, Enterprise, Event, Licence, Station, Vehicle
from ledger.store import make_engine, transaction
from tests.reliability.fault_wsgi import POINTS
from tests.reliability.server import Server, seed, server_env

Body = Callable[[dict[str, Any]], tuple[str, str, dict[str, Any]]]


def _cylinder() -> dict[str, Any]:
    return {"serial": f"K{uuid.uuid4().hex[:10].upper()}", "manufacturer": "金盾",
            "manufactured_on": "2024-03-01", "model": "YSP35.5", "capacity_kg": 15.0,
            "tare_kg": 16.8, "dual_phase": False}  # fmt: skip


# What each keyed creation is: who sends it, its path and body, the table it adds a row to.
WRITES: dict[str, tuple[Any, Body]] = {
    "enterprise": (Enterprise, lambda d: ("regulator", "/enterprises",
                                          {"name": f"新公司{uuid.uuid4().hex[:6]}"})),
    "station": (Station, lambda d: ("admin", "/stations",
                                    {"name": "三号站", "enterprise_id": d["enterprises"]["a"]})),
    "actor": (Actor, lambda d: ("enterprise_a", "/actors", {"name": "新司机", "role": "driver"})),
    "vehicle": (Vehicle, lambda d: ("enterprise_a", "/vehicles",
                                    {"plate": "渝B·" + uuid.uuid4().hex[:5].upper()})),
    "customer": (Customer, lambda d: ("driver_a", "/customers",
                                      {"name": "面馆", "kind": "restaurant", "address": "南岸区",
                                       "basement": False})),
    "licence": (Licence, lambda d: ("regulator", f"/enterprises/{d['enterprises']['b']}/licences",
                                    {"kind": "gas_business", "number": f"L{uuid.uuid4().hex[:8]}",
                                     "valid_from": "2025-01-01", "valid_until": "2030-01-01"})),
    "cylinder": (Cylinder, lambda d: ("enterprise_a", "/cylinders", _cylinder())),
    "event": (Event, lambda d: ("regulator", f"/cylinders/{d['code']}/events",
                                {"type": "held", "payload": {"reason": "抽查"}})),
}  # fmt: skip


def _count(db_url: str, table: Any) -> int:
    engine = make_engine(db_url)
    with transaction(engine, write=False) as session:
        n = session.execute(select(func.count()).select_from(table)).scalar_one()
    engine.dispose()
    return int(n)


def _send(url: str, token: str, key: str, path: str, body: dict[str, Any]) -> httpx.Response:
    """POST with the key until the server answers (a dead worker, a claim not yet free)."""
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    for _ in range(100):
        try:
            resp = httpx.post(f"{url}/api/v1{path}", json=body, headers=headers, timeout=10)
        except httpx.HTTPError:  # the worker was killed mid-request
            time.sleep(0.1)
            continue
        if resp.status_code == 409 and "Retry-After" in resp.headers:
            time.sleep(0.2)  # the killed request's claim frees after 2 s
            continue
        return resp
    raise AssertionError(f"no answer for {key}")


@pytest.mark.parametrize("point", POINTS)
def test_a_crash_around_the_answer_never_duplicates_a_record(
    db_url: str, tmp_path: Path, point: str
) -> None:
    env = {**server_env(db_url, tmp_path), "LEDGER_FAULT_DIR": str(tmp_path)}
    demo = seed(env)
    server = Server(env, tmp_path, app="tests.reliability.fault_wsgi:app")
    server.start()
    try:
        tokens = demo["tokens"]
        owner = {"Authorization": f"Bearer {tokens['enterprise_a']}"}
        made = httpx.post(f"{server.url}/api/v1/cylinders", json=_cylinder(), headers=owner)
        assert made.status_code == 201, made.text
        demo["code"] = made.json()["code"]
        wrong = []
        for name, (table, build) in WRITES.items():
            who, path, body = build(demo)
            key = f"crash:{point}:{name}:{uuid.uuid4().hex[:8]}"
            before = _count(db_url, table)
            answer = _send(server.url, tokens[who], key, path, body)
            again = _send(server.url, tokens[who], key, path, body)
            added = _count(db_url, table) - before
            if added != 1 or answer.status_code != 201:
                wrong.append((name, added, answer.status_code, answer.text[:200]))
                continue
            if point == "after-commit":  # the first answer was stored with the record
                assert answer.headers.get("Idempotent-Replayed") == "true", name
            assert again.headers.get("Idempotent-Replayed") == "true", name
            assert again.status_code == answer.status_code
            assert _shown(again) == _shown(answer), name
            assert Path(tmp_path, _marker(key)).exists(), f"{name}: the crash never happened"
        assert not wrong, wrong
    finally:
        server.kill()


def _shown(resp: httpx.Response) -> Any:
    """The answer's document; a new actor's one-time token is never replayed (by design)."""
    doc = resp.json()
    return {k: v for k, v in doc.items() if k not in ("token", "token_withheld")}


def _marker(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
