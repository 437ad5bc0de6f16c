"""What process owners configure beside the diagrams: forms, lane -> role mapping, agreements with their deadlines.

All of it is read from the processes folder (`processes/forms/*.json`, `processes/lanes.json`,
`processes/agreements.json`), checked when loaded, and given to the runtime; nothing here is hard-coded.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from engine.domain import personnummer
from engine.domain.calendar import DeadlineRule, parse_duration
from engine.domain.clock import STOCKHOLM
from engine.domain.deadlines import PAYMENT_DEADLINE, anchor_title, check_anchor, tvangsvard_rule, under_tvangsvard
from engine.domain.errors import ValidationFailed
from engine.domain.text import Text

DEFAULT_AGREEMENT = "nationell"
_FORM_NAME = re.compile(r"^[A-Za-z0-9_\-/]+$")

FORMAT_CHECKER = FormatChecker()


@FORMAT_CHECKER.checks("personnummer", raises=ValueError)
def _check_personnummer(value: object) -> bool:
    if not isinstance(value, str):
        return True
    personnummer.normalise(value)
    return True


@FORMAT_CHECKER.checks("hsa-id")
def _check_hsa(value: object) -> bool:
    return not isinstance(value, str) or personnummer.is_hsa_id(value)


@FORMAT_CHECKER.checks("date", raises=ValueError)
def _check_date(value: object) -> bool:
    if isinstance(value, str):
        datetime.strptime(value, "%Y-%m-%d")
    return True


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def _check_datetime(value: object) -> bool:
    if isinstance(value, str):
        datetime.fromisoformat(value)
    return True


def validate_form_data(schema: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    """Raise ValidationFailed with every problem per field (Swedish), or return when `data` fits the schema."""
    validator = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
    problems: dict[str, list[str]] = {}
    for error in sorted(validator.iter_errors(dict(data)), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in error.absolute_path)
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else path
            key = f"{path}.{missing}" if path else missing
            problems.setdefault(key, []).append(Text("Fältet måste fyllas i"))
            continue
        label = _label(schema, list(error.absolute_path))
        node = _node(schema, list(error.absolute_path))
        problems.setdefault(path or "_", []).append(_swedish(error.validator, error.message, label, node))
    if problems:
        raise ValidationFailed("Uppgifterna stämmer inte med formuläret", {"fields": problems})


def fill_required(
    schema: Mapping[str, Any], answer: dict[str, Any], value: Callable[[str, Mapping[str, Any]], Any]
) -> dict[str, Any]:
    """Fill `answer` with a value for every field the form requires, including those its if/then conditionals make
    required once other fields have values (twice round: a filled field may switch on a requirement). `value(name,
    field_schema)` makes each missing value. Used where a form is answered without a person: the simulator's
    synthetic cases and the process tests."""
    props = schema.get("properties", {})
    parts = [schema, *schema.get("allOf", [])]
    for _ in range(2):
        required = list(schema.get("required", []))
        for part in parts:
            condition = part.get("if")
            if not condition:
                continue
            met = all(
                answer.get(key) == rule["const"]
                for key, rule in condition.get("properties", {}).items()
                if "const" in rule
            )
            branch = part.get("then") if met else part.get("else")
            required += list((branch or {}).get("required", []))
        for key in required:
            if key not in answer:
                answer[key] = value(key, props.get(key, {}))
    return answer


def _node(schema: Mapping[str, Any], path: list[Any]) -> Mapping[str, Any]:
    node: Any = schema
    for part in path:
        node = (node.get("properties") or {}).get(part, {}) if isinstance(part, str) else node.get("items", {})
    return node if isinstance(node, dict) else {}


def _label(schema: Mapping[str, Any], path: list[Any]) -> str | None:
    node: Any = schema
    for part in path:
        node = (node.get("properties") or {}).get(part, {}) if isinstance(part, str) else node.get("items", {})
    return node.get("title") if isinstance(node, dict) else None


def _swedish(kind: Any, message: str, label: str | None, node: Mapping[str, Any] | None = None) -> str:
    """What is wrong and what to do, in Swedish ("Antal besök: ange ett heltal"), for the API's answer; the staff's
    form says the same in the reader's language (webui/views/forms.py). A `Text`, so that an English caller reads it
    in English too (webui/api `fields_text`); the form's own label is data and stays as written."""
    node = node or {}
    wanted = node.get("type")
    fmt = node.get("format")
    allowed = node.get("enum") or []
    texts: dict[str, str] = {
        "type": {
            "integer": Text("ange ett heltal"),
            "number": Text("ange ett tal"),
            "boolean": Text("ange ja eller nej (true/false)"),
            "array": Text("ange en lista"),
            "object": Text("ange ett objekt"),
        }.get(str(wanted), Text("har fel typ")),
        "format": {
            "date": Text("ange ett datum som ÅÅÅÅ-MM-DD"),
            "date-time": Text("ange datum och tid med tidszon (ISO 8601)"),
            "hsa-id": Text("ange ett HSA-id, till exempel SE2321000057-1234"),
            "personnummer": Text("ange ett personnummer som ÅÅÅÅMMDD-NNNN"),
            "email": Text("ange en e-postadress"),
        }.get(str(fmt), Text("har fel format")),
        "enum": (
            Text("välj ett av de tillåtna värdena (%(allowed)s)", allowed=", ".join(map(str, allowed)))
            if allowed
            else Text("välj ett av de tillåtna värdena")
        ),
        "minLength": Text("skriv minst %(n)s tecken", n=node.get("minLength")),
        "maxLength": Text("korta texten till högst %(n)s tecken", n=node.get("maxLength")),
        "minimum": Text("ange %(n)s eller mer", n=node.get("minimum")),
        "maximum": Text("ange %(n)s eller mindre", n=node.get("maximum")),
        "pattern": Text("har fel form"),
        "additionalProperties": Text("innehåller okända fält"),
        "minItems": Text("välj minst %(n)s", n=node.get("minItems")),
    }
    problem = texts.get(str(kind), message)
    return Text("%(label)s: %(problem)s", label=label, problem=problem) if label else problem


