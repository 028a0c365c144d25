"""Owners served side by side: each owner's rows in order, one in flight per owner at most,
owners taken in turns. A delivery run's threads share one ``Lanes``: a dead or slow
receiver holds the thread serving it, never the others' turns.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Collection, Iterable


class Lanes:
    """The rows of a run, by owner; ``take`` hands out the next owner's next row in turns
    (each owner once a round, in the order they first appear, the ``later`` owners after
    the others), skipping an owner whose previous row is still in hand; ``done`` gives the
    owner back (``drop``: its other rows are left for the next run)."""

    def __init__(
        self,
        rows: Iterable[tuple[int, int]],
        stop: Callable[[], bool],
        later: Collection[int] = (),
    ) -> None:
        self.queues: dict[int, deque[int]] = {}
        for row, owner in rows:
            self.queues.setdefault(owner, deque()).append(row)
        self.ring = deque(self.queues)
        self.later = later
        self.busy: set[int] = set()
        self.stop = stop
        self.aborted = False
        self.changed = threading.Condition()

    def take(self) -> tuple[int, int] | None:
        """The next (owner, row) to serve; None once nothing is left, or when stopped (by
        ``stop``, or ``abort``), so a thread ends. An owner in ``later`` is taken only when
        no other can be (each of the others has its row in hand, or none left). Waits
        while only busy owners have rows."""
        with self.changed:
            while not self.aborted and not self.stop():
                for allow_later in (False, True):
                    for _ in range(len(self.ring)):
                        owner = self.ring[0]
                        if not self.queues[owner]:
                            self.ring.popleft()  # drained or dropped
                            continue
                        self.ring.rotate(-1)
                        if owner in self.busy or (owner in self.later and not allow_later):
                            continue
                        self.busy.add(owner)
                        return owner, self.queues[owner].popleft()
                if not self.busy:
                    return None
                self.changed.wait()
            return None

    def done(self, owner: int, drop: bool = False) -> None:
        with self.changed:
            self.busy.discard(owner)
            if drop:
                self.queues[owner].clear()
            self.changed.notify_all()

    def abort(self) -> None:
        """Stop handing out rows (a thread failed: the others end after their row)."""
        with self.changed:
            self.aborted = True
            self.changed.notify_all()
