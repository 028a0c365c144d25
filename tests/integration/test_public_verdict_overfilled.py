"""The public page's verdict is the road's: an overfilled cylinder (which may not leave the
station) is "do not use" at a restaurant, with its reason."""

from __future__ import annotations

from typing import Any

from tests.flows import fill, register


def test_an_overfilled_cylinder_is_do_not_use_on_the_public_page(
    client: Any, demo: dict[str, Any]
) -> None:
    code = register(client, demo)
    assert fill(client, demo, code, net=16.2).status_code == 201  # rated 15 kg + 1.2 kg
    html = client.get(f"/c/{code}").get_data(as_text=True)
    assert "禁止使用" in html and "可以使用" not in html
    assert "上次充装超重（净重16.2kg）" in html
    assert "请勿使用，联系供气企业更换" in html  # the restaurant's words, not the station's
    assert "不得出站" not in html
    normal = register(client, demo)
    assert fill(client, demo, normal, net=15.0).status_code == 201
    assert "可以使用" in client.get(f"/c/{normal}").get_data(as_text=True)
