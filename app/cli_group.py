"""The command groups of ``flask``: a database that cannot be reached, or that refuses a
statement, is one readable line and exit status 1, never a traceback.

Every command is safe to run again (each transaction commits whole or not at all, and the
jobs and imports are idempotent), so an unreachable database's line says to; a refusal
(a constraint, a broken migration) says what the database said.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError


class CommandGroup(AppGroup):
    """An AppGroup whose commands report database errors in one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DBAPIError as exc:
            reason = f"{type(exc.orig).__name__}: {' '.join(str(exc.orig).split())[:300]}"
            if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
                raise click.ClickException(
                    "数据库不可用或出错，本次未完成的事务未记录；数据库恢复后可重新运行 / "
                    f"the database is unreachable or failed ({reason}); the transaction in "
                    "progress was not recorded: run the command again once it answers"
                ) from None
            raise click.ClickException(
                "数据库拒绝了本次操作，本次事务未记录 / the database refused this command "
                f"({reason}); the transaction in progress was not recorded"
            ) from None


def seconds_between(
    low: float, high: float
) -> Callable[[click.Context, click.Parameter, float], float]:
    """A click callback: a finite number of seconds from ``low`` to ``high``."""

    def check(ctx: click.Context, param: click.Parameter, value: float) -> float:
        if not math.isfinite(value) or not low <= value <= high:
            raise click.BadParameter(
                f"须为 {low:g}–{high:g} 秒 / must be {low:g} to {high:g} seconds, got {value:g}",
                ctx,
                param,
            )
        return value

    return check
