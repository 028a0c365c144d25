"""Server-rendered pages (DESIGN §8): /c/{code}, /login, /station, /driver, /regulator.

Chinese first (Flask-Babel, catalog zh_Hans_CN), English with ``?lang=en``; every form
carries a CSRF token (Flask-WTF); people log in with passwords (Flask-Login, argon2).
The JSON API keeps its bearer tokens and is exempt from CSRF.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, redirect, request, session, url_for
from flask_babel import Babel, format_datetime
from flask_wtf.csrf import CSRFError, CSRFProtect

from app import people
from app.pages.common import display_names, english, error_page, message
from app.pages.readable import checklist_name, readable
from ledger.reasons import short_name

babel = Babel()
csrf = CSRFProtect()
LOCALES = {"zh": "zh_Hans_CN", "zh_Hans_CN": "zh_Hans_CN", "en": "en"}


def _locale() -> str:
    asked = request.args.get("lang")
    if asked in LOCALES:
        session["lang"] = LOCALES[asked]
    chosen = session.get("lang")
    return str(chosen) if chosen in LOCALES.values() else "zh_Hans_CN"


def _when(value: Any) -> str:
    return format_datetime(value, "yyyy-MM-dd HH:mm") if value is not None else "—"


def init_app(app: Flask) -> None:
    """Install Babel, CSRF, logins and the pages' blueprints."""
    from app.api import api
    from app.pages import (
        auth,
        driver,
        http_errors,
        public,
        regulator,
        regulator_lists,
        regulator_refused,
        regulator_registry,
        station,
    )

    app.config.setdefault("BABEL_DEFAULT_LOCALE", "zh_Hans_CN")
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", app.config["LOCAL_TIMEZONE"])
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid as long as the session
    app.config.setdefault("REPORT_SALT", app.config["SECRET_KEY"])
    babel.init_app(app, locale_selector=_locale)
    csrf.init_app(app)
    csrf.exempt(api)
    people.init_app(app)
    app.jinja_env.filters["when"] = _when
    app.jinja_env.filters["msg"] = message
    app.jinja_env.filters["reason_name"] = lambda code: short_name(code, english=english())
    app.jinja_env.filters["checklist_name"] = checklist_name
    app.jinja_env.filters["readable"] = readable
    app.context_processor(lambda: {"english": english(), **display_names()})
    http_errors.init_app(app)
    for bp in (
        auth.bp,
        public.bp,
        station.bp,
        driver.bp,
        regulator.bp,
        regulator_lists.bp,
        regulator_refused.bp,
        regulator_registry.bp,
    ):
        app.register_blueprint(bp)

    # Browsers and bookmarks ask for /favicon.ico whatever the page names: the page's icon,
    # not a 404 in the log and the metrics for every first visit.
    app.add_url_rule(
        "/favicon.ico",
        endpoint="favicon",
        view_func=lambda: redirect(url_for("static", filename="favicon.svg"), 301),
    )

    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError) -> Any:
        from flask_babel import gettext as _

        if request.path.startswith("/api/"):
            return {"title": "CSRF", "detail": error.description}, 400
        return error_page(400, _("This form has expired. Reload the page and try again."))
