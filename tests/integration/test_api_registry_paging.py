"""The registry's lists page forwards by id: ``after_id`` and ``limit`` in, ``next_after_id`` out.

Each walk from the start to a page without ``next_after_id`` reads every record the caller
may see exactly once, in id order; an enterprise's staff never meet another's records,
whatever they ask; bad parameters are 422 problems. Records are written straight to the
database (a thousand customers through the API would take too long).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import inspect, select, text
from sqlmodel import Session, SQLModel, col

from ledger.model import Actor, Customer, Enterprise, Role, Station, Vehicle
from ledger.registry_customers import list_customers
from ledger.registry_paging import DEFAULT_LIMIT, MAX_LIMIT
from tests.conftest import bearer

API = "/api/v1"
LISTS = {  # path → (the answer's key, the model)
    "/enterprises": ("enterprises", Enterprise),
    "/stations": ("stations", Station),
    "/actors": ("actors", Actor),
    "/vehicles": ("vehicles", Vehicle),
    "/customers": ("customers", Customer),
}
PER_ENTERPRISE = 4  # records of each kind added for each of A and B


def _engine(app: Any) -> Any:
    return app.extensions["ledger"].engine


def _add(app: Any, rows: list[SQLModel]) -> None:
    with Session(_engine(app)) as session:
        session.add_all(rows)
        session.commit()


def _records(app: Any, model: type[SQLModel], enterprise: int | None = None) -> list[int]:
    """The ids of a table's records by id (only one enterprise's when ``enterprise``)."""
    table = model.__table__  # type: ignore[attr-defined]
    query = select(table.c.id).order_by(table.c.id)
    if enterprise is not None:
        owner = table.c.id if model is Enterprise else table.c.enterprise_id
        query = query.where(owner == enterprise)
    with Session(_engine(app)) as session:
        return list(session.execute(query).scalars())


def _customers(app: Any, enterprise: int, n: int, prefix: str = "饭店") -> None:
    _add(
        app,
        [
            Customer(enterprise_id=enterprise, name=f"{prefix}{i}", kind="restaurant")
            for i in range(n)
        ],
    )


@pytest.fixture
def ents(app: Any, demo: dict[str, Any]) -> dict[str, int]:
    """A's and B's records of every kind, interleaved so neither's ids are contiguous."""
    a, b = demo["enterprises"]["a"], demo["enterprises"]["b"]
    rows: list[SQLModel] = []
    for i in range(PER_ENTERPRISE):
        rows.append(Enterprise(name=f"分页燃气{i}"))
        for owner, tag in ((a, "A"), (b, "B")):
            rows += [
                Station(enterprise_id=owner, name=f"{tag}站{i}"),
                Actor(name=f"{tag}司机{i}", role=Role.DRIVER, enterprise_id=owner),
                Vehicle(enterprise_id=owner, plate=f"渝{tag}·P{i:04d}"),
                Customer(enterprise_id=owner, name=f"{tag}饭店{i}", kind="restaurant"),
            ]
    _add(app, rows)
    return {"a": a, "b": b}


def _get(client: Any, demo: dict[str, Any], who: str, path: str, **params: Any) -> Any:
    return client.get(API + path, query_string=params, headers=bearer(demo["tokens"][who]))


def _walk(
    client: Any, demo: dict[str, Any], who: str, path: str, limit: int | None, **params: Any
) -> tuple[list[dict[str, Any]], int]:
    """Every page from the start: the records in the order read, and the number of pages."""
    key = LISTS[path][0]
    seen: list[dict[str, Any]] = []
    after: int | None = None
    for pages in range(1, 10_000):
        query = (
            params | ({"limit": limit} if limit else {}) | ({"after_id": after} if after else {})
        )
        resp = _get(client, demo, who, path, **query)
        assert resp.status_code == 200, resp.get_json()
        doc = resp.get_json()
        assert set(doc) == {key, "next_after_id"}
        rows = doc[key]
        assert len(rows) <= (limit or DEFAULT_LIMIT)
        seen += rows
        after = doc["next_after_id"]
        if after is None:
            return seen, pages
        # a page with a next one is full, and the next starts after its last record
        assert len(rows) == (limit or DEFAULT_LIMIT) and after == rows[-1]["id"]
    raise AssertionError("the walk never ended")


