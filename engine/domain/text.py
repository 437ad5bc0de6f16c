"""A message for people, kept as its template and parameters so that it can be shown in another language.

The engine speaks Swedish: a refusal, an incident, a validation error reads `Uppgiften är redan utförd av vera`. An
f-string would make that text final; the web layer could not find it in the English catalogue, since each text is
new. A `Text` is the Swedish text itself (a `str`: comparisons, JSON, logs and the database see the Swedish as
before) that also remembers its template (`msgid`, with Python %-placeholders as gettext uses them) and its
parameters. The web layer translates the template and then fills it in (webui/labels.py `engine_text`); the API
returns the Swedish text and the template as a stable key. tests/unit/test_engine_texts.py keeps the class closed:
no f-string with Swedish words for people in the engine, and every template in the English catalogue.
"""

from __future__ import annotations

from typing import Any


class Text(str):
    """`Text("Uppgiften är redan utförd av %(actor)s", actor="vera")` is the str "Uppgiften är redan utförd av vera"
    with `.msgid` and `.params` kept. A parameter may itself be a `Text` (translated in turn) or data (a name from
    a diagram, a number), which stays as it is."""

    msgid: str
    params: dict[str, Any]

    def __new__(cls, msgid: str, /, **params: Any) -> Text:
        made = super().__new__(cls, msgid % params if params else msgid)
        made.msgid = msgid
        made.params = params
        return made

    def __reduce__(self) -> tuple[Any, ...]:
        return (_remake, (self.msgid, self.params))

    def key(self) -> dict[str, Any]:
        """The template and its parameters as JSON (the API's `message_template` and `message_params`)."""
        return {
            "message_template": self.msgid,
            "message_params": {
                k: v if isinstance(v, (int, float, bool)) or v is None else str(v) for k, v in self.params.items()
            },
        }


def _remake(msgid: str, params: dict[str, Any]) -> Text:
    return Text(msgid, **params)


# An instance's status as a sentence names it ("Instansen är avslutad"), not as its code ("completed").
STATUS_WORDS = {
    "running": "pågående",
    "waiting": "väntande",
    "incident": "i incident",
    "completed": "avslutad",
    "cancelled": "avbruten",
}


def status_word(status: str) -> str:
    """The status's word for a sentence (a `Text`, so translated with it); an unknown code stays as it is."""
    word = STATUS_WORDS.get(status)
    return Text(word) if word else status


# The languages a person may read Samflöde in (the pages' switch, the notices' e-mail): Swedish unless chosen.
LANGUAGE_CODES = ("sv", "en")
DEFAULT_LANGUAGE = "sv"
