"""The OpenAPI 3.1 document, built from the routes' own marshmallow schemas so that it cannot drift from them."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from webui.api import ROUTES
from webui.api.schemas import ErrorOut

_SIMPLE: dict[type[fields.Field], dict[str, Any]] = {
    fields.String: {"type": "string"},
    fields.Integer: {"type": "integer"},
    fields.Float: {"type": "number"},
    fields.Boolean: {"type": "boolean"},
    fields.Dict: {"type": "object"},
    fields.Date: {"type": "string", "format": "date"},
}

STATUS_TEXT = {
    200: "OK",
    201: "Skapad",
    202: "Mottagen",
    204: "Klart (inget innehåll)",
    400: "Felaktig förfrågan",
    401: "Inte inloggad",
    403: "Inte tillåtet",
    404: "Finns inte",
    409: "Konflikt",
    413: "För stor",
    415: "Fel innehållstyp",
    422: "Ogiltiga uppgifter",
}


def _field(field: fields.Field, components: dict[str, Any]) -> dict[str, Any]:
    if isinstance(field, fields.Nested):
        nested = field.nested if isinstance(field.nested, type) else type(field.nested)
        return {"$ref": _ref(nested, components)}
    if isinstance(field, fields.List):
        return {"type": "array", "items": _field(field.inner, components)}
    out: dict[str, Any] = {}
    for kind, schema in _SIMPLE.items():
        if isinstance(field, kind):
            out = dict(schema)
            break
    for rule in field.validators:
        if isinstance(rule, validate.OneOf):
            out["enum"] = list(rule.choices)
        elif isinstance(rule, validate.Length):
            if rule.min is not None:
                out["minLength"] = rule.min
            if rule.max is not None:
                out["maxLength"] = rule.max
        elif isinstance(rule, validate.Range):
            if rule.min is not None:
                out["minimum"] = rule.min
            if rule.max is not None:
                out["maximum"] = rule.max
    if field.allow_none:
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def _ref(schema: type[Schema], components: dict[str, Any]) -> str:
    name = schema.__name__
    if name not in components:
        components[name] = {}  # placeholder against recursion
        instance = schema()
        props = {key: _field(f, components) for key, f in instance.fields.items()}
        required = [key for key, f in instance.fields.items() if f.required]
        body: dict[str, Any] = {"type": "object", "properties": props}
        if required:
            body["required"] = required
        components[name] = body
    return f"#/components/schemas/{name}"


def build_document() -> dict[str, Any]:
    components: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    error_ref = _ref(ErrorOut, components)
    for route in ROUTES:
        op: dict[str, Any] = {"summary": route.summary, "operationId": f"{route.method.lower()}{route.path}"}
        params = [
            {
                "name": part[1:-1],
                "in": "path",
                "required": True,
                "schema": {"type": "integer" if part in ("{id}", "{n}") else "string"},
            }
            for part in route.path.split("/")
            if part.startswith("{")
        ]
        if route.query is not None:
            for key, f in route.query().fields.items():
                params.append({"name": key, "in": "query", "required": False, "schema": _field(f, components)})
        if params:
            op["parameters"] = params
        if route.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": _ref(route.body, components)}}},
            }
        elif route.method == "POST" and route.content == "application/xml":
            op["requestBody"] = {
                "required": True,
                "content": {
                    "application/xml": {"schema": {"type": "string"}},
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "file": {"type": "string", "format": "binary"},
                                "comment": {"type": "string"},
                            },
                        }
                    },
                },
            }
        responses: dict[str, Any] = {}
        ok: dict[str, Any] = {"description": STATUS_TEXT.get(route.status, "OK")}
        if route.response is not None:
            ok["content"] = {"application/json": {"schema": {"$ref": _ref(route.response, components)}}}
        elif route.method == "GET" and route.content == "application/xml":
            ok["content"] = {"application/xml": {"schema": {"type": "string"}}}
        responses[str(route.status)] = ok
        for code in route.errors:
            responses[str(code)] = {
                "description": STATUS_TEXT.get(code, "Fel"),
                "content": {"application/json": {"schema": {"$ref": error_ref}}},
            }
        op["responses"] = responses
        if route.path != "/openapi.json":
            op["security"] = [{"bearer": []}, {"session": [], "csrf": []}]
        paths.setdefault(f"/api/v1{route.path}", {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Samflöde API",
            "version": "1",
            "description": "Körbara vårdprocesser för in- och utskrivning, SIP och mobila team.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                # The staff pages' own calls (e.g. the modeller): the signed-in session plus the page's CSRF token,
                # which every request that changes something must carry.
                "session": {"type": "apiKey", "in": "cookie", "name": "samflode_session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
            },
        },
    }
