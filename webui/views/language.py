"""The language switch (Swedish default, English): kept in the session and, for a signed-in user, as the user's
language (users.language: the next sign-in and the notices' e-mail follow it); see webui/i18n.py."""

from __future__ import annotations

from flask import Blueprint, redirect, request, session
from werkzeug.wrappers import Response as WerkzeugResponse

from webui.i18n import LANGUAGES
from webui.shared import accounts, current_actor_or_none
from webui.views.auth import _safe_next as safe_next

bp = Blueprint("language", __name__)


@bp.post("/sprak")
def switch() -> WerkzeugResponse:
    lang = request.form.get("lang", "")
    if lang in LANGUAGES:
        session["lang"] = lang
        actor = current_actor_or_none()
        if actor is not None:
            accounts().set_language(actor.username, lang)
    return redirect(safe_next(request.form.get("next")), code=303)
