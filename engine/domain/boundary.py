"""The one data boundary (convention 14): what may enter or leave the engine as case data.

Everything that becomes task or case data passes `check_value` / `check_data` once: request bodies and form data
(webui/api `load_body`, Runtime commands), message payloads and correlation, and what a diagram's script leaves in
the task data (engine/bpmn/sandbox.py). Allowed are JSON values only: null, booleans, integers of a bounded number of
digits, finite floats in a sane range, strings of bounded length without NUL or lone surrogates (PostgreSQL's jsonb
refuses both), lists, and objects with string keys, nested at most `MAX_DEPTH` deep and at most `MAX_TOTAL_BYTES`
as JSON. The keys SpiffWorkflow's serializer reads as its own markers (`typename` turns any object in the stored state
into a call of a registered class when the state is restored; `serializer_version` marks the state's format) are
refused at any depth: a case carrying one could never be restored again.

Pure: no SQLAlchemy, no Flask. A refusal is a `DataRefused` naming the JSON path of the first bad value (`data.a[3]`);
the caller decides what that is: a 400 for a request, an incident for a script result.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from engine.domain.text import Text

MAX_DEPTH = 32  # nesting of lists and objects (the top object is depth 1)
MAX_TOTAL_BYTES = 256 * 1024  # the value as compact JSON (UTF-8)
MAX_STRING_CHARS = 100_000  # one string value
MAX_KEY_CHARS = 200  # one object key
MAX_INT_DIGITS = 18  # |n| < 10**18: what every JSON reader (and PostgreSQL's numeric) keeps exactly
MAX_FLOAT_ABS = 1e15  # finite floats within +-10**15
MAX_ITEMS = 20_000  # values in one document (lists, objects and scalars together)
RESERVED_KEYS = frozenset({"typename", "serializer_version"})  # SpiffWorkflow 3.2 serializer markers
_INT_LIMIT = 10**MAX_INT_DIGITS


class DataRefused(ValueError):
    """A value that may not cross the boundary. `path` names where (`data.kontakter[2].namn`), `reason` says why
    (Swedish, for the person who sent it or the process owner who wrote the script)."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    """The bounds of one kind of value. Case data uses the defaults; a whole request body (`REQUEST_BODY`) may be
    as large as the upload limit allows (a modeller's draft carries its BPMN file), while its `data` and
    `correlation` fields are checked again as case data by the service layer."""

    max_depth: int = MAX_DEPTH
    max_total_bytes: int = MAX_TOTAL_BYTES
    max_string_chars: int = MAX_STRING_CHARS
    max_items: int = MAX_ITEMS


CASE_DATA = Limits()
REQUEST_BODY = Limits(
    max_depth=MAX_DEPTH + 2, max_total_bytes=64 * 1024 * 1024, max_string_chars=32 * 1024 * 1024, max_items=200_000
)


@dataclass
class _Walk:
    limits: Limits
    size: int = 0
    items: int = 0


def _key_path(path: str, key: str) -> str:
    if key.isidentifier():
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key[:50], ensure_ascii=False)}]"


def _string_problem(text: str, limit: int) -> str | None:
    if len(text) > limit:
        return Text("texten är för lång (%(count)s tecken, högst %(limit)s)", count=len(text), limit=limit)
    if "\x00" in text:
        return Text("texten innehåller ett NUL-tecken")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return Text("texten innehåller ogiltig Unicode (ensamt surrogattecken)")
    return None


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def _check(value: Any, path: str, depth: int, walk: _Walk, normalise: bool) -> Any:
    limits = walk.limits
    walk.items += 1
    if walk.items > limits.max_items:
        raise DataRefused(path or "$", Text("för många värden (högst %(max_items)s)", max_items=limits.max_items))
    if value is None or value is True or value is False:
        walk.size += 5
        return value
    kind = type(value)
    if kind is int:
        if not -_INT_LIMIT < value < _INT_LIMIT:
            raise DataRefused(
                path, Text("heltalet har för många siffror (högst %(max_int_digits)s)", max_int_digits=MAX_INT_DIGITS)
            )
        walk.size += 20
        return value
    if kind is float:
        if not math.isfinite(value):
            raise DataRefused(path, "talet är inte ändligt (NaN eller oändligt)")
        if abs(value) > MAX_FLOAT_ABS:
            raise DataRefused(
                path, Text("talet är för stort (högst %(max_float_abs).0e i belopp)", max_float_abs=MAX_FLOAT_ABS)
            )
        walk.size += 24
        return value
    if kind is str:
        problem = _string_problem(value, limits.max_string_chars)
        if problem:
            raise DataRefused(path, problem)
        walk.size += _utf8_len(value) + 2
        _check_size(path, walk)
        return value
    if kind is list or (normalise and kind is tuple):
        if depth > limits.max_depth:
            raise DataRefused(
                path or "$", Text("för djupt nästlat (högst %(max_depth)s nivåer)", max_depth=limits.max_depth)
            )
        walk.size += 2
        result = [_check(item, f"{path}[{i}]", depth + 1, walk, normalise) for i, item in enumerate(value)]
        _check_size(path, walk)
        return result if normalise else value
    if kind is dict:
        if depth > limits.max_depth:
            raise DataRefused(
                path or "$", Text("för djupt nästlat (högst %(max_depth)s nivåer)", max_depth=limits.max_depth)
            )
        walk.size += 2
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise DataRefused(path, Text("nyckeln %(key)r är inte en text", key=key))
            where = _key_path(path, key)
            problem = _string_problem(key, MAX_KEY_CHARS)
            if problem:
                raise DataRefused(where, Text("nyckeln: %(problem)s", problem=problem))
            if key in RESERVED_KEYS:
                raise DataRefused(where, Text("nyckeln %(key)r är reserverad för plattformens lagring", key=key))
            walk.size += _utf8_len(key) + 4
            out[key] = _check(item, where, depth + 1, walk, normalise)
        _check_size(path, walk)
        return out if normalise else value
    raise DataRefused(path, Text("värdet är inte JSON (%(kind)s)", kind=_kind_name(value)))


def _check_size(path: str, walk: _Walk) -> None:
    if walk.size > walk.limits.max_total_bytes:
        raise DataRefused(
            path or "$",
            Text(
                "uppgifterna är för stora (högst %(max_total_bytes)s byte som JSON)",
                max_total_bytes=walk.limits.max_total_bytes,
            ),
        )


def _kind_name(value: Any) -> str:
    names: dict[str, str] = {
        "range": "range",
        "bytes": "bytes",
        "bytearray": "bytes",
        "generator": "generator",
        "set": Text("mängd (set)"),
        "frozenset": Text("mängd (frozenset)"),
        "tuple": Text("tupel"),
        "function": Text("funktion"),
        "builtin_function_or_method": Text("funktion"),
        "datetime": Text("datum/tid-objekt; spara det som text (isoformat)"),
        "date": Text("datumobjekt; spara det som text (isoformat)"),
        "complex": Text("komplext tal"),
    }
    return names.get(type(value).__name__, type(value).__name__)


def check_value(value: Any, path: str = "", *, normalise: bool = False, limits: Limits = CASE_DATA) -> Any:
    """Check any JSON value; returns it (a plain copy with tuples as lists when `normalise`). Raises DataRefused.
    Circular structures are refused by the depth bound before they can loop."""
    try:
        return _check(value, path, 1, _Walk(limits), normalise)
    except RecursionError:  # a host Python with a very low recursion limit; the depth bound normally stops first
        raise DataRefused(
            path or "$", Text("för djupt nästlat (högst %(max_depth)s nivåer)", max_depth=limits.max_depth)
        ) from None


def is_data_key(key: Any) -> bool:
    """A top-level key of case data becomes a variable in the diagram's expressions: an identifier not starting
    with an underscore and not reserved."""
    return isinstance(key, str) and key.isidentifier() and not key.startswith("_") and key not in RESERVED_KEYS


def check_data(data: Any, path: str = "data", *, normalise: bool = False) -> dict[str, Any]:
    """Case data (an object whose keys are variable names); None is the empty object. Raises DataRefused."""
    if data is None:
        return {}
    if not isinstance(data, Mapping) or not isinstance(data, dict):
        raise DataRefused(path, "måste vara ett JSON-objekt")
    for key in data:
        if not is_data_key(key):
            where = _key_path(path, key) if isinstance(key, str) else path
            raise DataRefused(
                where, Text("ogiltigt fältnamn %(key)r (ett namn som a-ö, 0-9 och _, inte börja med _)", key=key)
            )
    return check_value(data, path, normalise=normalise)


def problems(value: Any, path: str = "") -> Iterator[DataRefused]:
    """Every refusal in a stored value, not only the first (the poisoned-case report): the first per top-level key."""
    if isinstance(value, dict):
        for key, item in value.items():
            try:
                if not isinstance(key, str) or key in RESERVED_KEYS:
                    raise DataRefused(_key_path(path, str(key)), Text("nyckeln %(key)r är inte tillåten", key=key))
                check_value(item, _key_path(path, key))
            except DataRefused as exc:
                yield exc
    else:
        try:
            check_value(value, path)
        except DataRefused as exc:
            yield exc


def scrub(value: Any, depth: int = 1) -> Any:
    """A best-effort repair of a stored value: non-finite or out-of-range numbers become null, reserved keys are
    renamed with a trailing underscore (kept, not lost), non-string keys become strings, NUL and lone surrogates are
    dropped from strings, what is nested too deep is cut to null and other non-JSON values become text. The result
    may still be too large (then it cannot be repaired automatically)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -_INT_LIMIT < value < _INT_LIMIT else None
    if isinstance(value, float):
        return value if math.isfinite(value) and abs(value) <= MAX_FLOAT_ABS else None
    if isinstance(value, str):
        cleaned = value.replace("\x00", "")
        if not cleaned.isascii():
            cleaned = cleaned.encode("utf-8", "ignore").decode("utf-8")  # drops lone surrogates
        return cleaned[:MAX_STRING_CHARS]
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, list | tuple):
        return [scrub(item, depth + 1) for item in value]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = scrub(str(key)) or "_"
            while name in RESERVED_KEYS or name in out:
                name += "_"
            out[name] = scrub(item, depth + 1)
        return out
    return str(value)[:MAX_STRING_CHARS]