def _ids(rows: list[dict[str, Any]]) -> list[int]:
    return [r["id"] for r in rows]


@pytest.mark.parametrize("path", list(LISTS))
def test_pages_read_every_record_exactly_once_in_id_order(
    app: Any, client: Any, demo: dict[str, Any], ents: dict[str, int], path: str
) -> None:
    every = _records(app, LISTS[path][1])
    total = len(every)
    assert total > PER_ENTERPRISE
    for limit, pages in (
        (1, total),  # every page full, the last one too: nothing follows it
        (3, -(-total // 3)),
        (total - 1, 2),
        (total, 1),  # one exactly full page
        (total + 1, 1),
        (None, 1),
    ):
        seen, walked = _walk(client, demo, "regulator", path, limit)
        assert _ids(seen) == every, (path, limit)
        assert walked == pages, (path, limit)
    assert _walk(client, demo, "admin", path, 2)[0] == _walk(client, demo, "regulator", path, 5)[0]


@pytest.mark.parametrize("path", list(LISTS))
def test_an_enterprise_pages_only_through_its_own_records_whatever_it_names(
    app: Any, client: Any, demo: dict[str, Any], ents: dict[str, int], path: str
) -> None:
    model = LISTS[path][1]
    own = _records(app, model, ents["b"])
    others = [i for i in _records(app, model) if i not in own]
    assert own and others
    for params in ({}, {"enterprise_id": ents["a"]}, {"enterprise_id": ents["b"]}):
        for limit in (1, 2, None):
            seen, _ = _walk(client, demo, "enterprise_b", path, limit, **params)
            assert _ids(seen) == own, (path, params, limit)
            owners = {r.get("enterprise_id", r["id"]) for r in seen}
            assert owners == {ents["b"]}
    # Starting anywhere, even right before another enterprise's record, shows none of theirs.
    for after in sorted({0, *(i - 1 for i in others), *others}):
        doc = _get(client, demo, "enterprise_b", path, after_id=after, limit=2).get_json()
        rows = doc[LISTS[path][0]]
        assert _ids(rows) == [i for i in own if i > after][:2], (path, after)
        assert not set(_ids(rows)) & set(others)


@pytest.mark.parametrize("path", ["/stations", "/actors", "/vehicles", "/customers"])
def test_the_regulators_enterprise_filter_combines_with_paging(
    app: Any, client: Any, demo: dict[str, Any], ents: dict[str, int], path: str
) -> None:
    model = LISTS[path][1]
    for key in ("a", "b"):
        mine = _records(app, model, ents[key])
        for limit in (1, 2, 3):
            seen, pages = _walk(client, demo, "regulator", path, limit, enterprise_id=ents[key])
            assert _ids(seen) == mine and pages == max(1, -(-len(mine) // limit))
    seen, pages = _walk(client, demo, "regulator", path, 2, enterprise_id=99_999)
    assert seen == [] and pages == 1


def test_a_driver_pages_its_enterprises_customers(
    app: Any, client: Any, demo: dict[str, Any], ents: dict[str, int]
) -> None:
    mine = _records(app, Customer, ents["a"])
    seen, _ = _walk(client, demo, "driver_a", "/customers", 2, enterprise_id=ents["b"])
    assert _ids(seen) == mine


def test_the_default_page_is_500_and_the_largest_1000(
    app: Any, client: Any, demo: dict[str, Any]
) -> None:
    a = demo["enterprises"]["a"]
    _customers(app, a, MAX_LIMIT + 1 - len(_records(app, Customer)))
    every = _records(app, Customer)
    assert len(every) == MAX_LIMIT + 1 and DEFAULT_LIMIT == 500 and MAX_LIMIT == 1000
    first = _get(client, demo, "regulator", "/customers").get_json()
    assert _ids(first["customers"]) == every[:500] and first["next_after_id"] == every[499]
    second = _get(client, demo, "regulator", "/customers", after_id=every[499]).get_json()
    assert _ids(second["customers"]) == every[500:1000] and second["next_after_id"] == every[999]
    third = _get(client, demo, "regulator", "/customers", after_id=every[999]).get_json()
    assert _ids(third["customers"]) == every[1000:] and third["next_after_id"] is None
    largest = _get(client, demo, "regulator", "/customers", limit=1000).get_json()
    assert _ids(largest["customers"]) == every[:1000] and largest["next_after_id"] == every[999]
    own = _records(app, Customer, a)
    doc = _get(client, demo, "enterprise_a", "/customers", limit=1000, after_id=0).get_json()
    assert _ids(doc["customers"]) == own[:1000]
    assert doc["next_after_id"] == (own[999] if len(own) > 1000 else None)
    # The pages of the web shell (driver, regulator) still read every record at once.
    with Session(_engine(app)) as session:
        query = select(Actor).where(col(Actor.role) == Role.REGULATOR)
        regulator = session.execute(query).scalars().first()
        assert regulator is not None
        everyone = list_customers(session, regulator)
    assert [c.id for c in everyone] == every


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": MAX_LIMIT + 1},
        {"limit": -1},
        {"limit": "many"},
        {"limit": "2.5"},
        {"after_id": -1},
        {"after_id": "first"},
        {"after_id": "1.5"},
        {"after_id": 2**31},  # beyond any id a database column holds
        {"after_id": 2**70},
        {"after_id": -1, "limit": 0},
    ],
)
def test_bad_paging_parameters_are_422_problems_that_change_nothing(
    app: Any, client: Any, demo: dict[str, Any], params: dict[str, Any]
) -> None:
    before = {p: _records(app, m) for p, (_, m) in LISTS.items()}
    for path, who in itertools.product(LISTS, ("regulator", "enterprise_a")):
        resp = _get(client, demo, who, path, **params)
        assert resp.status_code == 422, (path, resp.get_json())
        assert resp.headers["Content-Type"] == "application/problem+json"
        doc = resp.get_json()
        assert doc["status"] == 422 and doc["detail"]
        assert set(params) <= set(doc["errors"]["query"]), (path, doc)
    assert {p: _records(app, m) for p, (_, m) in LISTS.items()} == before


def test_the_edges_of_the_parameters_are_accepted(
    app: Any, client: Any, demo: dict[str, Any], ents: dict[str, int]
) -> None:
    every = _records(app, Customer)
    for params, ids, after in (
        ({"after_id": 0, "limit": 1}, every[:1], every[0]),
        ({"after_id": every[-2], "limit": 1}, every[-1:], None),
        ({"after_id": 2**31 - 1}, [], None),
        ({"after_id": every[-1], "limit": MAX_LIMIT}, [], None),
    ):
        doc = _get(client, demo, "regulator", "/customers", **params).get_json()
        assert _ids(doc["customers"]) == ids and doc["next_after_id"] == after, params


def test_the_openapi_document_names_the_paging_parameters(client: Any) -> None:
    spec = client.get(f"{API}/openapi.json").get_json()
    for path, (key, _) in LISTS.items():
        operation = spec["paths"][API + path]["get"]
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        assert {"after_id", "limit"} <= names, path
        ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        answer = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]
        assert {key, "next_after_id"} <= set(answer), path


@pytest.mark.parametrize("model", [Actor, Vehicle, Customer])
def test_an_enterprises_page_is_read_through_its_enterprise_id_id_index(
    app: Any, ents: dict[str, int], model: type[SQLModel]
) -> None:
    table = model.__table__  # type: ignore[attr-defined]
    name = f"ix_{table.name}_enterprise_id_id"
    # the migrations and the model agree: (enterprise_id, id) replaced enterprise_id alone
    indexes = inspect(_engine(app)).get_indexes(table.name)
    found = {i["name"]: i["column_names"] for i in indexes if "enterprise_id" in i["column_names"]}
    declared = {
        i.name: [c.name for c in i.columns] for i in table.indexes if "enterprise_id" in i.columns
    }
    assert found == declared == {name: ["enterprise_id", "id"]}
    sql = f"SELECT * FROM {table.name} WHERE enterprise_id = :e AND id > :a ORDER BY id LIMIT 3"
    with _engine(app).connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"ANALYZE {table.name}"))
            for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
                conn.execute(text(f"SET LOCAL {setting} = off"))
            rows = conn.execute(text(f"EXPLAIN {sql}"), {"e": ents["b"], "a": 0}).scalars()
        else:
            rows = conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"), {"e": ents["b"], "a": 0})
            rows = (r[-1] for r in rows)
        plan = "\n".join(rows)
    assert name in plan and "Sort" not in plan and "TEMP B-TREE" not in plan, plan
