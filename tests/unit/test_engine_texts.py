"""Issue 15, "English complete": the engine's messages for people are templates (engine/domain/text.py `Text`) that
the English catalogue translates; none is an f-string, which no catalogue can look up."""

from __future__ import annotations

import ast
import json
import pickle
import re
from pathlib import Path

from babel.messages.pofile import read_po

from engine.domain.text import STATUS_WORDS, Text, status_word

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "engine"
CATALOGUE = ROOT / "webui" / "translations" / "en" / "LC_MESSAGES" / "messages.po"

# Swedish in an f-string's fixed text: the Swedish letters, or a Swedish word of the engine's messages.
_WORDS = (
    "och eller för inte finns saknas saknar välj spara avbryt senast ärende ärenden ärendet uppgift uppgifter "
    "uppgiften inga ingen inget ännu alla med som att det den har från på är vid när efter utan över sedan samma "
    "varje enligt också bara dagar dag timmar vecka månad år antal andel totalt källa kommentar enhet enheter "
    "händelse användare misslyckades kan ska vara måste får går rad fel ett en redan instansen processen piloten "
    "utkast användaren högst minst okänd okänt ange per fall tim av till"
)
SWEDISH = re.compile(r"[åäöÅÄÖ]|\b(?:" + "|".join(_WORDS.split()) + r")\b", re.I)

# The f-strings with Swedish that are not messages for people, each with why.
ALLOWED = {
    # The activity catalogue as a Swedish Markdown document (its page is rendered from the same data in the
    # reader's language: webui/templates/catalogue.html).
    "engine/features/catalogue_doc.py": None,
    # A setting that is not a whole number, said when the server starts (engine.config sits beside engine.domain and
    # may not import it; the operator reads it in the log).
    "engine/config.py": {" ska vara ett heltal"},
    # A file name of a simulation's database, not a text.
    "engine/features/simulation.py": {"version-.db"},
}


def _engine_files() -> list[Path]:
    return [p for p in sorted(ENGINE.rglob("*.py")) if "migrations" not in p.parts]


def _web_files() -> list[Path]:
    """The web layer's pages and API; not the console commands (Swedish for the operator), the demo's data, or the
    server's start-up line."""
    return [p for p in sorted((ROOT / "webui").rglob("*.py")) if not p.name.startswith(("cli", "demo", "gunicorn"))]


def _untranslatable(files: list[Path] | None = None) -> list[str]:
    found = []
    for path in _engine_files() if files is None else files:
        where = str(path.relative_to(ROOT))
        allowed = ALLOWED.get(where, set())
        if allowed is None:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr):
                fixed = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
                if SWEDISH.search(fixed) and fixed not in allowed:
                    found.append(f"{where}:{node.lineno}: {fixed!r}")
    return found


