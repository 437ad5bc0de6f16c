"""A pilot on the real in_utskrivning diagram: a case in the pilot's units starts on the pilot version, one elsewhere
on the default; both are discharged; the Värdekompass questionnaires (processes/vardekompass.bpmn) go to each
party's staff as user tasks in their worklists, and the answers are part of the side-by-side comparison."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from engine.domain.actors import Actor
from engine.domain.clock import STOCKHOLM
from engine.domain.errors import Conflict, Forbidden
from engine.features.pilot_comparison import PilotComparison, Questionnaires
from engine.features.pilots import Pilots, PilotSpec
from tests.bpmn.conftest import ESTHER, PROCESSES, Walker
from tests.bpmn.test_in_utskrivning import PLANNING
from tests.conftest import OWNER, task_list

TEAM = Actor("irma", frozenset({"implementation_team"}), name="Irma")
ELSEWHERE = {
    **ESTHER,
    "personnummer": "19121212-1212",
    "vardtillfalle_id": "VT-2002",
    "avdelning_hsa_id": "SE2321000057-RYMED1",
    "kommun": "Jönköping",
    "vardcentral_hsa_id": "SE2321000057-VCRASLATT",
}
STAFF_ANSWERS = {
    "samverkan_fungerade_bra": "Instämmer helt",
    "information_i_tid": "Instämmer delvis",
    "ratt_kompetens_deltog": "Instämmer helt",
    "den_enskilde_delaktig": "Instämmer helt",
}


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=STOCKHOLM)


def discharge(walk: Walker, case: dict, instance: int) -> None:
    """From admission to discharge the way test_case_facts does it: UK on Wednesday, discharged on Friday."""
    walk.run_except(instance, {"besluta_utskrivningsklar"}, PLANNING)
    walk.send("utskrivningsklar", case, utskrivningsklar=True, utskrivningsklar_tidpunkt=at(14, 10).isoformat())
    walk.complete(instance, "skicka_meddelande_utskrivningsklar", mottagare=["Kommun", "Vårdcentral"])
    for _ in range(40):
        active = [e for e in walk.active(instance) if e != "genomfora_utskrivning"]
        if "uppratta_plan" in active or not active:
            break
        walk.complete(instance, active[0], **PLANNING.get(active[0], {}))
    walk.send("utskriven", case, utskrivningstid=at(16, 11).isoformat())


@pytest.fixture
def piloted(walk: Walker) -> tuple[Walker, int]:
    xml = (PROCESSES / "in_utskrivning.bpmn").read_text(encoding="utf-8")
    walk.p.runtime.deploy(
        xml.replace('name="Registrera inskrivning"', 'name="Registrera inskrivning (pilot)"', 1), OWNER
    )
    walk.p.runtime.deploy((PROCESSES / "vardekompass.bpmn").read_bytes(), OWNER, filename="vardekompass.bpmn")
    pilots = Pilots(walk.p.db, walk.p.clock, walk.p.policy)
    pilot_id = pilots.create(
        TEAM,
        PilotSpec(
            name="Eksjö SVPL",
            process_id="in_utskrivning",
            version=2,
            start_date=date(2026, 1, 12),
            end_date=date(2026, 3, 31),
            mixed_rule="all",
            avdelningar=["SE2321000057-HSMEDGER"],
            vardcentraler=["SE2321000057-VCEKSJO"],
            kommuner=["Eksjö"],
            staff_questionnaire=True,
            person_questionnaire=True,
        ),
    )
    pilots.start(TEAM, pilot_id)
    return walk, pilot_id


def test_questionnaires_reach_each_party_and_their_answers_are_compared(piloted):
    walk, pilot_id = piloted
    p = walk.p
    comparison = PilotComparison(p.db, p.clock, p.policy, p.figures)
    questionnaires = Questionnaires(p.db, p.clock, p.policy, comparison, p.runtime)
    inside = walk.admit(ESTHER)
    outside = walk.admit(ELSEWHERE)
    assert (walk.view(inside)["version"], walk.view(inside)["routing"]) == (2, "pilot")
    assert (walk.view(outside)["version"], walk.view(outside)["routing"]) == (1, "default")
    assert questionnaires.send(TEAM, pilot_id) == []  # nobody discharged yet

    for case, instance in ((ESTHER, inside), (ELSEWHERE, outside)):
        discharge(walk, case, instance)
    with pytest.raises(Forbidden):
        questionnaires.send(OWNER, pilot_id)
    sent = questionnaires.send(TEAM, pilot_id)
    assert len(sent) == 2
    assert questionnaires.send(TEAM, pilot_id) == []  # each case is asked once

    by_parent = {walk.view(i)["parent_instance_id"]: i for i in sent}
    pilot_form = walk.view(by_parent[inside])
    lanes = sorted(t["lane"] for t in pilot_form["active_tasks"])
    # The case's own version has the person's step ('Berätta om min upplevelse'): only the staff are asked here.
    assert lanes == ["Kommun hemsjukvård", "Kommun socialtjänst", "Region primärvård", "Slutenvård"]
    assert pilot_form["data"]["arende_id"] == inside and pilot_form["data"]["fraga_den_enskilde"] is False
    ward_task = next(t for t in pilot_form["active_tasks"] if t["lane"] == "Slutenvård")
    worklist = task_list(p, Actor("vera", frozenset({"vardplanerare"}), frozenset({"SE2321000057-HSMEDGER"})))
    assert ward_task["id"] in [t["id"] for t in worklist["items"]]  # by the case's units, like any task

    walk.complete(by_parent[inside], "vardekompass_sv", **STAFF_ANSWERS)
    walk.complete(
        by_parent[inside], "vardekompass_rp", **{**STAFF_ANSWERS, "samverkan_fungerade_bra": "Instämmer inte"}
    )
    walk.complete(
        by_parent[outside], "vardekompass_sv", **{**STAFF_ANSWERS, "samverkan_fungerade_bra": "Instämmer inte"}
    )

    result = comparison.compare(TEAM, pilot_id)
    groups = {g["key"]: g for g in result["groups"]}
    # One case and one answer per group: fewer than five, so neither the count nor the answer is shown (a single
    # person's answer would stand alone); the shares themselves are worked out in test_answers_are_summarised.
    assert (groups["pilot"]["cases"], groups["elsewhere"]["cases"]) == (None, None)
    assert groups["pilot"]["suppressed"] and groups["pilot"]["too_small"] and groups["elsewhere"]["too_small"]
    staff = {(r["party"], r["id"]): r["values"] for r in result["questionnaires"]["staff"]}
    ward = staff[("Slutenvård", "samverkan_fungerade_bra")]
    assert [v["text"] for v in ward] == ["färre än 5 svar", "färre än 5 svar", "– (inga svar)"]
    assert ward[0]["answers"] is None and ward[0]["share"] is None
    assert result["questionnaires"]["parties"] == ["Region primärvård", "Slutenvård"]


def test_a_pilot_without_questions_sends_none(piloted):
    walk, _ = piloted
    p = walk.p
    pilots = Pilots(p.db, p.clock, p.policy)
    pilots.end(TEAM, 1)
    quiet = pilots.create(
        TEAM,
        PilotSpec(
            name="Utan frågor",
            process_id="in_utskrivning",
            version=2,
            start_date=date(2026, 4, 1),
            end_date=date(2026, 4, 30),
            mixed_rule="kommun",
            avdelningar=[],
            vardcentraler=[],
            kommuner=["Eksjö"],
        ),
    )
    questionnaires = Questionnaires(
        p.db, p.clock, p.policy, PilotComparison(p.db, p.clock, p.policy, p.figures), p.runtime
    )
    with pytest.raises(Conflict):
        questionnaires.send(TEAM, quiet)


def test_the_comparison_groups_hold_the_right_cases(walk):
    """The pilot's cases; the same period elsewhere; the pilot's units in an equally long period before. A case in
    the pilot's units that started on the default while the pilot was paused is in neither of the first two."""
    p = walk.p
    xml = (PROCESSES / "in_utskrivning.bpmn").read_text(encoding="utf-8")
    p.runtime.deploy(xml.replace('name="Registrera inskrivning"', 'name="Registrera inskrivning (pilot)"', 1), OWNER)
    pilots = Pilots(p.db, p.clock, p.policy)
    walk.clock.set(at(5, 9))
    before = walk.admit({**ESTHER, "vardtillfalle_id": "VT-before"})
    pilot_id = pilots.create(
        TEAM,
        PilotSpec(
            name="Eksjö",
            process_id="in_utskrivning",
            version=2,
            start_date=date(2026, 1, 12),
            end_date=date(2026, 3, 31),
            mixed_rule="kommun",
            avdelningar=[],
            vardcentraler=[],
            kommuner=["Eksjö"],
        ),
    )
    pilots.start(TEAM, pilot_id)
    walk.clock.set(at(12, 9))
    inside = walk.admit({**ESTHER, "vardtillfalle_id": "VT-inside"})
    elsewhere = walk.admit(ELSEWHERE)
    pilots.pause(TEAM, pilot_id)
    paused = walk.admit({**ESTHER, "vardtillfalle_id": "VT-paused"})
    pilots.resume(TEAM, pilot_id)
    walk.clock.set(at(20, 9))
    assert [walk.view(i)["routing"] for i in (before, inside, elsewhere, paused)] == [
        "default",
        "pilot",
        "default",
        "default",
    ]
    result = PilotComparison(p.db, p.clock, p.policy, p.figures).compare(TEAM, pilot_id)
    groups = {g["key"]: (g["suppressed"], g["start"], g["end"]) for g in result["groups"]}
    assert groups == {  # one case each: counted, but shown as fewer than five
        "pilot": (True, "2026-01-12", "2026-01-20"),
        "elsewhere": (True, "2026-01-12", "2026-01-20"),
        "before": (True, "2026-01-03", "2026-01-11"),
    }
    assert result["weeks"]["weeks"] == ["2026-W03"]
    assert result["weeks"]["series"]["cases"] == {"pilot": [None], "elsewhere": [None]}  # a week of one case: a gap


def test_answers_are_summarised_and_fewer_than_five_are_not_shown():
    from engine.features.pilot_comparison import _summary

    five = ["Instämmer helt", "Instämmer helt", "Instämmer delvis", "Instämmer inte", "Instämmer helt"]
    assert _summary(five) == {"answers": 5, "agree_fully": 3, "share": 0.6, "text": "60 % instämmer helt (3 av 5)"}
    assert _summary(five[:4])["text"] == "färre än 5 svar" and _summary(five[:4])["share"] is None
    assert _summary([])["text"] == "– (inga svar)"
