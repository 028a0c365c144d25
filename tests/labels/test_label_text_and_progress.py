"""The owner's name and the model are really drawn on the PNG label (not blank, not tofu
boxes), and the batch's progress bar reaches its total even when rows are refused."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
from rich.console import Console

from labels import batch, png
from labels import console as ui
from labels.layout import Label, LabelData, Text, layout, model_line

DPI = 300
PAYLOAD = "https://ledger.test/c/7G3KQ2M9XW4P?s=" + "A" * 86


def _label(owner: str, model: str) -> Label:
    return layout(LabelData("7G3KQ2M9XW4P", PAYLOAD, owner, model, 15), 70, 37)


def _box(text: Text) -> tuple[slice, slice]:
    """The pixels of one text line: its em box from above the cap height to the baseline."""
    px = DPI / 25.4
    top, bottom = text.baseline - text.size, text.baseline + 0.25 * text.size
    return slice(round(top * px), round(bottom * px)), slice(round(text.x * px), None)


def _pixels(label: Label) -> np.ndarray:
    return np.asarray(png.render(label, DPI), dtype=np.uint8)


def _blank(label: Label, index: int) -> Label:
    texts = list(label.texts)
    texts[index] = dataclasses.replace(texts[index], text="")
    return dataclasses.replace(label, texts=tuple(texts))


def test_the_owner_line_and_the_model_line_are_drawn_where_the_layout_puts_them():
    label = _label("重庆渝安燃气有限公司", "YSP35.5")
    owner, model = label.texts[0], label.texts[1]
    assert (owner.text, model.text) == ("重庆渝安燃气有限公司", model_line(label.data))
    image = _pixels(label)
    for index, text in ((0, owner), (1, model)):
        rows, cols = _box(text)
        ink = int((image[rows, cols] < 128).sum())
        assert ink > 200, f"{text.text!r}: only {ink} dark pixels"  # ~2–3 mm type at 300 dpi
        without = _pixels(_blank(label, index))
        assert (without[rows, cols] < 128).sum() == 0  # that ink is this line's and no other's
        assert np.array_equal(np.delete(image, np.s_[rows], 0), np.delete(without, np.s_[rows], 0))


def test_different_owner_names_and_models_draw_different_glyphs():
    """Missing glyphs would all be the same box: two names must not render alike."""
    one, two = _label("重庆渝安燃气有限公司", "YSP35.5"), _label("四川蜀南能源集团公司", "YSP35.5")
    three = _label("重庆渝安燃气有限公司", "YSP15.0")
    assert one.texts[0].size == two.texts[0].size and one.texts[1] == two.texts[1]
    rows, cols = _box(one.texts[0])
    assert not np.array_equal(_pixels(one)[rows, cols], _pixels(two)[rows, cols])
    rows, cols = _box(one.texts[1])
    assert not np.array_equal(_pixels(one)[rows, cols], _pixels(three)[rows, cols])


def test_the_progress_bar_reaches_the_total_with_refused_rows():
    rows = [batch.Row(line, {"serial": f"S{line}"}) for line in range(2, 9)]
    label = LabelData("C", PAYLOAD, "o", "m")

    def register(row: batch.Row) -> batch.Issued:
        if row.line % 3 == 0:
            raise batch.RowFailed("refused")
        return batch.Issued(row.line, row.body["serial"], label)

    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=True, color_system=None)
    report = ui.issue_with_progress(rows, register, console)
    assert len(report.issued) == 5 and [e.line for e in report.errors] == [3, 6]
    final = out.getvalue().replace("\r", "\n").splitlines()
    bars = [line for line in final if "赋码 / issuing" in line]
    assert bars and "7/7" in bars[-1], bars[-1:]
