"""Issue 14, points 2 and 3: the journal's messages are heard during the whole stay, whatever tasks are open, and a
discharge closes what is still open visibly, with an avvikelse per party. Walked through the service layer and
restored from the database after every step (tests/bpmn/conftest.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select

from engine.domain.clock import STOCKHOLM
from engine.persistence.models import TaskIndex
from tests.bpmn.conftest import ESTHER, Walker
from tests.bpmn.test_in_utskrivning import NEEDS, PLANNING, finish

# one planning task of each of the five parties, left open by the tests below
OPEN_PLANNING = {
    "paborja_utskrivningsplanering": "Slutenvård",
    "kvittera_inskrivningsmeddelande_vc": "Region primärvård",
    "aterrapportera_hemsjukvardsinsatser": "Kommun hemsjukvård",
    "kvittera_inskrivningsmeddelande_kommun": "Kommun socialtjänst",
    "vad_ar_viktigt_for_dig": "Den enskilde",
}


def admitted_with_planning_open(walk: Walker) -> int:
    """Admitted, needs judged, consent given, the inskrivningsmeddelande sent: every party's planning is open."""
    instance = walk.admit(ESTHER)
    for element in ("registrera_inskrivning", "bedoma_behov_efter_utskrivning", "fraga_samtycke"):
        walk.complete(instance, element, **NEEDS.get(element, {}))
    walk.complete(instance, "skicka_inskrivningsmeddelande")
    assert set(OPEN_PLANNING) | {"besluta_utskrivningsklar"} <= set(walk.active(instance))
    return instance


def flags(walk: Walker, instance: int) -> dict[str, str | None]:
    return {t["element_id"]: t["flag"] for t in walk.view(instance)["active_tasks"]}


def test_uk_from_the_journal_is_heard_while_every_partys_planning_is_open(walk):
    instance = admitted_with_planning_open(walk)
    assert all(flag is None for flag in flags(walk, instance).values())
    walk.clock.advance(timedelta(hours=30))
    walk.send("planerat_utskrivningsdatum", ESTHER, beraknat_utskrivningsdatum="2026-01-18")
    assert walk.data(instance)["beraknat_utskrivningsdatum"] == "2026-01-18"
    uk_at = walk.clock.now()
    walk.send("utskrivningsklar", ESTHER, utskrivningsklar=True, utskrivningsklar_tidpunkt=uk_at.isoformat())
    walk.complete(instance, "skicka_meddelande_utskrivningsklar", mottagare=["Kommun", "Vårdcentral"])
    # the payment clock and the UK-dependent work start at once
    rule = walk.p.catalog.deadline_rule("betalningsansvar", ESTHER["avtal"])
    assert datetime.fromisoformat(walk.timers(instance)["tid_betalningsansvar"]["due_at"]) == rule.due(uk_at)
    active = set(walk.active(instance))
    assert {"overfora_information", "fatta_bistandsbeslut", "planera_forsta_hembesok", "identifiera_behov_av_sip"} <= (
        active
    )
    # the planning tasks stay open, flagged; the UK work is not flagged
    now_flags = flags(walk, instance)
    for element in OPEN_PLANNING:
        assert now_flags[element] == "Inte klar när den enskilde blev utskrivningsklar", element
    assert now_flags["fatta_bistandsbeslut"] is None and now_flags["overfora_information"] is None
    # the flag is in the worklist data too (the kommun's biståndshandläggare sees it on their row)
    with walk.p.db.read() as session:
        row = session.get(TaskIndex, walk.task_id(instance, "kvittera_inskrivningsmeddelande_kommun"))
        assert row is not None and row.flag == "Inte klar när den enskilde blev utskrivningsklar"
    # a planning task done late is just done
    walk.complete(instance, "kvittera_inskrivningsmeddelande_kommun")
    assert "kontrollera_folkbokforing_och_insatser" in walk.active(instance)
    assert flags(walk, instance)["kontrollera_folkbokforing_och_insatser"] is not None
    # a new planned date is still heard after UK
    walk.send("planerat_utskrivningsdatum", ESTHER, beraknat_utskrivningsdatum="2026-01-19")
    assert walk.data(instance)["beraknat_utskrivningsdatum"] == "2026-01-19"


