"""A task's JSON Schema as an accessible HTML form, and the posted form back as data for Runtime.complete_task
(which validates it against the same schema, frozen at deploy).

The form knows what the system knows: who and when default to the signed-in user and the clock (still editable),
units are picked by name from the directory (the HSA-id is what is stored), a field that a condition makes required
says so, and `check` explains each problem in the reader's language with what to do ("Ange ett heltal"), before the
engine's own check. Dates far in the past are questioned once."""

from __future__ import annotations

import contextlib
from datetime import date, datetime, timedelta
from typing import Any

from jsonschema import Draft202012Validator
from werkzeug.datastructures import MultiDict

from engine.domain.catalog import FORMAT_CHECKER
from engine.domain.clock import STOCKHOLM
from webui.i18n import gettext as _

OBJECT_ROWS = 3  # rows offered for a list of objects (e.g. insatser per huvudman)
WHO_FIELDS = frozenset({"kvitterad_av", "framfort_av"})  # filled with the signed-in user's name
# Times that are planned ahead, not "when it was done": never defaulted to now.
PLANNED = ("plan", "motestid", "besok_datum")
PAST_LIMIT_DAYS = 180  # a date this long before today is questioned (a discharge date in 2019)


def is_unit_field(name: str, prop: dict[str, Any]) -> bool:
    """An HSA-id of a unit (picked from the directory by name), not of a person (a doctor, a fast vårdkontakt)."""
    return prop.get("format") == "hsa-id" and not any(w in name for w in ("lakare", "kontakt"))


def conditionally_required(schema: dict[str, Any] | None) -> dict[str, str]:
    """Field -> a description of when the schema's if/then/else requires it ("Utskrivningsklar är Ja")."""
    out: dict[str, str] = {}
    props = (schema or {}).get("properties") or {}
    for part in [schema or {}, *((schema or {}).get("allOf") or [])]:
        condition = part.get("if")
        if not condition:
            continue
        rules = [(k, r["const"]) for k, r in (condition.get("properties") or {}).items() if "const" in r]
        for branch, met in (("then", True), ("else", False)):
            for key in (part.get(branch) or {}).get("required") or []:
                words = []
                for field_name, const in rules:
                    title = (props.get(field_name) or {}).get("title") or field_name
                    value = {True: _("Ja"), False: _("Nej")}.get(const, const) if isinstance(const, bool) else const
                    words.append(
                        _("%(field)s är %(value)s", field=title, value=value)
                        if met
                        else _("%(field)s inte är %(value)s", field=title, value=value)
                    )
                out[key] = _(" och ").join(words)
    return out


def _conditions(schema: dict[str, Any]) -> dict[str, set[str]]:
    """Field -> the fields whose answers decide whether an if/then/else requires it."""
    out: dict[str, set[str]] = {}
    for part in [schema, *(schema.get("allOf") or [])]:
        condition = part.get("if") or {}
        deciding = set(condition.get("properties") or {})
        for branch in ("then", "else"):
            for key in (part.get(branch) or {}).get("required") or []:
                out.setdefault(key, set()).update(deciding)
    return out


def field_labels(schema: dict[str, Any] | None) -> dict[str, str]:
    """Each field's key (as the form names it) -> its title, for the error summary."""
    out: dict[str, str] = {"datum_stammer": _("Datum långt bak i tiden")}
    for name, prop in ((schema or {}).get("properties") or {}).items():
        out[name] = prop.get("title") or name
        items = prop.get("items") or {}
        for sub, sp in (items.get("properties") or {}).items():
            for i in range(50):
                out[f"{name}.{i}.{sub}"] = f"{prop.get('title') or name}, {_('rad')} {i + 1}: {sp.get('title') or sub}"
    return out


def defaults(schema: dict[str, Any] | None, values: dict[str, Any], user_name: str, now: datetime) -> dict[str, Any]:
    """`values` with who and when filled in where the form asks for them and nothing is there yet."""
    out = dict(values)
    for name, prop in ((schema or {}).get("properties") or {}).items():
        if out.get(name) not in (None, ""):
            continue
        wanted = prop.get("x-default")
        if wanted == "signed-in-user" or (wanted is None and name in WHO_FIELDS):
            out[name] = user_name
        elif wanted == "now" or (
            wanted is None and prop.get("format") == "date-time" and not any(w in name for w in PLANNED)
        ):
            out[name] = now.astimezone(STOCKHOLM).isoformat(timespec="minutes")
    return out


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
    schema: dict[str, Any] | None,
    values: dict[str, Any],
    errors: dict[str, list[str]],
    prefix: str = "",
    units: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One dict per property, in the schema's order, with what the template needs (label, help, value, errors).
    `units` (HSA-id -> name) makes unit fields a picker by name."""
    if not schema:
        return []
    required = set(schema.get("required") or [])
    required_when = conditionally_required(schema)
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
            "required_when": required_when.get(name),
            "errors": errors.get(key, []),
            "value": value,
            "max_length": prop.get("maxLength"),
            "options": list(prop.get("enum") or (prop.get("items") or {}).get("enum") or []),
        }
        if units is not None and is_unit_field(name, prop):
            field["kind"] = "unit"
            field["label"] = str(field["label"]).replace(" (HSA-id)", "")
            field["value"] = units.get(value, value) if isinstance(value, str) else value
        if kind == "date-time" and isinstance(value, str) and value:
            with contextlib.suppress(ValueError):
                field["value"] = datetime.fromisoformat(value).astimezone(STOCKHOLM).strftime("%Y-%m-%dT%H:%M")
        if kind == "objects":
            items = prop.get("items") or {}
            rows = value if isinstance(value, list) else []
            field["rows"] = [
                fields(
                    items, rows[i] if i < len(rows) and isinstance(rows[i], dict) else {}, errors, f"{key}.{i}.", units
                )
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
            return text  # `check` says "Ange ett heltal" next to the field
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


def parse(
    schema: dict[str, Any] | None,
    form: MultiDict[str, str],
    prefix: str = "",
    units: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The posted values as data: empty fields are left out (so `required` catches them); a unit picked by name
    becomes its HSA-id (a name the directory does not know stays as typed, and `check` says so)."""
    by_name = {n.casefold(): h for h, n in (units or {}).items()}
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
                row = parse(prop.get("items") or {}, form, f"{key}.{i}.", units)
                if row:
                    rows.append(row)
            if rows:
                data[name] = rows
            continue
        raw = form.get(key)
        if raw is None or not raw.strip():
            continue
        if units is not None and is_unit_field(name, prop):
            text = raw.strip()
            data[name] = text if text in units else by_name.get(text.casefold(), text)
            continue
        data[name] = _convert(prop, raw)
    return data


