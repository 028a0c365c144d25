"""The framework's floor under a fill check, for bench/load.py's "floor" row (issue 7).

``gunicorn "bench.floor:serve()"``, from the repository: the production app
(``create_app``, every hook, the JSON request log, metrics, security headers) with one
more route, ``POST /api/v1/floor/fill-checks``, that does what the real route does
before the check (bearer-token look-up in the database, the same input schema) and
answers a constant.
The distance from hello-world to this row is what Flask, APIFlask and the app's hooks cost
a request; the distance from this row to "allowed" is the check itself.
"""

from __future__ import annotations

from typing import Any


def serve() -> Any:
    """The ledger's app with the floor route."""
    from apiflask import APIBlueprint

    from app import create_app
    from app.api.schemas import FillCheckIn
    from app.auth import auth
    from app.pages import csrf

    web = create_app()
    floor = APIBlueprint("floor", __name__, url_prefix="/api/v1/floor")

    @floor.post("/fill-checks")
    @floor.auth_required(auth)
    @floor.input(FillCheckIn, arg_name="body")
    def fill_check(body: dict[str, Any]) -> Any:
        return {"allowed": True, "station_id": body["station_id"], "reasons": []}

    web.register_blueprint(floor)
    csrf.exempt(floor)  # an API route, like the real one
    return web


BARE_PATH = "/api/v1/bare/fill-checks"  # bench/load.py BARE_PATH


def bare() -> Any:
    """The ledger's app with a bare WSGI lane in front of it (``bench.floor:bare()``), for
    bench/load.py's ``--bare`` rows: how far a fill check outside Flask could go.

    ``POST /api/v1/bare/fill-checks`` runs the ledger's own check (``checks.fill_check``,
    the same reads, rules, row and answer document as the real route) straight from
    WSGI: no Flask request, no validation schema, no request log, no metrics, no
    security headers, the bearer token's actor kept in a dict (a revoked token would
    work on), errors not handled. A measurement of the ceiling of docs/scale.md §2's "a
    route outside Flask's request machinery", not a route to serve: it lacks what every
    route must have. Every other path goes to the app as usual.
    """
    import json

    from app import create_app
    from app.api.checks import answer_document
    from app.runtime import runtime
    from ledger import checks
    from ledger.registry import actor_for_token
    from ledger.store import reader, reads_beside, transaction

    web = create_app()
    with web.app_context():
        rt = runtime()
    engine, actors = rt.engine, {}
    app = web.wsgi_app

    def check(body: dict[str, Any], token: str) -> dict[str, Any]:
        actor = actors.get(token)
        if actor is None:
            with reader(engine).connect() as conn:
                actor = actors[token] = actor_for_token(conn, token)
        with transaction(engine) as session, reads_beside(session) as reads:
            result = checks.fill_check(
                session, rt.authority, actor, body["station_id"], body["scan"], rt.now(),
                rt.params, reads=reads,
            )  # fmt: skip
        return answer_document(rt, actor, result)  # the route's own answer

    def lane(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != BARE_PATH:
            return app(environ, start_response)
        body = json.loads(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))
        token = environ["HTTP_AUTHORIZATION"].removeprefix("Bearer ")
        out = json.dumps(check(body, token), default=str, ensure_ascii=False).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))]
        )
        return [out]

    web.wsgi_app = lane  # type: ignore[method-assign]
    return web