def test_withdrawn_and_new_uk_are_heard_while_planning_is_open(walk):
    instance = admitted_with_planning_open(walk)
    walk.send("utskrivningsklar", ESTHER, utskrivningsklar=True)
    walk.complete(instance, "skicka_meddelande_utskrivningsklar")
    assert "tid_betalningsansvar" in walk.timers(instance)
    walk.clock.advance(timedelta(hours=5))
    walk.send("aterkallad_utskrivningsklar", ESTHER, aterkallad_orsak="Försämring")
    assert "tid_betalningsansvar" not in walk.timers(instance)
    assert set(OPEN_PLANNING) <= set(walk.active(instance))
    walk.complete(instance, "meddela_atertagande")
    walk.send("utskrivningsklar", ESTHER, utskrivningsklar=True)
    walk.complete(instance, "skicka_nytt_meddelande_utskrivningsklar")
    assert "tid_betalningsansvar" in walk.timers(instance)


def test_a_discharge_with_open_tasks_closes_them_visibly_with_an_avvikelse_per_party(walk):
    instance = admitted_with_planning_open(walk)
    walk.send("utskrivningsklar", ESTHER, utskrivningsklar=True)
    walk.complete(instance, "skicka_meddelande_utskrivningsklar")
    walk.complete(instance, "fatta_bistandsbeslut")  # the kommun's social services are ready; home care is not
    walk.clock.advance(timedelta(hours=20))
    walk.send("utskriven", ESTHER, utskrivningstid=walk.clock.now().isoformat())
    active = set(walk.active(instance))
    assert not (set(OPEN_PLANNING) & active)
    assert not ({"overfora_information", "planera_hemtjanst", "planera_forsta_hembesok"} & active)
    assert "skicka_utskrivningsmeddelande" in active and "identifiera_behov_av_sip" in active  # the SIP goes on
    closed = {h["element_id"]: h for h in walk.history(instance, "task_closed")}
    for element in (*OPEN_PLANNING, "overfora_information", "planera_hemtjanst", "planera_forsta_hembesok"):
        assert element in closed, element
        assert closed[element]["data"]["reason"] and closed[element]["task_id"], element
    assert closed["vad_ar_viktigt_for_dig"]["data"]["reason"] == "Utskriven: planering öppen"
    assert closed["overfora_information"]["data"]["reason"] == "Utskriven utan överförd information"
    deviations = {(d["element_id"], d["party"]) for d in walk.view(instance)["deviations"]}
    assert {("sig_utskriven_planering", party) for party in OPEN_PLANNING.values()} <= deviations
    assert ("sig_utskriven_information", "Slutenvård") in deviations
    assert {("sig_utskriven_kommun", "Kommun hemsjukvård"), ("sig_utskriven_kommun", "Kommun socialtjänst")} <= (
        deviations
    )
    # one per party and cause, not one per task
    assert len([d for d in deviations if d[0] == "sig_utskriven_planering"]) == 5
    finish(walk, instance, {"identifiera_behov_av_sip": {"sip_behov": False}})


