"""schemathesis against the OpenAPI document, in-process (WSGI), authenticated with demo tokens.

For every operation, valid (positive) and invalid (negative) requests are generated; each
must get an answer that is not a server error, and every error must be RFC 9457
problem+json with its own status. Examples are bounded (derandomized) to keep this short.

The cases are generated once per test process: derandomized, the second backend's run
would draw the very same ones again (about a minute of the fuzzer's own CPU), so it sends
the cases the first run drew, in the same order and as the same callers, to its own app.
"""

from __future__ import annotations

import itertools
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

WHO = ("enterprise_a", "regulator", "admin", "station_a", "driver_a", "inspector", None)
EXAMPLES = 25  # per operation and mode
FIGURES = {"cases": 0, "operations": 0, "replayed": 0}
DRAWN: dict[tuple[str, str], list[tuple[Any, str | None]]] = {}  # (operation, mode) → cases


def assert_problem(response: Any) -> None:
    """An error answer is problem+json with its own status."""
    if response.status_code < 400:
        return
    values = {k.lower(): v for k, v in response.headers.items()}.get("content-type", [""])
    kind = values[0] if isinstance(values, list) else values
    assert kind.startswith("application/problem+json"), (response.status_code, kind)
    doc = response.json()
    assert {"type", "title", "status", "detail"} <= set(doc), doc
    assert doc["status"] == response.status_code


def send(case: Any, who: str | None, app: Any, demo: dict[str, Any]) -> None:
    """One case, as ``who`` (None: no token), to ``app``: no server error, problems as such."""
    headers = {"Authorization": f"Bearer {demo['tokens'][who]}"} if who else {}
    response = case.call(headers=headers, app=app)
    FIGURES["cases"] += 1
    detail = (case.method, case.path, case.path_parameters, case.query, case.body)
    assert response.status_code < 500, (*detail, response.text[:300])
    assert_problem(response)


def fuzz(operation: Any, mode: GenerationMode, app: Any, demo: dict[str, Any]) -> None:
    """Run bounded generated cases of one operation in one mode (drawn by an earlier run in
    this process, if there was one: then sent again, to this app)."""
    drawn = DRAWN.get((operation.label, mode.value))
    if drawn is not None:
        for case, who in drawn:
            send(case, who, app, demo)
            FIGURES["replayed"] += 1
        return
    kept: list[tuple[Any, str | None]] = []
    turn = itertools.count()

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        who = WHO[next(turn) % len(WHO)]
        kept.append((case, who))
        send(case, who, app, demo)

    try:
        run()
    except Unsatisfiable:  # nothing to make invalid (an operation without parameters)
        assert mode is GenerationMode.NEGATIVE
    DRAWN[(operation.label, mode.value)] = kept  # only a run that passed is sent again


def test_no_generated_request_gets_a_server_error(app: Any, demo: Any) -> None:
    FIGURES.update(cases=0, operations=0, replayed=0)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    for result in schema.get_all_operations():
        operation = result.ok()
        FIGURES["operations"] += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode, app, demo)
    assert FIGURES["operations"] >= 40 and FIGURES["cases"] >= 40 * EXAMPLES
    print(
        f"schemathesis: {FIGURES['cases']} cases over {FIGURES['operations']} operations "
        f"({FIGURES['replayed']} drawn by an earlier run)"
    )


def test_a_path_integer_beyond_64_bits_is_404_not_500(client: Any, demo: Any) -> None:
    headers = {"Authorization": f"Bearer {demo['tokens']['regulator']}"}
    for path in (
        "/api/v1/ledger/leaves/5354290823761877794816",  # found by schemathesis: was a 500
        "/api/v1/actors/99999999999999999999999",
        "/api/v1/customers/99999999999999999999999",
    ):
        resp = client.get(path, headers=headers)
        assert resp.status_code == 404, path
        assert resp.content_type == "application/problem+json"


def test_a_nul_byte_in_text_is_422_on_every_backend(client: Any, demo: Any) -> None:
    # Found by schemathesis on PostgreSQL: text with NUL was a DataError, answered 500.
    headers = {"Authorization": f"Bearer {demo['tokens']['enterprise_a']}"}
    resp = client.post("/api/v1/labels/sheet", json={"codes": ["AB\u0000CD"]}, headers=headers)
    assert 400 <= resp.status_code < 500, resp.get_json()
    assert resp.content_type == "application/problem+json"
