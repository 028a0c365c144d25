"""A driver's customer files are listed by name as a Chinese reader looks for them: in pinyin
order on PostgreSQL (its ICU collation), by code point on SQLite (which has none)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ledger import registry_customers
from ledger.model import Actor, Customer
from ledger.registry import actor_for_token
from ledger.store import transaction
from tests.conftest import bearer

# 艾 ài, 陈 chén, 李 lǐ, 王 wáng, 赵 zhào; by code point: 李 U+674E, 王 U+738B, 艾 U+827E,
# 赵 U+8D75, 陈 U+9648.
NAMES = ["赵记烧烤", "王婆豆花", "陈麻婆豆腐", "李记面馆", "艾家小炒"]
PINYIN = ["艾家小炒", "陈麻婆豆腐", "李记面馆", "王婆豆花", "赵记烧烤"]
CODE_POINT = ["李记面馆", "王婆豆花", "艾家小炒", "赵记烧烤", "陈麻婆豆腐"]
STREET = "沙坪坝区排序测试路1号"


def _expected(app: Any) -> list[str]:
    pg = app.extensions["ledger"].engine.dialect.name == "postgresql"
    return PINYIN if pg else CODE_POINT


def _open_all(client: Any, demo: Any) -> None:
    for name in NAMES:
        body = {"name": name, "kind": "restaurant", "address": STREET, "basement": False}
        resp = client.post(
            "/api/v1/customers", json=body, headers=bearer(demo["tokens"]["driver_a"])
        )
        assert resp.status_code == 201, resp.get_json()


def test_a_search_lists_its_files_in_pinyin_order(
    app: Any, client: Any, demo: Any, as_person: Any
) -> None:
    _open_all(client, demo)
    found = as_person("driver_a").get("/driver/customers", query_string={"q": "排序测试路"})
    assert [c["name"] for c in found.get_json()["customers"]] == _expected(app)


def test_the_whole_short_list_is_in_pinyin_order(app: Any, client: Any, demo: Any) -> None:
    _open_all(client, demo)
    engine = app.extensions["ledger"].engine
    with engine.connect() as conn:
        actor: Actor | None = actor_for_token(conn, demo["tokens"]["driver_a"])
    assert actor is not None
    with transaction(engine, write=False) as s:
        listed = registry_customers.customers_if_few(s, actor, cap=1000)
        every = s.execute(select(Customer.name)).scalars().all()  # type: ignore[call-overload]
    assert listed is not None
    ours = [c.name for c in listed if c.address == STREET]
    assert ours == _expected(app)
    assert len(listed) < len(every)  # another enterprise's files are not listed
