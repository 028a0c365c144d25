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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col

from ledger.model import Actor, Customer, Cylinder, Enterprise, Event, Licence, Station, Vehicle
from ledger.store import make_engine, transaction
from tests.reliability.crash_points import POINTS
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


def _counts(db_url: str, code: str) -> dict[str, int]:
    """Rows per kind of record; events only of the cylinder the "event" write appends to
    (a new cylinder's registration adds events of its own)."""
    engine = make_engine(db_url)
    with transaction(engine, write=False) as session:
        counts = {}
        for name, (table, _build) in WRITES.items():
            query = select(func.count()).select_from(table)
            if table is Event:
                query = query.join(Cylinder, col(Cylinder.id) == col(Event.cylinder_id))
                query = query.where(col(Cylinder.code) == code)
            counts[name] = session.execute(query).scalar_one()
    engine.dispose()
    return counts


def _send(url: str, token: str, key: str, path: str, body: dict[str, Any]) -> httpx.Response:
    """POST with the key until the server answers (a dead worker, a claim not yet free)."""
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    for _ in range(100):
        try:
            resp = httpx.post(f"{url}/api/v1{path}", json=body, headers=headers, timeout=10)
        except httpx.HTTPError:  # a worker was killed mid-request (this one's or another's)
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
    """The eight writes go at once: each crash also kills the other requests its worker was
    serving, at whatever point they were, and their retries must not duplicate either."""
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

        def write_twice(name: str) -> tuple[str, httpx.Response, httpx.Response]:
            who, path, body = WRITES[name][1](demo)
            key = f"crash:{point}:{name}:{uuid.uuid4().hex[:8]}"
            answer = _send(server.url, tokens[who], key, path, body)
            return key, answer, _send(server.url, tokens[who], key, path, body)

        before = _counts(db_url, demo["code"])
        with ThreadPoolExecutor(len(WRITES)) as pool:
            sent = dict(zip(WRITES, pool.map(write_twice, WRITES), strict=True))
        after = _counts(db_url, demo["code"])
        added = {name: after[name] - before[name] for name in WRITES}
        wrong = [
            (name, added[name], answer.status_code, answer.text[:200])
            for name, (_key, answer, _again) in sent.items()
            if added[name] != 1 or answer.status_code != 201
        ]
        assert not wrong, wrong
        for name, (key, answer, again) in sent.items():
            if point == "after-commit":  # the first answer was stored with the record
                assert answer.headers.get("Idempotent-Replayed") == "true", name
            assert again.headers.get("Idempotent-Replayed") == "true", name
            assert again.status_code == answer.status_code
            assert _shown(again) == _shown(answer), name
            assert Path(tmp_path, _marker(key)).exists(), f"{name}: the crash never happened"
    finally:
        server.kill()


def _shown(resp: httpx.Response) -> Any:
    """The answer's document; a new actor's one-time token is never replayed (by design)."""
    doc = resp.json()
    return {k: v for k, v in doc.items() if k not in ("token", "token_withheld")}


def _marker(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