@dataclass(frozen=True)
class LaneRule:
    roles: tuple[str, ...]
    unit_from: str | None = None


@dataclass
class Agreement:
    key: str
    name: str
    deadlines: dict[str, DeadlineRule]
    raw: dict[str, Any] = field(default_factory=dict)


class CatalogError(ValueError):
    pass


TrustedCall = Callable[[], AbstractContextManager[None]]


def _sandbox_trusted_call() -> AbstractContextManager[None]:
    """The sandbox's own hook, for a Catalog not handed one: both composition roots (engine/platform.py and the
    simulator's worker processes, engine/features/simulation.py) hand it in; tests and tools that build a Catalog
    by hand get the same behaviour through this fallback (listed in pyproject.toml's import contracts)."""
    from engine.bpmn.sandbox import trusted_call

    return trusted_call()


def _untraced(func: Callable[..., str], trusted: TrustedCall) -> Callable[..., str]:
    """Our own deadline functions run outside the sandbox's step budget: the first working-day deadline of a year
    loads that year's Swedish holidays (tens of thousands of Python steps), which is trusted code, not the
    diagram's. `trusted` is the sandbox's hook (engine/bpmn/sandbox.py trusted_call: the watchdog holds off too, and
    the time is not the diagram's), handed in by whoever builds the catalog (engine/platform.py)."""

    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> str:
        with trusted():
            return func(*args, **kwargs)

    return call


