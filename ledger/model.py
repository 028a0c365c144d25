"""Tables of the ledger: the registry, the append-only events, and the global log.

Every per-cylinder table carries ``cylinder_id`` so the events can later be
distributed by cylinder (Citus) and partitioned by time (docs/scale.md).
Personal data lives only in ``customers``; events reference it by id.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants 64 bits.
BigIntKey = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timestamps stored as UTC and always read back timezone-aware.

    SQLite drops the offset; hashes are computed from these values, so both
    databases must give back exactly the instant that was written.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: timestamps must be timezone-aware")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _ts(*, index: bool = False, nullable: bool = False) -> Column:  # type: ignore[type-arg]
    return Column(UTCDateTime(), nullable=nullable, index=index)


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


# Enumerations are stored as short strings, not database enum types, so a new
# value never needs an ALTER TYPE on PostgreSQL.


class Role(StrEnum):
    """Roles of DESIGN §7."""

    ADMIN = "admin"
    REGULATOR = "regulator"
    ENTERPRISE_ADMIN = "enterprise_admin"
    FILLING_OPERATOR = "filling_operator"
    DRIVER = "driver"
    INSPECTOR = "inspector"
    PUBLIC = "public"


class LicenceKind(StrEnum):
    """燃气经营许可证 (gas business) and 气瓶充装许可证 (cylinder filling)."""

    GAS_BUSINESS = "gas_business"
    CYLINDER_FILLING = "cylinder_filling"


class LicenceStatus(StrEnum):
    """A licence is valid until it expires or a regulator suspends or revokes it."""

    VALID = "valid"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class CustomerKind(StrEnum):
    """Kinds of customer file (用户档案)."""

    RESTAURANT = "restaurant"
    HOUSEHOLD = "household"
    CANTEEN = "canteen"
    OTHER = "other"


class Enterprise(SQLModel, table=True):
    """A gas business (燃气经营企业) that owns cylinders, stations and vehicles."""

    __tablename__ = "enterprises"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    credit_code: str | None = Field(default=None, max_length=18, unique=True)  # 统一社会信用代码
    gs1_prefix: str | None = Field(default=None, max_length=12)
    blacklisted: bool = False
    blacklist_reason: str | None = Field(default=None, max_length=500)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


class Station(SQLModel, table=True):
    """A filling station (充装站) of an enterprise."""

    __tablename__ = "stations"
    id: int | None = Field(default=None, primary_key=True)
    enterprise_id: int = Field(foreign_key="enterprises.id", index=True)
    name: str = Field(max_length=200)
    address: str = Field(default="", max_length=500)
    latitude: float | None = None
    longitude: float | None = None


class Licence(SQLModel, table=True):
    """A licence of an enterprise; a filling licence names its station."""

    __tablename__ = "licences"
    id: int | None = Field(default=None, primary_key=True)
    enterprise_id: int = Field(foreign_key="enterprises.id", index=True)
    station_id: int | None = Field(default=None, foreign_key="stations.id", index=True)
    kind: str = Field(max_length=24)  # LicenceKind
    number: str = Field(max_length=64)
    valid_from: dt.date
    valid_until: dt.date
    status: str = Field(default=LicenceStatus.VALID, max_length=16)  # LicenceStatus


class Actor(SQLModel, table=True):
    """A person or a device that acts on the ledger, with its hashed API token."""

    __tablename__ = "actors"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    role: str = Field(max_length=24)  # Role
    kind: str = Field(default="person", max_length=16)  # person | device
    enterprise_id: int | None = Field(default=None, foreign_key="enterprises.id")  # see model_ops
    station_id: int | None = Field(default=None, foreign_key="stations.id")
    token_hash: str | None = Field(default=None, max_length=64, unique=True)
    public_key: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    active: bool = True
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    revoked_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class SigningKey(SQLModel, table=True):
    """Every public key that ever signed an event, kept so old events still verify."""

    __tablename__ = "signing_keys"
    key_id: str = Field(primary_key=True, max_length=32)
    public_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    actor_id: int | None = Field(default=None, foreign_key="actors.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    revoked_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class Vehicle(SQLModel, table=True):
    """A delivery vehicle with its dangerous-goods road transport permit."""

    __tablename__ = "vehicles"
    id: int | None = Field(default=None, primary_key=True)
    enterprise_id: int = Field(foreign_key="enterprises.id")  # see model_ops
    plate: str = Field(max_length=16, unique=True)
    permit_number: str | None = Field(default=None, max_length=64)
    permit_valid_until: dt.date | None = None
    driver_id: int | None = Field(default=None, foreign_key="actors.id")


class Customer(SQLModel, table=True):
    """A customer file (用户档案): the only place personal data is kept."""

    __tablename__ = "customers"
    id: int | None = Field(default=None, primary_key=True)
    enterprise_id: int = Field(foreign_key="enterprises.id")  # see model_ops
    name: str = Field(max_length=200)
    kind: str = Field(max_length=16)  # CustomerKind
    address: str = Field(default="", max_length=500)
    phone: str | None = Field(default=None, max_length=32)
    basement: bool = False
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    erased_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))  # PIPL


class Cylinder(SQLModel, table=True):
    """A cylinder's registry file and the head of its hash chain."""

    __tablename__ = "cylinders"
    __table_args__ = (Index("ix_cylinders_manufacturer_serial", "manufacturer", "serial"),)
    id: str = Field(primary_key=True, max_length=36)  # UUID, stable across relabelling
    code: str = Field(max_length=20, unique=True)
    serial: str = Field(max_length=64)  # 钢印号
    manufacturer: str = Field(max_length=200)
    manufactured_on: dt.date
    model: str = Field(max_length=32)
    capacity_kg: float
    tare_kg: float
    dual_phase: bool = False
    service_life_years: int | None = None
    owner_id: int = Field(foreign_key="enterprises.id", index=True)
    last_inspected_on: dt.date | None = None
    next_inspection_due: dt.date | None = None
    registered_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    # Chain head: appends lock this row, so one cylinder's chain never forks.
    head_seq: int = 0
    head_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Event(SQLModel, table=True):
    """One immutable event of a cylinder's life; never updated, never deleted.

    On PostgreSQL the table is partitioned by month of ``recorded_at`` (migration 0006):
    its key is (id, recorded_at) and (cylinder_id, seq) and hash are plain indexes. The
    model keeps the SQLite schema; ``id`` is the identity either way (ledger.event_ids).
    """

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("cylinder_id", "seq"),)
    id: str = Field(primary_key=True, max_length=36)  # UUID, may be chosen by the client
    cylinder_id: str = Field(foreign_key="cylinders.id")
    seq: int  # 1-based position in the cylinder's chain
    type: str = Field(max_length=32, index=True)
    occurred_at: dt.datetime = Field(sa_column=_ts())
    recorded_at: dt.datetime = Field(sa_column=_ts(index=True))
    actor_id: int = Field(foreign_key="actors.id")
    station_id: int | None = Field(default=None, foreign_key="stations.id", index=True)
    site_id: int | None = Field(default=None)  # customer file id; no FK so a file can be erased
    payload: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON, hashed as is
    prev_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False, unique=True))
    key_id: str = Field(max_length=32)
    signature: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class LogPending(SQLModel, table=True):
    """Events committed but not yet integrated, in commit order (the sequencer's queue)."""

    __tablename__ = "log_pending"
    seq: int | None = Field(
        default=None, sa_column=Column(BigIntKey, primary_key=True, autoincrement=True)
    )
    event_id: str = Field(max_length=36)  # no FK: see LogLeaf
    # A copy of the event's hash, so the integrator reads this queue alone, with no join.
    event_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class LogLeaf(SQLModel, table=True):
    """The global log: leaf index → event, append-only."""

    __tablename__ = "log_leaves"
    leaf_index: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    # No foreign key: a per-row referential check would cost the integrator half its speed,
    # and the audit checks that every leaf names an existing event with that very hash.
    event_id: str = Field(unique=True, max_length=36)


class MerkleTile(SQLModel, table=True):
    """Eight levels of the stored Merkle tree (see ledger/tiles.py for the layout)."""

    __tablename__ = "merkle_tiles"
    level: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    index: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    width: int  # number of hashes in the tile's bottom row, 1..256
    hashes: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class LogState(SQLModel, table=True):
    """The integrated tree's size and root; one row, locked by the integrator."""

    __tablename__ = "log_state"
    id: int = Field(default=1, primary_key=True)
    size: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    root: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


class Checkpoint(SQLModel, table=True):
    """A signed checkpoint (C2SP tlog-checkpoint note), kept forever."""

    __tablename__ = "checkpoints"
    id: int | None = Field(default=None, primary_key=True)
    size: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    root: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    note: str = Field(sa_column=Column(Text, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
