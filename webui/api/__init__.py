"""The JSON API under /api/v1. Each route: authenticate, `load()` the body with marshmallow, call one service-layer
command or one read, `dump()` the answer. Every error is `{error, message, details}` with the right status."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, g, has_request_context, jsonify, request, session
from flask_babel import force_locale
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from engine.domain import boundary
from engine.domain.actors import Actor
from engine.domain.errors import (
    BadRequest,
    Forbidden,
    InvalidData,
    NotAuthenticated,
    NotFound,
    SamflodeError,
    UnsupportedMediaType,
    ValidationFailed,
)
from engine.domain.text import Text
from webui.i18n import DEFAULT, LANGUAGES
from webui.labels import engine_text
from webui.shared import CSRF_HEADER, SAFE_METHODS, current_actor_or_none, platform

api = Blueprint("api", __name__, url_prefix="/api/v1")


@dataclass
class RouteDoc:
    method: str
    path: str
    summary: str
    body: type[Schema] | None
    query: type[Schema] | None
    response: type[Schema] | None
    status: int
    errors: tuple[int, ...]
    content: str = "application/json"


ROUTES: list[RouteDoc] = []


def documented(
    method: str,
    path: str,
    summary: str,
    *,
    body: type[Schema] | None = None,
    query: type[Schema] | None = None,
    response: type[Schema] | None = None,
    status: int = 200,
    errors: tuple[int, ...] = (400, 401, 403, 404),
    content: str = "application/json",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        ROUTES.append(RouteDoc(method, path, summary, body, query, response, status, errors, content))
        flask_path = path.replace("{", "<").replace("}", ">")
        for name, kind in (("id", "int"), ("n", "int")):
            flask_path = flask_path.replace(f"<{name}>", f"<{kind}:{name}>")
        api.add_url_rule(flask_path, endpoint=func.__name__, view_func=func, methods=[method])
        return func

    return wrap


def actor() -> Actor:
    """The caller: from `Authorization: Bearer <token>` (outside systems), or else from the signed-in web session
    (the staff pages' own fetch calls, e.g. the modeller), which must send the session's CSRF token in
    X-CSRF-Token on every request that changes something."""
    cached = g.get("api_actor")
    if cached is not None:
        return cached
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        found = platform().directory.actor_for_token(header[len("Bearer ") :].strip())
    elif session.get("sid"):
        found = _session_actor()
    else:
        raise NotAuthenticated("Logga in, eller ange en API-nyckel: Authorization: Bearer <nyckel>")
    g.api_actor = found
    return found


def _session_actor() -> Actor:
    """The signed-in user, for same-origin requests only: a state-changing request needs the CSRF header (a form
    field is not accepted: the API takes JSON and XML) and, when the browser names an Origin, this site's."""
    if request.headers.get("Sec-Fetch-Site") == "cross-site":  # the browser says another site made this request
        raise Forbidden("Förfrågan kommer från en annan webbplats")
    if request.method not in SAFE_METHODS:
        origin = request.headers.get("Origin")
        if origin and origin.rstrip("/") != request.host_url.rstrip("/"):
            raise Forbidden("Förfrågan kommer från en annan webbplats")
        expected = str(session.get("csrf") or "")
        given = request.headers.get(CSRF_HEADER, "")
        if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
            raise Forbidden(
                Text(
                    "CSRF-token saknas eller stämmer inte: skicka sidans token i %(header)s "
                    "(eller använd en API-nyckel)",
                    header=CSRF_HEADER,
                )
            )
    found = current_actor_or_none()
    if found is None:
        raise NotAuthenticated("Sessionen har gått ut: logga in igen")
    return found


def load_body(schema: type[Schema]) -> dict[str, Any]:
    """The JSON body through the one data boundary (engine/domain/boundary.py) and then `schema`: a body with NaN,
    Infinity, a serializer marker or nesting deeper than the boundary allows is a 400 naming the field, never a 500
    (Python's parser takes NaN, and raises RecursionError on very deep nesting)."""
    if not request.is_json:
        raise UnsupportedMediaType("Skicka JSON (Content-Type: application/json)")
    raw = request.get_data(cache=True)
    try:
        payload = json.loads(raw)
    except RecursionError:
        raise BadRequest(
            Text("Kroppen är för djupt nästlad (högst %(max_depth)s nivåer)", max_depth=boundary.MAX_DEPTH),
            {"fields": {"$": [Text("för djup")]}},
        ) from None
    except ValueError:
        raise BadRequest("Kroppen är inte giltig JSON") from None
    if not isinstance(payload, dict):
        raise BadRequest("Kroppen ska vara ett JSON-objekt")
    try:
        boundary.check_value(payload, limits=boundary.REQUEST_BODY)
    except boundary.DataRefused as exc:
        raise InvalidData(
            Text("Ogiltigt värde i %(path)s: %(reason)s", path=exc.path, reason=exc.reason),
            {"fields": {exc.path: [exc.reason]}},
        ) from exc
    try:
        return schema().load(payload)
    except ValidationError as exc:
        raise ValidationFailed("Ogiltiga uppgifter", {"fields": exc.messages}) from exc


def load_query(schema: type[Schema], values: dict[str, Any] | None = None) -> dict[str, Any]:
    """The query string (or `values`, e.g. query and form fields of a multipart upload) checked by `schema`."""
    try:
        return schema().load(request.args.to_dict() if values is None else values)
    except ValidationError as exc:
        raise BadRequest("Ogiltiga parametrar", {"fields": exc.messages}) from exc


def api_language() -> str:
    """The language of the API's texts for people (titles such as `anchor_title`; docs/api.md *Language*): a call from
    the staff pages (the signed-in web session, no bearer token) follows the language chosen on the pages; any other
    caller gets the best of its Accept-Language among Swedish and English, Swedish when it names neither. A caller
    with a bearer token that sends no Accept-Language gets its user's language (users.language, chosen on the pages)
    once the token has been read (`actor`); before that, or for a token refused, Swedish."""
    chosen = session.get("lang") if "Authorization" not in request.headers else None
    if chosen in LANGUAGES:
        return str(chosen)
    if "Accept-Language" not in request.headers:
        return _token_user_language()
    return request.accept_languages.best_match(list(LANGUAGES), default=DEFAULT) or DEFAULT


def _token_user_language() -> str:
    """The stored language of the user whose token this request carries (looked up once per request), or Swedish when
    no token has been accepted yet: an answer refusing a token is in the default language."""
    found = g.get("api_actor")
    if found is None or not request.headers.get("Authorization", "").startswith("Bearer "):
        return DEFAULT
    language = g.get("api_user_language")
    if language is None:
        language = g.api_user_language = platform().accounts.language(found.username)
    return str(language) if language in LANGUAGES else DEFAULT


def localized(value: object) -> str:
    """An engine text (Swedish, or a `Text`) in the API caller's language (`api_language`)."""
    if value is None:
        return ""
    language = api_language()
    if language == DEFAULT:
        return str(value)
    with force_locale(language):
        return engine_text(value)


def localized_diagnostics(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A diagram's findings (`{element_id, severity, message}`), each with its `text` in the caller's language when
    that is not Swedish (the modeller shows `text`)."""
    if api_language() == DEFAULT:
        return items
    return [{**d, "text": localized(d.get("message"))} if isinstance(d, dict) else d for d in items]


def _localized_fields(value: Any) -> Any:
    """The messages per field (`details.fields`: lists of texts, nested per field of a nested object) in the caller's
    language, the fields' names as they are."""
    if isinstance(value, dict):
        return {key: _localized_fields(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_localized_fields(item) for item in value]
    return localized(value) if isinstance(value, str) else value


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response:
    """The error body: a stable `error` code, the Swedish `message` and its `details`; a message the engine made from
    a template (engine/domain/text.py) also gives `message_template` and `message_params`, a stable key a client can
    translate (the English is in webui/translations/en/LC_MESSAGES/messages.po). A caller in English
    (`api_language`) also gets `text`, the message in English (the modeller shows it), and `fields_text`, the
    messages per field of `details.fields` in English."""
    body: dict[str, Any] = {"error": code, "message": str(message), "details": details or {}}
    if isinstance(message, Text):
        body.update(message.key())
    if has_request_context() and api_language() != DEFAULT:
        body["text"] = localized(message)
        if isinstance(body["details"].get("fields"), dict):
            body["fields_text"] = _localized_fields(body["details"]["fields"])
        if isinstance(body["details"].get("diagnostics"), list):
            body["details"] = {**body["details"], "diagnostics": localized_diagnostics(body["details"]["diagnostics"])}
    response = jsonify(body)
    response.status_code = status
    return response


@api.errorhandler(SamflodeError)
def _samflode_error(exc: SamflodeError) -> Response:
    response = error_response(exc.status, exc.code, exc.message, exc.details)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="samflode"'
    return response


@api.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> Response:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    return error_response(413, "too_large", Text("Förfrågan är för stor (högst %(limit)s byte)", limit=limit))


@api.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    code = (exc.name or "error").lower().replace(" ", "_")
    return error_response(exc.code or 500, code, exc.description or exc.name or "Fel")


def not_found_json() -> Response:
    return error_response(404, NotFound.code, "Det finns ingen sådan adress i API:t")


from webui.api import (  # noqa: E402,F401  (registers the routes: drafts, modelling, the rest)
    drafts,
    migrations,  # noqa: E402,F401  (issue 8: /migrations; the implementation team)
    modelling,
    monitoring,  # noqa: E402,F401  (issue 6: instance filters, repairs with reasons, heat map)
    pilots,  # noqa: E402,F401  (issue 8: /pilots; the implementation team)
    reports,  # noqa: E402,F401  (issue 6: the figures, /reports/...)
    routes,
    simulations,  # noqa: E402,F401  (issue 8: /simulations; the implementation team)
)
