"""Every agreed deadline counts from its anchor event's recorded moment, and the case escalates at the very moment the
figure starts counting the step late (issue 14, point 1).

For every deadline in processes/agreements.json, under the Jönköping and the Göteborg agreements: a case is run to
the point where the deadline runs, with time passing between the anchor event and the task that must meet it (so a
deadline counted from the task's creation would fall later); the deadline falls across a weekend and, for most, across
the October change to winter time (Sunday 25 October 2026, 03:00 -> 02:00 in Europe/Stockholm). The timer must not be
due a minute before the moment and must fire at it; the figure derived from the same recorded history counts the step
on time when it is done at that moment and late a minute later. The in-memory workflows are dropped after every step,
so each step restores the case from the database (SQLite, and PostgreSQL with TEST_DATABASE_URL).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select

from engine.commands.deadline_timers import deadline_key
from engine.domain.clock import STOCKHOLM
from engine.domain.deadlines import counts_from_event
from engine.domain.facts import HistoryRecord, derive, records_of
from engine.persistence.models import CaseFact, HistoryEntry, ProcessInstance, TaskIndex
from tests.bpmn.conftest import ESTHER, Walker
from tests.bpmn.test_deadlines import ENROL
from tests.bpmn.test_in_utskrivning import NEEDS, PLANNING

GOTEBORG = {
    "personnummer": "19400101-2386",
    "vardtillfalle_id": "VT-2001",
    "avdelning_hsa_id": "SE2321000131-SUMEDGER",
    "kommun": "Göteborg",
    "vardcentral_hsa_id": "SE2321000131-VCMAJORNA",
    "avtal": "goteborg",
}
CASES = {"jonkoping": ESTHER, "goteborg": GOTEBORG}
DELAY = timedelta(hours=5)  # between the anchor event and the task that must meet the deadline


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=STOCKHOLM)


@dataclass
class Reached:
    instance: int
    anchor_at: datetime  # the anchor event's recorded moment
    timer: str | None  # the deadline's timer (None: a due time on the task only)
    guarded: str | None  # the task whose creation a task-based deadline would have counted from
    end: tuple[str, str] | None = None  # (milestone the on-time figure reads, element that records it)
    created_later: bool = True  # the guarded task is created after the anchor event


def _admit_and_plan(walk: Walker, case: dict, stop: set[str]) -> int:
    instance = walk.admit(case)
    walk.clock.advance(DELAY)
    walk.run_until(instance, stop, NEEDS)
    return instance


def reach_inskrivningsmeddelande(walk: Walker, case: dict) -> Reached:
    walk.clock.set(local(24, 9, 30))  # Saturday before the change
    instance = _admit_and_plan(walk, case, {"skicka_inskrivningsmeddelande"})
    return Reached(
        instance,
        local(24, 9, 30),
        "tid_inskrivningsmeddelande",
        "skicka_inskrivningsmeddelande",
        ("inskrivningsmeddelande_at", "skicka_inskrivningsmeddelande"),
    )


def reach_kvittens_inskrivningsmeddelande(walk: Walker, case: dict) -> Reached:
    instance = reach_inskrivningsmeddelande(walk, case).instance
    walk.clock.set(local(24, 16, 30))  # sent Saturday afternoon: the kvittens is due on Sunday, after the change
    walk.complete(instance, "skicka_inskrivningsmeddelande")
    return Reached(instance, local(24, 16, 30), None, "kvittera_inskrivningsmeddelande_vc", created_later=False)


def _to_uk_notice(walk: Walker, case: dict, notice_at: datetime) -> int:
    walk.clock.set(notice_at - timedelta(days=2))
    instance = walk.admit(case)
    walk.run_until(instance, {"besluta_utskrivningsklar"}, PLANNING)
    walk.clock.set(notice_at)
    walk.complete(instance, "besluta_utskrivningsklar", utskrivningsklar=True)
    walk.complete(instance, "skicka_meddelande_utskrivningsklar")
    return instance


def reach_kallelse_sip(walk: Walker, case: dict) -> Reached:
    notice = local(23, 15)  # Friday afternoon: three calendar days end on Monday, after the change
    instance = _to_uk_notice(walk, case, notice)
    walk.clock.advance(DELAY)
    walk.run_until(instance, {"kalla_till_sip"}, PLANNING)
    return Reached(instance, notice, "tid_kallelse_sip", "kalla_till_sip", ("sip_called_at", "kalla_till_sip"))


def reach_hem_efter_uk(walk: Walker, case: dict) -> Reached:
    notice = local(24, 10)  # 24 real hours across the change end at 09:00 on Sunday
    instance = _to_uk_notice(walk, case, notice)
    return Reached(instance, notice, "tid_hem_efter_uk", None, ("home_at", "bekrafta_hemkomst"))


def reach_betalningsansvar(walk: Walker, case: dict) -> Reached:
    notice = local(23, 11)
    instance = _to_uk_notice(walk, case, notice)
    return Reached(instance, notice, "tid_betalningsansvar", None)


def reach_svpl_efter_utskrivning(walk: Walker, case: dict) -> Reached:
    instance = _to_uk_notice(walk, case, local(21, 10))
    for _ in range(60):  # everything but the discharge itself, until the SIP meeting is to be held
        active = [e for e in walk.active(instance) if e not in ("genomfora_utskrivning", "genomfora_sip_mote")]
        if "genomfora_sip_mote" in walk.active(instance):
            break
        walk.complete(instance, active[0], **PLANNING.get(active[0], {}))
    # the SIP meeting task exists before the discharge; its deadline has no moment until the discharge is recorded
    assert "tid_svpl_efter_utskrivning" not in walk.timers(instance)
    discharged = local(23, 13)  # Friday: three calendar days end on Monday, after the change
    walk.clock.set(discharged + DELAY)
    walk.send("utskriven", case, utskrivningstid=discharged.isoformat())
    return Reached(
        instance, discharged, "tid_svpl_efter_utskrivning", "genomfora_sip_mote", ("sip_held_at", "genomfora_sip_mote")
    )


def reach_mobilt_team_forsta_besok(walk: Walker, case: dict) -> Reached:
    walk.clock.set(local(23, 10))  # Friday: five working days end on the next Friday
    team_case = {k: v for k, v in case.items() if k != "vardtillfalle_id"}
    instance = walk.start("mobilt_team", team_case)
    walk.clock.advance(DELAY)
    walk.run_until(instance, {"forsta_gemensamma_hembesok"}, ENROL)
    return Reached(instance, local(23, 10), "tid_mobilt_team_forsta_besok", "forsta_gemensamma_hembesok")


def reach_informationsoverforing(walk: Walker, case: dict) -> Reached:
    notice = local(23, 10)  # Friday; the planned date is moved to Sunday 25 October, the day of the change
    walk.clock.set(notice - timedelta(days=2))
    instance = walk.admit(case)
    plan = {**PLANNING, "bedoma_behov_efter_utskrivning": {**NEEDS["bedoma_behov_efter_utskrivning"]}}
    plan["bedoma_behov_efter_utskrivning"]["beraknat_utskrivningsdatum"] = "2026-10-24"
    walk.run_until(instance, {"besluta_utskrivningsklar"}, plan)
    walk.send("planerat_utskrivningsdatum", case, beraknat_utskrivningsdatum="2026-10-25")
    walk.clock.set(notice)
    walk.complete(instance, "besluta_utskrivningsklar", utskrivningsklar=True)
    walk.complete(instance, "skicka_meddelande_utskrivningsklar")
    assert "overfora_information" in walk.active(instance)
    return Reached(
        instance,
        local(25, 0),  # the start of the planned date: its end (midnight) is the deadline
        "tid_informationsoverforing",
        "overfora_information",
        ("information_transferred_at", "overfora_information"),
    )


REACH: dict[str, Callable[[Walker, dict], Reached]] = {
    "inskrivningsmeddelande": reach_inskrivningsmeddelande,
    "kvittens_inskrivningsmeddelande": reach_kvittens_inskrivningsmeddelande,
    "kallelse_sip": reach_kallelse_sip,
    "hem_efter_uk": reach_hem_efter_uk,
    "betalningsansvar": reach_betalningsansvar,
    "svpl_efter_utskrivning": reach_svpl_efter_utskrivning,
    "mobilt_team_forsta_besok": reach_mobilt_team_forsta_besok,
    "informationsoverforing": reach_informationsoverforing,
}
# The moment each deadline falls for the scenario above, on the Stockholm wall clock, by hand.
EXPECTED = {
    ("jonkoping", "inskrivningsmeddelande"): local(25, 8, 30),
    ("goteborg", "inskrivningsmeddelande"): local(25, 8, 30),
    ("jonkoping", "kvittens_inskrivningsmeddelande"): local(25, 15, 30),
    ("goteborg", "kvittens_inskrivningsmeddelande"): local(25, 15, 30),
    ("jonkoping", "kallelse_sip"): local(26, 15),
    ("goteborg", "kallelse_sip"): local(26, 15),
    ("jonkoping", "hem_efter_uk"): local(25, 9),
    ("goteborg", "hem_efter_uk"): local(25, 9),
    ("jonkoping", "betalningsansvar"): local(25, 11),  # two calendar days
    ("goteborg", "betalningsansvar"): local(26, 11),  # three calendar days
    ("jonkoping", "svpl_efter_utskrivning"): local(26, 13),
    ("goteborg", "svpl_efter_utskrivning"): local(26, 13),
    ("jonkoping", "mobilt_team_forsta_besok"): local(30, 10),
    ("goteborg", "mobilt_team_forsta_besok"): local(30, 10),
    # the end of Sunday 25 October (a day of 25 hours): midnight on the wall clock, not 24 real hours later
    ("jonkoping", "informationsoverforing"): local(26, 0),
    ("goteborg", "informationsoverforing"): local(26, 0),
}


def test_every_deadline_of_every_agreement_has_a_scenario(walk):
    keys = {k for a in ("jonkoping", "goteborg") for k in walk.p.catalog.agreement(a).deadlines}
    assert keys == set(REACH)
    for agreement in walk.p.catalog.agreements.values():
        assert set(agreement.deadlines) <= set(REACH), agreement.key


def _facts_with_end(walk: Walker, instance: int, end_element: str, end_at: datetime):
    """The figure's verdict if the step that meets the deadline were recorded at `end_at`, derived from the case's
    real recorded history by the same derivation the case_facts rows come from."""
    keeper = walk.p.runtime.case_facts
    with walk.p.db.read() as session:
        row = session.get(ProcessInstance, instance)
        assert row is not None
        from engine.domain.facts import case_input

        case = case_input(row)
        history = records_of(
            session.execute(
                select(HistoryEntry.at, HistoryEntry.kind, HistoryEntry.element_id, HistoryEntry.data)
                .where(HistoryEntry.instance_id == instance)
                .order_by(HistoryEntry.id)
            ).all()
        )
    time_field = {"bekrafta_hemkomst": "hemkomst", "genomfora_sip_mote": "mote_genomfort"}.get(end_element)
    submitted = {time_field: end_at.isoformat()} if time_field else {}
    end = HistoryRecord(end_at, "task_completed", end_element, {"submitted": submitted})
    assert keeper.milestones is not None
    return derive(case, [*history, end], keeper.milestones, keeper.terms(case.data.get("avtal")))


@pytest.mark.parametrize("agreement", ["jonkoping", "goteborg"])
@pytest.mark.parametrize("key", list(REACH))
def test_the_case_escalates_when_the_figure_counts_it_late(walk, agreement, key):
    case = CASES[agreement]
    reached = REACH[key](walk, case)
    rule = walk.p.catalog.deadline_rule(key, agreement)
    due = rule.due(reached.anchor_at)
    assert due == EXPECTED[(agreement, key)], due.astimezone(STOCKHOLM)

    timers = walk.timers(reached.instance)
    if reached.timer is not None:
        assert datetime.fromisoformat(timers[reached.timer]["due_at"]) == due
    if reached.guarded is not None:
        with walk.p.db.read() as session:
            task = session.scalars(
                select(TaskIndex).where(
                    TaskIndex.instance_id == reached.instance, TaskIndex.element_id == reached.guarded
                )
            ).one()
            assert task.due_at == due  # the worklist shows the same moment
            if reached.created_later:
                assert rule.due(task.created_at) != due  # counting from the task's creation would be wrong

    if reached.end is not None:
        milestone, element = reached.end
        check = next(n for n, c in walk.p.runtime.case_facts.milestones.deadlines.items() if c.end == milestone)
        assert getattr(_facts_with_end(walk, reached.instance, element, due), check) is True
        assert getattr(_facts_with_end(walk, reached.instance, element, due + timedelta(minutes=1)), check) is False

    if reached.timer is None:
        return  # a due time only: no escalation to compare
    walk.clock.set(due - timedelta(minutes=1))
    assert timers[reached.timer]["id"] not in [t for t, _ in walk.runtime.due_timers()]
    walk.fire(reached.instance, reached.timer)  # not due a second before, fired at the moment
    fired = [h for h in walk.history(reached.instance, "timer_fired") if h["element_id"] == reached.timer]
    assert [datetime.fromisoformat(h["data"]["due_at"]) for h in fired] == [due]

    if reached.end is not None and reached.guarded == reached.end[1]:
        # done a minute after the escalation: the stored figure counts it late
        walk.clock.set(due + timedelta(minutes=1))
        walk.complete(reached.instance, reached.guarded)
        with walk.p.db.read() as session:
            facts = session.get(CaseFact, reached.instance)
            assert facts is not None and getattr(facts, check) is False


PROCESSES = Path(__file__).resolve().parents[2] / "processes"
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"


def _timers_of(path: Path) -> list[tuple[str, str, str | None]]:
    """(element id, timer expression, its teknisk_timer property) for every timer event of a diagram."""
    tree = etree.parse(str(path))
    found = []
    for definition in tree.iter(f"{BPMN}timerEventDefinition"):
        event = definition.getparent()
        expression = " ".join((child.text or "").strip() for child in definition)
        technical = None
        for prop in event.iter():
            if isinstance(prop.tag, str) and prop.tag.endswith("}property") and prop.get("name") == "teknisk_timer":
                technical = prop.get("value")
        found.append((event.get("id"), expression, technical))
    return found


@pytest.mark.parametrize("diagram", ["in_utskrivning", "sip", "mobilt_team"])
def test_every_deadline_timer_comes_from_an_agreement_deadline(walk, diagram):
    """No diagram writes a legal or agreed deadline of its own: every timer waits for deadline('key') of an
    agreement deadline that names its anchor event (in every agreement), or is explicitly marked technical (a
    reminder or a date the parties set in the plan), with the reason."""
    timers = _timers_of(PROCESSES / f"{diagram}.bpmn")
    assert timers, diagram
    for element, expression, technical in timers:
        if technical is not None:
            assert technical.strip(), f"{diagram}:{element}: teknisk_timer utan skäl"
            assert "deadline(" not in expression, f"{diagram}:{element}: a deadline marked technical"
            continue
        key = deadline_key({"timer": {"expression": expression}})
        assert key is not None, f"{diagram}:{element}: timer {expression!r} bypasses the agreement deadlines"
        for agreement in walk.p.catalog.agreements.values():
            assert key in agreement.deadlines, (agreement.key, key)
            assert counts_from_event(agreement.deadlines[key]), (agreement.key, key)


def test_a_timer_written_in_the_diagram_is_caught(tmp_path):
    """The check above fails for a literal deadline such as the information transfer's former timeDate."""
    source = (PROCESSES / "in_utskrivning.bpmn").read_text(encoding="utf-8")
    bypass = source.replace("deadline('informationsoverforing')", "beraknat_utskrivningsdatum + 'T23:59:59'")
    assert bypass != source
    (tmp_path / "x.bpmn").write_text(bypass, encoding="utf-8")
    bad = [
        e
        for e, x, t in _timers_of(tmp_path / "x.bpmn")
        if t is None and deadline_key({"timer": {"expression": x}}) is None
    ]
    assert bad == ["tid_informationsoverforing"]


