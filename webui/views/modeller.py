"""The modeller as a staff page: /modellera, for process owners (and admin) behind sign-in.

The page is a Jinja template around the bundle that `npm run build` makes (webui/static/build/, from
webui/frontend/modeller/): bpmn-js, the properties panel and Samflöde's provider. Its fetch calls to /api/v1 use the
web session with the page's CSRF token (webui/api actor()). A missing bundle is said plainly, never a blank page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from engine.domain.text import Text
from webui.i18n import N_
from webui.views import platform
from webui.views.auth import current_actor, current_actor_or_none, login_required

bp = Blueprint("modeller", __name__)
BUNDLE = ("build/modeller.js", "build/modeller.css")


def bundle_missing() -> list[str]:
    """The files of the built front end that are not there (empty when `npm run build` has run)."""
    static = Path(current_app.static_folder or "")
    return [name for name in BUNDLE if not (static / name).is_file()]


@bp.get("/modellera")
@login_required
def page() -> Any:
    user = current_actor()
    if not platform().policy.can_deploy(user):
        return (
            render_template(
                "error.html",
                title="Ingen behörighet",
                message="Modelleraren är till för processägare: be en administratör om rollen processägare.",
            ),
            403,
        )
    for key in ("version", "utkast"):  # a number the page cannot read opens nothing else (the newest, no draft)
        raw = request.args.get(key, "")
        if raw and not (raw.isdigit() and 0 < int(raw) < 2**31):
            message = Text("%(key)s ska vara ett heltal från 1, inte %(value)r", key=key, value=raw[:40])
            return render_template("error.html", title=N_("Modelleraren kan inte öppnas"), message=message), 400
    missing = bundle_missing()
    if missing:
        return render_template("modeller.html", missing=missing), 503
    return render_template(
        "modeller.html",
        missing=[],
        process_id=request.args.get("process", ""),
        version=request.args.get("version", type=int),
        draft=request.args.get("utkast", type=int),
    )


@bp.get("/static/modeller/")
@bp.get("/static/modeller/index.html")
def old_static_page() -> WerkzeugResponse:
    """The first modeller was a static page asking for an API key; its address leads to the staff page now."""
    return redirect(url_for("modeller.page"), code=301)


def register(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.context_processor
    def _modeller_globals() -> dict[str, Any]:
        user = current_actor_or_none()
        return {"can_model": user is not None and platform().policy.can_deploy(user)}
