"""What a label says, read from the ledger, for actors allowed to print it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlmodel import Session, col

from labels.layout import LabelData
from ledger import permissions
from ledger.authority import Authority
from ledger.errors import Forbidden, Invalid, NotFound
from ledger.model import Actor, Cylinder, Enterprise
from ledger.model_rules import RetiredCode


def label_data(cylinder: Cylinder, owner_name: str, authority: Authority) -> LabelData:
    """The label of a registered cylinder."""
    return LabelData(
        code=cylinder.code,
        payload=authority.qr(cylinder.code),
        owner=owner_name,
        model=cylinder.model,
        capacity_kg=cylinder.capacity_kg,
    )


def labels_for(
    session: Session, authority: Authority, actor: Actor, codes: Sequence[str]
) -> list[LabelData]:
    """Labels of these codes, in order; the owner's staff and the oversight roles only.

    NotFound names every unknown code, Forbidden every code of another enterprise.
    """
    wanted = [c.strip().upper() for c in codes]
    if any(not c for c in wanted):
        raise Invalid("'codes' holds an empty code", field="codes")
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
    foreign = [c for c in wanted if not permissions.can_read_history(actor, found[c].owner_id)]
    if foreign:
        raise Forbidden(
            f"不是本企业的气瓶 / cylinder {', '.join(foreign)} belongs to another enterprise: "
            "only its owner's staff and regulators print its label",
            codes=foreign,
        )
    names = {
        e.id: e.name
        for e in session.execute(
            select(Enterprise).where(col(Enterprise.id).in_({c.owner_id for c in found.values()}))
        ).scalars()
    }
    return [label_data(found[c], names.get(found[c].owner_id, ""), authority) for c in wanted]
