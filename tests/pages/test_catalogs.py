"""The Chinese catalog covers every message of the pages, and its compiled .mo is current."""

from __future__ import annotations

import gettext
from pathlib import Path

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
