"""Who may do what (DESIGN §7). Pure functions of an actor and a cylinder's owner.

Business rules (is this cylinder legal to fill?) live in ledger.rules; this
module only answers whether a role may attempt an action at all.
"""

from __future__ import annotations

from ledger.model import Actor, Role

ENTERPRISE_ROLES = frozenset({Role.ENTERPRISE_ADMIN, Role.FILLING_OPERATOR, Role.DRIVER})
OVERSIGHT_ROLES = frozenset({Role.ADMIN, Role.REGULATOR, Role.INSPECTOR})

# Roles that may append each event type ("registered" comes only from registration).
APPEND_ROLES: dict[str, frozenset[str]] = {
    "filled": frozenset({Role.FILLING_OPERATOR}),
    "fill_blocked": frozenset({Role.FILLING_OPERATOR}),
    "dispatched": frozenset({Role.DRIVER, Role.ENTERPRISE_ADMIN}),
    "delivered": frozenset({Role.DRIVER}),
    "returned": frozenset({Role.DRIVER, Role.FILLING_OPERATOR, Role.ENTERPRISE_ADMIN}),
    "inspected": frozenset({Role.INSPECTOR}),
    "relabelled": frozenset({Role.ENTERPRISE_ADMIN}),
    "ownership_transferred": frozenset({Role.ENTERPRISE_ADMIN, Role.REGULATOR}),
    "reported": frozenset(
        {Role.ENTERPRISE_ADMIN, Role.FILLING_OPERATOR, Role.DRIVER, Role.INSPECTOR, Role.REGULATOR}
    ),
    "held": frozenset({Role.REGULATOR}),
    "released": frozenset({Role.REGULATOR}),
    "scrapped": frozenset({Role.INSPECTOR}),
}

# Event types an enterprise-scoped actor may record on another enterprise's cylinder:
# a station records the blocked attempt, anyone may report a suspect cylinder.
CROSS_ENTERPRISE_TYPES = frozenset({"fill_blocked", "reported"})


def is_owner_side(actor: Actor, owner_id: int) -> bool:
    """True when the actor belongs to the enterprise that owns the cylinder."""
    return actor.role in ENTERPRISE_ROLES and actor.enterprise_id == owner_id


def can_register(actor: Actor) -> bool:
    """Only an enterprise's administrator registers its cylinders."""
    return actor.role == Role.ENTERPRISE_ADMIN and actor.enterprise_id is not None


def can_append(actor: Actor, event_type: str, owner_id: int) -> bool:
    """May this actor record this type of event on a cylinder of this owner?"""
    if actor.role not in APPEND_ROLES.get(event_type, frozenset()):
        return False
    if actor.role in ENTERPRISE_ROLES:
        return actor.enterprise_id == owner_id or event_type in CROSS_ENTERPRISE_TYPES
    return True


def can_read_history(actor: Actor | None, owner_id: int) -> bool:
    """The full event history is for the owner's staff and the oversight roles."""
    if actor is None:
        return False
    return actor.role in OVERSIGHT_ROLES or is_owner_side(actor, owner_id)
