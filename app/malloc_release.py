"""Give the memory a label freed back to the system once its answer is sent (glibc).

Drawing a label sheet takes megabytes in large blocks (Pillow, reportlab, the PDF's
bytes); freed, they stay with malloc, in the middle of its heaps, where a later request's
small allocations keep the pages from being returned. A web worker that had drawn labels
ended at 128–134 MB, and now and then at 142–154 MB, over runs of bench/label_memory.py
(2026-12-07, the issue's budget is 150 MB); with ``malloc_trim`` after each label answer,
123–134 MB and no such jump in 16 runs (docs/scale.md §2). Fill checks allocate little and
are not trimmed after: a trim walks every heap, which a label's tens of milliseconds hide
and a 2 ms check would not.

Limiting the threads to two malloc arenas (``MALLOC_ARENA_MAX=2``) was tried and did not
prevent the jumps (128.5–141.9 MB over six runs).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None


def release_free_memory() -> bool:
    """Return the free pages of every malloc heap to the system; False where that cannot be
    done (nothing changes), else whether glibc gave any back."""
    trim = _malloc_trim()
    return trim is not None and bool(trim(0))
