"""The audit's progress bar: events appended after it was counted raise its total."""

from __future__ import annotations

from rich.progress import Progress

from app.audit_cli import _advance


def test_the_bar_s_total_grows_with_events_appended_meanwhile() -> None:
    bar = Progress(disable=True)
    task = bar.add_task("auditing", total=3)
    _advance(bar, task, 2)
    assert (bar.tasks[0].completed, bar.tasks[0].total) == (2, 3)
    _advance(bar, task, 3)  # 5 audited of the 3 counted: two appended since
    assert (bar.tasks[0].completed, bar.tasks[0].total) == (5, 5)
