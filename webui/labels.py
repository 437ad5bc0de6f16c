"""What the codes in the read layer's results are called on the pages (Swedish; English through the Babel catalogue).

The engine's reads return codes (a status `running`, a history kind `task_completed`, an access-log action `lista`);
the pages show them with `{{ code|label('status') }}`, translated into the reader's language.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from functools import lru_cache

from flask import Flask
from flask_babel import Babel, force_locale, gettext
from markupsafe import Markup

from engine.domain.text import Text
from webui.i18n import COMPILED, DEFAULT, LANGUAGES, N_, compile_catalogues, localized_number

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
    # What became of a message (engine/commands/messages.py): the codes of one delivered, and the Swedish notes kept
    # for a thrown message that reached no case (its history holds them as written).
    "outcome": {
        "delivered": N_("levererat till ett väntande ärende"),
        "started": N_("startade ett ärende"),
        "ingen korrelation": N_("ingen mottagare: personnummer eller vårdtillfälle saknas"),
        "för djup kedja av meddelanden": N_("inte skickat: för lång kedja av meddelanden"),
    },
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


def outcome_text(outcome: str | None) -> str:
    """What became of a message, in words in the reader's language; an engine refusal kept as the outcome of a thrown
    message (Swedish) is shown as the engine's other texts are (`engine_text`)."""
    if outcome in LABELS["outcome"]:
        return label(outcome, "outcome")
    return engine_text(outcome)


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
    if isinstance(value, Text):
        return _translate(value.msgid, value.params)
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
            for number in ("v", "r"):  # 4,2 and 1 200 as the reader's language writes them
                if number in values:
                    values[number] = localized_number(values[number])
            return gettext(msgid, **values)
    if not text:
        return text
    translated = gettext(text)
    if translated != text:
        return translated
    made = stored_text(text)
    return _translate(made[0], made[1], stored=True) if made else text


def _translate(msgid: str, params: dict[str, object], depth: int = 0, stored: bool = False) -> str:
    """A template in the reader's language, filled in with its parameters: a parameter that is itself an engine text
    (a `Text`, or a stored Swedish text that one of the templates makes) is translated in turn; data stays. The
    parameters of a `stored` text were read back as they were written ('x' with its quotes, 1e+06), so each fills
    its place as text."""
    if not params:
        return gettext(msgid)
    values = {k: _parameter(v, depth) for k, v in params.items()}
    for number in ("v", "r"):  # the figures' numbers as the engine writes them (4,2 · 1 200): as the reader writes
        if isinstance(values.get(number), str):
            values[number] = localized_number(str(values[number]))
    template = gettext(msgid)
    if stored:
        template = _AS_WRITTEN.sub(r"%(\1)s", template)
    try:
        return template % values
    except (KeyError, TypeError, ValueError):  # a translation whose placeholders went wrong: the Swedish, not a 500
        return _AS_WRITTEN.sub(r"%(\1)s", msgid) % params if stored else msgid % params


def _parameter(value: object, depth: int) -> object:
    if isinstance(value, Text):
        return _translate(value.msgid, value.params, depth + 1) if depth < 3 else str(value)
    if not isinstance(value, str) or not value or depth >= 3:
        return value
    translated = gettext(value)
    if translated != value:
        return translated
    if value[:1].islower() and " " not in value:  # a lower-case word from a title ("avdelning"): as its title says
        title = value[:1].upper() + value[1:]
        translated = gettext(title)
        if translated != title:
            return translated[:1].lower() + translated[1:]
    made = stored_text(value)
    return _translate(made[0], made[1], depth + 1, stored=True) if made else value


_PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[srdgefa]|%%")
_AS_WRITTEN = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[srdgefa]")


@lru_cache(maxsize=1)
def _templates() -> list[tuple[str, re.Pattern[str], str]]:
    """The catalogue's templates with parameters as patterns that read a stored Swedish text back into its template
    and parameters: (its longest fixed part, the pattern, the msgid); the most specific first."""
    from babel.messages.pofile import read_po

    from webui.i18n import TRANSLATIONS

    with (TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale="en")
    out = []
    for message in catalog:
        msgid = message.id
        if not isinstance(msgid, str) or "%(" not in msgid:
            continue
        pattern, fixed, seen, at = "", [], set(), 0
        for found in _PLACEHOLDER.finditer(msgid):
            literal = msgid[at : found.start()]
            pattern += re.escape(literal)
            fixed.append(literal)
            at = found.end()
            if found.group(0) == "%%":
                pattern += "%"
                continue
            name = found.group(1)
            pattern += f"(?P={name})" if name in seen else f"(?P<{name}>.+?)"
            seen.add(name)
        pattern += re.escape(msgid[at:])
        fixed.append(msgid[at:])
        longest = max(fixed, key=len)
        if len(longest.strip(" :,.()%")) < 4:
            continue  # "%(a)s: %(b)s" would read any text with a colon as itself
        out.append((sum(len(f) for f in fixed), longest, re.compile(pattern, re.S), msgid))
    out.sort(key=lambda t: -t[0])
    return [(longest, pattern, msgid) for _, longest, pattern, msgid in out]


@lru_cache(maxsize=4096)
def stored_text(text: str) -> tuple[str, dict[str, object]] | None:
    """A Swedish text the engine made from a template and that was stored as text (an incident's message, a job's
    error, a flash message kept in the session) read back into (msgid, parameters); None when no template makes it."""
    for fixed, pattern, msgid in _templates():
        if fixed in text:
            found = pattern.fullmatch(text)
            if found:
                return msgid, dict(found.groupdict())
    return None


def engine_texts() -> list[str]:
    """The engine's fixed Swedish texts that pages show through `engine_text` (their English is in the catalogue,
    added by hand since `pybabel extract` only reads webui/)."""
    from engine.domain.deadlines import ANCHOR_TITLES
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
    out += list(ANCHOR_TITLES.values())  # what a deadline counts from (engine/domain/deadlines.py anchor_title)
    return list(dict.fromkeys(out))


def access_labels() -> dict[str, str]:
    """Every access-log action in the reader's language (the loggutdrag's column)."""
    return {code: gettext(text) for code, text in LABELS["access"].items()}


def init_app(app: Flask) -> None:
    app.add_template_filter(label, "label")
    app.add_template_filter(notice_text, "notice_text")
    app.add_template_filter(engine_text, "t")
    app.add_template_filter(outcome_text, "outcome")


@functools.cache
def mail_translator() -> Callable[[str, str], str]:
    """The engine's texts (a `Text`, or a Swedish text stored from one) in a given language, outside any request:
    the notices' e-mail is written in the language each user chose (engine/jobs/notifications.py). The same catalogue
    and the same reading of templates as the pages (`engine_text` above), through an app of its own that
    only holds the catalogue, so that the scheduler and the CLI, which have no web app, translate alike. Handed to the
    engine by the composition roots (webui.create_app, webui/cli.py): the engine imports nothing of webui."""
    compile_catalogues()
    texts = Flask("samflode-texts")
    texts.config.update(
        BABEL_DEFAULT_LOCALE=DEFAULT,
        BABEL_DEFAULT_TIMEZONE="Europe/Stockholm",
        BABEL_TRANSLATION_DIRECTORIES=str(COMPILED),
    )
    Babel(texts)

    def translate(text: str, language: str) -> str:
        if language == DEFAULT or language not in LANGUAGES:
            return str(text)
        with texts.app_context(), force_locale(language):
            return engine_text(text)

    return translate
