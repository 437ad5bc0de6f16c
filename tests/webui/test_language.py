# ruff: noqa: F811  (pytest fixtures imported from tests.webui.staff are parameters here)
"""Swedish by default, English on request (Flask-Babel); catalogues compiled from the .po files."""

from __future__ import annotations

import re

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
    from engine.directory import SYSTEM_ACTOR

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
    from engine.directory import SYSTEM_ACTOR

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
