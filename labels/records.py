"""What a label says, read from the ledger, for actors allowed to print it.

Who prints labels (DESIGN §8: label.png/.svg "owner", the sheet "enterprise"): the
administrator of the enterprise that owns the cylinder, the role that registers it.
Its drivers and station staff, inspectors, regulators and the system admin are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session, col

from labels.layout import LabelData
from ledger.authority import Authority
from ledger.codes import normalise
from ledger.errors import Forbidden, Invalid, NotFound
from ledger.model import Actor, Cylinder, Enterprise
from ledger.model_rules import CylinderStateRow, RetiredCode
from ledger.permissions import can_register


def label_data(cylinder: Cylinder, owner_name: str, authority: Authority) -> LabelData:
    """The label of a registered cylinder."""
    return LabelData(
        code=cylinder.code,
        payload=authority.qr(cylinder.code),
        owner=owner_name,
        model=cylinder.model,
        capacity_kg=cylinder.capacity_kg,
    )


def check_may_print(actor: Actor) -> int:
    """The enterprise whose labels the actor prints, or Forbidden for every other role."""
    if not can_register(actor) or actor.enterprise_id is None:
        raise Forbidden(
            "只有气瓶所属企业的管理员打印标签 / only the administrator of the enterprise that "
            f"owns a cylinder prints its label (not a {actor.role} token)"
        )
    return actor.enterprise_id


@dataclass(frozen=True)
class Registered:
    """A registered cylinder and its status in the state projection (None before it is
    projected)."""

    cylinder: Cylinder
    status: str | None


def registered_cylinder(
    session: Session, enterprise_id: int, manufacturer: str, serial: str
) -> Registered | None:
    """The enterprise's cylinder with this maker's serial (钢印号), the first registered,
    with its status: a scrapped or condemned one gets no label (``batch.no_label_reason``)."""
    query = (
        select(Cylinder, col(CylinderStateRow.status))
        .outerjoin(CylinderStateRow, col(CylinderStateRow.cylinder_id) == col(Cylinder.id))
        .where(
            col(Cylinder.owner_id) == enterprise_id,
            col(Cylinder.manufacturer) == manufacturer.strip(),
            col(Cylinder.serial) == serial.strip(),
        )
        .order_by(col(Cylinder.registered_at), col(Cylinder.id))
        .limit(1)
    )
    found = session.execute(query).one_or_none()
    return None if found is None else Registered(found[0], found[1])


def labels_for(
    session: Session, authority: Authority, actor: Actor, codes: Sequence[str]
) -> list[LabelData]:
    """Labels of these codes, in order; the owner enterprise's administrator only.

    Forbidden for any other role; NotFound names every unknown code, Forbidden every
    code of another enterprise.
    """
    enterprise_id = check_may_print(actor)
    wanted = [normalise(c) for c in codes]
    if any(not c for c in wanted):
        raise Invalid("编码不能为空 / 'codes' holds an empty code", field="codes")
    found = {
        cyl.code: cyl
        for cyl in session.execute(
            select(Cylinder).where(col(Cylinder.code).in_(sorted(set(wanted))))
        ).scalars()
    }
    unknown = [c for c in wanted if c not in found]
    if unknown:
        retired = set(
            session.execute(
                select(col(RetiredCode.code)).where(col(RetiredCode.code).in_(unknown))
            ).scalars()
        )
        if retired:
            raise NotFound(
                f"此码已因换码注销 / code {', '.join(sorted(retired))} was retired by "
                "relabelling: print the label of the cylinder's new code",
                codes=unknown,
            )
        raise NotFound(
            f"没有此编码的气瓶 / no cylinder with code {', '.join(unknown)}", codes=unknown
        )
    foreign = [c for c in wanted if found[c].owner_id != enterprise_id]
    if foreign:
        raise Forbidden(
            f"不是本企业的气瓶 / cylinder {', '.join(foreign)} belongs to another enterprise: "
            "only its owner's administrator prints its label",
            codes=foreign,
        )
    names = {
        e.id: e.name
        for e in session.execute(
            select(Enterprise).where(col(Enterprise.id).in_({c.owner_id for c in found.values()}))
        ).scalars()
    }
    return [label_data(found[c], names.get(found[c].owner_id, ""), authority) for c in wanted]
