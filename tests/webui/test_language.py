# ruff: noqa: F811  (pytest fixtures imported from tests.webui.staff are parameters here)
"""Swedish by default, English on request (Flask-Babel); catalogues compiled from the .po files."""

from __future__ import annotations

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
