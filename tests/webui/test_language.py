# ruff: noqa: F811  (pytest fixtures imported from tests.webui.staff are parameters here)
"""Swedish by default, English on request (Flask-Babel); catalogues compiled from the .po files."""

from __future__ import annotations

import re
from html import unescape

from babel.messages.mofile import read_mo

from tests.conftest import task_list
from tests.webui.staff import csrf_of, demo, demo_app, page_token, sign_in  # noqa: F401  (fixtures)
from webui.i18n import TRANSLATIONS, compile_catalogues


def test_pages_are_swedish_by_default(demo_app):
    html = demo_app.test_client().get("/logga-in").get_data(as_text=True)
    assert '<html lang="sv">' in html and "<h1>Logga in</h1>" in html and ">English</button>" in html


def test_the_language_switch_turns_the_pages_english_and_back(demo_app):
    vera = sign_in(demo_app, "vera")
    token = page_token(vera)
    switched = vera.post("/sprak", data={"csrf_token": token, "lang": "en", "next": "/arbetslista?vy=enhet"})
    assert switched.status_code == 303 and switched.headers["Location"] == "/arbetslista?vy=enhet"
    html = vera.get("/arbetslista").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "My unit" in html and "Take task" in html and "Sign out" in html and "2 tasks in my unit" in html
    assert "Registrera inskrivning" in html  # task names come from the diagram and stay as written
    vera.post("/sprak", data={"csrf_token": token, "lang": "sv"})
    assert "Min enhet" in vera.get("/arbetslista").get_data(as_text=True)


def test_an_unknown_language_or_a_missing_token_changes_nothing(demo_app):
    client = demo_app.test_client()
    token = csrf_of(client.get("/logga-in").get_data(as_text=True))
    assert client.post("/sprak", data={"lang": "en"}).status_code == 400
    client.post("/sprak", data={"csrf_token": token, "lang": "xx", "next": "https://evil.example/"})
    assert "<h1>Logga in</h1>" in client.get("/logga-in").get_data(as_text=True)


def test_catalogues_compile_from_po_and_only_when_changed(tmp_path):
    written = compile_catalogues(TRANSLATIONS, tmp_path)
    assert written == [tmp_path / "en" / "LC_MESSAGES" / "messages.mo"]
    with written[0].open("rb") as mo:
        catalog = read_mo(mo)
    assert catalog.get("Min enhet").string == "My unit"
    assert all(m.string for m in catalog if m.id)  # every string translated
    assert compile_catalogues(TRANSLATIONS, tmp_path) == []


def test_the_task_and_person_pages_follow_the_language(demo_app, demo):
    from engine.domain.actors import SYSTEM_ACTOR

    task = next(t for t in task_list(demo, SYSTEM_ACTOR)["items"] if t["instance_id"] == 1)
    vera = sign_in(demo_app, "vera")
    vera.post("/sprak", data={"csrf_token": page_token(vera), "lang": "en"})
    html = vera.get(f"/uppgifter/{task['id']}").get_data(as_text=True)
    assert ">Complete</button>" in html and ">Save draft</button>" in html and "Born 1938-03-12" in html
    person = vera.get("/personer/arende/1").get_data(as_text=True)
    assert "Cases and plans (1)" in person and "Next deadlines" in person


def _ui_swedish() -> dict[str, str]:
    """The Swedish UI phrases of the catalogue that read differently in English (phrase -> its msgid): phrases of two
    words or more, and single words of ten letters or more; shorter single words ("Kommun", "Ärende") are also the
    names of lanes and units and words of the diagrams' own texts, which stay as written."""
    import re

    from babel.messages.pofile import read_po

    with (TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale="en")
    out = {}
    for message in catalog:
        if not message.id:
            continue
        source = message.id[0] if isinstance(message.id, tuple) else message.id
        target = message.string[0] if isinstance(message.string, tuple) else message.string
        for part in re.split(r"%\(\w+\)s|[”“\"]", source):
            part = part.strip(" :.,()–-")
            long_enough = (" " in part and len(part) >= 6) or len(part) >= 10
            if long_enough and part != target and part.lower() not in target.lower():
                out[part] = source
    return out


def _text(html: str) -> str:
    """What a reader sees of a page: the text outside tags and scripts, attribute values that are read out
    (aria-label, title, placeholder) included."""
    import html as html_lib
    import re

    body = re.sub(r"<script.*?</script>", " ", html, flags=re.S)
    spoken = " ".join(re.findall(r'(?:aria-label|title|placeholder)="([^"]*)"', body))
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", body) + " " + spoken)


