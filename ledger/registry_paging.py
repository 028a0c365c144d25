"""One page of a registry list (enterprises, stations, actors, vehicles, customers), by id.

Pages go forwards by ascending id (keyset paging): ``after_id`` is the previous page's
``next_after_id``, so a page is never shifted by records added or changed meanwhile, and a
walk from the start to the last page reads each record that existed when it began exactly
once. ``next_after_id`` is the last record's id when more follow, and None exactly when
none do: a page fetches one record more than it answers to know. Records are never deleted
(an erased customer keeps its id), so no walk skips one for a deletion. Who sees which
records stays the list use case's (``ledger.registry.listed``); paging only cuts its answer.
Reads only: nothing here writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlmodel import Session

from ledger.errors import Invalid
from ledger.model import Actor
from ledger.registry import MAX_ID

DEFAULT_LIMIT = 500
MAX_LIMIT = 1000  # a page of customers stays well within a web worker's memory


class Identified(Protocol):
    """A registry record: its id is set once it is stored."""

    id: int | None


R = TypeVar("R", bound=Identified)


@dataclass(frozen=True)
class Page(Generic[R]):
    """Records by ascending id, and the ``after_id`` of the next page (None: no more)."""

    rows: list[R]
    next_after_id: int | None


def page(
    session: Session,
    actor: Actor,
    list_use_case: Callable[..., list[R]],
    *,
    after_id: int | None = None,
    limit: int = DEFAULT_LIMIT,
    **filters: Any,
) -> Page[R]:
    """One page of a list use case (``list_customers``…): at most ``limit`` records with an
    id above ``after_id``; ``filters`` (``enterprise_id``) go to the use case unchanged."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit 须在 1–{MAX_LIMIT} / 'limit' must be 1–{MAX_LIMIT}", field="limit")
    if after_id is not None and not 0 <= after_id <= MAX_ID:
        raise Invalid(f"after_id 须在 0–{MAX_ID} / 'after_id' must be 0–{MAX_ID}", field="after_id")
    rows = list_use_case(session, actor, after_id=after_id, limit=limit + 1, **filters)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, rows[-1].id if more else None)
