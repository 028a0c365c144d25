"""Registry management: staff and devices (actors), vehicles and customer files.

Each view calls one use case of ``ledger.registry_staff`` or ``ledger.registry_customers``,
which decides who may do what.
A token appears in exactly two answers, creation and rotation, and is never stored in clear.
"""

from __future__ import annotations

from typing import Any

from app.api import api
from app.api.registry import LIST_ERRORS, READ_ERRORS, WRITE_ERRORS, call, listing
from app.api.registry_schemas import (
    ActorIn,
    ActorListOut,
    ActorOut,
    ActorTokenOut,
    CustomerIn,
    CustomerListOut,
    CustomerOut,
    CustomerPatch,
    KeyIn,
    MeOut,
    ScopeQuery,
    VehicleIn,
    VehicleListOut,
    VehicleOut,
    VehiclePatch,
)
from app.auth import auth, current_actor
from app.runtime import runtime
from ledger import registry_customers as customers
from ledger import registry_staff as staff
from ledger.keys import device_key_id
from ledger.model import Actor

NO_STORE = {"Cache-Control": "no-store"}  # an answer carrying a token is never cached


def actor_doc(actor: Actor, token: str | None = None) -> dict[str, Any]:
    """An actor without its token hash or key bytes; a fresh token only when just issued."""
    doc = actor.model_dump(exclude={"token_hash", "public_key"})
    doc["key_id"] = device_key_id(actor.public_key) if actor.public_key else None
    if token is not None:
        doc["token"] = token
    return doc


# --- actors -----------------------------------------------------------------------------


@api.post("/actors")
@api.auth_required(auth)
@api.input(ActorIn, arg_name="body")
@api.output(ActorTokenOut, status_code=201)
@api.doc(
    summary="Add a person or device; its token is shown this once "
    "(enterprise admin: own staff; admin: any role)",
    responses=WRITE_ERRORS,
)
def create_actor(body: dict[str, Any]) -> Any:
    return actor_doc(*call(staff.create_actor, body)), 201, NO_STORE


@api.get("/actors/<int:actor_id>")
@api.auth_required(auth)
@api.output(ActorOut)
@api.doc(summary="An actor (never its token)", responses=READ_ERRORS)
def read_actor(actor_id: int) -> Any:
    return actor_doc(call(staff.find_actor, actor_id, write=False))


@api.get("/actors")
@api.auth_required(auth)
@api.input(ScopeQuery, location="query", arg_name="query")
@api.output(ActorListOut)
@api.doc(
    summary="Actors the caller manages or oversees (never tokens), by id, a page at a time",
    responses=LIST_ERRORS,
)
def list_actors(query: dict[str, Any]) -> Any:
    found = listing(staff.list_actors, query)
    return {"actors": [actor_doc(a) for a in found.rows], "next_after_id": found.next_after_id}


@api.get("/actors/me")
@api.auth_required(auth)
@api.output(MeOut)
@api.doc(summary="Who this token belongs to", responses=[401])
def me() -> Any:
    actor = current_actor()
    assert actor is not None
    return actor_doc(actor)


@api.post("/actors/me/key")
@api.auth_required(auth)
@api.input(KeyIn, arg_name="body")
@api.output(MeOut, status_code=201)
@api.doc(
    summary="Register this device's own Ed25519 key, once (trust on first use; "
    "the same key again is 200, another key 409)",
    responses=[401, 409, 422],
)
def register_own_key(body: dict[str, Any]) -> Any:
    actor, created = call(staff.register_own_key, body, runtime().now())
    return actor_doc(actor), 201 if created else 200


@api.post("/actors/<int:actor_id>/token")
@api.auth_required(auth)
@api.output(ActorTokenOut)
@api.doc(
    summary="Issue a new token (shown once); the old one stops working at once",
    responses=WRITE_ERRORS,
)
def rotate_token(actor_id: int) -> Any:
    return actor_doc(*call(staff.rotate_token, actor_id)), 200, NO_STORE


@api.post("/actors/<int:actor_id>/revoke")
@api.auth_required(auth)
@api.output(ActorOut)
@api.doc(summary="Revoke an actor for good (not oneself)", responses=WRITE_ERRORS)
def revoke_actor(actor_id: int) -> Any:
    return actor_doc(call(staff.revoke_actor, actor_id, runtime().now()))


