"""in_utskrivning.bpmn walked to its end on every path of issue 3, through the service layer, restored from the
database after every step."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.domain.clock import STOCKHOLM
from engine.domain.errors import NotFound
from engine.persistence.models import MessageSubscription, TaskIndex, Timer
from tests.bpmn.conftest import ESTHER, Walker
from tests.conftest import instance_list

Decisions = dict[str, dict[str, Any]]

NEEDS: Decisions = {
    "registrera_inskrivning": {
        "inskrivningsorsak": "Hjärtsvikt, försämrad allmäntillstånd",
        "aterinlaggning_inom_30_dagar": False,
    },
    "bedoma_behov_efter_utskrivning": {
        "behov_efter_utskrivning": True,
        "behovsomraden": ["Hemtjänst", "Hjälpmedel"],
        "beraknat_utskrivningsdatum": "2026-01-16",
    },
    "fraga_samtycke": {
        "samtycke_informationsdelning": True,
        "samtycke_lamnat_av": "Den enskilde",
        "kan_uttrycka_sin_vilja": True,
    },
    "dokumentera_status_och_behov": {"avstamningsmote_behovs": False},
}
SIP_PLAN: Decisions = {
    "identifiera_behov_av_sip": {"behov_region": True, "behov_kommun": True, "sip_behov": True},
    "erbjuda_sip": {"sip_samtycke": True, "kontakt_med": "Den enskilde", "samtycke_lamnat_av": "Den enskilde"},
    "kalla_till_sip": {
        "inbjuden_slutenvard": False,
        "inbjuden_hemsjukvard": True,
        "inbjuden_socialtjanst": True,
        "motesplats": "I hemmet",
    },
    "uppratta_plan": {"uppfoljningsdatum": "2026-02-12", "planeringsansvarig": "Region primärvård"},
    "folja_upp_sip": {"plan_revideras": False},
}
AFTER: Decisions = {"uppfoljningssamtal": {"lakarhembesok_behovs": False}}
PLANNING = {**NEEDS, **SIP_PLAN, **AFTER}


def until_uk_decision(walk: Walker, case: dict = ESTHER, decisions: dict | None = None) -> int:
    instance = walk.admit(case)
    walk.run_except(instance, {"besluta_utskrivningsklar"}, {**PLANNING, **(decisions or {})})
    return instance


def assert_nothing_left(walk: Walker, instance: int) -> None:
    """Ended, and nothing of it left in the task index, the timers or the message subscriptions."""
    view = walk.view(instance)
    assert view["status"] == "completed", view["active_tasks"]
    with walk.p.db.read() as session:
        for model in (TaskIndex, Timer, MessageSubscription):
            assert session.scalar(select(func.count()).select_from(model).where(model.instance_id == instance)) == 0


def finish(walk: Walker, instance: int, decisions: dict | None = None) -> None:
    """Do the remaining tasks; when only the SIP's follow-up date is left, let it come, then do the rest."""
    decisions = {**PLANNING, "genomfora_utskrivning": {"utskrivning_utfall": "utskriven"}, **(decisions or {})}
    walk.run_until(instance, set(), decisions)
    if "vanta_uppfoljning" in walk.timers(instance):
        walk.fire(instance, "vanta_uppfoljning")
        walk.run_until(instance, set(), decisions)
    assert_nothing_left(walk, instance)


