"""Werkzeug's URL builders compiled once per test process instead of once per app.

Binding a rule to an app's URL map compiles two small Python functions for ``url_for``
(``Rule._compile_builder``: an AST, then ``compile``). For this app's ~90 rules that is
~25 of the ~40 ms ``create_app`` costs, and the suite creates an app for nearly every
test (about 4,000 a run). A builder's code depends only on the rule's text, its parsed
trace, its defaults and whether unknown arguments are appended; the converters it calls
are looked up on the rule it is bound to (``self._converters``), so the same function
serves every app. Production creates one app per worker and is left as it is.

If werkzeug changes this private method, ``install`` leaves it alone (the suite is then
slower, never wrong).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from werkzeug.routing.rules import Rule

_Builder = Callable[..., tuple[str, str]]
_EXPECTED = ["self", "append_unknown"]


def install() -> bool:
    """Memoize ``Rule._compile_builder`` for this process; whether it was."""
    original = getattr(Rule, "_compile_builder", None)
    if original is None or getattr(original, "memoized", False):
        return original is not None
    if list(inspect.signature(original).parameters) != _EXPECTED:
        return False
    built: dict[tuple[Any, ...], _Builder] = {}

    def compile_once(self: Rule, append_unknown: bool = True) -> _Builder:
        defaults = sorted((self.defaults or {}).items(), key=lambda kv: kv[0])
        key = (self.rule, tuple(self._trace), repr(defaults), append_unknown)
        builder = built.get(key)
        if builder is None:
            builder = built[key] = original(self, append_unknown)
        return builder

    compile_once.memoized = True  # type: ignore[attr-defined]
    compile_once.original = original  # type: ignore[attr-defined]
    Rule._compile_builder = compile_once  # type: ignore[method-assign]
    return True
