"""A task's JSON Schema as an accessible HTML form, and the posted form back as data for Runtime.complete_task
(which validates it against the same schema, frozen at deploy)."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from werkzeug.datastructures import MultiDict

from engine.domain.clock import STOCKHOLM

OBJECT_ROWS = 3  # rows offered for a list of objects (e.g. insatser per huvudman)


def _kind(prop: dict[str, Any]) -> str:
    kind = prop.get("type")
    if kind == "boolean":
        return "boolean"
    if kind in ("integer", "number"):
        return kind
    if kind == "array":
        items = prop.get("items") or {}
        return "objects" if items.get("type") == "object" else "choices"
    if "enum" in prop:
        return "select"
    fmt = prop.get("format")
    if fmt in ("date", "date-time", "email"):
        return fmt
    if (prop.get("maxLength") or 0) > 200:
        return "textarea"
    return "text"


def fields(
    schema: dict[str, Any] | None, values: dict[str, Any], errors: dict[str, list[str]], prefix: str = ""
) -> list[dict[str, Any]]:
    """One dict per property, in the schema's order, with what the template needs (label, help, value, errors)."""
    if not schema:
        return []
    required = set(schema.get("required") or [])
    out = []
    for name, prop in (schema.get("properties") or {}).items():
        kind = _kind(prop)
        key = f"{prefix}{name}"
        value = values.get(name)
        field: dict[str, Any] = {
            "name": key,
            "id": "f-" + key.replace(".", "-"),
            "label": prop.get("title") or name,
            "help": prop.get("description"),
            "kind": kind,
            "required": name in required,
            "errors": errors.get(key, []),
            "value": value,
            "max_length": prop.get("maxLength"),
            "options": list(prop.get("enum") or (prop.get("items") or {}).get("enum") or []),
        }
        if kind == "date-time" and isinstance(value, str) and value:
            with contextlib.suppress(ValueError):
                field["value"] = datetime.fromisoformat(value).astimezone(STOCKHOLM).strftime("%Y-%m-%dT%H:%M")
        if kind == "objects":
            items = prop.get("items") or {}
            rows = value if isinstance(value, list) else []
            field["rows"] = [
                fields(items, rows[i] if i < len(rows) and isinstance(rows[i], dict) else {}, errors, f"{key}.{i}.")
                for i in range(max(OBJECT_ROWS, len(rows)))
            ]
            field["row_errors"] = [m for k, msgs in errors.items() if k.startswith(f"{key}.") for m in msgs]
        out.append(field)
    return out


def _convert(prop: dict[str, Any], raw: str) -> Any:
    kind = _kind(prop)
    text = raw.strip()
    if kind == "boolean":
        return {"ja": True, "nej": False}.get(text, text)
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            return text  # the schema check says "har fel typ" next to the field
    if kind == "number":
        try:
            return float(text.replace(",", "."))
        except ValueError:
            return text
    if kind == "date-time":
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return text
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=STOCKHOLM)
        return moment.isoformat()
    return text


def parse(schema: dict[str, Any] | None, form: MultiDict[str, str], prefix: str = "") -> dict[str, Any]:
    """The posted values as data: empty fields are left out (so `required` catches them)."""
    data: dict[str, Any] = {}
    for name, prop in ((schema or {}).get("properties") or {}).items():
        key = f"{prefix}{name}"
        kind = _kind(prop)
        if kind == "choices":
            chosen = [v for v in form.getlist(key) if v]
            if chosen or key + ".present" in form:
                data[name] = chosen
            continue
        if kind == "objects":
            rows = []
            for i in range(50):
                if not any(k.startswith(f"{key}.{i}.") for k in form):
                    break
                row = parse(prop.get("items") or {}, form, f"{key}.{i}.")
                if row:
                    rows.append(row)
            if rows:
                data[name] = rows
            continue
        raw = form.get(key)
        if raw is None or not raw.strip():
            continue
        data[name] = _convert(prop, raw)
    return data
