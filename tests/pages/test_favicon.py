"""Every page names its icon, and /favicon.ico (asked for by browsers regardless) leads to
it: no 404 in the log and the metrics on a person's first visit."""

from __future__ import annotations

from typing import Any


def test_the_pages_icon_is_served_and_favicon_ico_leads_to_it(client: Any, demo: Any) -> None:
    for page in ("/login", f"/c/{demo['cylinders']['legal']}"):  # a person's, the public's
        html = client.get(page).get_data(as_text=True)
        assert '<link rel="icon" type="image/svg+xml" href="/static/favicon.svg">' in html
    with client.get("/static/favicon.svg") as icon:  # a file's response: closed after
        assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
        assert icon.get_data(as_text=True).startswith("<svg")
    legacy = client.get("/favicon.ico")
    assert legacy.status_code == 301 and legacy.headers["Location"].endswith("/static/favicon.svg")
