"""People on the pages: Flask-Login sessions over ``ledger.people`` (DESIGN §7).

A page session remembers the actor's id and when the person logged in; a session idle
for longer than SESSION_IDLE_MINUTES is over, and the next page says so in Chinese.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterable
from functools import cache, wraps
from typing import Any
from urllib.parse import urlsplit

import click
from flask import Flask, abort, current_app, flash, redirect, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask.wrappers import Request
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, UserMixin, current_user, login_required, logout_user
from sqlmodel import Session
from werkzeug.exceptions import HTTPException

from app.cli_group import CommandGroup
from app.runtime import runtime
from ledger import people
from ledger.model import Actor
from ledger.store import transaction

login_manager = LoginManager()
login_manager.login_view = "pages_auth.login"
login_manager.login_message = _l("Please log in first.")
login_manager.login_message_category = "warning"
login_manager.session_protection = "basic"
API_PATHS = ("/driver/api", "/station/api")  # the pages' JSON endpoints: 401, not a redirect
OPEN_BLUEPRINTS = frozenset({"public", "pages_auth"})  # no login needed: just log out
SECTIONS = frozenset({"station", "driver", "regulator"})


class _CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, which build their signer only when a request brings
    a session cookie: an API request with a bearer token never does, and Flask's own
    interface built one for every request."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


class PageUser(UserMixin):  # type: ignore[misc]  # flask_login is untyped
    """The logged-in person: the actor they act as."""

    def __init__(self, actor: Actor) -> None:
        self.actor = actor

    def get_id(self) -> str:
        """Flask-Login's id of the user: the actor's id."""
        return str(self.actor.id)

    @property
    def role(self) -> str:
        """The actor's role."""
        return self.actor.role


@login_manager.user_loader  # type: ignore[untyped-decorator]
def _load(user_id: str) -> PageUser | None:
    login_at = session.get("login_at")
    if not user_id.isdigit() or not isinstance(login_at, str):
        return None
    with transaction(runtime().engine, write=False) as db:
        actor = people.actor_of_session(db, int(user_id), dt.datetime.fromisoformat(login_at))
        if actor is not None:
            db.expunge(actor)
    return PageUser(actor) if actor is not None else None


def current_actor() -> Actor:
    """The actor of the logged-in person (only inside a login_required view)."""
    actor: Actor = current_user.actor
    return actor


def start_session(actor: Actor, now: dt.datetime) -> None:
    """Remember a fresh login in the session cookie."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    session.permanent = True
    session["login_at"] = now.isoformat()
    session["seen_at"] = now.isoformat()


def _check_idle(app: Flask) -> Callable[[], Any]:
    def check() -> Any:
        seen = session.get("seen_at")
        if not seen or request.endpoint in (None, "static"):
            return None
        now = runtime().now()
        idle = dt.timedelta(minutes=app.config["SESSION_IDLE_MINUTES"])
        if now - dt.datetime.fromisoformat(seen) > idle:
            logout_user()
            session.clear()
            if request.blueprint in OPEN_BLUEPRINTS:  # public pages need no login
                return None
            if request.path.startswith(API_PATHS):
                return {"error": "session_expired"}, 401
            if request.method != "GET":
                return _back_to_form()
            flash(_l("Your session has expired. Please log in again."), "warning")
            return redirect(url_for("pages_auth.login", next=request.full_path))
        session["seen_at"] = now.isoformat()
        return None

    return check


def _form_page() -> str:
    """The page a submitted form came from (its GET page): the Referer when it is one of
    our pages a GET may open, else the start page of the form's section (/station/,
    /driver/, /regulator/): the station's ALLOW page, say, is the answer to a POST."""
    try:
        referrer = urlsplit(request.referrer or "")
    except ValueError:  # a Referer that is no address ("http://[::1"): the section's page
        referrer = urlsplit("")
    if referrer.netloc == request.host and opens_with_get(referrer.path):
        target = referrer.path + (f"?{referrer.query}" if referrer.query else "")
        if not target.startswith("//") and "\\" not in target and target.isprintable():
            return target
    section = request.path.strip("/").split("/", 1)[0]
    return f"/{section}/" if section in SECTIONS else url_for("pages_auth.login")


def opens_with_get(path: str) -> bool:
    """Whether a GET of this path (ours, no query) opens a page: not a 404, 405 or redirect."""
    adapter = current_app.create_url_adapter(request)
    if adapter is None or not path.startswith("/"):
        return False
    try:
        adapter.match(path, method="GET")
    except HTTPException:  # 404, 405, or a redirect elsewhere
        return False
    return True


def _back_to_form() -> Any:
    """A form sent without a live session: nothing is recorded; log in, then back to the
    form's page (a POST-only address would answer a GET with 405)."""
    flash(_l("Your session expired; log in and submit again."), "warning")
    return redirect(url_for("pages_auth.login", next=_form_page()))


def roles_required(roles: Iterable[str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A view for logged-in people of these roles (403 for other roles)."""
    allowed = frozenset(roles)

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        @login_required  # type: ignore[untyped-decorator]
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in allowed:
                if request.path.startswith(API_PATHS):  # a page's script: JSON it can read
                    detail = _l("This login may not do this: log in as the right person.")
                    return {"error": "other_login", "detail": str(detail)}, 403
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorate


def init_app(app: Flask) -> None:
    """Install Flask-Login and the idle-session check."""
    app.config.setdefault("SESSION_IDLE_MINUTES", 120)
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", dt.timedelta(days=1))
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.session_interface = _CookieSessions()
    login_manager.init_app(app)
    app.before_request(_check_idle(app))
    app.cli.add_command(people_cli)

    @login_manager.unauthorized_handler  # type: ignore[untyped-decorator]
    def _unauthorized() -> Any:
        if request.path.startswith(API_PATHS):
            return {"error": "login_required"}, 401
        if request.method != "GET":
            return _back_to_form()
        flash(_l("Please log in first."), "warning")
        return redirect(url_for("pages_auth.login", next=request.full_path))


# --- demo people -------------------------------------------------------------------------


@cache
def _demo_password(name: str) -> tuple[str, str]:
    """A demo password and its hash, drawn once per process (argon2 is slow on purpose)."""
    password = secrets.token_urlsafe(9)
    return password, people.hash_password(password)


def add_demo_people(
    session: Session, actors: dict[str, Actor], names: Iterable[str], now: dt.datetime
) -> dict[str, str]:
    """Give each named demo actor a login (its demo.json name) and a password; the passwords."""
    out = {}
    for name in names:
        password, hashed = _demo_password(name)
        people.add_person(session, actors[name], name, hashed, now)
        out[name] = password
    return out


# --- CLI: flask people set-password ----------------------------------------------------------

people_cli = CommandGroup("people", help="Logins of people for the pages.")


@people_cli.command("set-password")
@click.argument("login")
@click.option(
    "--actor",
    "actor_id",
    type=click.IntRange(1, 2**31 - 1),
    required=True,
    help="The actor this login acts as.",
)
@click.password_option()
def set_password_command(login: str, actor_id: int, password: str) -> None:
    """Create or change the login and password of an actor (prompts for the password)."""
    from ledger.errors import LedgerError

    rt = runtime()
    try:
        with transaction(rt.engine) as db:
            actor = db.get(Actor, actor_id)
            if actor is None:
                raise click.ClickException(f"没有编号为 {actor_id} 的账户 / no actor {actor_id}")
            people.set_password(db, actor, login, password, rt.now())
    except LedgerError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(f"login {login} → actor {actor_id} ({actor.name}, {actor.role})")
