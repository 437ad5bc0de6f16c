# ruff: noqa: F811  (pytest fixtures imported from tests.webui.staff are parameters here)
"""Issue 15, staff: forms that know what the system knows, read-only tasks of others, finished tasks that explain
themselves, the worklist's sort, search and counts, comments kept in the case's timeline, and no notices written
while a page renders."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from engine.domain.actors import SYSTEM_ACTOR
from engine.persistence.models import AccessLogEntry, HistoryEntry, Notification
from tests.conftest import task_list
from tests.webui.staff import advance_ward, demo, demo_app, page_token, sign_in  # noqa: F401

ESTHER = 1


def _first_ward_task(demo):  # type: ignore[no-untyped-def]
    return next(t for t in task_list(demo, SYSTEM_ACTOR)["items"] if t["instance_id"] == ESTHER)


def test_a_conditional_field_is_marked_and_not_demanded_before_its_question_is_answered(demo_app, demo):
    task = _first_ward_task(demo)  # Registrera inskrivning: "Tidigare vårdtillfälle" only if återinläggning is Ja
    vera = sign_in(demo_app, "vera")
    page = vera.get(f"/uppgifter/{task['id']}").get_data(as_text=True)
    assert "(obligatoriskt om Återinläggning inom 30 dagar är Ja)" in page
    path, token = f"/uppgifter/{task['id']}", page_token(vera, f"/uppgifter/{task['id']}")
    empty = vera.post(path, data={"csrf_token": token, "action": "complete"}).get_data(as_text=True)
    assert "Orsak till inskrivning: Fyll i fältet." in empty
    assert "Återinläggning inom 30 dagar:" not in empty  # optional: the platform knows the stays it discharged
    assert "Tidigare vårdtillfälle:" not in empty
    assert 'id="form-errors" tabindex="-1" autofocus' in empty and 'href="#f-inskrivningsorsak"' in empty
    answered = vera.post(
        path,
        data={
            "csrf_token": token,
            "action": "complete",
            "inskrivningsorsak": "Fall",
            "aterinlaggning_inom_30_dagar": "ja",
        },
    ).get_data(as_text=True)
    assert "Tidigare vårdtillfälle: Fyll i fältet." in answered
    done = vera.post(
        path,
        data={
            "csrf_token": token,
            "action": "complete",
            "inskrivningsorsak": "Fall",
            "aterinlaggning_inom_30_dagar": "nej",
        },
    )
    assert done.status_code == 303  # Nej: the conditional field stays optional


def test_messages_say_what_to_do_units_are_picked_by_name_and_old_dates_are_questioned(demo_app, demo):
    task = advance_ward(demo, ESTHER, "Bedöma behov av insatser efter utskrivning")
    vera = sign_in(demo_app, "vera")
    path = f"/uppgifter/{task['id']}"
    token = page_token(vera, path)
    base = {"csrf_token": token, "action": "complete", "behov_efter_utskrivning": "ja"}
    wrong = vera.post(path, data={**base, "bedomd_vardtid_dagar": "tre", "beraknat_utskrivningsdatum": "2026-01-16"})
    html = wrong.get_data(as_text=True)
    assert wrong.status_code == 422 and "Bedömd vårdtid (dagar): Ange ett heltal, till exempel 3." in html
    assert "har fel typ" not in html
    old = vera.post(path, data={**base, "beraknat_utskrivningsdatum": "2019-01-16"})
    html = old.get_data(as_text=True)
    assert old.status_code == 422 and "Datumet 2019-01-16 ligger långt bak i tiden" in html
    assert 'name="datum_stammer"' in html
    confirmed = vera.post(path, data={**base, "beraknat_utskrivningsdatum": "2019-01-16", "datum_stammer": "1"})
    assert confirmed.status_code == 303

    message = advance_ward(demo, ESTHER)  # Skicka inskrivningsmeddelande: a unit picker and a time that defaults
    page = vera.get(f"/uppgifter/{message['id']}").get_data(as_text=True)
    assert '<label for="f-mottagande_vardcentral_hsa_id">Mottagande vårdcentral' in page
    assert '<option value="Vårdcentralen Eksjö">' in page
    assert re.search(r'id="f-meddelande_skickat"[^>]*value="2026-01-12T\d\d:\d\d"', page)  # the clock's now
    token = page_token(vera, f"/uppgifter/{message['id']}")
    unknown = vera.post(
        f"/uppgifter/{message['id']}",
        data={
            "csrf_token": token,
            "action": "complete",
            "mottagande_kommun": "Eksjö",
            "mottagande_vardcentral_hsa_id": "Vårdcentralen Ingenstans",
            "beraknat_utskrivningsdatum": "2026-01-16",
            "meddelande_skickat": "2026-01-12T10:00",
        },
    ).get_data(as_text=True)
    assert "Välj en enhet i listan (skriv en del av namnet)." in unknown
    done = vera.post(
        f"/uppgifter/{message['id']}",
        data={
            "csrf_token": token,
            "action": "complete",
            "mottagande_kommun": "Eksjö",
            "mottagande_vardcentral_hsa_id": "vårdcentralen eksjö",
            "beraknat_utskrivningsdatum": "2026-01-16",
            "meddelande_skickat": "2026-01-12T10:00",
        },
    )
    assert done.status_code == 303
    with demo.db.read() as session:
        submitted = session.scalars(
            select(HistoryEntry.data).where(
                HistoryEntry.task_id == message["id"], HistoryEntry.kind == "task_completed"
            )
        ).one()["submitted"]
    assert submitted["mottagande_vardcentral_hsa_id"] == "SE2321000057-VCEKSJO"


def test_a_task_someone_else_has_is_read_only_and_a_finished_one_says_who_finished_it(demo_app, demo):
    task = _first_ward_task(demo)
    vera = sign_in(demo_app, "vera")
    vera.post(f"/uppgifter/{task['id']}/ta", data={"csrf_token": page_token(vera)})
    linnea = sign_in(demo_app, "linnea")
    page = linnea.get(f"/uppgifter/{task['id']}").get_data(as_text=True)
    assert "Vera Vårdplanerare har tagit uppgiften. Du kan läsa men inte ändra eller slutföra den." in page
    assert '<fieldset class="readonly" disabled>' in page and 'value="complete"' not in page

    token = page_token(vera, f"/uppgifter/{task['id']}")
    vera.post(
        f"/uppgifter/{task['id']}",
        data={
            "csrf_token": token,
            "action": "complete",
            "inskrivningsorsak": "Fall",
            "aterinlaggning_inom_30_dagar": "nej",
        },
    )
    later = linnea.get(f"/uppgifter/{task['id']}")
    assert later.status_code == 200
    assert "är redan slutförd, av Vera Vårdplanerare" in later.get_data(as_text=True)
    otto = sign_in(demo_app, "otto")  # another vårdcentral: the same 404 as for a task that never was
    stranger = otto.get(f"/uppgifter/{task['id']}")
    assert stranger.status_code == 404 and "Vera" not in stranger.get_data(as_text=True)
    assert otto.get("/uppgifter/00000000-0000-0000-0000-000000000000").status_code == 404


def test_the_worklist_sorts_by_any_column_and_searches_by_name_or_personnummer(demo_app, demo):
    vera = sign_in(demo_app, "vera")
    by_person = vera.get("/arbetslista?sortera=person").get_data(as_text=True)
    names = re.findall(r'data-label="Person"><a [^>]*>([^<]+)</a>', by_person)
    assert names == sorted(names) and len(names) >= 2
    descending = vera.get("/arbetslista?sortera=person&ordning=fallande").get_data(as_text=True)
    assert re.findall(r'data-label="Person"><a [^>]*>([^<]+)</a>', descending) == sorted(names, reverse=True)
    assert 'aria-sort="descending"' in descending
    for column in ("frist", "uppgift", "arende", "part", "tagen"):
        assert vera.get(f"/arbetslista?sortera={column}").status_code == 200

    token = page_token(vera)

    def search(term: str) -> str:
        answer = vera.post("/arbetslista/sok", data={"csrf_token": token, "sok": term, "vy": "enhet"})
        assert answer.status_code == 303 and term not in answer.headers["Location"]  # never in an address
        return vera.get(answer.headers["Location"]).get_data(as_text=True)

    found = search("esth")
    assert "Esther Andersson" in found and len(set(re.findall(r'data-label="Person"><a [^>]*>([^<]+)</a>', found))) == 1
    for number in ("19380312-2385", "193803122385", "3803122385"):
        assert "Esther Andersson" in search(number), number
    assert "Ingen uppgift här för ”Zyxw”." in search("Zyxw")
    vera.post("/arbetslista/sok", data={"csrf_token": token, "sok": "Zyxw", "rensa": "1"})
    assert "Ingen uppgift här för" not in vera.get("/arbetslista").get_data(as_text=True)
    with demo.db.read() as session:
        searched = session.scalar(
            select(func.count())
            .select_from(AccessLogEntry)
            .where(AccessLogEntry.action == "sok", AccessLogEntry.username == "vera")
        )
    assert searched and searched >= 4


def test_a_claim_with_htmx_brings_the_counts_again(demo_app, demo):
    task = _first_ward_task(demo)
    vera = sign_in(demo_app, "vera")
    html = vera.post(
        f"/uppgifter/{task['id']}/ta",
        data={"csrf_token": page_token(vera), "next": "/arbetslista?vy=enhet"},
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)
    assert re.search(r'<span id="count-mina" hx-swap-oob="true"[^>]*>1</span>', html)


def test_comments_on_a_task_and_a_hand_over_are_kept_in_the_timeline(demo_app, demo):
    task = _first_ward_task(demo)
    vera = sign_in(demo_app, "vera")
    token = page_token(vera, f"/uppgifter/{task['id']}")
    empty = vera.post(
        f"/uppgifter/{task['id']}/kommentar", data={"csrf_token": token, "comment": "  "}, follow_redirects=True
    )
    assert "Skriv en kommentar" in empty.get_data(as_text=True)
    vera.post(f"/uppgifter/{task['id']}/kommentar", data={"csrf_token": token, "comment": "Anhörig ringer kl 14."})
    vera.post(
        f"/uppgifter/{task['id']}/lamna-over",
        data={"csrf_token": token, "assignee": "linnea", "comment": "Du har patienten i eftermiddag."},
    )
    page = sign_in(demo_app, "linnea").get(f"/uppgifter/{task['id']}").get_data(as_text=True)
    assert "Anhörig ringer kl 14." in page and "Du har patienten i eftermiddag." in page
    with demo.db.read() as session:
        kinds = session.scalars(select(HistoryEntry.kind).where(HistoryEntry.task_id == task["id"])).all()
        logged = session.scalars(select(AccessLogEntry.action).where(AccessLogEntry.username == "vera")).all()
    assert "comment" in kinds and "kommentar" in logged


def test_no_notice_is_written_while_a_page_renders(demo_app, demo, monkeypatch):
    """Signing in writes the notices; the pages after it, within the minute, only read them (the access log is
    written as always: that is the read of patient data itself)."""
    from engine.jobs.notifications import Notifications

    advance_ward(demo, ESTHER)
    vera = sign_in(demo_app, "vera")
    with demo.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Notification).where(Notification.username == "vera"))
    synced: list[str] = []
    original = Notifications._sync
    monkeypatch.setattr(Notifications, "_sync", lambda self, *a: synced.append("sync") or original(self, *a))
    for path in ("/arbetslista", "/arbetslista?vy=mina", "/personer", "/notiser"):
        assert vera.get(path).status_code == 200
    assert synced == []