def test_every_staff_page_in_english_has_no_swedish_ui_text(demo_app, demo):
    """Issue 15: the sign-in page, the worklist's views (searched and sorted too), a task with its validation
    errors, a finished task, the person's case page, the person search and the notices, all in English. Text that
    comes from the diagrams and the data (task names, lanes, names) stays as written; none of the catalogue's
    Swedish may remain."""
    from engine.domain.actors import SYSTEM_ACTOR

    swedish = _ui_swedish()
    client = demo_app.test_client()
    token = csrf_of(client.get("/logga-in").get_data(as_text=True))
    client.post("/sprak", data={"csrf_token": token, "lang": "en"})
    pages = {"/logga-in": client.get("/logga-in").get_data(as_text=True)}
    bad = client.post("/logga-in", data={"csrf_token": token, "username": "", "password": ""})
    pages["sign-in error"] = bad.get_data(as_text=True)

    task = next(t for t in task_list(demo, SYSTEM_ACTOR)["items"] if t["instance_id"] == 1)
    vera = sign_in(demo_app, "vera")
    vera.post("/sprak", data={"csrf_token": page_token(vera), "lang": "en"})
    for path in (
        "/arbetslista",
        "/arbetslista?vy=mina",
        "/arbetslista?vy=forsenade",
        "/arbetslista?vy=idag",
        "/arbetslista?sortera=person&ordning=fallande",
        f"/uppgifter/{task['id']}",
        "/personer/arende/1",
        "/personer",
        "/notiser",
    ):
        response = vera.get(path)
        assert response.status_code == 200, path
        pages[path] = response.get_data(as_text=True)
    for term in ("Esther", "Ingen sådan"):
        vera.post("/arbetslista/sok", data={"csrf_token": page_token(vera), "sok": term})
        pages[f"search {term}"] = vera.get("/arbetslista").get_data(as_text=True)
    vera.post("/arbetslista/sok", data={"csrf_token": page_token(vera), "rensa": "1"})
    token = page_token(vera, f"/uppgifter/{task['id']}")
    errors = vera.post(
        f"/uppgifter/{task['id']}",
        data={"csrf_token": token, "action": "complete", "aterinlaggning_inom_30_dagar": "ja"},
    )
    assert errors.status_code == 422
    pages["task with errors"] = errors.get_data(as_text=True)
    assert "Fill in the field." in pages["task with errors"] and "required if" in pages["task with errors"]
    done = vera.post(
        f"/uppgifter/{task['id']}",
        data={
            "csrf_token": token,
            "action": "complete",
            "inskrivningsorsak": "Fall",
            "aterinlaggning_inom_30_dagar": "nej",
        },
    )
    assert done.status_code == 303
    pages["finished task"] = vera.get(f"/uppgifter/{task['id']}").get_data(as_text=True)
    assert "has already been completed" in pages["finished task"]

    weekday = re.compile(r"\b(?:mån|tis|ons|tor|fre|lör|sön) \d{4}-")
    found = {
        where: sorted(sv for sv in swedish if re.search(rf"(?<!\w){re.escape(sv)}(?!\w)", _text(html)))
        + weekday.findall(_text(html))
        for where, html in pages.items()
    }
    assert {w: f for w, f in found.items() if f} == {}


# Swedish words of the pages' own text (function words and UI words) that no English sentence has. Matched as whole
# words, case-insensitively, after the data (below) is taken out of the text.
_WORDS = (
    "och eller för inte finns saknas sorterad sorterade visa visas välj spara sparat avbryt avbruten senast senaste "
    "nyckeltal försenad försenade ärende ärenden ärendet uppgift uppgifter uppgiften inga ingen inget ännu alla med "
    "som att det den har från på är vid när efter utan över sedan samma varje enligt också bara dagar dag timmar "
    "vecka månad år antal andel totalt källa kommentar sök ladda förhandsgranska migrering migreringar simulering "
    "simuleringar piloter startad standardversion enheter enhet åtgärder händelse tidpunkt användare detalj klar "
    "klara misslyckades"
)
SWEDISH_WORDS = _WORDS.split()
SWEDISH_PHRASES = ("per ärende", "per vecka", "per månad", "per kommun", "per roll", "per grupp")
# Dates: weekday abbreviations before a date, Swedish month names (lower case: "Maj" is also a person's name), the
# Swedish date pattern (ÅÅÅÅ-MM-DD).
SWEDISH_DATES = re.compile(
    r"ÅÅÅÅ|\b(?:mån|tis|ons|tor|fre|lör|sön) \d{4}-|\b(?:januari|februari|mars|maj|juni|juli|augusti|oktober)\b"
    r"|\b\d{1,2} (?:jan|feb|mar|apr|maj|jun|jul|aug|sep|okt|nov|dec)\.?\b"
)
# Names that stay as they are in every language: the product, the region's questionnaire, the agreements' codes.
PROPER_NAMES = ("Samflöde", "Värdekompassen", "Värdekompass", "nationell", "jonkoping")


