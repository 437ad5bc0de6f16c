"""The pure derivation of a case's facts (engine/domain/facts.py) and its configuration (processes/milestones.json),
checked
against the diagrams and forms it names."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from engine.bpmn.xml_safety import load_xml
from engine.config import PROJECT_ROOT
from engine.domain.calendar import DeadlineRule
from engine.domain.catalog import Catalog, CatalogError
from engine.domain.clock import STOCKHOLM
from engine.domain.facts import (
    AgreementTerms,
    CaseInput,
    HistoryRecord,
    Milestones,
    derive,
    parse_moment,
    uk_periods,
)
from engine.domain.personnummer import birth_date

PROCESSES = PROJECT_ROOT / "processes"
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
MILESTONES = Milestones.load(PROCESSES / "milestones.json")
NATIONAL = AgreementTerms(
    "nationell",
    {
        "inskrivningsmeddelande": DeadlineRule("PT24H", "hours", anchor="inskrivning"),
        "kallelse_sip": DeadlineRule("P3D", "calendar", anchor="senaste_utskrivningsklar"),
        "hem_efter_uk": DeadlineRule("PT24H", "hours", anchor="senaste_utskrivningsklar"),
        "svpl_efter_utskrivning": DeadlineRule("P3D", "calendar", anchor="utskrivning"),
        "betalningsansvar": DeadlineRule("P3D", "calendar", anchor="senaste_utskrivningsklar"),
    },
    days_after_uk_notice=3,
)


def t(day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=STOCKHOLM)


def case(**data: Any) -> CaseInput:
    return CaseInput(1, 1, "in_utskrivning", 1, "running", t(2, 8), data, "Eksjö", "SE2321000057-VC1", None)


def task(at: datetime, element: str, **submitted: Any) -> HistoryRecord:
    return HistoryRecord(at, "task_completed", element, {"submitted": submitted})


def started(at: datetime, **data: Any) -> HistoryRecord:
    return HistoryRecord(at, "started", None, {"data": data})


def test_a_case_without_history_is_admitted_when_it_started() -> None:
    facts = derive(case(personnummer="19380312-2385"), [], MILESTONES, NATIONAL)
    assert facts.admitted_at == t(2, 8) and facts.ref_month == "2026-03" and facts.ref_week == "2026-W10"
    assert facts.age_at_admission == 87 and facts.uk_days is None and facts.inskrivningsmeddelande_on_time is None


def test_the_admission_time_in_the_start_data_wins_over_the_recording_time() -> None:
    admitted = datetime(2026, 2, 28, 23, 30, tzinfo=STOCKHOLM)  # late on the last day of February
    facts = derive(case(), [started(t(1, 0, 10), inskrivningstid=admitted.isoformat())], MILESTONES, NATIONAL)
    assert facts.admitted_at == admitted and facts.ref_month == "2026-02" and facts.ref_date == date(2026, 2, 28)


def test_a_local_time_without_offset_is_stockholm_time() -> None:
    assert parse_moment("2026-07-01T12:00:00") == datetime(2026, 7, 1, 12, tzinfo=STOCKHOLM)
    assert parse_moment("inte en tid") is None and parse_moment(None) is None


def test_an_unreadable_time_field_falls_back_to_the_recorded_moment() -> None:
    facts = derive(case(), [task(t(5), "bekrafta_hemkomst", hemkomst="igår")], MILESTONES, NATIONAL)
    assert facts.home_at == t(5)


def test_uk_periods_close_at_withdrawal_and_discharge() -> None:
    assert uk_periods([t(2), t(6)], [t(3)], t(9)) == [(t(2), t(3)), (t(6), t(9))]
    assert uk_periods([t(2)], [], None) == [(t(2), None)]
    assert uk_periods([t(2), t(2, 12)], [], t(4)) == [(t(2), t(4))]  # a repeated notice keeps the first


def test_days_and_payment_under_the_individual_model() -> None:
    history = [
        started(t(2, 8)),
        task(t(2, 9), "skicka_inskrivningsmeddelande"),
        task(t(3), "skicka_meddelande_utskrivningsklar"),
        HistoryRecord(t(4, 9), "element_completed", "registrera_atertagande", {}),
        task(t(10), "skicka_nytt_meddelande_utskrivningsklar"),
        HistoryRecord(t(20), "message_received", None, {"name": "utskriven", "data": {"utskrivningstid": None}}),
    ]
    facts = derive(case(), history, MILESTONES, NATIONAL)
    # periods 3 -> 4 March (1 day) and 10 -> 20 March (10 days); discharge at the recording time (no time given)
    assert facts.uk_days == 11 and facts.payable_days == 0 + 7
    assert (facts.uk_at, facts.last_uk_at, facts.uk_withdrawals) == (t(3), t(10), 1)
    assert facts.inskrivningsmeddelande_on_time is True


def test_the_monthly_average_model_leaves_payment_to_the_month_except_its_individual_rule() -> None:
    history = [
        task(t(3), "skicka_meddelande_utskrivningsklar"),
        task(t(13), "genomfora_utskrivning", utskrivning_utfall="utskriven"),
    ]
    clock = {"betalningsansvar": DeadlineRule("P3D", "calendar", anchor="senaste_utskrivningsklar")}
    average = AgreementTerms("jonkoping", clock, 2, "monthly_average", 2.0, None)
    with_rule = AgreementTerms("goteborg", clock, 3, "monthly_average", 3.0, 7)
    assert derive(case(), history, MILESTONES, average).payable_days == 0
    assert derive(case(), history, MILESTONES, with_rule).payable_days == 10 - 7


def test_a_discharge_task_with_outcome_withdrawn_is_not_a_discharge() -> None:
    history = [
        task(t(3), "skicka_meddelande_utskrivningsklar"),
        task(t(5), "genomfora_utskrivning", utskrivning_utfall="återtagen"),
    ]
    assert derive(case(), history, MILESTONES, NATIONAL).discharged_at is None


def test_sip_facts_and_the_deadlines_measured_on_them() -> None:
    history = [
        task(t(3), "skicka_meddelande_utskrivningsklar"),
        task(t(3, 14), "erbjuda_sip", sip_samtycke=True),
        task(t(6, 10), "kalla_till_sip"),  # exactly three calendar days: in time
        task(t(7), "genomfora_utskrivning", utskrivning_utfall="utskriven", utskrivningstid=t(7, 9).isoformat()),
        task(t(11), "genomfora_sip_mote", mote_genomfort=t(10, 9, 1).isoformat(), motesplats="I hemmet"),
    ]
    facts = derive(case(), history, MILESTONES, NATIONAL)
    assert facts.sip_accepted is True and facts.sip_call_on_time is True
    assert facts.sip_held_at == t(10, 9, 1) and facts.sip_held_in_home is True
    assert facts.svpl_on_time is False  # one minute after 3 days from discharge at 09:00
    assert facts.home_within_24h is None  # no home registered yet


def test_a_declined_sip_is_offered_not_accepted_and_not_held() -> None:
    facts = derive(case(), [task(t(3), "erbjuda_sip", sip_samtycke=False)], MILESTONES, NATIONAL)
    assert facts.sip_offered_at == t(3) and facts.sip_accepted is False
    assert facts.sip_held_at is None and facts.sip_held_in_home is None


def test_fokuspatient_is_over_65_and_readmitted() -> None:
    readmitted = [task(t(2, 9), "registrera_inskrivning", aterinlaggning_inom_30_dagar=True)]
    assert derive(case(personnummer="19600302-0002"), readmitted, MILESTONES, NATIONAL).fokuspatient is True
    at_65 = derive(case(personnummer="19610302-0001"), readmitted, MILESTONES, NATIONAL)
    assert at_65.age_at_admission == 65 and at_65.readmission is True and at_65.fokuspatient is False
    assert derive(case(personnummer="19380312-2385"), [], MILESTONES, NATIONAL).fokuspatient is False


def test_birth_dates_from_personnummer_and_samordningsnummer() -> None:
    assert birth_date("19380312-2385") == date(1938, 3, 12)
    assert birth_date("19380372-2382") == date(1938, 3, 12)  # samordningsnummer: day + 60
    assert birth_date("hemligt") is None and birth_date(None) is None


def test_bad_milestone_configuration_is_refused_with_a_reason() -> None:
    raw = json.loads((PROCESSES / "milestones.json").read_text(encoding="utf-8"))
    broken = {**raw, "milestones": {**raw["milestones"], "home_at": {"pick": "sometimes", "events": []}}}
    with pytest.raises(CatalogError, match="home_at"):
        Milestones.parse(broken)
    missing = {**raw, "milestones": {k: v for k, v in raw["milestones"].items() if k != "uk_notices"}}
    with pytest.raises(CatalogError, match="uk_notices"):
        Milestones.parse(missing)


def _diagram_names() -> tuple[dict[str, str | None], set[str]]:
    """Element id -> its form (None without), and message names, of in_utskrivning.bpmn and the sip.bpmn it calls."""
    elements: dict[str, str | None] = {}
    messages: set[str] = set()
    for name in ("in_utskrivning", "sip"):
        root = load_xml((PROCESSES / f"{name}.bpmn").read_bytes())
        for node in root.iter():
            if not isinstance(node.tag, str):
                continue
            if node.tag == f"{BPMN}message":
                messages.add(node.get("name") or "")
            elif node.get("id") and node.getparent() is not None:
                form = None
                for prop in node.iter("{*}property"):
                    if prop.get("name") == "form" and prop.getparent().getparent().getparent() is node:
                        form = prop.get("value")
                elements[node.get("id") or ""] = form
    return elements, messages


def test_every_milestone_names_an_element_message_and_field_that_exist() -> None:
    """processes/milestones.json against the diagrams and forms: a renamed element or field fails here, not silently
    in the figures."""
    elements, messages = _diagram_names()
    catalog = Catalog(PROCESSES)
    start_fields = {"inskrivningstid", "aterinlaggning_inom_30_dagar"}  # the inskrivning message's data
    message_fields = {"utskriven": {"utskrivningstid"}}  # docs/messages.md
    for name, milestone in MILESTONES.milestones.items():
        for rule in milestone.events:
            named = {f for f in (rule.time_field, rule.value_field, *rule.when) if f}
            if rule.element is not None:
                assert rule.element in elements, f"{name}: {rule.element} is not in the diagrams"
            if rule.message is not None:
                assert rule.message in messages, f"{name}: message {rule.message} is not in the diagrams"
                assert named <= message_fields[rule.message], name
            if rule.kind == "started":
                assert named <= start_fields, name
            if rule.kind == "task_completed":
                form = elements[rule.element or ""]
                assert form is not None, f"{name}: {rule.element} has no form"
                schema = catalog.form(form)
                assert schema is not None, f"{name}: form {form} is missing"
                for field_name in named:
                    assert field_name in schema["properties"], f"{name}: {form} has no field {field_name}"
                for key, wanted in rule.when.items():
                    assert wanted in schema["properties"][key].get("enum", [wanted]), name
                if rule.equals is not None:
                    assert rule.equals in schema["properties"][rule.value_field or ""]["enum"], name
    for check in MILESTONES.deadlines.values():
        for agreement in catalog.agreements.values():
            assert check.deadline in agreement.deadlines, f"{check.deadline} missing in {agreement.key}"


def test_agreement_terms_come_from_the_agreements() -> None:
    catalog = Catalog(PROCESSES)
    terms = AgreementTerms.of(catalog, "goteborg")
    assert (terms.model, terms.threshold, terms.individual_rule_days, terms.days_after_uk_notice) == (
        "monthly_average",
        3.0,
        7,
        3,
    )
    assert AgreementTerms.of(catalog, "okänt").key == "nationell"
    assert terms.deadlines["kallelse_sip"].due(t(3)) == t(3) + timedelta(days=3)


def test_payable_days_count_from_the_payment_clocks_due_moment() -> None:
    """One definition: each UK period's payable days start at due_moment of the agreement's betalningsansvar rule
    from that period's latest notice (what the timer waits for), in the rule's calendar."""
    history = [
        started(t(2, 8)),
        task(t(3, 11), "skicka_meddelande_utskrivningsklar"),
        HistoryRecord(t(4, 9), "element_completed", "registrera_atertagande", {}),
        task(t(10, 15), "skicka_nytt_meddelande_utskrivningsklar"),
        task(t(20, 9), "genomfora_utskrivning", utskrivning_utfall="utskriven"),
    ]
    facts = derive(case(), history, MILESTONES, NATIONAL)
    assert facts.payable_from == t(13, 15)  # three calendar days after the new notice, not after the first
    assert facts.payable_days == 20 - 13
    hours = AgreementTerms(
        "x", {"betalningsansvar": DeadlineRule("PT60H", "hours", anchor="senaste_utskrivningsklar")}, 3
    )
    facts = derive(case(), history, MILESTONES, hours)
    assert facts.payable_from == t(13, 3)  # the rule's own calendar, not a day count of its own
    assert facts.payable_days == 20 - 13


def test_the_payment_blocks_day_count_is_the_payment_deadlines() -> None:
    """The betalningsansvar block's days_after_uk_notice restates the deadline; they must not drift apart."""
    catalog = Catalog(PROCESSES)
    for agreement in catalog.agreements.values():
        rule = agreement.deadlines["betalningsansvar"]
        days = agreement.raw["betalningsansvar"]["days_after_uk_notice"]
        assert (rule.duration, rule.calendar) == (f"P{days}D", agreement.raw["betalningsansvar"]["calendar"])
        assert rule.anchor == "senaste_utskrivningsklar"