def _message(error: Any, prop: dict[str, Any], name: str, units: dict[str, str] | None) -> str:
    """What to do about one problem, in the reader's language."""
    kind = error.validator
    if kind == "type":
        wanted = prop.get("type")
        if wanted == "integer":
            return _("Ange ett heltal, till exempel 3.")
        if wanted == "number":
            return _("Ange ett tal, till exempel 2,5.")
        if wanted == "boolean":
            return _("Välj Ja eller Nej.")
        return _("Fyll i fältet igen.")
    if kind == "format":
        fmt = prop.get("format")
        if fmt == "date":
            return _("Ange ett datum som ÅÅÅÅ-MM-DD, till exempel 2026-01-16.")
        if fmt == "date-time":
            return _("Ange datum och klockslag, till exempel 2026-01-16 14:30.")
        if fmt == "hsa-id":
            if units is not None and is_unit_field(name, prop):
                return _("Välj en enhet i listan (skriv en del av namnet).")
            return _("Ange ett HSA-id, till exempel SE2321000057-1234.")
        if fmt == "email":
            return _("Ange en e-postadress, till exempel namn@region.se.")
        if fmt == "personnummer":
            return _("Ange ett personnummer som ÅÅÅÅMMDD-NNNN.")
        return _("Fyll i fältet i rätt form.")
    if kind == "enum":
        return _("Välj ett av alternativen.")
    if kind == "minimum":
        return _("Ange %(n)s eller mer.", n=prop.get("minimum"))
    if kind == "maximum":
        return _("Ange %(n)s eller mindre.", n=prop.get("maximum"))
    if kind == "maxLength":
        return _("Korta texten till högst %(n)s tecken.", n=prop.get("maxLength"))
    if kind == "minLength":
        return _("Skriv minst %(n)s tecken.", n=prop.get("minLength"))
    if kind == "minItems":
        return _("Välj minst %(n)s.", n=prop.get("minItems"))
    if kind == "pattern":
        return _("Fyll i fältet i rätt form.")
    return _("Fyll i fältet igen.")


def _prop_at(schema: dict[str, Any], path: list[Any]) -> dict[str, Any]:
    node: Any = schema
    for part in path:
        node = (node.get("properties") or {}).get(part, {}) if isinstance(part, str) else node.get("items", {})
    return node if isinstance(node, dict) else {}


def check(
    schema: dict[str, Any] | None,
    data: dict[str, Any],
    today: date,
    units: dict[str, str] | None = None,
    dates_confirmed: bool = False,
) -> tuple[dict[str, list[str]], list[str]]:
    """The problems per field (key as the form names it) with what to do, and the titles of dates so far back that
    they are questioned (unless `dates_confirmed`). The engine checks again on completion."""
    if not schema:
        return {}, []
    problems: dict[str, list[str]] = {}
    conditional = _conditions(schema)
    validator = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
    for error in sorted(validator.iter_errors(dict(data)), key=lambda e: [str(p) for p in e.absolute_path]):
        path = [p for p in error.absolute_path]
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else ""
            key = ".".join(str(p) for p in [*path, missing] if p != "")
            if not path and any(f not in data for f in conditional.get(missing, ())):
                continue  # demanded by a condition not yet answered: the question itself is what is missing
            prop = _prop_at(schema, [*path, missing])
            kind = _kind(prop)
            text = _("Välj ett alternativ.") if kind in ("boolean", "select", "choices") else _("Fyll i fältet.")
            problems.setdefault(key, []).append(text)
            continue
        key = ".".join(str(p) for p in path) or "_"
        name = str(path[-1]) if path else ""
        message = _message(error, _prop_at(schema, path), name, units)
        if message not in problems.get(key, []):
            problems.setdefault(key, []).append(message)
    old: list[str] = []
    if not dates_confirmed:
        limit = today - timedelta(days=PAST_LIMIT_DAYS)
        for name, prop in (schema.get("properties") or {}).items():
            value = data.get(name)
            if prop.get("format") not in ("date", "date-time") or not isinstance(value, str) or name in problems:
                continue
            try:
                day = date.fromisoformat(value[:10])
            except ValueError:
                continue
            if day < limit:
                old.append(prop.get("title") or name)
                problems.setdefault(name, []).append(
                    _(
                        "Datumet %(date)s ligger långt bak i tiden. Rätta det, eller bekräfta att det stämmer.",
                        date=day.isoformat(),
                    )
                )
    return problems, old