def _data_phrases(p) -> list[str]:  # type: ignore[no-untyped-def]
    """The allow-list of data, which stays as written in every language, gathered from where it comes from rather
    than listed by hand: the diagrams' names and texts (tasks, events, lanes, processes), the forms' titles, hints and
    choices, the agreements, lanes and milestones files, and the directory's units and users. Longest first, so that
    a name is taken out whole before a shorter one inside it."""
    import json

    from engine.config import PROJECT_ROOT
    from engine.persistence.models import OrgUnit, Pilot, User
    from engine.reads.figures import FIGURES

    found: set[str] = set()

    def strings(value) -> None:  # type: ignore[no-untyped-def]
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                found.add(str(key))
                strings(item)
        elif isinstance(value, list):
            for item in value:
                strings(item)

    processes = PROJECT_ROOT / "processes"
    for path in [*processes.glob("*.json"), *processes.glob("forms/*.json")]:
        strings(json.loads(path.read_text(encoding="utf-8")))
    for path in processes.glob("*.bpmn"):
        xml = path.read_text(encoding="utf-8")
        found.update(re.findall(r'\bname="([^"]+)"', xml))
        found.update(re.findall(r"<bpmn:(?:documentation|text)>([^<]+)<", xml))
        found.update(re.findall(r'<samflode:property name="\w+" value="([^"]+)"', xml))
    with p.db.read() as session:
        found.update(u.name for u in session.query(OrgUnit).all())
        found.update(u.kommun for u in session.query(OrgUnit).all())
        found.update(u.name for u in session.query(User).all())
        found.update(t for pilot in session.query(Pilot).all() for t in (pilot.name, pilot.description or ""))
    # The figures' sources cite Swedish laws and agreements by their names, as the agreements file does.
    found.update(f.source for f in FIGURES)
    import html as html_lib

    found = {html_lib.unescape(s).strip() for s in found if s and s.strip()}
    # Codes and numbers ("all", "2026", "PT24H") are not names; taking them out would cut words and dates apart.
    found = {s for s in found if len(s) >= 4 and re.search(r"[^\W\d_]{3}", s) and not re.fullmatch(r"[a-z_0-9]+", s)}
    return sorted(found, key=len, reverse=True)


def _swedish_in(text: str, data: list[str], catalogue: dict[str, str]) -> list[str]:
    """The Swedish UI text left in a page's visible text: catalogue msgids, Swedish words and phrases, Swedish dates;
    the data and the proper names are taken out first."""
    for phrase in data:
        if phrase in text:
            text = re.sub(rf"(?<!\w){re.escape(phrase)}(?!\w)", " ", text)
    for name in PROPER_NAMES:
        text = text.replace(name, " ")
    text = re.sub(r"\b\w+=\w+\b", " ", text)  # the access log's details are the query's codes (vy=enhet)
    found = []
    for sv in sorted(catalogue):
        match = re.search(rf"(?<!\w){re.escape(sv)}(?!\w)", text)
        if match:
            start = max(0, match.start() - 40)
            found.append(f"{sv!r} in …{' '.join(text[start : match.end() + 40].split())}…")
    words = "|".join(SWEDISH_WORDS)
    for match in re.finditer(rf"(?<!\w)(?:{words})(?!\w)", text, flags=re.I):
        start = max(0, match.start() - 40)
        found.append(f"{match.group(0)!r} in …{' '.join(text[start : match.end() + 40].split())}…")
    found += [p for p in SWEDISH_PHRASES if p in text.lower()]
    found += [m.group(0) for m in SWEDISH_DATES.finditer(text)]
    return found


ROLE_USERS = ("vera", "vilma", "hanna", "cora", "maja", "agnes", "irma", "ida", "admin")
NOT_PAGES = ("/api/", "/static/", "/vendor/", "/healthz", "/livez", "/readyz", "/metrics")


