"""JSON API v1 (DESIGN §8)."""

from apiflask import APIBlueprint

api = APIBlueprint("api", __name__, url_prefix="/api/v1")

from app.api import (  # noqa: E402,F401  (register the routes)
    checks,
    cylinders,
    labels,
    notifications,
    registry,
    registry_staff,
    transparency,
    webhooks,
)
