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
