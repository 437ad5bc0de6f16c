"""sip.bpmn on its own and mobilt_team.bpmn, walked to their ends through the service layer."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from engine.domain.clock import STOCKHOLM
from engine.persistence.models import TaskIndex
from tests.bpmn.conftest import ESTHER
from tests.bpmn.test_deadlines import ENROL, MOBILT_TEAM_CASE
from tests.bpmn.test_in_utskrivning import PLANNING, finish

SIP_CASE = {k: v for k, v in ESTHER.items() if k != "vardtillfalle_id"}
OFFER: dict[str, dict[str, Any]] = {
    "identifiera_behov_av_sip": {"behov_region": True, "behov_kommun": True, "sip_behov": True},
    "erbjuda_sip": {"sip_samtycke": True, "kontakt_med": "Den enskilde", "samtycke_lamnat_av": "Den enskilde"},
}


def test_sip_declined_is_recorded_with_planning_in_the_persons_best_interest(walk):
    instance = walk.start("sip", SIP_CASE)
    walk.complete(instance, "identifiera_behov_av_sip", **OFFER["identifiera_behov_av_sip"])
    walk.complete(instance, "erbjuda_sip", sip_samtycke=False, kontakt_med="Närstående", kan_uttrycka_onskemal=False)
    assert walk.active(instance) == ["planera_enligt_enskildes_basta"]
    walk.complete(instance, "planera_enligt_enskildes_basta")
    view = walk.view(instance)
    assert view["status"] == "completed" and view["data"]["sip_utfall"] == "avbojd"


def test_sip_not_needed_ends_at_once(walk):
    instance = walk.start("sip", SIP_CASE)
    walk.complete(instance, "identifiera_behov_av_sip", behov_region=True, behov_kommun=False, sip_behov=False)
    assert walk.view(instance)["status"] == "completed" and walk.data(instance)["sip_utfall"] == "ej_behov"


def test_sip_follow_up_comes_on_the_plans_date_and_revising_loops_back_to_a_new_meeting(walk):
    instance = walk.start("sip", SIP_CASE)
    invite_all = {"inbjuden_slutenvard": True, "inbjuden_hemsjukvard": True, "inbjuden_socialtjanst": True}
    walk.run_until(
        instance,
        {"vanta"},
        {
            **OFFER,
            "kalla_till_sip": {**invite_all, "motesplats": "I hemmet"},
            "uppratta_plan": {"uppfoljningsdatum": "2026-03-02"},
        },
    )
    assert walk.active(instance) == [] and "vanta_uppfoljning" in walk.timers(instance)
    due = walk.fire(instance, "vanta_uppfoljning")
    assert due == datetime(2026, 3, 2, tzinfo=STOCKHOLM)
    walk.complete(instance, "folja_upp_sip", plan_revideras=True, malen_uppfyllda="Delvis")
    # second pass: a smaller meeting, only hemsjukvården and socialtjänsten invited
    walk.complete(
        instance,
        "kalla_till_sip",
        inbjuden_slutenvard=False,
        inbjuden_hemsjukvard=True,
        inbjuden_socialtjanst=True,
        motesplats="I hemmet",
    )
    assert walk.active(instance) == ["bekrafta_deltagande_hemsjukvard", "bekrafta_deltagande_socialtjanst"]
    walk.complete(instance, "bekrafta_deltagande_hemsjukvard", deltar=True)
    assert walk.active(instance) == ["bekrafta_deltagande_socialtjanst"], "the meeting waits for every invited party"
    walk.complete(instance, "bekrafta_deltagande_socialtjanst", deltar=True)
    assert walk.active(instance) == ["genomfora_sip_mote"]
    walk.run_until(instance, {"vanta"}, {"uppratta_plan": {"uppfoljningsdatum": "2026-06-01"}})
    walk.fire(instance, "vanta_uppfoljning")
    walk.complete(instance, "folja_upp_sip", plan_revideras=False, malen_uppfyllda="Ja")
    walk.complete(instance, "avsluta_sip")
    view = walk.view(instance)
    assert view["status"] == "completed" and view["data"]["sip_utfall"] == "avslutad" and view["timers"] == []
    meetings = [h for h in walk.history(instance, "task_completed") if h["element_id"] == "genomfora_sip_mote"]
    assert len(meetings) == 2


def test_mobilt_team_request_that_does_not_meet_the_criteria_ends_with_a_message(walk):
    instance = walk.start("mobilt_team", MOBILT_TEAM_CASE)
    three = {**ENROL["bedoma_kriterier"], "minst_75_ar": False, "minst_sex_lakemedel": False}
    walk.run_until(instance, {"meddela_kriterier_ej_uppfyllda"}, {**ENROL, "bedoma_kriterier": three})
    assert walk.data(instance)["antal_kriterier"] == 3
    walk.complete(instance, "meddela_kriterier_ej_uppfyllda")
    assert walk.view(instance)["status"] == "completed"


def test_mobilt_team_rounds_repeat_on_the_timer_and_follow_a_changed_interval(walk):
    instance = walk.start("mobilt_team", MOBILT_TEAM_CASE)
    walk.run_until(instance, {"folja_personen_i_teamet"}, {**ENROL, "uppratta_vardplan": {"rond_intervall_dagar": 7}})
    planned = walk.clock.now()
    first = walk.fire(instance, "tid_rond")
    assert first == planned + timedelta(days=7)
    assert "hembesoksrond" in walk.active(instance)
    second = walk.fire(instance, "tid_rond")
    assert second == first + timedelta(days=7)
    assert walk.active(instance).count("hembesoksrond") == 2  # the timer fired twice, a round each time
    walk.complete(instance, "hembesoksrond", status="Stabil")
    walk.complete(instance, "hembesoksrond", status="Förbättrad")
    # evaluation: stay in the team with rounds every 14 days (tapering)
    walk.complete(instance, "folja_personen_i_teamet", handelse="utvärdering")
    walk.complete(instance, "utvardera_insatser", fortsatt_i_teamet=True, malen_uppfyllda="Delvis")
    walk.complete(instance, "uppratta_vardplan", rond_intervall_dagar=14)
    changed = walk.clock.now()
    assert walk.fire(instance, "tid_rond") == changed + timedelta(days=14)
    walk.complete(instance, "hembesoksrond", status="Stabil")
    walk.complete(instance, "folja_personen_i_teamet", handelse="utvärdering")
    walk.complete(instance, "utvardera_insatser", fortsatt_i_teamet=False, malen_uppfyllda="Ja")
    walk.complete(instance, "skriva_ut_fran_teamet")
    walk.complete(instance, "overlamna_till_ordinarie_vc")
    view = walk.view(instance)
    assert view["status"] == "completed" and view["timers"] == []


def test_acute_deterioration_admits_directly_and_starts_in_utskrivning_then_the_team_resumes(walk):
    team = walk.start("mobilt_team", MOBILT_TEAM_CASE)
    walk.run_until(team, {"folja_personen_i_teamet"}, ENROL)
    walk.complete(team, "folja_personen_i_teamet", handelse="akut försämring")
    walk.complete(team, "bedoma_akut_i_hemmet", direktinlaggning_behovs=True)
    walk.complete(team, "direktinlaggning", avdelning_hsa_id=ESTHER["avdelning_hsa_id"])
    assert walk.children(team) == []
    walk.complete(
        team, "ta_emot_direktinlaggning", vardtillfalle_id="VT-2040", inskrivningstid=walk.clock.now().isoformat()
    )
    [admission] = walk.children(team)  # started in the same unit of work by the thrown `inskrivning`
    assert admission["process_id"] == "in_utskrivning"
    assert admission["data"]["personnummer"] == ESTHER["personnummer"]
    assert admission["data"]["vardtillfalle_id"] == "VT-2040"
    assert [t["element_id"] for t in admission["active_tasks"]] == ["registrera_inskrivning"]
    [thrown] = [h["data"] for h in walk.history(team, "message_thrown")]
    assert thrown["name"] == "inskrivning" and thrown["outcome"] == "started"
    assert thrown["instance_id"] == admission["id"]
    assert walk.active(team) == [] and walk.view(team)["status"] == "waiting"
    # the stay runs its course; at discharge its utskrivningsmeddelande wakes the team
    stay = admission["id"]
    walk.run_except(stay, {"besluta_utskrivningsklar"}, PLANNING)
    walk.complete(stay, "besluta_utskrivningsklar", utskrivningsklar=True)
    walk.run_until(
        stay,
        {"skicka_utskrivningsmeddelande"},
        {**PLANNING, "genomfora_utskrivning": {"utskrivning_utfall": "utskriven"}},
    )
    assert "folja_personen_i_teamet" not in walk.active(team)
    walk.complete(stay, "skicka_utskrivningsmeddelande")
    routed = [h["data"] for h in walk.history(stay, "message_thrown") if h["data"]["name"] == "utskrivningsmeddelande"]
    assert routed[0]["outcome"] == "delivered" and routed[0]["instance_id"] == team
    assert "folja_personen_i_teamet" in walk.active(team)
    finish(walk, stay)


# --- issue 14, point 4: mobilt_team as the A3 draws it -----------------------------------------------------------
def test_sip_is_offered_alongside_the_first_joint_home_visit_not_before_it(walk):
    team = walk.start("mobilt_team", MOBILT_TEAM_CASE)
    walk.run_until(team, {"forsta_gemensamma_hembesok"}, {**ENROL, "inskriva_i_mobilt_team": {"sip_erbjuds": True}})
    active = walk.active(team)
    # both at once: the visit does not wait for the SIP, and the SIP's first step is already in the worklist
    assert "forsta_gemensamma_hembesok" in active and "identifiera_behov_av_sip" in active
    walk.complete(team, "forsta_gemensamma_hembesok")
    assert "uppratta_vardplan" in walk.active(team) and "identifiera_behov_av_sip" in walk.active(team)
    walk.complete(team, "identifiera_behov_av_sip", behov_region=True, behov_kommun=False, sip_behov=False)
    assert walk.data(team)["sip_utfall"] == "ej_behov"
    walk.complete(team, "uppratta_vardplan", rond_intervall_dagar=7)
    assert walk.active(team) == ["folja_personen_i_teamet"]


def admitted_from_the_team(walk, vardtillfalle_id: str) -> tuple[int, int]:
    team = walk.start("mobilt_team", MOBILT_TEAM_CASE)
    walk.run_until(team, {"folja_personen_i_teamet"}, ENROL)
    walk.complete(team, "folja_personen_i_teamet", handelse="akut försämring")
    walk.complete(team, "bedoma_akut_i_hemmet", direktinlaggning_behovs=True)
    walk.complete(team, "direktinlaggning", avdelning_hsa_id=ESTHER["avdelning_hsa_id"])
    walk.complete(
        team,
        "ta_emot_direktinlaggning",
        vardtillfalle_id=vardtillfalle_id,
        inskrivningstid=walk.clock.now().isoformat(),
    )
    [stay] = walk.children(team)
    assert walk.view(team)["status"] == "waiting"
    return team, stay["id"]


def test_the_team_case_ends_cleanly_when_the_person_dies_during_the_stay_it_started(walk):
    team, stay = admitted_from_the_team(walk, "VT-3001")
    stay_case = {**ESTHER, "vardtillfalle_id": "VT-3001"}
    walk.send("avliden", stay_case, dodsdatum="2026-01-14")
    routed = [h["data"] for h in walk.history(stay, "message_thrown") if h["data"]["name"] == "vardtillfalle_avslutat"]
    assert routed[0]["outcome"] == "delivered" and routed[0]["instance_id"] == team
    assert walk.active(team) == ["avsluta_teamet_vid_dodsfall"]
    walk.complete(team, "avsluta_teamet_vid_dodsfall")
    view = walk.view(team)
    assert view["status"] == "completed" and view["timers"] == []  # no more rounds for a person who has died


def test_the_team_goes_on_following_the_person_when_the_stay_needs_no_insatser(walk):
    team, stay = admitted_from_the_team(walk, "VT-3002")
    walk.complete(stay, "registrera_inskrivning", inskrivningsorsak="Fall", aterinlaggning_inom_30_dagar=False)
    walk.complete(stay, "bedoma_behov_efter_utskrivning", behov_efter_utskrivning=False)
    walk.complete(stay, "dokumentera_inga_behov")
    assert walk.view(stay)["status"] == "completed"
    assert walk.active(team) == ["folja_personen_i_teamet"]
    assert "tid_rond" in walk.timers(team)


def test_the_team_decides_how_to_go_on_after_a_transfer_to_another_hospital(walk):
    team, stay = admitted_from_the_team(walk, "VT-3003")
    stay_case = {**ESTHER, "vardtillfalle_id": "VT-3003"}
    walk.send("overflyttad", stay_case, mottagande_sjukhus="Länssjukhuset Ryhov")
    assert "bedoma_fortsatt_team_efter_vardtillfalle" not in walk.active(team)  # told only when the stay has ended
    walk.complete(stay, "overlamna_till_mottagande_sjukhus")
    assert walk.active(team) == ["bedoma_fortsatt_team_efter_vardtillfalle"]
    walk.complete(team, "bedoma_fortsatt_team_efter_vardtillfalle")
    assert walk.active(team) == ["folja_personen_i_teamet"]


def test_the_team_resumes_after_a_stay_without_consent(walk):
    team, stay = admitted_from_the_team(walk, "VT-3004")
    stay_case = {**ESTHER, "vardtillfalle_id": "VT-3004"}
    walk.complete(stay, "registrera_inskrivning", inskrivningsorsak="Pneumoni", aterinlaggning_inom_30_dagar=False)
    walk.complete(stay, "bedoma_behov_efter_utskrivning", behov_efter_utskrivning=True)
    walk.complete(stay, "fraga_samtycke", samtycke_informationsdelning=False, kan_uttrycka_sin_vilja=True)
    walk.complete(stay, "skicka_inskrivningsmeddelande")
    walk.send("utskriven", stay_case, utskrivningstid=walk.clock.now().isoformat())  # before any UK decision
    assert walk.data(stay)["utskriven_utan_utskrivningsklar"] is True
    assert walk.active(team) == ["folja_personen_i_teamet"]
    assert walk.view(stay)["status"] == "completed"


def test_acute_deterioration_can_admit_directly_to_a_kommunal_korttid_or_sviktplats(walk):
    team = walk.start("mobilt_team", MOBILT_TEAM_CASE)
    walk.run_until(team, {"folja_personen_i_teamet"}, ENROL)
    walk.complete(team, "folja_personen_i_teamet", handelse="akut försämring")
    walk.complete(team, "bedoma_akut_i_hemmet", direktinlaggning_behovs=False, direktinlaggning_korttid=True)
    assert walk.active(team) == ["direktinlaggning_korttid"]
    with walk.p.db.read() as session:
        row = session.get(TaskIndex, walk.task_id(team, "direktinlaggning_korttid"))
        assert row is not None and row.lane == "Kommun socialtjänst"
    walk.complete(team, "direktinlaggning_korttid", plats="Sviktplats", enhet="Eksjö sviktplats")
    assert walk.active(team) == ["folja_personen_i_teamet"] and walk.children(team) == []