def _stored_facts(walk: Walker, instance: int) -> CaseFact:
    with walk.p.db.read() as session:
        row = session.get(CaseFact, instance)
        assert row is not None
        session.expunge(row)
        return row


PAYMENT_DUE = {"jonkoping": local(25, 16), "goteborg": local(26, 16), "nationell": local(26, 16)}


@pytest.mark.parametrize("agreement", ["jonkoping", "goteborg", "nationell"])
def test_the_first_payable_day_is_the_moment_the_payment_timer_fires(walk, agreement):
    """One payment clock (issue 14c, point 2): the figure's first payable moment is the moment the betalningsansvar
    timer fires, both counted by due_moment from the latest UK notice after a withdrawal and a new UK (two calendar
    days in Jönköping across the October change, three in Göteborg), and the payable days count from it."""
    case = {**CASES.get(agreement, ESTHER), "avtal": agreement}
    first = _to_uk_notice(walk, case, local(22, 15))
    row = _stored_facts(walk, first)
    assert row.payable_from == datetime.fromisoformat(walk.timers(first)["tid_betalningsansvar"]["due_at"])
    walk.clock.set(local(23, 9))  # worse again before the clock fell due
    walk.send("aterkallad_utskrivningsklar", case, aterkallad_orsak="Försämring")
    walk.complete(first, "meddela_atertagande")
    walk.clock.set(local(23, 16))
    walk.complete(first, "besluta_ny_utskrivningsklar")
    walk.complete(first, "skicka_nytt_meddelande_utskrivningsklar")
    due = datetime.fromisoformat(walk.timers(first)["tid_betalningsansvar"]["due_at"])
    assert due == PAYMENT_DUE[agreement]
    assert _stored_facts(walk, first).payable_from == due
    fired_at = walk.fire(first, "tid_betalningsansvar")
    assert fired_at == due and walk.data(first)["betalningsansvar_startat"] is True
    discharged = local(29, 10)
    walk.clock.set(discharged)
    walk.send("utskriven", case, utskrivningstid=discharged.isoformat())
    row = _stored_facts(walk, first)
    assert row.payable_from == fired_at
    assert row.uk_days == 1 + 6  # 22 -> 23 October, then 23 -> 29 October
    if agreement == "nationell":  # the individual model: the days from the day the clock fell due
        assert row.payable_days == (discharged.date() - fired_at.date()).days == 3


