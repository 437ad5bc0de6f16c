"""Samflöde's web layer: Flask app factory (convention 5). No app, engine or session at module level."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, request, send_from_directory
from werkzeug.routing import IntegerConverter, Map

from engine.config import PROJECT_ROOT, Settings
from engine.domain.text import Text
from engine.platform import Platform, build
from webui.i18n import gettext

log = logging.getLogger(__name__)
VENDOR = {"bpmn-js": "bpmn-js/dist", "htmx.org": "htmx.org/dist"}


class _DatabaseIntConverter(IntegerConverter):
    """`<int:...>` as a 32-bit signed database id (1 .. 2**31-1)."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's name
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def use_catalogue_for_mail(platform: Platform) -> None:
    """The notices' e-mail in each user's language: the engine gets the pages' catalogue handed in (it imports no
    webui), unless a translator was handed in already."""
    from engine.jobs.notifications import as_written
    from webui.labels import mail_translator

    if platform.notifications.translate is as_written:
        platform.notifications.translate = mail_translator()


def create_app(overrides: dict[str, Any] | None = None, platform: Platform | None = None) -> Flask:
    """Build the app. `platform` may be handed in (tests); otherwise it is built from the environment."""
    overrides = overrides or {}
    if platform is None:
        settings = overrides.pop("SETTINGS", None) or Settings.from_env()
        platform = build(settings)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=platform.settings.secret_key,
        MAX_CONTENT_LENGTH=platform.settings.max_upload_bytes,
        JSON_SORT_KEYS=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=platform.settings.env == "production",
    )
    app.config.update(overrides)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["samflode"] = platform
    use_catalogue_for_mail(platform)
    # Ids in paths are database integers: a number beyond what the column holds is "not found", not an overflow
    # in the database driver (a 500, found by the API fuzz test, issue 13). Set before any route is registered.
    app.url_map.converters["int"] = _DatabaseIntConverter

    from webui.api import api, error_response

    app.register_blueprint(api)
    from webui.views import register_views

    register_views(app)
    from webui.catalogue import pages as catalogue_pages

    app.register_blueprint(catalogue_pages)

    refresh_clock = getattr(platform.clock, "refresh", None)
    if refresh_clock is not None:
        # The shared simulated clock: each request sees the time as it stands when the request starts. (Nothing is
        # returned: Flask would take what a before_request function returns as the response.)
        def _refresh_clock() -> None:
            refresh_clock()

        app.before_request(_refresh_clock)

    @app.errorhandler(404)
    def _not_found(exc: Exception) -> Response | tuple[str, int]:
        if request.path.startswith("/api/"):
            return error_response(404, "not_found", "Det finns ingen sådan adress i API:t")
        return gettext("Sidan finns inte"), 404

    @app.errorhandler(405)
    def _not_allowed(exc: Exception) -> Response | tuple[str, int]:
        if request.path.startswith("/api/"):
            return error_response(405, "method_not_allowed", "Metoden är inte tillåten här")
        return gettext("Metoden är inte tillåten"), 405

    @app.errorhandler(413)
    def _too_large(exc: Exception) -> Response | tuple[str, int]:
        return error_response(
            413,
            "too_large",
            Text("Förfrågan är för stor (högst %(limit)s byte)", limit=app.config["MAX_CONTENT_LENGTH"]),
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        from werkzeug.exceptions import HTTPException

        if isinstance(exc, HTTPException):
            return error_response(
                exc.code or 500, (exc.name or "error").lower().replace(" ", "_"), exc.description or "Fel"
            )
        log.exception("unexpected error")
        return error_response(500, "internal_error", "Ett oväntat fel inträffade; det är loggat")

    @app.get("/vendor/<package>/<path:filename>")
    def _vendor(package: str, filename: str) -> Response:
        """Front-end packages installed from npm (package.json, pinned); served from node_modules, never copied."""
        folder = VENDOR.get(package)
        if folder is None:
            return Response("Finns inte", status=404)
        return send_from_directory(PROJECT_ROOT / "node_modules" / folder, filename, max_age=3600)

    from webui.ops import register_operations

    register_operations(app, platform)

    @app.get("/healthz")
    def _health() -> dict[str, Any]:
        return {"status": "ok", "clock": platform.clock.now().isoformat()}

    return app
