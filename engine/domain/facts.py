"""Per-case facts for the figures: a pure derivation from a case's recorded history.

`derive` turns the history records of one case (what Samflöde recorded: started, task_completed with the submitted
form, element_completed, message_received with its payload, timer_fired, ...) into one `CaseFacts`: when the case was
admitted, when the inskrivningsmeddelande and the notices of utskrivningsklar went out, withdrawals, moved planned
dates, discharge, home, SIP offered / accepted / called / held and where, readmission, and what the agreement's
deadlines and payment rule make of them. Which element, message or form field is which milestone is configuration
(processes/milestones.json), not code; the deadlines and the payment rule come from processes/agreements.json.

The derivation knows no session and no clock: the service layer (`CaseFactsKeeper.refresh`, called by the facts
projector, engine/commands/projectors.py, after every step), `samflode rebuild-facts` for existing cases, and the
simulator all feed it the same records. Figures are then SQL aggregations over the `case_facts` rows
(engine/reads/figures.py).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any

from engine.domain.calendar import DeadlineRule
from engine.domain.catalog import DEFAULT_AGREEMENT, Catalog, CatalogError
from engine.domain.clock import STOCKHOLM
from engine.domain.deadlines import (
    ANCHORS,
    PAYMENT_DEADLINE,
    due_moment,
    parse_moment,
    tvangsvard_rule,
    under_tvangsvard,
)
from engine.domain.personnummer import birth_date
from engine.domain.text import Text

KINDS = ("started", "task_completed", "element_completed", "message_received", "timer_fired", "cancelled", "completed")
PICKS = ("first", "last", "all", "count", "value")
MILESTONES_FILE = "milestones.json"


@dataclass(frozen=True)
class HistoryRecord:
    """One recorded event of a case, as the history table keeps it (HistoryEntry) or a simulator makes it."""

    at: datetime
    kind: str
    element_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def payload(self) -> Mapping[str, Any]:
        """The data the event carried: the start data, the submitted form, or the message's payload."""
        raw = self.data or {}
        if self.kind == "task_completed":
            inner = raw.get("submitted")
        elif self.kind in ("started", "message_received"):
            inner = raw.get("data")
        else:
            inner = raw
        return inner if isinstance(inner, Mapping) else {}


@dataclass(frozen=True)
class CaseInput:
    """What the derivation needs of the case itself besides its history."""

    instance_id: int
    definition_id: int
    process_id: str
    version: int
    status: str
    started_at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)
    kommun: str | None = None
    vardcentral: str | None = None
    avdelning: str | None = None
    deviations: int = 0  # avvikelser registered in the case (the deviations table, or a simulator's count)


@dataclass(frozen=True)
class EventRule:
    kind: str
    element: str | None = None
    message: str | None = None
    time_field: str | None = None
    value_field: str | None = None
    equals: Any = None
    when: Mapping[str, Any] = field(default_factory=dict)

    def matches(self, record: HistoryRecord) -> bool:
        if record.kind != self.kind:
            return False
        if self.element is not None and record.element_id != self.element:
            return False
        if self.message is not None and (record.data or {}).get("name") != self.message:
            return False
        payload = record.payload()
        return all(payload.get(k) == v for k, v in self.when.items())

    def moment(self, record: HistoryRecord) -> datetime:
        if self.time_field:
            parsed = parse_moment(record.payload().get(self.time_field))
            if parsed is not None:
                return parsed
        return record.at

    def value(self, record: HistoryRecord) -> Any:
        if self.value_field is None:
            return True
        raw = record.payload().get(self.value_field)
        if self.equals is not None:
            return None if raw is None else raw == self.equals
        return raw


@dataclass(frozen=True)
class Milestone:
    name: str
    title: str
    pick: str
    events: tuple[EventRule, ...]


@dataclass(frozen=True)
class DeadlineCheck:
    """An on-time figure: the agreement deadline it is measured against and the milestone that meets it. It counts
    from the deadline's own anchor event (agreements.json), as the case's timers and task due times do."""

    deadline: str  # an agreement deadline key
    end: str  # a CaseFacts field