def test_happy_path_runs_from_admission_through_sip_to_follow_up(walk):
    instance = until_uk_decision(walk)
    assert walk.data(instance)["inskrivningstid"] == walk.clock.now().isoformat()
    # the ward's system moves the planned date (non-interrupting) and then reports utskrivningsklar
    walk.send("planerat_utskrivningsdatum", ESTHER, beraknat_utskrivningsdatum="2026-01-17")
    completed = [h["element_id"] for h in walk.history(instance, "element_completed")]
    assert "registrera_nytt_planerat_datum" in completed
    # the new date reaches the case data although it arrived on a non-interrupting boundary path
    assert walk.data(instance)["beraknat_utskrivningsdatum"] == "2026-01-17"
    assert walk.data(instance)["planerat_datum_flyttat"] is True
    assert "besluta_utskrivningsklar" in walk.active(instance)
    walk.send("utskrivningsklar", ESTHER, utskrivningsklar=True, utskrivningsklar_tidpunkt=walk.clock.now().isoformat())
    active = walk.active(instance)
    assert "besluta_utskrivningsklar" not in active and "skicka_meddelande_utskrivningsklar" in active
    walk.complete(instance, "skicka_meddelande_utskrivningsklar", mottagare=["Kommun", "Vårdcentral"])
    # the SIP is reached through the call activity: its first task is in this instance's worklist
    assert "identifiera_behov_av_sip" in walk.active(instance)
    walk.run_except(instance, {"genomfora_utskrivning"}, PLANNING)  # every party ready before the discharge
    # the hospital system reports the discharge (interrupts the UK period)
    walk.send("utskriven", ESTHER, utskrivningstid=walk.clock.now().isoformat())
    walk.run_until(instance, {"folja_upp_sip"}, PLANNING)
    assert "folja_upp_sip" not in walk.active(instance), "follow-up waits for the plan's date"
    # the SIP follow-up timer fires on the plan's date
    due = walk.fire(instance, "vanta_uppfoljning")
    assert due.astimezone(STOCKHOLM).date().isoformat() == PLANNING["uppratta_plan"]["uppfoljningsdatum"]
    walk.run_until(instance, set(), PLANNING)
    view = walk.view(instance)
    assert view["status"] == "completed", view["active_tasks"]
    assert view["active_tasks"] == [] and view["timers"] == []
    data = view["data"]
    assert data["sip_utfall"] == "avslutad" and data["utskriven"] is True and data["samverkan_avslutad"] is True
    thrown = walk.thrown(instance)
    for name in ("inskrivningsmeddelande", "meddelande_utskrivningsklar", "kallelse_sip", "utskrivningsmeddelande"):
        assert name in thrown
    assert view["deviations"] == []


def test_no_needs_after_discharge_ends_early_and_only_says_that_the_stay_ended(walk):
    instance = walk.admit(ESTHER)
    done = walk.run_until(
        instance,
        set(),
        {
            **NEEDS,
            "bedoma_behov_efter_utskrivning": {
                "behov_efter_utskrivning": False,
                "beraknat_utskrivningsdatum": "2026-01-14",
            },
        },
    )
    assert done == ["registrera_inskrivning", "bedoma_behov_efter_utskrivning", "dokumentera_inga_behov"]
    view = walk.view(instance)
    assert view["status"] == "completed" and view["timers"] == []
    assert view["data"]["avslutsorsak"] == "inga_behov"
    # no inskrivningsmeddelande and no UK notice: only that the stay ended, for a mobile team that may wait for it
    [thrown] = [h["data"] for h in walk.history(instance, "message_thrown")]
    assert thrown["name"] == "vardtillfalle_avslutat" and thrown["outcome"].startswith("Ingen instans väntar")


NO_CONSENT = {"samtycke_informationsdelning": False, "kan_uttrycka_sin_vilja": True}
RECEIVERS = ("kvittera_inskrivningsmeddelande_vc", "kvittera_inskrivningsmeddelande_kommun", "utse_fast_vardkontakt")


