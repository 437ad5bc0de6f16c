"""Sign-in with username and password, sign-out, and `login_required`.

An identity provider (OIDC/SAML with SITHS) plugs in by adding a blueprint whose callback calls `start_session(actor)`
for the username it vouches for: views only ever call `current_actor()` (docs/authentication.md).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlparse

from flask import Blueprint, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from engine.commands.accounts import LockedOut
from engine.domain.actors import Actor
from engine.domain.errors import NotAuthenticated
from webui.i18n import DEFAULT, LANGUAGES
from webui.i18n import gettext as _
from webui.shared import current_actor_or_none
from webui.views import accounts, notifications, platform, refresh_notices, web_sessions

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])


def start_session(actor: Actor) -> None:
    """The one place a web session begins, whichever way the user proved who they are: a row on the server
    (engine/commands/sessions.py) and its token in the signed cookie, with a new CSRF token. The pages' language: one
    chosen on the sign-in page is the user's choice (kept for the next time and the e-mail); otherwise the language
    the user chose before (users.language), Swedish when never chosen."""
    token = web_sessions().start(actor.username, request.remote_addr)
    chosen = session.get("lang")
    session.clear()
    session.permanent = True
    session["sid"] = token
    session["seen"] = platform().clock.now().timestamp()
    if chosen in LANGUAGES:
        session["lang"] = chosen
        accounts().set_language(actor.username, chosen)
    else:
        stored = accounts().language(actor.username)
        if stored != DEFAULT:
            session["lang"] = stored


def current_actor() -> Actor:
    found = current_actor_or_none()
    if found is None:
        raise NotAuthenticated("Logga in")
    return found


def login_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_actor_or_none() is None:
            return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return cast(F, wrapped)


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no open redirect)."""
    if not target:
        return url_for("worklist.index")
    parts = urlparse(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("worklist.index")
    return target


@bp.route("/logga-in", methods=["GET", "POST"])
def sign_in() -> Any:
    error = None
    status = 200
    username = ""
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()
        password = request.form.get("password") or ""
        if not username or not password:
            error, status = _("Fyll i användarnamn och lösenord."), 400
        else:
            try:
                actor = accounts().authenticate(username, password, request.remote_addr)
            except LockedOut as exc:
                error, status = exc.message, 429
            except NotAuthenticated as exc:
                error, status = exc.message + ".", 401
            else:
                start_session(actor)
                refresh_notices(notifications(), platform().clock, actor, force=True)
                return redirect(_safe_next(request.form.get("next")), code=303)
    return (
        render_template("sign_in.html", error=error, username=username, next=request.values.get("next", "")),
        status,
    )


@bp.post("/logga-ut")
def sign_out() -> WerkzeugResponse:
    actor = current_actor_or_none()
    if actor is not None:
        accounts().signed_out(actor.username)
    web_sessions().end(session.get("sid"), "signed_out")  # every copy of the cookie is dead from now on
    session.clear()
    return redirect(url_for("auth.sign_in", utloggad=1), code=303)