def test_information_transfer_is_due_by_the_planned_discharge_day_and_escalates(walk):
    instance = admitted_with_planning_open(walk)
    walk.send("utskrivningsklar", ESTHER, utskrivningsklar=True)
    walk.complete(instance, "skicka_meddelande_utskrivningsklar")
    timer = walk.timers(instance)["tid_informationsoverforing"]
    planned = NEEDS["bedoma_behov_efter_utskrivning"]["beraknat_utskrivningsdatum"]
    due = datetime.fromisoformat(timer["due_at"]).astimezone(STOCKHOLM)
    # the end of the planned day: midnight on the Stockholm wall clock (agreement deadline informationsoverforing)
    end_of_day = date.fromisoformat(planned) + timedelta(days=1)
    assert (due.date(), due.hour, due.minute) == (end_of_day, 0, 0)
    with walk.p.db.read() as session:
        task = session.scalars(
            select(TaskIndex).where(TaskIndex.instance_id == instance, TaskIndex.element_id == "overfora_information")
        ).one()
        assert task.due_at == due  # the worklist shows the same moment
    walk.fire(instance, "tid_informationsoverforing")
    assert "eskalera_informationsoverforing" in walk.active(instance)
    assert "overfora_information" in walk.active(instance)  # still to be done
    [deviation] = [d for d in walk.view(instance)["deviations"] if d["element_id"] == "tid_informationsoverforing"]
    assert deviation["party"] == "Slutenvård"
    walk.complete(instance, "overfora_information")
    assert "tid_informationsoverforing" not in walk.timers(instance)


def test_death_and_transfer_are_heard_while_planning_is_open(walk):
    instance = admitted_with_planning_open(walk)
    walk.send("avliden", ESTHER, dodsdatum="2026-01-13")
    view = walk.view(instance)
    assert view["status"] == "completed" and view["active_tasks"] == []
    closed = {h["element_id"]: h["data"]["reason"] for h in walk.history(instance, "task_closed")}
    assert set(OPEN_PLANNING) <= set(closed) and set(closed.values()) == {"Avliden"}
    assert view["deviations"] == []  # a death is no one's deviation

    other = {**ESTHER, "vardtillfalle_id": "VT-1002"}
    second = walk.admit(other)
    for element in ("registrera_inskrivning", "bedoma_behov_efter_utskrivning", "fraga_samtycke"):
        walk.complete(second, element, **NEEDS.get(element, {}))
    walk.complete(second, "skicka_inskrivningsmeddelande")
    walk.send("overflyttad", other, mottagande_sjukhus="Länssjukhuset Ryhov")
    assert walk.active(second) == ["overlamna_till_mottagande_sjukhus"]
    walk.complete(second, "overlamna_till_mottagande_sjukhus")
    assert walk.view(second)["status"] == "completed"
    assert walk.data(second)["avslutsorsak"] == "overflyttad"


def test_discharge_reported_before_any_uk_decision_ends_the_stay(walk):
    instance = admitted_with_planning_open(walk)
    walk.send("utskriven", ESTHER, utskrivningstid=walk.clock.now().isoformat())
    view = walk.view(instance)
    assert view["status"] == "completed" and view["active_tasks"] == [] and view["timers"] == []
    assert view["data"]["utskriven_utan_utskrivningsklar"] is True
    assert "betalningsansvar_startat" not in view["data"]
    assert "utskrivningsmeddelande" in walk.thrown(instance)
    assert {d["party"] for d in view["deviations"]} == set(OPEN_PLANNING.values())


def test_a_stay_planned_in_full_has_no_flags_and_no_deviations(walk):
    instance = walk.admit(ESTHER)
    walk.run_except(instance, {"besluta_utskrivningsklar"}, PLANNING)
    walk.send("utskrivningsklar", ESTHER, utskrivningsklar=True)
    walk.complete(instance, "skicka_meddelande_utskrivningsklar")
    assert all(flag is None for flag in flags(walk, instance).values())
    walk.run_except(instance, {"genomfora_utskrivning"}, PLANNING)  # every party ready before the discharge
    finish(walk, instance)
    assert walk.view(instance)["deviations"] == []
    # the only task closed undone is the doctor's UK decision, which the journal's message took the place of
    [closed] = walk.history(instance, "task_closed")
    assert closed["element_id"] == "besluta_utskrivningsklar"
    assert closed["data"]["reason"] == "Utskrivningsklar från vårdsystemet"
