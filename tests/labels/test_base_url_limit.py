"""A PUBLIC_BASE_URL too long for the default label's QR is named at startup."""

from __future__ import annotations

import logging

import pytest
from flask import Flask

from app import config
from labels.layout import LabelData, layout, longest_base_url
from ledger import codes
from ledger.errors import Invalid
from ledger.keys import load_or_create_signer


def _base(length: int) -> str:
    return "https://" + "x" * (length - len("https://"))


def test_the_limit_is_the_longest_base_url_whose_default_label_prints(tmp_path):
    key = load_or_create_signer(tmp_path / "registry.key", "registry")
    code = codes.new_code()
    limit = longest_base_url()
    assert limit == 73  # docs/deploy.md names this figure

    def label(length: int) -> object:
        url = codes.qr_url(_base(length), code, key)
        return layout(LabelData(code, url, "某某燃气有限公司", "YSP35.5", 15), 70, 37)

    label(limit)
    with pytest.raises(Invalid, match="QR modules"):
        label(limit + 1)


@pytest.mark.parametrize(("length", "warned"), [(73, False), (74, True)])
def test_app_startup_warns_naming_the_limit(tmp_path, monkeypatch, caplog, length, warned):
    monkeypatch.setenv("PUBLIC_BASE_URL", _base(length))
    app = Flask(__name__, instance_path=str(tmp_path / "instance"))
    with caplog.at_level(logging.WARNING, logger="app.config"):
        config.load(app, None)
    messages = [r.getMessage() for r in caplog.records if r.name == "app.config"]
    if warned:
        (message,) = messages
        assert f"has {length} characters, more than the 73" in message
        assert "PUBLIC_BASE_URL" in message and "70×37 mm" in message
    else:
        assert messages == []