def _templates() -> dict[str, list[str]]:
    """Every `Text("...")` template in the engine and the web layer, with where it is made."""
    out: dict[str, list[str]] = {}
    for path in _engine_files() + _web_files():
        source = path.read_text(encoding="utf-8")
        if "from engine.domain.text import" not in source:
            continue
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Text":
                first = node.args[0] if node.args else None
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    out.setdefault(first.value, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return out


def test_no_message_in_the_engine_is_an_f_string():
    """The class stays closed: a message for people with Swedish in it is a `Text`, never an f-string (issue 15
    found 105 that reached English readers in Swedish)."""
    assert _untranslatable() == []


def test_no_message_of_the_web_layer_is_an_f_string():
    """The same for the pages' and the API's own messages (an error body's `message`, a form's errors): a `Text` or a
    gettext call, so that an English reader or caller gets them in English."""
    files = _web_files()
    assert any(p.name == "__init__.py" and p.parent.name == "api" for p in files)
    assert _untranslatable(files) == []


def test_every_template_of_the_engine_has_english_with_the_same_placeholders():
    with CATALOGUE.open("rb") as po:
        catalog = read_po(po, locale="en")
    templates = _templates()
    assert len(templates) > 200  # the scan sees the engine's messages (not an empty walk)
    placeholder = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[srdgefa]")
    missing, wrong = [], []
    for msgid, where in sorted(templates.items()):
        message = catalog.get(msgid)
        if message is None or not message.string:
            missing.append(f"{msgid!r} ({where[0]})")
        elif sorted(placeholder.findall(msgid)) != sorted(placeholder.findall(message.string)):
            wrong.append(msgid)
    for word in STATUS_WORDS.values():
        if catalog.get(word) is None:
            missing.append(word)
    assert missing == [] and wrong == []


def test_a_text_is_its_swedish_string_and_keeps_its_template():
    text = Text("Uppgiften är redan utförd av %(actor)s", actor="vera")
    assert text == "Uppgiften är redan utförd av vera" and isinstance(text, str)
    assert text.msgid == "Uppgiften är redan utförd av %(actor)s" and text.params == {"actor": "vera"}
    assert json.dumps({"m": text}, ensure_ascii=False) == '{"m": "Uppgiften är redan utförd av vera"}'
    again = pickle.loads(pickle.dumps(text))  # a job's error or an exception crossing a process
    assert again == text and again.msgid == text.msgid and again.params == text.params
    assert text.key() == {
        "message_template": "Uppgiften är redan utförd av %(actor)s",
        "message_params": {"actor": "vera"},
    }
    assert Text("Namnrymden %(group)r innehåller mellanslag; läst med %%20", group="a b") == (
        "Namnrymden 'a b' innehåller mellanslag; läst med %20"
    )
    assert Text("Instansen är %(status)s", status=status_word("completed")) == "Instansen är avslutad"
    assert status_word("något annat") == "något annat"


# What takes a message for people as its argument: the errors the web layer shows, the policy's refusals, the
# sandbox's and the parser's findings.
_MESSAGE_TAKERS = {
    "BadRequest", "NotFound", "Conflict", "ValidationFailed", "Forbidden", "TooLarge", "InvalidData",
    "NotAuthenticated", "UnsupportedMediaType", "SamflodeError", "DeployRejected", "MoveRefused", "TimerRefused",
    "EngineIncident", "Diagnostic", "DataRefused", "SandboxViolation", "CatalogError", "require", "_bad", "_refuse",
    "fail",
}  # fmt: skip


def test_every_fixed_message_of_the_engine_has_english():
    """A fixed Swedish message (no parameters) is looked up in the catalogue as it is: each one given to an error,
    a refusal or a finding is there."""
    with CATALOGUE.open("rb") as po:
        catalog = read_po(po, locale="en")
    swedish = re.compile(r"[åäöÅÄÖ]|\b(?:inte|finns|saknas|och|eller|får|kan|måste|välj|ange)\b")
    missing, seen = [], 0
    for path in _engine_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name not in _MESSAGE_TAKERS:
                continue
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and swedish.search(arg.value):
                    seen += 1
                    message = catalog.get(arg.value)
                    if message is None or not message.string:
                        missing.append(f"{path.relative_to(ROOT)}:{node.lineno}: {arg.value}")
    assert seen > 50 and missing == []


_FIELD_SWEDISH = re.compile(r"[åäöÅÄÖ]|\b(?:" + "|".join(_WORDS.split()) + r"|krävs|fyll|ogiltig|ogiltigt)\b", re.I)


def _field_errors(path: Path) -> list[tuple[int, str]]:
    """The fixed texts of the field errors in one file: the messages per field (`{"fields": {"name": ["..."]}}`,
    `problems[key] = ["..."]`, `errors.setdefault(key, []).append("...")`), each a list of texts for one field, as the
    API's `details.fields` and the forms show them. A text inside such a list: a string, either branch of a
    conditional, or the template of a `Text` (or of a gettext call in webui)."""
    found: list[tuple[int, str]] = []

    def texts_in(node: ast.AST) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _FIELD_SWEDISH.search(node.value):
                found.append((node.lineno, node.value))
        elif isinstance(node, ast.IfExp):
            texts_in(node.body)
            texts_in(node.orelse)
        elif isinstance(node, ast.Call) and node.args:
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in ("Text", "_", "gettext", "N_"):
                texts_in(node.args[0])

    def messages(value: ast.AST | None) -> None:
        if isinstance(value, (ast.List, ast.Tuple)):
            for element in value.elts:
                texts_in(element)

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Dict):
            for value in node.values:
                messages(value)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Subscript) for t in node.targets):
            messages(node.value)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "append":
            inner = node.func.value  # type: ignore[attr-defined]
            if isinstance(inner, ast.Call) and getattr(inner.func, "attr", None) == "setdefault" and node.args:
                texts_in(node.args[0])
    return found