@pytest.mark.parametrize("agreement", ["jonkoping", "goteborg"])
def test_the_sip_kallelse_counts_from_the_latest_uk_notice(walk, agreement):
    """After a withdrawal and a new UK the kallelse's three days start again at the new notice (issue 14c, point 4;
    the reading is documented in docs/timers.md): the case does not escalate at once, and the figure counts the
    kallelse on time until the moment the timer fires."""
    case = CASES[agreement]
    instance = _to_uk_notice(walk, case, local(19, 10))
    walk.clock.set(local(20, 9))
    walk.send("aterkallad_utskrivningsklar", case, aterkallad_orsak="Försämring")
    walk.complete(instance, "meddela_atertagande")
    new_notice = local(23, 15)  # Friday, after the first notice's three days had run out
    walk.clock.set(new_notice)
    walk.complete(instance, "besluta_ny_utskrivningsklar")
    walk.complete(instance, "skicka_nytt_meddelande_utskrivningsklar")
    walk.run_until(instance, {"kalla_till_sip"}, PLANNING)
    due = datetime.fromisoformat(walk.timers(instance)["tid_kallelse_sip"]["due_at"])
    assert due == local(26, 15) == walk.p.catalog.deadline_rule("kallelse_sip", agreement).due(new_notice)
    assert not [h for h in walk.history(instance, "timer_fired") if h["element_id"] == "tid_kallelse_sip"]
    assert _facts_with_end(walk, instance, "kalla_till_sip", due).sip_call_on_time is True
    assert _facts_with_end(walk, instance, "kalla_till_sip", due + timedelta(minutes=1)).sip_call_on_time is False
    assert walk.fire(instance, "tid_kallelse_sip") == due


@pytest.mark.parametrize("agreement", ["jonkoping", "goteborg"])
def test_a_stay_under_lpt_follows_the_agreements_rule_for_psychiatric_tvangsvard(walk, agreement):
    """Issue 14c, point 5: when the case data says the stay is under LPT/LRV, the payment clock (the timer, and the
    figure's first payable moment) uses the agreement's `psykiatrisk_tvangsvard` rule: today the law's 3 calendar
    days in both agreements (Jönköping's general rule is 2)."""
    case = {**CASES[agreement], "psykiatrisk_tvangsvard": "LPT"}
    notice = local(23, 11)
    instance = _to_uk_notice(walk, case, notice)
    block = walk.p.catalog.agreement(agreement).raw["psykiatrisk_tvangsvard"]
    due = datetime.fromisoformat(walk.timers(instance)["tid_betalningsansvar"]["due_at"])
    assert due == local(23 + block["days_after_uk_notice"], 11) == local(26, 11)
    assert _stored_facts(walk, instance).payable_from == due
    assert walk.fire(instance, "tid_betalningsansvar") == due
