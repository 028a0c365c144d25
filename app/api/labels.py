"""Labels: one cylinder's label as PNG or SVG, A4 PDF sheets (DESIGN §8), and the lookup
by serial that lets a rerun batch reprint its cylinders instead of registering them again.

All of them are for the administrator of the enterprise that owns the cylinders
(``labels.records.check_may_print``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from apiflask import HTTPError, Schema
from apiflask.fields import Boolean, Float, Integer, List, Raw, String
from apiflask.schemas import FileSchema
from apiflask.validators import Length, Range
from flask import Response, current_app

from app import malloc_release
from app.api import api
from app.auth import auth, current_actor
from app.runtime import runtime
from labels import records, sheet_layouts, svg
from labels.fonts import FontMissing
from labels.layout import DEFAULT_DPI, MAX_DPI, MIN_DPI, Label, LabelData, layout
from ledger.errors import Invalid
from ledger.model import Enterprise
from ledger.store import transaction

LABEL_MM = (sheet_layouts.LAYOUTS["3x8"].width_mm, sheet_layouts.LAYOUTS["3x8"].height_mm)


class SerialQuery(Schema):
    manufacturer = String(required=True, validate=Length(1, 200))
    serial = String(required=True, validate=Length(1, 64), metadata={"description": "钢印号"})


class LabelQuery(Schema):
    width_mm = Float(
        load_default=None,
        allow_none=True,
        validate=Range(20, 200),
        metadata={"description": f"label width, default {LABEL_MM[0]:g} mm (the 3x8 stock)"},
    )
    height_mm = Float(
        load_default=None,
        allow_none=True,
        validate=Range(15, 200),
        metadata={"description": f"label height, default {LABEL_MM[1]:g} mm"},
    )


class PngQuery(LabelQuery):
    dpi = Integer(load_default=DEFAULT_DPI, validate=Range(MIN_DPI, MAX_DPI))


class SvgQuery(LabelQuery):
    engrave = Boolean(
        load_default=False,
        metadata={"description": "SVG only: single-colour paths for laser-marking a nameplate"},
    )


class SheetIn(Schema):
    codes = List(
        String(validate=Length(1, 20)), required=True, validate=Length(1, sheet_layouts.MAX_LABELS)
    )
    layout = Raw(
        load_default=None,
        metadata={
            "description": f"a layout name ({', '.join(sheet_layouts.LAYOUTS)}; default "
            f"{sheet_layouts.DEFAULT_LAYOUT}) or an object {{columns, rows, width_mm, height_mm, "
            "left_mm?, top_mm?, gap_x_mm?, gap_y_mm?}} in millimetres"
        },
    )


def _one_label(code: str, query: dict[str, Any]) -> Label:
    rt = runtime()
    actor = current_actor()
    assert actor is not None
    with transaction(rt.engine, write=False) as session:
        (data,) = records.labels_for(session, rt.authority, actor, [code])
    width, height = query["width_mm"] or LABEL_MM[0], query["height_mm"] or LABEL_MM[1]
    return layout(data, width, height)


def label_document(data: LabelData) -> dict[str, Any]:
    """What a label shows, in the shape of a cylinder document (code, qr, owner, model)."""
    return {
        "code": data.code,
        "qr": data.payload,
        "owner": {"name": data.owner},
        "model": data.model,
        "capacity_kg": data.capacity_kg,
    }


def _font_problem(view: Callable[..., Any]) -> Callable[..., Any]:
    """A missing or unreadable label font is the server's fault, and passing: 503, naming
    the font and what to install (the folders searched go to the log, not the client)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except FontMissing as exc:
            current_app.logger.error("label font: %s", exc)
            raise HTTPError(503, "Label Font Missing", detail=exc.public) from exc

    return wrapper


def _file(body: bytes | str, mimetype: str, name: str) -> Response:
    response = Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "private"},
    )
    response.call_on_close(malloc_release.release_free_memory)  # after it is sent
    return response


@api.get("/cylinders/<code>/label.png")
@api.auth_required(auth)
@api.input(PngQuery, location="query", arg_name="query")
@api.output(FileSchema(), content_type="image/png")
@api.doc(
    summary="A cylinder's label as PNG (the owner's administrator)",
    responses=[200, 403, 404, 422, 503],
)
@_font_problem
def label_png(code: str, query: dict[str, Any]) -> Any:
    from labels import png  # Pillow: loaded by the first PNG asked for, not by every worker

    label = _one_label(code, query)
    return _file(png.to_png(label, query["dpi"]), "image/png", f"{label.data.code}.png")


@api.get("/cylinders/<code>/label.svg")
@api.auth_required(auth)
@api.input(SvgQuery, location="query", arg_name="query")
@api.output(FileSchema(), content_type="image/svg+xml")
@api.doc(
    summary="A cylinder's label as SVG; ?engrave=true for a laser-marking nameplate",
    responses=[200, 403, 404, 422, 503],
)
@_font_problem
def label_svg(code: str, query: dict[str, Any]) -> Any:
    label = _one_label(code, query)
    body = svg.to_engraving_svg(label) if query["engrave"] else svg.to_svg(label)
    return _file(body, "image/svg+xml", f"{label.data.code}.svg")


@api.post("/labels/sheet")
@api.auth_required(auth)
@api.input(SheetIn, arg_name="body")
@api.output(FileSchema(), content_type="application/pdf")
@api.doc(summary="A4 PDF sheets of labels, CJK font embedded", responses=[200, 403, 404, 422, 503])
@_font_problem
def label_sheet(body: dict[str, Any]) -> Any:
    value = body["layout"]
    if value is not None and not isinstance(value, str | dict):
        raise Invalid(
            "版面须为名称或对象 / 'layout' must be a layout name or an object", field="layout"
        )
    from labels import sheet  # reportlab: loaded by the first sheet asked for

    grid = sheet_layouts.resolve_layout(value)
    rt = runtime()
    actor = current_actor()
    assert actor is not None
    with transaction(rt.engine, write=False) as session:
        items: list[LabelData] = records.labels_for(session, rt.authority, actor, body["codes"])
    return _file(sheet.render_sheet(items, grid), "application/pdf", "labels.pdf")


@api.get("/labels/registered")
@api.auth_required(auth)
@api.input(SerialQuery, location="query", arg_name="query")
@api.doc(
    summary="The caller's enterprise's cylinder with this manufacturer and serial, "
    "as its label shows it, with its status ({cylinder: null} when none): a rerun batch "
    "reprints it, unless it was scrapped or condemned",
    responses=[200, 403, 422],
)
def registered_by_serial(query: dict[str, Any]) -> Any:
    rt = runtime()
    actor = current_actor()
    assert actor is not None
    enterprise_id = records.check_may_print(actor)
    with transaction(rt.engine, write=False) as session:
        found = records.registered_cylinder(
            session, enterprise_id, query["manufacturer"], query["serial"]
        )
        if found is None:
            return {"cylinder": None}
        owner = session.get(Enterprise, found.cylinder.owner_id)
        data = records.label_data(found.cylinder, owner.name if owner else "", rt.authority)
    return {"cylinder": {**label_document(data), "status": found.status}}
