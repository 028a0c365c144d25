"""/ , /login and /logout."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from app.pages.common import db, error_page, page_blueprint
from app.people import PageUser, start_session
from app.runtime import runtime
from ledger import people
from ledger.model import Role

bp = page_blueprint("pages_auth", __name__)
HOME: dict[str, str] = {
    Role.FILLING_OPERATOR: "station.index",
    Role.DRIVER: "driver.index",
    Role.REGULATOR: "regulator.index",
    Role.ADMIN: "regulator.index",
}


def home_of(role: str) -> str:
    """The page a person of this role starts on."""
    return url_for(HOME.get(role, "pages_auth.login"))


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    try:
        parts = urlsplit(target)
    except ValueError:  # not an address at all ("//[", say): ignored, as a foreign one is
        return None
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or not target.isprintable():  # browsers read /\host as //host
        return None
    return target.rstrip("?") or None


@bp.get("/")
def root() -> Any:
    """The bare address (what ``make run`` prints, what staff type): the login form, which
    sends a signed-in person on to the page of their role."""
    return redirect(url_for("pages_auth.login"))


@bp.get("/login")
def login() -> Any:
    """The login form."""
    if current_user.is_authenticated:
        if current_user.role not in HOME:  # enterprise admins, inspectors: the API only
            return error_page(403, _("Your account may not use this page."))  # not a loop
        return redirect(home_of(current_user.role))
    return render_template("login.html", next=request.args.get("next", ""))


@bp.post("/login")
def login_post() -> Any:
    """Check the password; start a session, or say what was wrong."""
    login_name = request.form.get("login", "").strip()
    password = request.form.get("password", "")
    nxt = _safe_next(request.form.get("next"))
    with db(write=False) as s:
        actor = people.authenticate(s, login_name, password)
        if actor is not None:
            s.expunge(actor)
    if actor is None:
        flash(_("Wrong login name or password."), "error")
        return render_template("login.html", next=nxt or "", login=login_name), 401
    start_session(actor, runtime().now())
    login_user(PageUser(actor))
    return redirect(nxt or home_of(actor.role))


@bp.post("/logout")
def logout() -> Any:
    """End the session."""
    logout_user()
    flash(_("You have logged out."), "info")
    return redirect(url_for("pages_auth.login"))
