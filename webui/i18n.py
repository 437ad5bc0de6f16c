"""Languages of the staff pages: Swedish by default, English on request (Flask-Babel).

The user picks the language with the switch in the header (POST /sprak, kept in the session and, for a signed-in user,
as the user's language, users.language: the next sign-in opens in it and the notices' e-mail is written in it; a choice
made on the sign-in page becomes the user's at sign-in); nothing follows the browser's Accept-Language on the pages,
since staff in Swedish care work in Swedish unless they ask otherwise (the API follows it: webui/api `api_language`).
Domain words that come from the diagrams (task names, lanes) stay as the process owner wrote them.

Catalogues: webui/translations/<lang>/LC_MESSAGES/messages.po is the source (extract new strings with
`pybabel extract -F webui/babel.cfg -o messages.pot .` and `pybabel update -i messages.pot -d webui/translations`).
The compiled .mo files are built, not committed: `compile_catalogues` writes them to instance/translations whenever a
.po is newer (at app start, so `make run`, `make test` and a production start all get them).

Texts the engine gives in Swedish (figure titles and definitions, pilot rules and statuses, refusals shown as flashes
and on error pages) are shown with the `|t` filter (webui/labels.py `engine_text`); their English is in the same
catalogue, added by hand since extraction reads webui/ only (`engine_texts()` lists the fixed ones and a test checks
each is translated). tests/webui/test_language.py opens every page of every demo role in English and looks for
Swedish left over: the catalogue's phrases and common Swedish words, with the data (names from the diagrams, forms,
agreements and directory) taken out first.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, g, has_request_context, session
from flask_babel import Babel, get_translations

from engine.config import PROJECT_ROOT

LANGUAGES = {"sv": "Svenska", "en": "English"}
DEFAULT = "sv"
TRANSLATIONS = Path(__file__).parent / "translations"
COMPILED = PROJECT_ROOT / "instance" / "translations"


def N_(text: str) -> str:  # noqa: N802  (the gettext marker name that pybabel extract looks for)
    """Marks a string for extraction where it is defined; it is translated where it is shown (`_(label)`)."""
    return text


# Labels defined in Python and translated in templates.
DYNAMIC = [
    N_("Mina uppgifter"),
    N_("Min enhet"),
    N_("Försenade"),
    N_("Idag"),
    N_("Process"),
    N_("Uppgift"),
    N_("Kommun"),
    N_("Avdelning"),
    N_("Personnummer"),
    N_("Användare"),
    N_("Enhet (HSA-id)"),
    N_("Från och med"),
    N_("Till och med"),
    # The engine's refusals of staff actions, shown as they come (engine/commands/runtime.py, engine/domain/catalog.py).
    N_("Skriv en kommentar"),
    N_("Uppgiften är redan utförd"),
    N_("Uppgifterna stämmer inte med formuläret"),
]


def compile_catalogues(source: Path = TRANSLATIONS, target: Path = COMPILED) -> list[Path]:
    """Compile every messages.po that is newer than its compiled messages.mo; returns the files written."""
    written = []
    for po in sorted(source.glob("*/LC_MESSAGES/messages.po")):
        mo = target / po.relative_to(source).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as text:
            catalog = read_po(text, locale=po.parent.parent.name)
        tmp = mo.with_name(f"messages.mo.{os.getpid()}.tmp")
        with tmp.open("wb") as out:
            write_mo(out, catalog)
        tmp.replace(mo)
        written.append(mo)
    return written


def current_language() -> str:
    lang = session.get("lang")
    return lang if lang in LANGUAGES else DEFAULT


def _english() -> bool:
    return has_request_context() and current_language() == "en"


def decimal_text(value: float, digits: int = 1) -> str:
    """A decimal number in the reader's language: 12,5 in Swedish, 12.5 in English (outside a request: Swedish)."""
    text = f"{value:.{digits}f}"
    return text if _english() else text.replace(".", ",")


def grouped_text(value: float) -> str:
    """A whole number with its thousands grouped: 1 200 (a no-break space) in Swedish, 1,200 in English."""
    text = f"{value:,.0f}"
    return text if _english() else text.replace(",", "\u00a0")


def localized_number(text: str) -> str:
    """A number the engine wrote in Swedish ("4,2", "1 200") as the reader's language writes it."""
    if not _english():
        return text
    return text.replace(",", ".").replace("\u00a0", ",").replace(" ", ",")


def init_app(app: Flask) -> None:
    compile_catalogues()
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Europe/Stockholm")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(COMPILED))
    Babel(app, locale_selector=current_language)
    # Flask-Babel's template callables look the catalogue up anew for every string (domain, locale, cache key): a
    # worklist page of 50 rows asks ~500 times. The request's catalogue is looked up once and kept on `g` (the
    # locale is fixed for a request anyway: Flask-Babel keeps it on the request context).
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: _translations().ugettext(s),
        ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: _translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
    )
    app.jinja_env.globals.update(languages=LANGUAGES, current_language=current_language)


def gettext(string: str, **variables: Any) -> str:
    """Flask-Babel's `gettext` with the request's catalogue looked up once (`_translations`): the same text, without a
    lookup of domain, locale and cache key for every string (a worklist row asks for several). Every Python-side
    translation of the pages and the API goes through here or `ngettext`."""
    text: str = _translations().ugettext(string)
    return text if not variables else text % variables


def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    """Flask-Babel's `ngettext` (with `num` among the variables, as there) through the request's catalogue."""
    variables.setdefault("num", num)
    text: str = _translations().ungettext(singular, plural, num)
    return text % variables


def _translations() -> Any:
    """The request's catalogue, looked up once and kept on `g` with the locale it is for: under Flask-Babel's
    `force_locale` (the API's answers in the caller's language) the locale object changes, and so is looked up again."""
    if not has_request_context():
        return get_translations()
    state = g.get("_flask_babel")
    locale = getattr(state, "babel_locale", None)
    found = g.get("_samflode_translations")
    if found is None or locale is None or found[0] is not locale:
        translations = get_translations()
        found = g._samflode_translations = (getattr(g.get("_flask_babel"), "babel_locale", None), translations)
    return found[1]