def test_every_page_of_every_role_in_english_has_no_swedish_ui_text(demo_app, demo):
    """Issue 15, "English complete": each role of the demo (ward, vårdcentral, kommun, coordinator, manager, process
    owner, implementation team, auditor, admin) signs in, switches to English and opens every page it may open:
    every GET route without arguments, and the pages with arguments (a task, a case's person page and its monitoring
    page with an incident, a process's heat map and activity catalogue, a pilot, a simulation and its progress, a
    migration run, the migration preview, the report grouped each way, the audit log searched, the modeller). No
    Swedish of the user interface may remain; the data (names from the diagrams, forms, agreements and directory)
    stays as written."""
    from engine.domain.actors import SYSTEM_ACTOR
    from webui.demo import CASES
    from webui.demo_story import _incident, _pilot_and_simulation

    owner = demo.directory.actor("agnes")
    esther = CASES[0]["personnummer"]
    _incident(demo, owner)  # deploys the demo's diagram whose expression divides by zero; its case has no units
    incident = demo.runtime.start_instance(
        "demo_berakning",
        "language-test",
        {"personnummer": esther, "namn": "Esther Andersson", "planerade_dygn": 10, "antal_besok": 0,
         "kommun": "Eksjö", "avdelning_hsa_id": "SE2321000057-HSMEDGER"},
        SYSTEM_ACTOR,
    )  # fmt: skip
    _pilot_and_simulation(demo, owner)
    task = next(t for t in task_list(demo, SYSTEM_ACTOR)["items"] if t["instance_id"] == 1)

    irma = sign_in(demo_app, "irma")
    preview = {"process_id": "in_utskrivning", "from_version": "1", "target_version": "2"}
    run = irma.post("/migreringar", data={**preview, "comment": "Test", "csrf_token": page_token(irma, "/migreringar")})
    assert run.status_code in (302, 303), run.get_data(as_text=True)

    rules = [
        r.rule
        for r in demo_app.url_map.iter_rules()
        if "GET" in (r.methods or ())
        and not r.arguments
        and not r.rule.startswith(NOT_PAGES)
        and not r.rule.endswith((".csv", ".xlsx"))  # downloads, not pages
    ]
    query = "&".join(f"{k}={v}" for k, v in preview.items())
    pages = sorted(
        {
            *rules,
            f"/uppgifter/{task['id']}",
            "/personer/arende/1",
            "/overvakning/instans/1",
            f"/overvakning/instans/{incident}",
            "/overvakning?status=incident",
            "/overvakning/process/in_utskrivning/varmekarta",
            "/processer/in_utskrivning/aktiviteter",
            "/piloter/1",
            "/piloter/1?utskrift=1",
            "/simuleringar/1",
            "/simuleringar/1/forlopp",
            run.headers["Location"],
            f"/migreringar/forhandsgranska?{query}",
            "/rapporter?gruppering=week",
            "/rapporter?gruppering=kommun",
            "/rapporter?gruppering=version",
            "/rapporter?fran=2026-02-01&till=2026-01-01&gruppering=x",
            f"/logg?personnummer={esther}",
            "/logg?since=2026-01-01&until=2026-12-31",
            "/modellera",
        }
    )
    data = _data_phrases(demo)
    catalogue = _ui_swedish()
    opened: dict[str, set[str]] = {}
    found: dict[str, list[str]] = {}
    for username in ROLE_USERS:
        client = sign_in(demo_app, username)
        client.post("/sprak", data={"csrf_token": page_token(client), "lang": "en"})
        for path in pages:
            response = client.get(path)
            if response.status_code in (302, 303, 403, 404):
                continue  # not this role's page (404: a case outside the user's units), or a redirect to one
            # The report's form and the migration preview without a choice: their errors explained.
            expected = 400 if "gruppering=x" in path or path == "/migreringar/forhandsgranska" else 200
            assert response.status_code == expected, (username, path, response.status_code)
            if not response.mimetype.startswith("text/html"):
                continue
            opened.setdefault(path, set()).add(username)
            html = response.get_data(as_text=True)
            swedish = _swedish_in(_text(html), data, catalogue)
            if html.lstrip().startswith("<!") and '<html lang="en">' not in html:
                swedish.append("not marked as English")
            if swedish:
                found[f"{username} {path}"] = swedish
    # Forms sent with errors, and the flash message after an action, in English too.
    irma = sign_in(demo_app, "irma")
    irma.post("/sprak", data={"csrf_token": page_token(irma), "lang": "en"})
    posted = {
        "pilot form": irma.post("/piloter/ny", data={"csrf_token": page_token(irma, "/piloter/ny"), "name": ""}),
        "simulation form": irma.post("/simuleringar", data={"csrf_token": page_token(irma, "/simuleringar")}),
    }
    irma.post("/piloter/1/vardekompass", data={"csrf_token": page_token(irma, "/piloter/1")})
    posted["pilot flash"] = irma.get("/piloter/1")
    for where, response in posted.items():
        assert response.status_code in (200, 400, 422), (where, response.status_code)
        swedish = _swedish_in(_text(response.get_data(as_text=True)), data, catalogue)
        if swedish:
            found[where] = swedish
    assert "flash" in posted["pilot flash"].get_data(as_text=True)
    assert sorted(set(pages) - set(opened)) == ["/"]  # the start page redirects to the worklist
    assert found == {}, "\n".join(f"{where}: {texts}" for where, texts in sorted(found.items()))


