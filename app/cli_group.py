"""The command groups of ``flask``: a database that cannot be reached, or that refuses a
statement, a bad key file or a full disk is one readable line and exit status 1, never a
traceback.

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

from ledger.keys import KeyFileError
from ledger.store import is_not_migrated


class CommandGroup(AppGroup):
    """An AppGroup whose commands report database, key-file and system errors in one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyFileError as exc:  # names the file and what is wrong with it
            raise click.ClickException(str(exc)) from None
        except BrokenPipeError:
            raise  # click ends quietly when the reader of the output went away
        except OSError as exc:  # a full disk, a folder gone or not writable
            raise click.ClickException(
                f"系统错误，命令已停止；可修复后重新运行 / system error ({type(exc).__name__}: "
                f"{exc}): the command stopped; what it committed stays, and it is safe to run "
                "again once this is fixed"
            ) from None
        except DBAPIError as exc:
            reason = f"{type(exc.orig).__name__}: {' '.join(str(exc.orig).split())[:300]}"
            if is_not_migrated(exc):
                raise click.ClickException(
                    "数据库中没有账本的表：DATABASE_URL 是否指错，或尚未迁移（flask --app wsgi db "
                    f"upgrade）/ the database has no ledger tables ({reason}): is DATABASE_URL "
                    "the ledger's, or is it not migrated yet (flask --app wsgi db upgrade)?"
                ) from None
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