def test_no_consent_goes_on_with_what_the_law_requires_and_no_planning_is_shared(walk):
    """Point 5 of issue 14: without consent there is no shared planning, but the law's messages (inskrivnings-
    meddelande with its minimum, UK notice), the payment clock, the SIP offer and the discharge still come."""
    instance = walk.admit(ESTHER)
    keep = {"besluta_utskrivningsklar", "fraga_om_samtycke_igen"} | set(RECEIVERS)
    done = walk.run_except(instance, keep, {**NEEDS, "fraga_samtycke": NO_CONSENT})
    assert done[-3:] == ["fraga_samtycke", "skicka_inskrivningsmeddelande", "dokumentera_utan_samtycke"]
    # the receivers' duties follow the inskrivningsmeddelande whatever the consent (lag 2017:612 4 kap.): the
    # kvittens of VC and kommun with its due time, and the fast vårdkontakt after the VC's kvittens
    active = walk.active(instance)
    assert set(active) == {"besluta_utskrivningsklar", "fraga_om_samtycke_igen", *RECEIVERS[:2]}
    sent = [h for h in walk.history(instance, "task_completed") if h["element_id"] == "skicka_inskrivningsmeddelande"]
    rule = walk.p.catalog.deadline_rule("kvittens_inskrivningsmeddelande", "jonkoping")
    due = {t["element_id"]: t["due_at"] for t in walk.view(instance)["active_tasks"]}
    assert datetime.fromisoformat(due["kvittera_inskrivningsmeddelande_vc"]) == rule.due(
        datetime.fromisoformat(sent[0]["at"])
    )
    walk.complete(instance, "kvittera_inskrivningsmeddelande_vc")
    walk.complete(instance, "kvittera_inskrivningsmeddelande_kommun")
    walk.complete(instance, "utse_fast_vardkontakt")
    # no planning task of any party exists; the question can be asked again; the UK decision is awaited
    assert walk.active(instance) == ["besluta_utskrivningsklar", "fraga_om_samtycke_igen"]
    assert "inskrivningsmeddelande" in walk.thrown(instance)
    walk.send("utskrivningsklar", ESTHER, utskrivningsklar=True, utskrivningsklar_tidpunkt=walk.clock.now().isoformat())
    walk.complete(instance, "skicka_meddelande_utskrivningsklar", mottagare=["Kommun", "Vårdcentral"])
    assert "meddelande_utskrivningsklar" in walk.thrown(instance)
    rule = walk.p.catalog.deadline_rule("betalningsansvar", "jonkoping")
    assert datetime.fromisoformat(walk.timers(instance)["tid_betalningsansvar"]["due_at"]) == rule.due(walk.clock.now())
    assert "identifiera_behov_av_sip" in walk.active(instance)  # the SIP is offered (it asks its own consent)
    walk.fire(instance, "tid_betalningsansvar")
    assert walk.data(instance)["betalningsansvar_startat"] is True
    walk.send("utskriven", ESTHER, utskrivningstid=walk.clock.now().isoformat())
    # the standing question about consent ends with the stay, visibly and without an avvikelse
    closed = {h["element_id"]: h["data"] for h in walk.history(instance, "task_closed")}
    assert closed["fraga_om_samtycke_igen"]["reason"] == "Utskriven"
    assert all(d["element_id"] != "sig_utskriven_samtycke" for d in walk.view(instance)["deviations"])
    walk.complete(instance, "skicka_utskrivningsmeddelande")
    assert "utskrivningsmeddelande" in walk.thrown(instance)
    finish(walk, instance, {"identifiera_behov_av_sip": {"sip_behov": False}})


def test_consent_given_later_in_samflode_starts_the_planning(walk):
    instance = walk.admit(ESTHER)
    walk.run_except(
        instance, {"besluta_utskrivningsklar", "fraga_om_samtycke_igen"}, {**NEEDS, "fraga_samtycke": NO_CONSENT}
    )
    assert "paborja_utskrivningsplanering" not in walk.active(instance)
    walk.clock.advance(timedelta(days=1))
    walk.complete(
        instance, "fraga_om_samtycke_igen", samtycke_informationsdelning=True, samtycke_lamnat_av="Närstående"
    )
    active = set(walk.active(instance))
    assert {"paborja_utskrivningsplanering", "dela_befintlig_plan", "vad_ar_viktigt_for_dig"} <= active
    assert "besluta_utskrivningsklar" in active
    assert walk.data(instance)["samtycke_informationsdelning"] is True


def test_consent_registered_by_the_journal_starts_the_planning(walk):
    instance = walk.admit(ESTHER)
    walk.run_except(
        instance, {"besluta_utskrivningsklar", "fraga_om_samtycke_igen"}, {**NEEDS, "fraga_samtycke": NO_CONSENT}
    )
    walk.send("samtycke", ESTHER, samtycke_informationsdelning=True)
    active = set(walk.active(instance))
    assert "fraga_om_samtycke_igen" not in active and "paborja_utskrivningsplanering" in active
    # a second consent message has nothing to continue: refused like any message the stay does not wait for
    with pytest.raises(NotFound):
        walk.send("samtycke", ESTHER, samtycke_informationsdelning=True)


