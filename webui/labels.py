"""What the codes in the read layer's results are called on the pages (Swedish; English through the Babel catalogue).

The engine's reads return codes (a status `running`, a history kind `task_completed`, an access-log action `lista`);
the pages show them with `{{ code|label('status') }}`, translated into the reader's language.
"""

from __future__ import annotations

import re

from flask import Flask
from flask_babel import gettext
from markupsafe import Markup

from webui.i18n import N_

LABELS: dict[str, dict[str, str]] = {
    "status": {
        "running": N_("Pågår (uppgift att göra)"),
        "waiting": N_("Väntar (timer eller meddelande)"),
        "incident": N_("Incident"),
        "completed": N_("Avslutad"),
        "cancelled": N_("Avbruten"),
    },
    "history": {
        "started": N_("Startad"),
        "task_created": N_("Uppgift skapad"),
        "task_completed": N_("Uppgift slutförd"),
        "element_completed": N_("Steg utfört av motorn"),
        "claimed": N_("Uppgift tagen"),
        "unclaimed": N_("Uppgift släppt"),
        "reassigned": N_("Uppgift omfördelad"),
        "timer_fired": N_("Tidsgräns passerad"),
        "timer_fired_manually": N_("Timer utlöst i förtid"),
        "message": N_("Meddelande mottaget"),
        "message_received": N_("Meddelande mottaget"),
        "message_thrown": N_("Meddelande skickat"),
        "incident": N_("Incident"),
        "retried": N_("Nytt försök"),
        "token_moved": N_("Token flyttad"),
        "cancelled": N_("Avbruten"),
        "completed": N_("Avslutad"),
        "migrated": N_("Flyttad till en annan version"),
        "migration_reverted": N_("Flytten till en annan version återställd"),
        "routing_changed": N_("Ärendets enheter ändrade"),
        "task_closed": N_("Uppgift avslutad utan att ha gjorts"),
        "comment": N_("Kommentar"),
    },
    "access": {
        "lista": N_("Såg i arbetslistan"),
        "sok": N_("Sökte i arbetslistan"),
        "uppgift": N_("Öppnade uppgift"),
        "visa_personnummer": N_("Visade personnummer"),
        "person": N_("Öppnade personens sida"),
        "person_sok": N_("Sökte person på personnummer"),
        "instanslista": N_("Såg i instanslistan"),
        "instans_sok": N_("Sökte ärenden på personnummer"),
        "instans": N_("Öppnade ärendet"),
        "instans_atgard": N_("Åtgärdade ärendet"),
        "utkast": N_("Sparade utkast"),
        "slutfor": N_("Slutförde uppgift"),
        "ta": N_("Tog uppgift"),
        "slapp": N_("Släppte uppgift"),
        "lamna_over": N_("Lämnade över uppgift"),
        "kommentar": N_("Kommenterade uppgift"),
        "starta": N_("Startade ärendet"),
        "meddelande": N_("Meddelande till ärendet"),
        "migrering": N_("Flyttade ärendet till en annan version"),
        "logg_granskning": N_("Granskade åtkomstloggen"),
        "loggutdrag": N_("Tog ut loggutdrag"),
    },
    "direction": {"received": N_("Mottaget"), "thrown": N_("Skickat")},
    "route": {
        "standardversion": N_("standardversion"),
        "standardversion (nyaste)": N_("standardversion (nyaste)"),
        "standardversion (vald)": N_("standardversion (vald)"),
    },
    "plan": {
        "planeringsansvarig": N_("Planeringsansvarig"),
        "planeringsansvarig_namn": N_("Planeringsansvarig (namn)"),
        "insatser": N_("Insatser"),
        "egen_del": N_("Den enskildes egen del"),
        "uppfoljningsdatum": N_("Uppföljning"),
        "uppfoljning_ansvarig": N_("Uppföljning (ansvarig)"),
    },
}


def label(code: str | None, kind: str) -> str:
    """The reader's name for a code of one kind; the code itself when it has none."""
    if code is None:
        return ""
    text = LABELS.get(kind, {}).get(code)
    return gettext(text) if text else code


NOTICE = re.compile(r"^(Ny uppgift|Försenad uppgift): (.*) \(ärende #(\d+)\)(?:, frist (.+))?$")


def notice_text(text: str) -> str:
    """A stored notice (Swedish, as the e-mail has it: "Ny uppgift: <task> (ärende #12), frist 2026-01-13 08:00") in
    the reader's language; the task's name stays as the diagram has it."""
    found = NOTICE.match(text or "")
    if found is None:
        return text
    kind = gettext("Ny uppgift") if found.group(1) == "Ny uppgift" else gettext("Försenad uppgift")
    out = gettext("%(kind)s: %(task)s (ärende #%(id)s)", kind=kind, task=found.group(2), id=found.group(3))
    if found.group(4):
        out += gettext(", frist %(at)s", at=found.group(4))
    return out


