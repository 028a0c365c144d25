"""A code typed with a letter that Python's str.upper() maps onto a code character
(ſ → S, ı → I) is not that code: lower-case ASCII is the code, a look-alike is not,
on the public page, the API and the station's form alike (ledger.codes.normalise)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from ledger import codes
from tests import flows
from tests.conftest import bearer

BODY = "AB2024S0001"
CODE = BODY + codes.check_char(BODY)
LOOKALIKE = CODE.lower().replace("s", "ſ")


@pytest.fixture
def registered(client: Any, demo: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(codes, "new_code", lambda: CODE)
    assert flows.register(client, demo) == CODE
    return CODE


def test_normalise_upper_cases_ascii_only() -> None:
    assert codes.normalise("  ab12cd\n") == "AB12CD"
    assert LOOKALIKE.upper() == CODE  # what str.upper() alone would have matched
    assert codes.normalise(LOOKALIKE) == LOOKALIKE


def test_the_public_page_knows_the_code_not_its_lookalike(client: Any, registered: str) -> None:
    assert client.get(f"/c/{registered.lower()}").status_code == 200
    page = client.get(f"/c/{quote(LOOKALIKE)}")
    assert page.status_code == 404
    assert "未登记的气瓶码" in page.get_data(as_text=True)


def test_the_api_knows_the_code_not_its_lookalike(client: Any, demo: Any, registered: str) -> None:
    token = bearer(demo["tokens"]["regulator"])
    assert client.get(f"/api/v1/cylinders/{registered.lower()}", headers=token).status_code == 200
    assert client.get(f"/api/v1/cylinders/{quote(LOOKALIKE)}", headers=token).status_code == 404