def test_consent_refused_again_ends_only_the_question(walk):
    instance = walk.admit(ESTHER)
    walk.run_except(
        instance, {"besluta_utskrivningsklar", "fraga_om_samtycke_igen"}, {**NEEDS, "fraga_samtycke": NO_CONSENT}
    )
    walk.complete(instance, "fraga_om_samtycke_igen", samtycke_informationsdelning=False)
    assert walk.active(instance) == ["besluta_utskrivningsklar"]  # the receivers' steps were done meanwhile
    walk.send("utskrivningsklar", ESTHER, utskrivningsklar=True)
    assert "skicka_meddelande_utskrivningsklar" in walk.active(instance)


def test_person_declining_sip_is_planned_for_in_their_best_interest(walk):
    instance = until_uk_decision(walk)
    walk.complete(instance, "besluta_utskrivningsklar", utskrivningsklar=True)
    walk.complete(instance, "skicka_meddelande_utskrivningsklar")
    walk.complete(instance, "identifiera_behov_av_sip", sip_behov=True)
    walk.complete(instance, "erbjuda_sip", sip_samtycke=False, kontakt_med="Den enskilde")
    assert "planera_enligt_enskildes_basta" in walk.active(instance)
    walk.complete(instance, "planera_enligt_enskildes_basta")
    assert "registrera_sip_avbojd" in [h["element_id"] for h in walk.history(instance, "element_completed")]
    assert "samordna_utan_sip" in walk.active(instance)
    walk.run_until(instance, set(), {**PLANNING, "genomfora_utskrivning": {"utskrivning_utfall": "utskriven"}})
    view = walk.view(instance)
    assert view["status"] == "completed" and view["timers"] == []
    recorded = [h["element_id"] for h in walk.history(instance, "task_completed")]
    assert "planera_enligt_enskildes_basta" in recorded and "samordna_utan_sip" in recorded
    assert "kallelse_sip" not in walk.thrown(instance)


def test_withdrawn_utskrivningsklar_stops_the_payment_clock_and_a_new_uk_starts_it_again(walk):
    instance = until_uk_decision(walk)
    walk.complete(instance, "besluta_utskrivningsklar", utskrivningsklar=True)
    walk.complete(instance, "skicka_meddelande_utskrivningsklar")
    first = walk.timers(instance)
    assert {"tid_betalningsansvar", "tid_hem_efter_uk"} <= set(first)
    walk.clock.advance(timedelta(hours=6))
    walk.send("aterkallad_utskrivningsklar", ESTHER, orsak="Försämring: pneumoni")
    assert "tid_betalningsansvar" not in walk.timers(instance) and "tid_hem_efter_uk" not in walk.timers(instance)
    assert walk.data(instance)["utskrivningsklar_aterkallad"] is True
    assert walk.data(instance)["betalningsansvar_startat"] is False
    assert {"meddela_atertagande"} <= set(walk.active(instance))
    # the UK period's own steps stop; the information transfer is still due by the discharge day
    assert "planera_hemtransport" not in walk.active(instance)
    assert "overfora_information" in walk.active(instance)
    walk.complete(instance, "meddela_atertagande")
    walk.clock.advance(timedelta(days=2))
    walk.complete(instance, "besluta_ny_utskrivningsklar")
    walk.complete(instance, "skicka_nytt_meddelande_utskrivningsklar")
    again = walk.timers(instance)
    assert datetime.fromisoformat(again["tid_betalningsansvar"]["due_at"]) > datetime.fromisoformat(
        first["tid_betalningsansvar"]["due_at"]
    )
    rule = walk.p.catalog.deadline_rule("betalningsansvar", "jonkoping")
    assert datetime.fromisoformat(again["tid_betalningsansvar"]["due_at"]) == rule.due(walk.clock.now())
    finish(walk, instance)


def test_withdrawal_can_also_be_recorded_as_the_outcome_of_the_discharge_task(walk):
    instance = until_uk_decision(walk)
    walk.complete(instance, "besluta_utskrivningsklar", utskrivningsklar=True)
    walk.complete(instance, "skicka_meddelande_utskrivningsklar")
    walk.complete(instance, "overfora_information")
    walk.complete(instance, "planera_hemtransport")
    walk.complete(instance, "genomfora_utskrivning", utskrivning_utfall="återtagen")
    assert "meddela_atertagande" in walk.active(instance)
    assert "tid_betalningsansvar" not in walk.timers(instance)
    walk.complete(instance, "meddela_atertagande")
    walk.send("utskrivningsklar", ESTHER, utskrivningsklar=True)  # the new UK comes from the hospital system
    assert "skicka_nytt_meddelande_utskrivningsklar" in walk.active(instance)


