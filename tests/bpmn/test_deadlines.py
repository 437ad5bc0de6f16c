"""Every deadline of the law and the agreements: the timer falls when the case's agreement says (not before), and a
missed deadline gives the party's coordinator a task and records a deviation (avvikelse i samverkan)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from engine.persistence.models import TaskIndex
from tests.bpmn.conftest import ESTHER, Walker
from tests.bpmn.test_in_utskrivning import NEEDS, PLANNING, until_uk_decision

MOBILT_TEAM_CASE = {k: v for k, v in ESTHER.items() if k != "vardtillfalle_id"}


def at_inskrivningsmeddelande(walk: Walker) -> int:
    instance = walk.admit(ESTHER)
    walk.run_until(instance, {"skicka_inskrivningsmeddelande"}, NEEDS)
    return instance


def at_uk(walk: Walker) -> int:
    instance = until_uk_decision(walk)
    walk.complete(instance, "besluta_utskrivningsklar", utskrivningsklar=True)
    walk.complete(instance, "skicka_meddelande_utskrivningsklar")
    return instance


def at_kallelse_sip(walk: Walker) -> int:
    instance = at_uk(walk)
    walk.run_until(instance, {"kalla_till_sip"}, PLANNING)
    return instance


def at_sip_mote(walk: Walker) -> int:
    instance = at_uk(walk)
    walk.run_until(instance, {"genomfora_sip_mote"}, PLANNING)
    if "tid_svpl_efter_utskrivning" not in walk.timers(instance):  # SVPL counts from the discharge
        walk.send("utskriven", ESTHER, utskrivningstid=walk.clock.now().isoformat())
    return instance


def at_forsta_besok(walk: Walker) -> int:
    instance = walk.start("mobilt_team", MOBILT_TEAM_CASE)
    walk.run_until(instance, {"forsta_gemensamma_hembesok"}, ENROL)
    return instance


ENROL = {
    "godkanna_begaran": {"begaran_godkand": True},
    "bedoma_kriterier": {
        "minst_tre_kroniska_diagnoser": True,
        "minst_tre_inlaggningar_12_man": True,
        "minst_sex_lakemedel": True,
        "klarar_ej_personlig_vard": False,
        "minst_75_ar": True,
        "inskriven_i_hemsjukvard": True,
    },
    "samtycke_mobilt_team": {"samtycke_mobilt_team": True},
    "inskriva_i_mobilt_team": {"sip_erbjuds": False},
}

# deadline key, how to get there, the task it guards, its boundary timer, the escalation task, the party
CASES: list[tuple[str, Callable[[Walker], int], str, str, str, str | None]] = [
    (
        "inskrivningsmeddelande",
        at_inskrivningsmeddelande,
        "skicka_inskrivningsmeddelande",
        "tid_inskrivningsmeddelande",
        "eskalera_inskrivningsmeddelande",
        "Slutenvård",
    ),
    (
        "kallelse_sip",
        at_kallelse_sip,
        "kalla_till_sip",
        "tid_kallelse_sip",
        "eskalera_kallelse_sip",
        "Region primärvård",
    ),
    ("hem_efter_uk", at_uk, "utskrivningsklar_period", "tid_hem_efter_uk", "eskalera_hem_efter_uk", None),
    (
        "svpl_efter_utskrivning",
        at_sip_mote,
        "genomfora_sip_mote",
        "tid_svpl_efter_utskrivning",
        "eskalera_sip_mote",
        "Region primärvård",
    ),
    (
        "mobilt_team_forsta_besok",
        at_forsta_besok,
        "forsta_gemensamma_hembesok",
        "tid_mobilt_team_forsta_besok",
        "eskalera_forsta_besok",
        "Region primärvård",
    ),
]


@pytest.mark.parametrize(("key", "reach", "guarded", "timer", "escalation", "party"), CASES, ids=[c[0] for c in CASES])
def test_missed_deadline_escalates_to_the_coordinator_and_records_a_deviation(
    walk, key, reach, guarded, timer, escalation, party
):
    instance = reach(walk)
    started = walk.clock.now()
    timers = walk.timers(instance)
    assert timer in timers, f"{guarded} has no running deadline: {sorted(timers)}"
    rule = walk.p.catalog.deadline_rule(key, ESTHER["avtal"])
    assert datetime.fromisoformat(timers[timer]["due_at"]) == rule.due(started)  # the agreement's number
    assert escalation not in walk.active(instance)
    # none yet for this deadline (a discharge on the way may have recorded others: open tasks it closed)
    assert [d for d in walk.view(instance)["deviations"] if d["element_id"] == timer] == []

    walk.fire(instance, timer)

    view = walk.view(instance)
    tasks = {t["element_id"]: t for t in view["active_tasks"]}
    assert escalation in tasks
    if guarded in walk.p.reports.definition(view["process_id"])["elements"] and guarded != "utskrivningsklar_period":
        assert guarded in tasks  # non-interrupting: the late step can still be done
    # (deadlines that fell earlier on the way, e.g. home within 24 h of UK before the 3-day kallelse, count too)
    deviations = [d for d in view["deviations"] if d["element_id"] == timer]
    assert deviations and all(d["cause"] for d in deviations)
    if party is not None:  # (the parties charged for a late homecoming: tests/bpmn/test_deviation_party.py)
        assert [d["party"] for d in deviations] == [party]
    with walk.p.db.read() as session:
        row = session.get(TaskIndex, tasks[escalation]["id"])
        # the escalation goes to the coordinator of the lane the deadline is drawn in (the ward's, for the UK period)
        assert row is not None and row.role == "samordnare" and row.lane == (party or "Slutenvård")
    walk.complete(instance, escalation, atgard="Kontaktat ansvarig enhet; steget görs i dag")
    assert escalation not in walk.active(instance)


def test_payment_responsibility_starts_when_the_agreed_days_have_passed_after_the_uk_notice(walk):
    instance = at_uk(walk)
    notice = walk.clock.now()
    due = datetime.fromisoformat(walk.timers(instance)["tid_betalningsansvar"]["due_at"])
    assert due == walk.p.catalog.deadline_rule("betalningsansvar", "jonkoping").due(notice)
    assert due != walk.p.catalog.deadline_rule("betalningsansvar", "nationell").due(notice)  # local agreement
    walk.fire(instance, "tid_hem_efter_uk")  # earlier deadline, fired in its turn
    walk.fire(instance, "tid_betalningsansvar")
    completed = [h["element_id"] for h in walk.history(instance, "element_completed")]
    assert "starta_betalningsansvar" in completed
    assert "overfora_information" in walk.active(instance)  # the UK period goes on