def test_every_fixed_field_error_has_english():
    """Issue 15: the messages per field (form validation, the data boundary, the API's schemas) are texts for people
    too: each fixed one, in the engine and in the web layer, is in the English catalogue (or a `Text` template that
    is), so that a form or an API answer in English has none of them left in Swedish."""
    with CATALOGUE.open("rb") as po:
        catalog = read_po(po, locale="en")
    files = _engine_files() + sorted(p for p in (ROOT / "webui").rglob("*.py") if "demo" not in p.name)
    missing, seen = [], 0
    for path in files:
        for line, text in _field_errors(path):
            seen += 1
            message = catalog.get(text)
            if message is None or not message.string:
                missing.append(f"{path.relative_to(ROOT)}:{line}: {text!r}")
    assert seen > 40  # the scan sees the field errors (not an empty walk)
    assert missing == []


def test_every_refusal_of_the_data_boundary_has_english():
    """The data boundary's refusals (engine/domain/boundary.py) become field errors (`{"fields": {path: [reason]}}`)
    shown to the person who sent the data: each, for every kind of value the boundary refuses, is a text whose
    template, and each template among its parameters, is in the English catalogue."""
    from datetime import date, datetime

    from engine.domain import boundary

    with CATALOGUE.open("rb") as po:
        catalog = read_po(po, locale="en")
    deep: list[object] = []
    for _ in range(boundary.MAX_DEPTH + 2):
        deep = [deep]
    values: list[object] = [
        "inte ett objekt", {"_dolt": 1}, {"a": float("nan")}, {"a": 1e300}, {"a": 10**40}, {"a": "x\x00"},
        {"a": "\ud800"}, {"a": "x" * (boundary.MAX_STRING_CHARS + 1)}, {"a": {1: 2}}, {"a": {"k\x00": 1}},
        {"a": {"k" * 300: 1}}, {"a": {"typename": 1}}, {"a": {1, 2}}, {"a": frozenset()}, {"a": (1,)}, {"a": len},
        {"a": lambda: 1}, {"a": datetime(2026, 1, 1)}, {"a": date(2026, 1, 1)}, {"a": 1j}, {"a": range(3)},
        {"a": deep}, {"a": list(range(boundary.MAX_ITEMS + 1))}, {"a": ["x" * 50_000] * 6},
    ]  # fmt: skip
    reasons = []
    for value in values:
        try:
            boundary.check_data(value)
        except boundary.DataRefused as exc:
            reasons.append(exc.reason)
    assert len(reasons) == len(values)

    def missing(text: object) -> list[str]:
        if not isinstance(text, str):
            return []
        msgid = text.msgid if isinstance(text, Text) else text
        message = catalog.get(msgid)
        found = [] if message is not None and message.string else [msgid]
        if isinstance(text, Text):
            found += [m for v in text.params.values() if isinstance(v, Text) for m in missing(v)]
        return found

    assert [m for reason in reasons for m in missing(reason)] == []