def test_the_engine_texts_the_pages_show_have_english():
    """The engine's fixed Swedish texts that pages show through the |t filter (figure titles and definitions, pilot
    rules and statuses, comparison groups, questions, catalogue headings) are all in the English catalogue, and the
    figures the pilot comparison writes keep their numbers."""
    from babel.messages.pofile import read_po

    from webui import create_app
    from webui.labels import engine_text, engine_texts

    with (TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale="en")
    assert [t for t in engine_texts() if catalog.get(t) is None or not catalog.get(t).string] == []
    app = create_app({"TESTING": True})
    with app.test_request_context("/"):
        from flask import session
        from flask_babel import refresh

        assert engine_text("Instämmer helt") == "Instämmer helt"  # Swedish by default
        session["lang"] = "en"
        refresh()
        assert engine_text("Instämmer helt") == "Agree fully"
        assert engine_text("62 % (23 av 37) ±16") == "62 % (23 of 37) ±16"
        assert engine_text("4,2 dagar (n=30)") == "4.2 days (n=30)"  # English writes a decimal point
        assert engine_text("Fall på pilotens version, inskrivna 2026-01-12–2026-03-31") == (
            "Cases on the pilot's version, admitted 2026-01-12–2026-03-31"
        )
        assert engine_text("Registrera inskrivning") == "Registrera inskrivning"  # data stays as written


def test_the_engines_messages_made_from_templates_follow_the_language():
    """Issue 15: a refusal, an incident or a validation error is a template with parameters (engine/domain/text.py):
    the page translates the template and fills it in, parameters that are texts of the engine too; a message that
    was stored as text (an incident, a job's error, a flash kept over a redirect) is read back into its template.
    Swedish stays exactly as the engine wrote it."""
    from flask import session
    from flask_babel import refresh

    from engine.domain.text import Text, status_word
    from webui import create_app
    from webui.labels import engine_text

    done = Text("Uppgiften är redan utförd av %(actor)s", actor="vera")
    nested = Text("Timern kan inte användas: %(refused)s", refused=Text("tidpunkten %(text)r ligger före år 1900",
                  text="1800-01-01"))  # fmt: skip
    app = create_app({"TESTING": True})
    with app.test_request_context("/"):
        assert engine_text(done) == "Uppgiften är redan utförd av vera"
        assert engine_text(nested) == "Timern kan inte användas: tidpunkten '1800-01-01' ligger före år 1900"
        session["lang"] = "en"
        refresh()
        assert engine_text(done) == "The task has already been completed by vera"
        assert engine_text(str(done)) == "The task has already been completed by vera"  # stored, read back
        english = "The timer cannot be used: the time '1800-01-01' is before the year 1900"
        assert engine_text(nested) == english and engine_text(str(nested)) == english
        assert engine_text(Text("Instansen är redan %(status)s", status=status_word("cancelled"))) == (
            "The instance is already cancelled"
        )
        regel = Text("regeln ”%(mixed_rules)s” kräver minst en %(kind_titles)s i piloten", mixed_rules="x",
                     kind_titles="avdelning")  # fmt: skip
        assert engine_text(regel) == "the rule “x” needs at least one ward in the pilot"
        assert engine_text("Registrera inskrivning") == "Registrera inskrivning"  # data stays as written
        assert engine_text("1 200 (3,5 per fall)") == "1,200 (3.5 per case)"