class Catalog:
    """Forms, lanes and agreements as loaded from a processes folder."""

    def __init__(self, folder: Path | None, trusted_call: TrustedCall | None = None):
        self.folder = folder
        self.trusted_call: TrustedCall = trusted_call or _sandbox_trusted_call
        self.forms: dict[str, dict[str, Any]] = {}
        self.lanes: dict[str, LaneRule] = {}
        self.role_names: dict[str, str] = {}
        self.agreements: dict[str, Agreement] = {}
        if folder is not None:
            self._load(folder)

    def _load(self, folder: Path) -> None:
        forms_dir = folder / "forms"
        if forms_dir.is_dir():
            for path in sorted(forms_dir.rglob("*.json")):
                name = path.relative_to(forms_dir).as_posix()[: -len(".json")]
                if name.endswith(".schema"):
                    name = name[: -len(".schema")]
                schema = json.loads(path.read_text(encoding="utf-8"))
                try:
                    Draft202012Validator.check_schema(schema)
                except SchemaError as exc:
                    raise CatalogError(f"{path}: ogiltigt JSON Schema: {exc.message}") from exc
                self.forms[name] = schema
        lanes_file = folder / "lanes.json"
        if lanes_file.is_file():
            raw = json.loads(lanes_file.read_text(encoding="utf-8"))
            for lane, rule in (raw.get("lanes") or {}).items():
                self.lanes[lane] = LaneRule(tuple(rule.get("roles", [])), rule.get("unit_from"))
            self.role_names = dict(raw.get("roles") or {})
        agreements_file = folder / "agreements.json"
        if agreements_file.is_file():
            raw = json.loads(agreements_file.read_text(encoding="utf-8"))
            raw = raw.get("agreements", raw)
            for key, body in raw.items():
                if not isinstance(body, dict) or key.startswith("$"):
                    continue
                deadlines = {}
                for dkey, rule in (body.get("deadlines") or {}).items():
                    if dkey.startswith("$"):
                        continue
                    try:
                        if "anchor" not in rule:
                            raise ValueError(
                                "ankarhändelse (anchor) saknas: ange vilken händelse tidsfristen räknas från"
                            )
                        deadlines[dkey] = DeadlineRule(
                            rule["duration"],
                            rule.get("calendar", "hours"),
                            rule.get("before"),
                            check_anchor(rule["anchor"]),
                        )
                    except (KeyError, ValueError, TypeError) as exc:
                        raise CatalogError(f"{agreements_file}: {key}.{dkey}: {exc}") from exc
                self.agreements[key] = Agreement(key, body.get("name", key), deadlines, body)

    # --- forms ---
    def form(self, name: str) -> dict[str, Any] | None:
        return self.forms.get(name) if _FORM_NAME.match(name or "") else None

    def has_form(self, name: str) -> bool:
        return self.form(name) is not None

    def field_label(self, key: str) -> str:
        """What the forms call a case data key (the first form with a title for it), or the key itself."""
        for schema in self.forms.values():
            prop = (schema.get("properties") or {}).get(key)
            if isinstance(prop, dict) and prop.get("title"):
                return str(prop["title"])
        return key

    # --- lanes ---
    def roles_for_lane(self, lane: str | None) -> tuple[str, ...]:
        if lane is None:
            return ()
        rule = self.lanes.get(lane)
        return rule.roles if rule else ()

    def unit_for_lane(self, lane: str | None, data: Mapping[str, Any]) -> str | None:
        rule = self.lanes.get(lane or "")
        if rule is None or not rule.unit_from:
            return None
        value = data.get(rule.unit_from)
        return str(value) if value not in (None, "") else None

    # --- agreements and deadlines ---
    def agreement(self, key: str | None) -> Agreement:
        wanted = key or DEFAULT_AGREEMENT
        if wanted in self.agreements:
            return self.agreements[wanted]
        if DEFAULT_AGREEMENT in self.agreements:
            return self.agreements[DEFAULT_AGREEMENT]
        raise CatalogError(Text("avtalet %(wanted)r finns inte i agreements.json", wanted=wanted))

    def deadline_rule(
        self, key_or_duration: str, agreement_key: str | None, data: Mapping[str, Any] | None = None
    ) -> DeadlineRule:
        """A `due` value or deadline() argument: an agreement key, or an ISO duration counted in real hours. With the
        case data: the payment clock of a stay under LPT/LRV follows the agreement's `psykiatrisk_tvangsvard`."""
        text = key_or_duration.strip()
        if text.upper().startswith("P"):
            parse_duration(text)
            return DeadlineRule(text.upper(), "hours")
        agreement = self.agreement(agreement_key)
        if text not in agreement.deadlines:
            raise CatalogError(Text("tidsfristen %(text)r finns inte i avtalet %(key)r", text=text, key=agreement.key))
        rule = agreement.deadlines[text]
        if text == PAYMENT_DEADLINE and under_tvangsvard(data):
            return tvangsvard_rule(agreement.raw.get("psykiatrisk_tvangsvard"), rule) or rule
        return rule

    def anchor_texts(self) -> dict[str, str]:
        """Each agreement deadline key -> what it counts from, in words ("utskrivningen"); where agreements differ,
        each agreement's anchor is named."""
        found: dict[str, dict[str, list[str]]] = {}
        for agreement in self.agreements.values():
            for key, rule in agreement.deadlines.items():
                found.setdefault(key, {}).setdefault(anchor_title(rule.anchor), []).append(agreement.key)
        return {
            key: next(iter(titles))
            if len(titles) == 1
            else "; ".join(f"{title} ({', '.join(keys)})" for title, keys in titles.items())
            for key, titles in found.items()
        }

    def known_deadline(self, key: str) -> bool:
        if key.strip().upper().startswith("P"):
            try:
                parse_duration(key)
            except ValueError:
                return False
            return True
        return any(key in a.deadlines for a in self.agreements.values())

    def sandbox_functions(self, now: Callable[[], datetime]) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
        """deadline(key) and deadline_at(key, start) for diagram expressions, bound to the case's agreement."""

        def factory(data: Mapping[str, Any]) -> dict[str, Any]:
            agreement_key = data.get("avtal") if isinstance(data.get("avtal"), str) else None

            def deadline(key: str) -> str:
                rule = self.deadline_rule(key, agreement_key)
                start = now()
                seconds = (rule.due(start) - start).total_seconds()
                return f"PT{max(0, int(round(seconds)))}S"

            def deadline_at(key: str, start_iso: str | None = None) -> str:
                rule = self.deadline_rule(key, agreement_key)
                start = datetime.fromisoformat(start_iso) if start_iso else now()
                if start.tzinfo is None:
                    start = start.replace(tzinfo=STOCKHOLM)
                return rule.due(start).isoformat()

            trusted = self.trusted_call
            return {"deadline": _untraced(deadline, trusted), "deadline_at": _untraced(deadline_at, trusted)}

        return factory
