"""The Chinese catalog covers every message of the pages, and its compiled .mo is current."""

from __future__ import annotations

import gettext
from pathlib import Path
from typing import Any

from babel.messages.extract import extract_from_dir

ROOT = Path(__file__).resolve().parents[2]
MO = ROOT / "app/translations/zh_Hans_CN/LC_MESSAGES/messages.mo"


def _msgids() -> set[str]:
    # babel.cfg's mapping, relative to app/ (so the walk skips .venv and the rest).
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {"_": None, "_l": None, "lazy_gettext": None, "gettext": None}
    found = extract_from_dir(str(ROOT / "app"), method_map, keywords=keywords)
    return {message for _f, _n, message, _c, _ctx in found if isinstance(message, str)}


def test_every_message_has_a_chinese_translation_in_the_compiled_catalog() -> None:
    with MO.open("rb") as handle:
        catalog = gettext.GNUTranslations(handle)
    ids = _msgids()
    assert len(ids) > 100
    missing = sorted(m for m in ids if catalog.gettext(m) == m)
    assert not missing, f"untranslated (run make translations): {missing[:10]}"


def test_a_missing_browser_fails_when_the_run_requires_it(monkeypatch: Any) -> None:
    import pytest

    from tests.pages import conftest

    monkeypatch.setattr(conftest, "CHROMIUM", Path("/nonexistent/chromium"))
    monkeypatch.setenv("REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="REQUIRE_BROWSER=1"):
        conftest.browser_missing()
    monkeypatch.setenv("REQUIRE_BROWSER", "0")
    with pytest.raises(pytest.skip.Exception):
        conftest.browser_missing()


def test_no_catalog_header_is_fuzzy_so_make_translations_compiles_them() -> None:
    from babel.messages.pofile import read_po

    catalogs = sorted(ROOT.glob("app/translations/*/LC_MESSAGES/messages.po"))
    assert len(catalogs) == 2
    for po in catalogs:
        with po.open("rb") as handle:
            assert not read_po(handle).fuzzy, f"{po}: pybabel compile skips a fuzzy catalog"