def test_death_mid_stay_ends_the_case_with_nothing_left(walk):
    instance = walk.admit(ESTHER)
    # the admission steps only (the UK decision is open beside the planning, so "oldest first" would be ambiguous)
    for element in ("registrera_inskrivning", "bedoma_behov_efter_utskrivning", "fraga_samtycke"):
        walk.complete(instance, element, **PLANNING.get(element, {}))
    walk.complete(instance, "skicka_inskrivningsmeddelande")
    walk.complete(instance, "paborja_utskrivningsplanering")
    assert "dokumentera_status_och_behov" in walk.active(instance)
    assert "tid_inskrivningsmeddelande" not in walk.timers(instance)  # sent in time
    assert walk.active(instance)  # open work when the message comes
    walk.send("avliden", ESTHER, dodsdatum="2026-01-13")
    assert_nothing_left(walk, instance)
    assert walk.data(instance)["avslutsorsak"] == "avliden"
    assert "vardtillfalle_avslutat" in walk.thrown(instance)  # the parties are told


def test_death_during_a_sip_cancels_the_sip_and_its_deadline_cleanly(walk):
    instance = until_uk_decision(walk)
    walk.complete(instance, "besluta_utskrivningsklar", utskrivningsklar=True)
    walk.complete(instance, "skicka_meddelande_utskrivningsklar")
    walk.run_until(instance, {"kalla_till_sip"}, PLANNING)
    assert "tid_kallelse_sip" in walk.timers(instance)
    walk.send("avliden", ESTHER)
    assert_nothing_left(walk, instance)
    assert "eskalera_kallelse_sip" not in [h["element_id"] for h in walk.history(instance, "task_created")]


def test_transfer_to_another_hospital_hands_over_and_ends(walk):
    instance = until_uk_decision(walk)
    walk.send("overflyttad", ESTHER, mottagande_sjukhus="Länssjukhuset Ryhov")
    assert walk.active(instance) == ["overlamna_till_mottagande_sjukhus"]
    assert walk.timers(instance) == {}
    walk.complete(instance, "overlamna_till_mottagande_sjukhus")
    view = walk.view(instance)
    assert view["status"] == "completed" and view["timers"] == []
    assert "vardtillfalle_avslutat" in walk.thrown(instance)


def test_readmission_within_30_days_is_linked_to_the_earlier_episode_and_followed_up(walk):
    first = walk.admit(ESTHER)
    walk.run_until(first, set(), {**NEEDS, "bedoma_behov_efter_utskrivning": {"behov_efter_utskrivning": False}})
    assert walk.view(first)["status"] == "completed"
    walk.clock.advance(timedelta(days=12))
    again = {**ESTHER, "vardtillfalle_id": "VT-1077"}
    second = walk.admit(again, tidigare_vardtillfalle_id=ESTHER["vardtillfalle_id"])
    assert second != first
    walk.complete(
        second,
        "registrera_inskrivning",
        aterinlaggning_inom_30_dagar=True,
        tidigare_vardtillfalle_id=ESTHER["vardtillfalle_id"],
    )
    linked = walk.data(second)["lankat_vardtillfalle_id"]
    episodes = instance_list(walk.p, process="in_utskrivning", limit=500)["items"]
    earlier = [i["id"] for i in episodes if walk.data(i["id"]).get("vardtillfalle_id") == linked]
    assert earlier == [first]
    walk.run_except(second, {"besluta_utskrivningsklar"}, PLANNING)
    walk.complete(second, "besluta_utskrivningsklar", utskrivningsklar=True)
    walk.run_until(
        second, {"folja_upp_sip"}, {**PLANNING, "genomfora_utskrivning": {"utskrivning_utfall": "utskriven"}}
    )
    assert "folja_upp_aterinlaggning" not in walk.active(second)
    walk.fire(second, "vanta_uppfoljning")
    walk.run_until(second, {"folja_upp_aterinlaggning"}, PLANNING)
    assert "folja_upp_aterinlaggning" in walk.active(second)  # the readmission is analysed after discharge
    finish(walk, second)
