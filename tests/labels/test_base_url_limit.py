"""A PUBLIC_BASE_URL too long for the default label's QR is named at startup."""

from __future__ import annotations

import logging

import pytest
from flask import Flask

from app import config
from labels import qr
from labels.layout import SIGNED_SUFFIX, LabelData, layout, longest_base_url, qr_box
from ledger import codes
from ledger.keys import load_or_create_signer


def _base(length: int) -> str:
    return "https://" + "x" * (length - len("https://"))


LIMIT = 65  # docs/deploy.md names this figure: the 70×37 mm label, a 20-character code


@pytest.mark.parametrize("fresh", [False, True])
def test_the_limit_is_the_longest_base_url_whose_default_label_prints(tmp_path, fresh):
    """The limit holds for the longest code a cylinder may have (20 characters, chosen at
    registration), so it holds for fresh 12-character codes too."""
    key = load_or_create_signer(tmp_path / "registry.key", "registry")
    code = codes.new_code() if fresh else "7G3KQ2M9" + codes.new_code()
    assert codes.is_valid_code("A" * 20) and not codes.is_valid_code("A" * 21)
    limit = longest_base_url()
    assert limit == LIMIT

    def label(length: int) -> object:
        url = codes.qr_url(_base(length), code, key)
        return layout(LabelData(code, url, "某某燃气有限公司", "YSP35.5", 15), 70, 37)

    label(limit)
    if fresh:  # a fresh code leaves room to spare: the figure is for the longest code
        label(limit + 1)
    # Tight for the worst payload of that length (every character in byte mode): a URL
    # one character longer might not print, whatever the encoder makes of the code.
    worst = qr.encode("h" * (limit + 1 + 20 + SIGNED_SUFFIX))
    assert worst.span * qr.MIN_MODULE_MM > qr_box(70, 37)


@pytest.mark.parametrize(("length", "warned"), [(LIMIT, False), (LIMIT + 1, True)])
def test_app_startup_warns_naming_the_limit(tmp_path, monkeypatch, caplog, length, warned):
    monkeypatch.setenv("PUBLIC_BASE_URL", _base(length))
    app = Flask(__name__, instance_path=str(tmp_path / "instance"))
    with caplog.at_level(logging.WARNING, logger="app.config"):
        config.load(app, None)
    messages = [r.getMessage() for r in caplog.records if r.name == "app.config"]
    if warned:
        (message,) = messages
        assert f"has {length} characters, more than the {LIMIT}" in message
        assert "PUBLIC_BASE_URL" in message and "70×37 mm" in message
    else:
        assert messages == []