@api.put("/actors/<int:actor_id>/key")
@api.auth_required(auth)
@api.input(KeyIn, arg_name="body")
@api.output(ActorOut)
@api.doc(
    summary="Replace a staff device's signing key (old keys still verify old events)",
    responses=WRITE_ERRORS,
)
def replace_key(actor_id: int, body: dict[str, Any]) -> Any:
    return actor_doc(call(staff.replace_key, actor_id, body, runtime().now()))


# --- vehicles ---------------------------------------------------------------------------


@api.post("/vehicles")
@api.auth_required(auth)
@api.input(VehicleIn, arg_name="body")
@api.output(VehicleOut, status_code=201)
@api.doc(summary="Register a delivery vehicle (enterprise admin)", responses=WRITE_ERRORS)
def create_vehicle(body: dict[str, Any]) -> Any:
    return call(staff.create_vehicle, body)


@api.get("/vehicles")
@api.auth_required(auth)
@api.input(ScopeQuery, location="query", arg_name="query")
@api.output(VehicleListOut)
@api.doc(summary="Vehicles the caller may see, by id, a page at a time", responses=LIST_ERRORS)
def list_vehicles(query: dict[str, Any]) -> Any:
    found = listing(staff.list_vehicles, query)
    return {"vehicles": found.rows, "next_after_id": found.next_after_id}


@api.get("/vehicles/<int:vehicle_id>")
@api.auth_required(auth)
@api.output(VehicleOut)
@api.doc(summary="A vehicle", responses=READ_ERRORS)
def read_vehicle(vehicle_id: int) -> Any:
    return call(staff.find_vehicle, vehicle_id, write=False)


@api.patch("/vehicles/<int:vehicle_id>")
@api.auth_required(auth)
@api.input(VehiclePatch, arg_name="body")
@api.output(VehicleOut)
@api.doc(summary="Change a vehicle's permit or its driver (人车对应)", responses=WRITE_ERRORS)
def update_vehicle(vehicle_id: int, body: dict[str, Any]) -> Any:
    return call(staff.update_vehicle, vehicle_id, body)


# --- customer files ---------------------------------------------------------------------


@api.post("/customers")
@api.auth_required(auth)
@api.input(CustomerIn, arg_name="body")
@api.output(CustomerOut, status_code=201)
@api.doc(summary="Open a customer file 用户档案 (enterprise admin, driver)", responses=WRITE_ERRORS)
def create_customer(body: dict[str, Any]) -> Any:
    return call(customers.create_customer, body)


@api.get("/customers")
@api.auth_required(auth)
@api.input(ScopeQuery, location="query", arg_name="query")
@api.output(CustomerListOut)
@api.doc(
    summary="Customer files the caller may see, by id, a page at a time", responses=LIST_ERRORS
)
def list_customers(query: dict[str, Any]) -> Any:
    found = listing(customers.list_customers, query)
    return {"customers": found.rows, "next_after_id": found.next_after_id}


@api.get("/customers/<int:customer_id>")
@api.auth_required(auth)
@api.output(CustomerOut)
@api.doc(summary="A customer file", responses=READ_ERRORS)
def read_customer(customer_id: int) -> Any:
    return call(customers.find_customer, customer_id, write=False)


@api.patch("/customers/<int:customer_id>")
@api.auth_required(auth)
@api.input(CustomerPatch, arg_name="body")
@api.output(CustomerOut)
@api.doc(summary="Correct a customer file (enterprise admin, driver)", responses=WRITE_ERRORS)
def update_customer(customer_id: int, body: dict[str, Any]) -> Any:
    return call(customers.update_customer, customer_id, body)


@api.delete("/customers/<int:customer_id>")
@api.auth_required(auth)
@api.output({}, status_code=204)
@api.doc(
    summary="Erase a customer's personal data (PIPL); the id stays for the ledger's events",
    responses=WRITE_ERRORS,
)
def erase_customer(customer_id: int) -> Any:
    call(customers.erase_customer, customer_id, runtime().now())
    return ""
