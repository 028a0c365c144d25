"""Werkzeug's URL builders compiled once per test process instead of once per app.

Binding a rule to an app's URL map compiles two small Python functions for ``url_for``
(``Rule._compile_builder``: an AST, then ``compile``). For this app's ~90 rules that is
~25 of the ~40 ms ``create_app`` costs, and the suite creates an app for nearly every
test (about 4,000 a run). The code of a builder depends only on the rule's text, its
parsed trace (host, subdomain and path, converters' names included), the names of its
defaults in their order, and whether unknown arguments are appended; the converters it
calls are looked up at call time on the rule it is bound to (``self._converters``), so
the same function serves every app. The one exception, a default for one of the rule's
own variables, is turned into a constant by that map's converter at compile time: such a
rule is compiled as werkzeug does (none of this app's rules has one). Production creates
one app per worker and is left as it is.

The memo is installed only on the werkzeug method it was written against (its source's
hash); on another the suite is slower, never wrong, and tests/unit/test_url_builders.py
says so in a skip, to have the method read again.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from typing import Any

from werkzeug.routing.rules import Rule

_Builder = Callable[..., tuple[str, str]]
# sha256 of inspect.getsource(Rule._compile_builder) in werkzeug 3.1.9, read for this memo.
REVIEWED = "a0ec55cf067ff5d56185fecc0df5b3c7b5c3aaf6013adf01f1162842f3dcc07b"


def _source_hash(method: Any) -> str:
    return hashlib.sha256(inspect.getsource(method).encode()).hexdigest()


def install() -> bool:
    """Memoize ``Rule._compile_builder`` for this process; whether it is."""
    original = getattr(Rule, "_compile_builder", None)
    if original is None:
        return False
    if getattr(original, "memoized", False):
        return True
    if _source_hash(original) != REVIEWED:
        return False
    built: dict[tuple[Any, ...], _Builder] = {}

    def compile_once(self: Rule, append_unknown: bool = True) -> _Builder:
        defaults = tuple(self.defaults or ())
        variables = {name for dynamic, name in self._trace if dynamic}
        if variables.intersection(defaults):  # a constant made by this map's converter
            builder: _Builder = original(self, append_unknown)
            return builder
        key = (self.rule, tuple(self._trace), defaults, append_unknown)
        if key not in built:
            built[key] = original(self, append_unknown)
        return built[key]

    compile_once.memoized = True  # type: ignore[attr-defined]
    compile_once.original = original  # type: ignore[attr-defined]
    Rule._compile_builder = compile_once  # type: ignore[method-assign]
    return True