def test_a_refusal_of_a_repair_reaches_an_english_reader_in_english(demo_app, demo):
    """A real error path: a coordinator in English cancels a case twice; the second refusal (the engine's
    `Instansen är redan avbruten`) comes back in English beside the form (htmx) and as the page's flash."""
    client = sign_in(demo_app, "cora")
    client.post("/sprak", data={"csrf_token": page_token(client), "lang": "en"})
    token = page_token(client, "/overvakning/instans/1")
    first = client.post("/overvakning/instans/1/avbryt", data={"reason": "Dubblett", "csrf_token": token})
    assert first.status_code == 303
    again = client.post(
        "/overvakning/instans/1/avbryt",
        data={"reason": "Dubblett", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert "The instance is already cancelled" in again.get_data(as_text=True)
    client.post("/overvakning/instans/1/avbryt", data={"reason": "Dubblett", "csrf_token": token})
    page = client.get("/overvakning/instans/1").get_data(as_text=True)
    assert "The instance is already cancelled" in page and "Instansen är" not in page


def test_pages_reached_only_with_data_in_english_have_no_swedish_ui_text(demo_app, demo):
    """Issue 15: pages and states that only data brings about, in English: a cancelled case (its monitoring page, the
    person's page, the list of cancelled cases), the notices page with new and overdue notices, a pilot paused, its
    refused extension (a field error) and the pilot ended, and the simulation and migration forms sent with values
    that cannot be read (their messages per field)."""
    from datetime import timedelta

    from engine.domain.actors import SYSTEM_ACTOR
    from tests.webui.staff import advance_ward, valid_data
    from webui.demo_story import _pilot_and_simulation

    _pilot_and_simulation(demo, demo.directory.actor("agnes"))
    task = advance_ward(demo, 1)
    demo.runtime.complete_task(task["id"], valid_data(demo.catalog.form(task["form"]) or {}), SYSTEM_ACTOR)
    data = _data_phrases(demo)
    catalogue = _ui_swedish()
    pages: dict[str, str] = {}

    vilma = sign_in(demo_app, "vilma")  # signing in syncs her notices: the case's new task for her health centre
    vilma.post("/sprak", data={"csrf_token": page_token(vilma), "lang": "en"})
    pages["notices, new"] = vilma.get("/notiser").get_data(as_text=True)
    demo.clock.advance(timedelta(days=3))
    vilma = sign_in(demo_app, "vilma")
    pages["notices, overdue"] = vilma.get("/notiser").get_data(as_text=True)
    assert "New task:" in pages["notices, new"] and "Overdue task:" in pages["notices, overdue"]

    irma = sign_in(demo_app, "irma")
    irma.post("/sprak", data={"csrf_token": page_token(irma), "lang": "en"})
    token = page_token(irma, "/piloter/1")
    irma.post("/piloter/1/pausa", data={"csrf_token": token})
    pages["pilot paused"] = irma.get("/piloter/1").get_data(as_text=True)
    irma.post("/piloter/1/forlang", data={"csrf_token": token, "end_date": "2026-01-02"})
    pages["pilot extension refused"] = irma.get("/piloter/1").get_data(as_text=True)
    assert "must be later than the current end date" in pages["pilot extension refused"]
    irma.post("/piloter/1/avsluta", data={"csrf_token": token})
    pages["pilot ended"] = irma.get("/piloter/1").get_data(as_text=True)
    simulation = irma.post(
        "/simuleringar",
        data={"csrf_token": page_token(irma, "/simuleringar"), "process_id": "in_utskrivning",
              "candidate_version": "2", "days": "tre", "capacity": "vardplanerare"},
    )  # fmt: skip
    pages["simulation form with errors"] = simulation.get_data(as_text=True)
    assert "write 'name = number' on each line" in unescape(pages["simulation form with errors"])
    preview = irma.get("/migreringar/forhandsgranska?process_id=in_utskrivning&target_version=2&instance_ids=1,x")
    pages["migration preview with errors"] = preview.get_data(as_text=True)
    assert "is not a number" in unescape(pages["migration preview with errors"])

    cora = sign_in(demo_app, "cora")
    cora.post("/sprak", data={"csrf_token": page_token(cora), "lang": "en"})
    token = page_token(cora, "/overvakning/instans/1")
    cora.post("/overvakning/instans/1/avbryt", data={"reason": "Dubblett", "csrf_token": token})
    for path in ("/overvakning/instans/1", "/personer/arende/1", "/overvakning?status=cancelled"):
        response = cora.get(path)
        assert response.status_code == 200, path
        pages[path] = response.get_data(as_text=True)
    assert "Cancelled" in pages["/overvakning/instans/1"]

    found = {where: _swedish_in(_text(html), data, catalogue) for where, html in pages.items()}
    assert {where: texts for where, texts in found.items() if texts} == {}
