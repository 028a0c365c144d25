"""The test suite's memoized URL builders (tests/url_builders.py) build what werkzeug's own
would: for every rule of the app, in two apps, and for rules that look alike but are not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from werkzeug.routing import BaseConverter, Map, ValidationError
from werkzeug.routing.rules import Rule

from tests.seeded import app_config

SAMPLES = ("7", "CQ2024000123", "a1b2c3d4-0000-4000-8000-000000000000")


def _values(rule: Rule) -> dict[str, Any] | None:
    """Arguments this rule's converters take, or None if no sample fits one of them."""
    values = {}
    for name in rule.arguments:
        converter = rule._converters.get(name)
        for sample in SAMPLES:
            try:
                if converter is not None:
                    converter.to_python(sample)
            except (ValidationError, ValueError):  # the converter refuses this sample
                continue
            values[name] = sample
            break
        else:
            return None
    return values


def test_the_builders_are_installed_and_build_what_werkzeugs_own_do(tmp_path: Path) -> None:
    from app import create_app

    compile_once = Rule._compile_builder
    if not getattr(compile_once, "memoized", False):  # slower, never wrong: said, not failed
        pytest.skip(
            "tests/url_builders.py is not installed: werkzeug's Rule._compile_builder is not "
            "the one it was read against; read it again, check the key, record its hash"
        )
    original = compile_once.original  # type: ignore[attr-defined]
    apps = [
        create_app(app_config(f"sqlite:///{tmp_path / name}.sqlite3", tmp_path / name))
        for name in ("one", "two")
    ]
    try:
        built = 0
        for app in apps:
            for rule in app.url_map.iter_rules():
                values = _values(rule)
                if values is None:
                    continue
                for unknown in (False, True):
                    own = original(rule, unknown).__get__(rule, None)
                    shared = rule._build_unknown if unknown else rule._build
                    extra = {"page": "2"} if unknown else {}
                    assert shared(**values, **extra) == own(**values, **extra), rule.rule
                    built += 1
        assert built > 2 * 2 * 50  # both apps, both builders, most of the ~90 rules
        one, two = ({r.rule: r for r in app.url_map.iter_rules()} for app in apps)
        shared_functions = [r for r in one if one[r]._build.__func__ is two[r]._build.__func__]
        assert len(shared_functions) == len(one)  # compiled once, used by both apps
    finally:
        for app in apps:
            app.extensions["ledger"].engine.dispose()


class _Upper(BaseConverter):
    def to_url(self, value: Any) -> str:
        return str(value).upper()


def test_a_default_for_a_rules_own_variable_is_built_by_its_own_maps_converter() -> None:
    """Werkzeug turns such a default into a constant with the map's converter when it
    compiles: two maps whose converters differ must not share that builder."""
    pairs = [
        (Map([Rule("/", subdomain="<int(fixed_digits=3):n>", defaults={"n": 7})]),
         Map([Rule("/", subdomain="<n>", defaults={"n": 7})]), ("007", "/"), ("7", "/")),
        (Map([Rule("/<code:c>", defaults={"c": "ab"})], converters={"code": _Upper}),
         Map([Rule("/<code:c>", defaults={"c": "ab"})], converters={"code": BaseConverter}),
         ("", "/AB"), ("", "/ab")),
    ]  # fmt: skip
    for first, second, built_first, built_second in pairs:
        one, two = next(first.iter_rules()), next(second.iter_rules())
        assert one.build({}) == built_first
        assert two.build({}) == built_second


def test_rules_alike_but_for_a_default_or_a_variable_do_not_share_a_builder() -> None:
    one, two, three = Map([
        Rule("/c/<code>", endpoint="a"),
        Rule("/c/<code>", endpoint="b", defaults={"page": 1}),
        Rule("/c/<serial>", endpoint="c"),
    ]).iter_rules()  # fmt: skip
    assert one._build.__func__ is not two._build.__func__  # type: ignore[attr-defined]
    assert one.build({"code": "X"}) == ("", "/c/X")
    assert two.build({"code": "X", "page": 1}) == ("", "/c/X")
    assert three.build({"serial": "Y", "page": 2}) == ("", "/c/Y?page=2")