PERIOD = re.compile(r"^(.*), inskrivna (\d{4}-\d{2}-\d{2}–\d{4}-\d{2}-\d{2})( \(lika lång period före piloten\))?$")


# The figures as the pilot comparison writes them (engine/features/pilot_comparison.py format_value and _summary).
VALUES = [
    (
        re.compile(r"^(?P<p>\d+) % \((?P<a>\d+) av (?P<b>\d+)\)(?P<extra>( ±\d+)?)$"),
        N_("%(p)s %% (%(a)s av %(b)s)%(extra)s"),
    ),
    (re.compile(r"^(?P<v>[\d,]+) dagar \(n=(?P<n>\d+)\)$"), N_("%(v)s dagar (n=%(n)s)")),
    (re.compile(r"^(?P<v>[\d\s\u00a0]+) \((?P<r>[\d,]+) per fall\)$"), N_("%(v)s (%(r)s per fall)")),
    (re.compile(r"^färre än (?P<n>\d+) svar$"), N_("färre än %(n)s svar")),
    (
        re.compile(r"^(?P<p>\d+) % instämmer helt \((?P<a>\d+) av (?P<b>\d+)\)$"),
        N_("%(p)s %% instämmer helt (%(a)s av %(b)s)"),
    ),
    (re.compile(r"^pilot (?P<id>\d+) (?P<name>.+)$"), N_("pilot %(id)s %(name)s")),
    (
        re.compile(r"^spridning till (?P<kind>\w+) (?P<unit>.+?)(?P<pilot> \(pilot \d+\))?$"),
        N_("spridning till %(kind)s %(unit)s%(pilot)s"),
    ),
]


def engine_text(value: object) -> str:
    """A text the engine or a view gives in Swedish (a figure's title and definition, a pilot's rule and status, a
    comparison group, an error page's title, a flash message) in the reader's language. The English catalogue holds
    the engine's fixed texts (`engine_texts()` lists them; a test checks each is translated); any other text, such as
    data from the diagrams, stays as it is. A comparison group's "…, inskrivna <from>–<to>" keeps its dates."""
    if value is None:
        return ""
    if isinstance(value, Markup):
        return value  # already made (and translated) by a view
    text = str(value)
    found = PERIOD.match(text)
    if found and found.group(3):
        return gettext(
            "%(what)s, inskrivna %(period)s (lika lång period före piloten)",
            what=gettext(found.group(1)),
            period=found.group(2),
        )
    if found:
        return gettext("%(what)s, inskrivna %(period)s", what=gettext(found.group(1)), period=found.group(2))
    for pattern, msgid in VALUES:
        found = pattern.match(text)
        if found:
            values = {k: v or "" for k, v in found.groupdict().items()}
            if "kind" in values:
                values["kind"] = gettext(values["kind"].capitalize()).lower()
            return gettext(msgid, **values)
    return gettext(text) if text else text


def engine_texts() -> list[str]:
    """The engine's fixed Swedish texts that pages show through `engine_text` (their English is in the catalogue,
    added by hand since `pybabel extract` only reads webui/)."""
    from engine.features import pilot_comparison, pilots
    from engine.features.catalogue_doc import FIELDS
    from engine.reads.figures import FIGURES, GROUPING_LABELS

    out = [f.title for f in FIGURES] + [f.definition for f in FIGURES] + list(GROUPING_LABELS.values())
    out += list(pilots.MIXED_RULES.values()) + list(pilots.STATUS_TEXT.values()) + list(pilots.ROUTING_TEXT.values())
    out += list(pilots.KIND_TITLES.values()) + [label for _, label in FIELDS]
    out += list(pilot_comparison.GROUP_TITLES.values()) + list(pilot_comparison.PERSON_QUESTIONS.values())
    out += list(pilot_comparison.STAFF_QUESTIONS.values()) + list(pilot_comparison.SCALE)
    out += ["– (inga fall att räkna)", "– (inga utskrivna)", "– (inga svar)", *(msgid for _, msgid in VALUES)]
    out += ["Fall på pilotens version", "Pilotens enheter"]  # the comparison groups' descriptions (see PERIOD)
    out += ["Samma period, fall utanför pilotens enheter (enligt pilotens regel för blandade fall)"]
    return list(dict.fromkeys(out))


def access_labels() -> dict[str, str]:
    """Every access-log action in the reader's language (the loggutdrag's column)."""
    return {code: gettext(text) for code, text in LABELS["access"].items()}


def init_app(app: Flask) -> None:
    app.add_template_filter(label, "label")
    app.add_template_filter(notice_text, "notice_text")
    app.add_template_filter(engine_text, "t")
