"""A real case run through the service layer (in_utskrivning.bpmn, restored from the database after every step) fills
its case_facts row as it goes: Runtime._save derives the facts from the history after each step."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from engine.domain.clock import STOCKHOLM
from engine.persistence.models import CaseFact
from engine.reads.figures import FigureScope
from tests.bpmn.conftest import ESTHER, Walker
from tests.bpmn.test_in_utskrivning import PLANNING


def facts(walk: Walker, instance: int) -> CaseFact:
    with walk.p.db.read() as session:
        row = session.get(CaseFact, instance)
        assert row is not None, "no case_facts row"
        session.expunge(row)
        return row


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=STOCKHOLM)


def test_a_case_fills_its_facts_step_by_step_from_admission_to_follow_up(walk: Walker) -> None:
    # Monday 12 January 08:00: admitted; the walker does the admission tasks at once, so the
    # inskrivningsmeddelande goes out within the 24 hours.
    instance = walk.admit(ESTHER)
    first = facts(walk, instance)
    assert first.status == "running" and first.admitted_at == at(12, 8)
    assert (first.ref_date, first.ref_month, first.ref_week) == (date(2026, 1, 12), "2026-01", "2026-W03")
    assert first.kommun == "Eksjö" and first.vardcentral == ESTHER["vardcentral_hsa_id"]
    assert first.avtal == "jonkoping" and first.age_at_admission == 87  # born 1938-03-12
    assert first.uk_at is None and first.discharged_at is None and first.uk_days is None
    walk.run_except(instance, {"besluta_utskrivningsklar"}, PLANNING)
    assert facts(walk, instance).inskrivningsmeddelande_on_time is True

    # Tuesday: the planned date moves; Wednesday 10:00 utskrivningsklar, the notice goes out at once.
    walk.clock.set(at(13, 9))
    walk.send("planerat_utskrivningsdatum", ESTHER, beraknat_utskrivningsdatum="2026-01-16")
    walk.clock.set(at(14, 10))
    walk.send("utskrivningsklar", ESTHER, utskrivningsklar=True, utskrivningsklar_tidpunkt=at(14, 10).isoformat())
    walk.complete(instance, "skicka_meddelande_utskrivningsklar", mottagare=["Kommun", "Vårdcentral"])
    mid = facts(walk, instance)
    assert mid.planned_date_moves == 1 and mid.uk_notices == 1 and mid.uk_at == at(14, 10)

    # SIP offered, accepted, called and held in the home (all on Wednesday), then discharged Friday 11:00.
    for _ in range(40):  # everything but the discharge itself, until the SIP meeting is held
        active = [e for e in walk.active(instance) if e != "genomfora_utskrivning"]
        if "uppratta_plan" in active:
            break
        walk.complete(instance, active[0], **PLANNING.get(active[0], {}))
    walk.clock.set(at(16, 11))
    walk.send("utskriven", ESTHER, utskrivningstid=at(16, 11).isoformat())
    walk.run_until(
        instance,
        {"folja_upp_sip"},
        {**PLANNING, "bekrafta_hemkomst": {"hemkomst": at(16, 14).isoformat(), "fungerade_som_planerat": True}},
    )
    walk.fire(instance, "vanta_uppfoljning")
    walk.run_until(instance, set(), PLANNING)
    done = facts(walk, instance)
    assert done.status == "completed"
    assert done.discharged_at == at(16, 11)
    assert done.uk_days == 2  # Wednesday (day 0) to Friday
    assert done.payable_days == 0  # Jönköping: monthly average, no individual rule
    assert done.home_at == at(16, 14) and done.home_within_24h is False  # 52 hours after the notice
    assert done.sip_offered_at == at(14, 10) and done.sip_accepted is True
    assert done.sip_called_at == at(14, 10) and done.sip_call_on_time is True
    assert done.sip_held_at == at(14, 10) and done.sip_held_in_home is True and done.svpl_on_time is True
    assert done.readmission is False and done.fokuspatient is False and done.uk_withdrawals == 0

    rows = walk.p.figures.compute(FigureScope(date(2026, 1, 1), date(2026, 2, 1)), "kommun")
    assert [(r.key, r.cases) for r in rows] == [("Eksjö", 1)]
    figures = rows[0].figures
    assert figures["utskrivningsklara_dagar"].value == 2.0
    assert figures["flyttade_planerade_datum"].value == 1.0
    assert figures["hem_24h"].value == 0.0 and figures["sip_i_hemmet"].value == 1.0
    # Jönköping: 2 days over a threshold of 2.0 for one case: nothing to pay
    assert figures["betalningsansvarsdagar"].value == 0.0


def test_a_withdrawn_uk_counts_only_the_days_as_utskrivningsklar(walk: Walker) -> None:
    case = {**ESTHER, "avtal": "nationell"}
    instance = walk.admit(case)
    walk.run_except(instance, {"besluta_utskrivningsklar"}, PLANNING)
    walk.clock.set(at(13, 9))
    walk.complete(instance, "besluta_utskrivningsklar", utskrivningsklar=True)
    walk.complete(instance, "skicka_meddelande_utskrivningsklar")
    walk.clock.set(at(14, 15))  # a day later: worse again
    walk.send("aterkallad_utskrivningsklar", case, aterkallad_orsak="Försämring")
    walk.complete(instance, "meddela_atertagande")
    walk.clock.set(at(19, 9))  # Monday: utskrivningsklar again
    walk.complete(instance, "besluta_ny_utskrivningsklar")
    walk.complete(instance, "skicka_nytt_meddelande_utskrivningsklar")
    walk.clock.set(at(24, 10))  # discharged Saturday, 5 days later
    walk.send("utskriven", case, utskrivningstid=at(24, 10).isoformat())
    row = facts(walk, instance)
    assert (row.uk_notices, row.uk_withdrawals) == (2, 1)
    assert row.uk_at == at(13, 9) and row.last_uk_at == at(19, 9)
    assert row.uk_days == 1 + 5  # 13 -> 14 January, then 19 -> 24 January
    assert row.payable_days == 2  # nationell: per period, days beyond 3 -> 0 + 2
    assert timedelta(0) < row.discharged_at - row.last_uk_at