@dataclass(frozen=True)
class Milestones:
    """processes/milestones.json, checked when loaded."""

    process_id: str
    milestones: Mapping[str, Milestone]
    deadlines: Mapping[str, DeadlineCheck]
    fokus_age: int = 65
    readmission_days: int = 30  # a discharge this many days before an admission makes it a readmission

    @functools.cached_property
    def order(self) -> dict[tuple[str, int], int]:
        """A rule's place in the configuration, so that a milestone's rules are tried in the order written."""
        return {
            (name, id(rule)): position
            for position, (name, rule) in enumerate(
                (name, rule) for name, m in self.milestones.items() for rule in m.events
            )
        }

    def index(self) -> dict[tuple[str, str | None, str | None], list[tuple[str, EventRule]]]:
        cached = self.__dict__.get("_index")
        if cached is None:
            cached = _rule_index(self)
            self.__dict__["_index"] = cached
        return cached

    @classmethod
    def load(cls, path: Path) -> Milestones:
        return cls.parse(json.loads(path.read_text(encoding="utf-8")), str(path))

    @classmethod
    def parse(cls, raw: Mapping[str, Any], where: str = MILESTONES_FILE) -> Milestones:
        try:
            items: dict[str, Milestone] = {}
            for name, body in (raw.get("milestones") or {}).items():
                pick = body.get("pick", "first")
                if pick not in PICKS:
                    raise CatalogError(
                        Text("%(where)s: %(name)s: okänt val pick=%(pick)r", where=where, name=name, pick=pick)
                    )
                rules = []
                for event in body.get("events") or []:
                    if event.get("kind") not in KINDS:
                        raise CatalogError(
                            Text(
                                "%(where)s: %(name)s: okänd händelsetyp %(event)r",
                                where=where,
                                name=name,
                                event=event.get("kind"),
                            )
                        )
                    rules.append(
                        EventRule(
                            kind=event["kind"],
                            element=event.get("element"),
                            message=event.get("message"),
                            time_field=event.get("time_field"),
                            value_field=event.get("field"),
                            equals=event.get("equals"),
                            when=dict(event.get("when") or {}),
                        )
                    )
                if not rules:
                    raise CatalogError(Text("%(where)s: %(name)s: inga händelser", where=where, name=name))
                items[name] = Milestone(name, body.get("title", name), pick, tuple(rules))
            missing = set(REQUIRED_MILESTONES) - set(items)
            if missing:
                raise CatalogError(
                    Text("%(where)s: milstolpar saknas: %(items)s", where=where, items=", ".join(sorted(missing)))
                )
            checks = {}
            for name, body in (raw.get("deadlines") or {}).items():
                if name.startswith("$"):
                    continue
                if "from" in body:
                    raise CatalogError(
                        Text(
                            "%(where)s: %(name)s: 'from' används inte längre; tidsfristen räknas från sin "
                            "ankarhändelse (anchor) i agreements.json",
                            where=where,
                            name=name,
                        )
                    )
                checks[name] = DeadlineCheck(body["deadline"], body["to"])
            missing = set(REQUIRED_CHECKS) - set(checks)
            if missing:
                raise CatalogError(
                    Text("%(where)s: tidsgränser saknas: %(items)s", where=where, items=", ".join(sorted(missing)))
                )
            return cls(
                str(raw.get("process_id") or "in_utskrivning"),
                items,
                checks,
                int(raw.get("fokuspatient_min_age_exclusive", 65)),
                int(raw.get("readmission_within_days", 30)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogError(f"{where}: {exc}") from exc


REQUIRED_MILESTONES = (
    "admitted_at",
    "inskrivningsmeddelande_at",
    "uk_notices",
    "uk_withdrawals",
    "planned_date_moves",
    "discharged_at",
    "home_at",
    "sip_offered_at",
    "sip_accepted",
    "sip_called_at",
    "sip_held_at",
    "sip_held_in_home",
    "readmission",
)
REQUIRED_CHECKS = ("inskrivningsmeddelande_on_time", "sip_call_on_time", "home_within_24h", "svpl_on_time")


@dataclass(frozen=True)
class AgreementTerms:
    """What the facts need of a region's agreement: its deadlines and its payment rule (betalningsansvar)."""

    key: str
    deadlines: Mapping[str, DeadlineRule]
    days_after_uk_notice: int = 3
    model: str = "individual"  # individual | monthly_average
    threshold: float | None = None
    individual_rule_days: int | None = None
    tvangsvard_payment: DeadlineRule | None = None  # the payment clock of a stay under LPT/LRV

    @classmethod
    def of(cls, catalog: Catalog, key: str | None) -> AgreementTerms:
        agreement = catalog.agreement(key)
        rule = agreement.raw.get("betalningsansvar") or {}
        threshold = rule.get("threshold")
        individual = rule.get("individual_rule_days")
        return cls(
            agreement.key,
            dict(agreement.deadlines),
            int(rule.get("days_after_uk_notice", 3)),
            str(rule.get("model", "individual")),
            float(threshold) if threshold is not None else None,
            int(individual) if individual is not None else None,
            agreement.deadlines.get(PAYMENT_DEADLINE)
            and tvangsvard_rule(agreement.raw.get("psykiatrisk_tvangsvard"), agreement.deadlines[PAYMENT_DEADLINE]),
        )


@dataclass
class CaseFacts:
    """One case_facts row (engine.persistence.models.CaseFact), without its updated_at."""

    instance_id: int
    definition_id: int
    process_id: str
    version: int
    status: str
    kommun: str | None
    vardcentral: str | None
    avdelning: str | None
    avtal: str | None
    age_at_admission: int | None
    admitted_at: datetime
    ref_date: date
    ref_month: str
    ref_week: str
    inskrivningsmeddelande_at: datetime | None = None
    inskrivningsmeddelande_on_time: bool | None = None
    uk_at: datetime | None = None
    last_uk_at: datetime | None = None
    uk_notices: int = 0
    uk_withdrawals: int = 0
    planned_date_moves: int = 0
    discharged_at: datetime | None = None
    uk_days: int | None = None
    payable_days: int | None = None
    payable_from: datetime | None = None
    home_at: datetime | None = None
    home_within_24h: bool | None = None
    sip_offered_at: datetime | None = None
    sip_accepted: bool | None = None
    sip_called_at: datetime | None = None
    sip_call_on_time: bool | None = None
    sip_held_at: datetime | None = None
    sip_held_in_home: bool | None = None
    svpl_on_time: bool | None = None
    information_transferred_at: datetime | None = None
    information_on_time: bool | None = None
    readmission: bool = False
    fokuspatient: bool = False
    deviations: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


FACT_COLUMNS = tuple(f.name for f in fields(CaseFacts))


def local_date(moment: datetime) -> date:
    return moment.astimezone(STOCKHOLM).date()


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _rule_index(milestones: Milestones) -> dict[tuple[str, str | None, str | None], list[tuple[str, EventRule]]]:
    """The milestone rules by what they match on (kind, element, message), so each record is looked up, not tried
    against every rule: a case's history is read again after every step."""
    index: dict[tuple[str, str | None, str | None], list[tuple[str, EventRule]]] = {}
    for name, milestone in milestones.milestones.items():
        for rule in milestone.events:
            index.setdefault((rule.kind, rule.element, rule.message), []).append((name, rule))
    return index


def _pick_all(milestones: Milestones, history: Sequence[HistoryRecord]) -> dict[str, Any]:
    """Each milestone's value from the history: for each record, the first of a milestone's rules that matches
    counts (as a moment, and as a value when the rule reads a field)."""
    index = milestones.index()
    moments: dict[str, list[datetime]] = {name: [] for name in milestones.milestones}
    values: dict[str, Any] = dict.fromkeys(milestones.milestones)
    for record in history:
        message = (record.data or {}).get("name") if record.kind == "message_received" else None
        candidates = (
            index.get((record.kind, record.element_id, None), [])
            + (index.get((record.kind, None, message), []) if message is not None else [])
            + index.get((record.kind, None, None), [])
        )
        if not candidates:
            continue
        seen: set[str] = set()
        for name, rule in sorted(candidates, key=lambda c: milestones.order[(c[0], id(c[1]))]):
            if name in seen or not rule.matches(record):
                continue
            seen.add(name)
            moments[name].append(rule.moment(record))
            got = rule.value(record)
            if got is not None:
                values[name] = got
    out: dict[str, Any] = {}
    for name, milestone in milestones.milestones.items():
        found = moments[name]
        if milestone.pick == "count":
            out[name] = len(found)
        elif milestone.pick == "value":
            out[name] = values[name]
        elif milestone.pick == "all":
            out[name] = sorted(found)
        elif not found:
            out[name] = None
        else:
            out[name] = found[0] if milestone.pick == "first" else found[-1]
    return out


def uk_periods(
    notices: Sequence[datetime], withdrawals: Sequence[datetime], discharged_at: datetime | None
) -> list[tuple[datetime, datetime | None]]:
    """The periods the person was utskrivningsklar: each opens at a notice and closes at the next withdrawal or at
    the discharge (None: still open)."""
    events = sorted([(t, 0) for t in notices] + [(t, 1) for t in withdrawals])
    periods: list[tuple[datetime, datetime | None]] = []
    open_at: datetime | None = None
    for moment, is_withdrawal in events:
        if discharged_at is not None and moment > discharged_at:
            break
        if not is_withdrawal and open_at is None:
            open_at = moment
        elif is_withdrawal and open_at is not None:
            periods.append((open_at, moment))
            open_at = None
    if open_at is not None:
        periods.append((open_at, discharged_at))
    return periods


def payment_rules(
    terms: AgreementTerms, data: Mapping[str, Any] | None = None
) -> tuple[DeadlineRule | None, DeadlineRule | None]:
    """The payment clock as the timer counts it (the agreement deadline `betalningsansvar`: its duration, calendar and
    anchor; under LPT/LRV the agreement's `psykiatrisk_tvangsvard` rule, as Catalog.deadline_rule gives the timer)
    and, when the agreement has one, its individual rule (`individual_rule_days`, counted in the same calendar from
    the same anchor)."""
    rule = terms.deadlines.get(PAYMENT_DEADLINE)
    if rule is not None and terms.tvangsvard_payment is not None and under_tvangsvard(data):
        rule = terms.tvangsvard_payment
    if rule is None:
        return None, None
    individual = None
    if terms.individual_rule_days is not None:
        individual = DeadlineRule(f"P{terms.individual_rule_days}D", rule.calendar, rule.before, rule.anchor)
    return rule, individual


def payable_periods(
    rule: DeadlineRule | None,
    notices: Sequence[datetime],
    periods: Sequence[tuple[datetime, datetime | None]],
    anchors: Mapping[str, datetime | None],
    data: Mapping[str, Any],
) -> list[tuple[datetime | None, datetime | None]]:
    """For each UK period, the moment its payment clock falls due, by the one definition the timer uses
    (due_moment of the rule, with the anchors as they stood in that period: the latest notice so far is
    `senaste_utskrivningsklar`), and the period's end."""
    out: list[tuple[datetime | None, datetime | None]] = []
    for start, end in periods:
        latest = max((n for n in notices if n >= start and (end is None or n <= end)), default=start)
        moments = {**anchors, "senaste_utskrivningsklar": latest}
        out.append((due_moment(rule, moments, data) if rule is not None else None, end))
    return out


def days_from(due: datetime | None, end: datetime | None) -> int:
    """Payable calendar days of a period: from the day its clock falls due up to (not including) the day it ended."""
    if due is None or end is None:
        return 0
    return max(0, (local_date(end) - local_date(due)).days)


def anchors_of(facts: CaseFacts) -> dict[str, datetime | None]:
    """The recorded moments of the anchor events (engine/domain/deadlines.py ANCHORS) in a case's facts."""
    return {anchor: getattr(facts, field_name) for anchor, field_name in ANCHORS.items()}


def deadline_due(
    terms: AgreementTerms, deadline: str, anchors: Mapping[str, datetime | None], data: Mapping[str, Any]
) -> datetime | None:
    """When the agreement's deadline falls for the case: the one definition (due_moment) the runtime's timers and
    task due times use too. None while its anchor event is not recorded."""
    rule = terms.deadlines.get(deadline)
    if rule is None:
        return None
    return due_moment(rule, anchors, data)


def _on_time(
    terms: AgreementTerms, deadline: str, anchors: Mapping[str, datetime | None], data: Mapping[str, Any], end: Any
) -> bool | None:
    if end is None:
        return None
    due = deadline_due(terms, deadline, anchors, data)
    return None if due is None else bool(end <= due)


def derive(
    case: CaseInput, history: Iterable[HistoryRecord], milestones: Milestones, terms: AgreementTerms
) -> CaseFacts:
    """The facts of one case from its history (in recorded order) under its agreement's terms."""
    records = list(history)
    picked = _pick_all(milestones, records)
    admitted_at = picked["admitted_at"] or case.started_at
    day = local_date(admitted_at)
    iso = day.isocalendar()
    born = birth_date((case.data or {}).get("personnummer"))
    age = age_on(born, day) if born is not None else None
    notices: list[datetime] = picked["uk_notices"] or []
    withdrawals: list[datetime] = picked["uk_withdrawals"] or []
    discharged_at: datetime | None = picked["discharged_at"]
    periods = uk_periods(notices, withdrawals, discharged_at)
    last_uk_at = None
    for notice in notices:
        if discharged_at is None or notice <= discharged_at:
            last_uk_at = notice
    # The payment clock: each UK period's clock falls due at the moment the betalningsansvar timer fires (the same
    # due_moment of the same agreement rule, anchor and calendar); the payable days count from that moment.
    data = case.data or {}
    period_anchors = {
        "inskrivning": picked["admitted_at"] or case.started_at,
        "inskrivningsmeddelande": picked["inskrivningsmeddelande_at"],
        "utskrivningsklar": notices[0] if notices else None,
        "utskrivning": discharged_at,
    }
    rule, individual_rule = payment_rules(terms, data)
    clocks = payable_periods(rule, notices, periods, period_anchors, data)
    payable_from = clocks[-1][0] if clocks else None
    uk_days = payable = None
    if discharged_at is not None and periods:
        lengths = [max(0, (local_date(end) - local_date(start)).days) for start, end in periods if end is not None]
        uk_days = sum(lengths)
        if terms.model == "individual":
            payable = sum(days_from(due, end) for due, end in clocks)
        elif individual_rule is not None:
            payable = sum(
                days_from(due, end)
                for due, end in payable_periods(individual_rule, notices, periods, period_anchors, data)
            )
        else:
            payable = 0
    # A readmission Samflöde knows (the person's discharge it recorded within the window, found when the case
    # started: Runtime._known_readmission) counts whatever the ward ticked; the tick adds what it cannot know.
    # The figure is of unplanned readmissions: what the ward marks as planned (which only it can know) is not one.
    readmission = picked["readmission"] is True or (case.data or {}).get("aterinlaggning_kand") is True
    readmission = readmission and picked.get("readmission_planned") is not True
    facts = CaseFacts(
        instance_id=case.instance_id,
        definition_id=case.definition_id,
        process_id=case.process_id,
        version=case.version,
        status=case.status,
        kommun=case.kommun,
        vardcentral=case.vardcentral,
        avdelning=case.avdelning,
        avtal=terms.key,
        age_at_admission=age,
        admitted_at=admitted_at,
        ref_date=day,
        ref_month=f"{day.year:04d}-{day.month:02d}",
        ref_week=f"{iso.year:04d}-W{iso.week:02d}",
        inskrivningsmeddelande_at=picked["inskrivningsmeddelande_at"],
        uk_at=notices[0] if notices else None,
        last_uk_at=last_uk_at,
        uk_notices=len(notices),
        uk_withdrawals=len(withdrawals),
        planned_date_moves=int(picked["planned_date_moves"] or 0),
        discharged_at=discharged_at,
        uk_days=uk_days,
        payable_days=payable,
        payable_from=payable_from,
        home_at=picked["home_at"],
        sip_offered_at=picked["sip_offered_at"],
        sip_accepted=picked["sip_accepted"] if isinstance(picked["sip_accepted"], bool) else None,
        sip_called_at=picked["sip_called_at"],
        sip_held_at=picked["sip_held_at"],
        sip_held_in_home=picked["sip_held_in_home"] if picked["sip_held_at"] is not None else None,
        information_transferred_at=picked.get("information_transferred_at"),
        readmission=readmission,
        fokuspatient=readmission and age is not None and age > milestones.fokus_age,
        deviations=case.deviations,
    )
    anchors = anchors_of(facts)
    for name, check in milestones.deadlines.items():
        setattr(facts, name, _on_time(terms, check.deadline, anchors, case.data or {}, getattr(facts, check.end)))
    return facts


def anchors_from(
    milestones: Milestones | None, case: CaseInput, history: Iterable[HistoryRecord]
) -> dict[str, datetime | None]:
    """The anchor events' moments of a case from its history (what Runtime and the simulator set deadline timers
    from). A process the milestones do not describe knows only its own start as `inskrivning`."""
    if milestones is None or milestones.process_id != case.process_id:
        moments: dict[str, datetime | None] = dict.fromkeys(ANCHORS)
        moments["inskrivning"] = parse_moment((case.data or {}).get("inskrivningstid")) or case.started_at
        return moments
    return anchors_of(derive(case, history, milestones, AgreementTerms(DEFAULT_AGREEMENT, {})))


def records_of(rows: Iterable[Any]) -> list[HistoryRecord]:
    """HistoryEntry rows (or anything with at, kind, element_id, data) as records."""
    return [HistoryRecord(r.at, r.kind, r.element_id, r.data or {}) for r in rows]


class CaseFactsDeriver:
    """The facts of a case from its history, by the configured milestones and the case's agreement. Pure: the
    case_facts rows are kept in step by engine/commands/facts_store.py (CaseFactsKeeper), the simulator derives
    through this directly."""

    def __init__(self, catalog: Catalog, milestones: Milestones | None = None):
        self.catalog = catalog
        if milestones is None:
            folder = catalog.folder
            path = folder / MILESTONES_FILE if folder is not None else None
            milestones = Milestones.load(path) if path is not None and path.is_file() else None
        self.milestones = milestones
        self._terms: dict[str | None, AgreementTerms] = {}

    def applies_to(self, process_id: str) -> bool:
        return self.milestones is not None and self.milestones.process_id == process_id

    def terms(self, key: str | None) -> AgreementTerms:
        found = self._terms.get(key)
        if found is None:
            try:
                found = AgreementTerms.of(self.catalog, key)
            except CatalogError:
                found = AgreementTerms(key or "nationell", {})
            self._terms[key] = found
        return found

    def derive_for(self, case: CaseInput, history: Iterable[HistoryRecord]) -> CaseFacts:
        assert self.milestones is not None
        avtal = (case.data or {}).get("avtal")
        return derive(case, history, self.milestones, self.terms(avtal if isinstance(avtal, str) else None))


def case_input(instance: Any) -> CaseInput:
    """A ProcessInstance (or a row with the same columns) as the derivation's input."""
    return CaseInput(
        instance_id=instance.id,
        definition_id=instance.definition_id,
        process_id=instance.process_id,
        version=instance.version,
        status=instance.status,
        started_at=instance.started_at,
        data=instance.data or {},
        kommun=instance.kommun,
        vardcentral=instance.vardcentral,
        avdelning=instance.avdelning,
    )
