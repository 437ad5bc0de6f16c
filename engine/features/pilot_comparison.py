"""The side-by-side figures of a pilot: the pilot's cases next to comparable baseline cases, with case counts, a plain
warning for groups too small to conclude anything, weekly series for charts, and the Värdekompass answers.

Groups (cases counted by their admission date, as engine/reads/figures.py counts them):
- `pilot`: the cases that started on the pilot's version because of the pilot (process_instances.pilot_id), admitted
  in the pilot's period up to today;
- `elsewhere`: the same period, cases of the same process that the pilot's rule would not take (other units) and that
  did not run on the pilot;
- `before`: the pilot's own units (by its rule) in a period of the same length just before the pilot started.

Too small: fewer than MIN_CASES cases in a group. With 30 cases a share of 50 % is only known to about ±18
percentage points (95 %), so below that the comparison says plainly that nothing can be concluded; shares also carry
their margin (normal approximation, 1.96·√(p(1−p)/n)) so that the Eksjö pilot's 36 patients are read with care.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, not_, or_, select, union

from engine.domain.actors import SYSTEM_ACTOR, Actor, Policy
from engine.domain.clock import Clock
from engine.domain.errors import Conflict, NotFound
from engine.domain.text import Text
from engine.persistence.db import Database
from engine.persistence.models import (
    AuditEntry,
    CaseFact,
    HistoryEntry,
    Pilot,
    ProcessDefinition,
    ProcessInstance,
)
from engine.reads.figures import FIGURES, SMALL_GROUP, Figures, FigureScope, FigureValue
from engine.reads.versions import rule_clause, stockholm_today

MIN_CASES = 30
GROUP_TITLES = {
    "pilot": "Piloten",
    "elsewhere": "Samma period, övriga enheter",
    "before": "Samma enheter, perioden före",
}
# Värdekompass: the person's questions (form lamna_upplevelse, a user task of the process and of the staff
# questionnaire process) and the staff's (form vardekompass_personal), each answered on one scale.
PERSON_QUESTIONS = {
    "delaktig_i_planeringen": "Delaktig i planeringen",
    "forberedd": "Förberedd",
    "fungerade_bra_hemma": "Det fungerade bra hemma",
    "fick_det_stod_jag_behover": "Fick det stöd jag behöver",
    "samverkan_fungerade_bra": "Samverkan fungerade bra",
}
STAFF_QUESTIONS = {
    "samverkan_fungerade_bra": "Samverkan med de andra parterna fungerade bra",
    "information_i_tid": "Informationen kom i tid",
    "ratt_kompetens_deltog": "Rätt kompetenser deltog",
    "den_enskilde_delaktig": "Den enskilde var delaktig",
}
AGREE_FULLY = "Instämmer helt"
SCALE = ("Instämmer helt", "Instämmer delvis", "Instämmer inte")
PERSON_FORM = "lamna_upplevelse"
STAFF_FORM = "vardekompass_personal"
QUESTIONNAIRE_PROCESS = "vardekompass"  # processes/vardekompass.bpmn (tools/diagrams/vardekompass.py)
MAX_QUESTIONNAIRES = 500  # per sending; the rest on the next
CASE_KEYS = ("personnummer", "vardtillfalle_id", "namn", "kommun", "vardcentral_hsa_id", "avdelning_hsa_id", "avtal")
CHART_FIGURES = ("inskrivningsmeddelande_24h", "sip_kallelse_3d", "hem_24h", "svpl_3d")


@dataclass(frozen=True)
class GroupScope:
    key: str
    title: str
    description: str
    start: date  # inclusive
    end: date  # exclusive
    instance_ids: Select[Any]


def share_margin(value: FigureValue) -> float | None:
    """The 95 % margin of a share (normal approximation); None without a denominator."""
    if value.value is None or not value.denominator:
        return None
    p = value.value
    return 1.96 * math.sqrt(max(p * (1 - p), 0.0) / value.denominator)


def _number(value: float, decimals: int = 1) -> str:
    text = f"{value:,.{decimals}f}".replace(",", "\u00a0").replace(".", ",")
    return text


def format_value(unit: str, value: FigureValue | None) -> str:
    """A figure as the steering group reads it: '62 % (23 av 37) ±16', '4,2 dagar (n=30)', '7 (0,19 per fall)'."""
    if value is None:
        return "–"
    if unit == "share":
        if value.value is None:
            return "– (inga fall att räkna)"
        margin = share_margin(value)
        extra = f" ±{round(margin * 100)}" if margin is not None else ""
        return Text(
            "%(p)s %% (%(a)s av %(b)s)%(extra)s",
            p=round(value.value * 100),
            a=int(value.numerator),
            b=int(value.denominator),
            extra=extra,
        )
    if unit == "mean_days":
        if value.value is None:
            return "– (inga utskrivna)"
        return Text("%(v)s dagar (n=%(n)s)", v=_number(value.value), n=int(value.denominator))
    if unit == "kronor":
        return "–" if value.value is None else f"{_number(value.value, 0)} kr"
    if not value.denominator:
        return _number(value.numerator, 0)
    return Text(
        "%(v)s (%(r)s per fall)", v=_number(value.numerator, 0), r=_number(value.numerator / value.denominator, 2)
    )


class PilotComparison:
    def __init__(self, db: Database, clock: Clock, policy: Policy, figures: Figures):
        self.db = db
        self.clock = clock
        self.policy = policy
        self.figures = figures
        self._steps: dict[int, dict[str, str | None]] = {}

    def groups(self, pilot: Pilot) -> list[GroupScope]:
        today = stockholm_today(self.clock)
        start = pilot.start_date
        end = max(start, min(pilot.end_date, today) + timedelta(days=1))
        length = end - start
        takes = rule_clause(pilot)
        same_process = ProcessInstance.process_id == pilot.process_id
        return [
            GroupScope(
                "pilot",
                GROUP_TITLES["pilot"],
                Text(
                    "%(what)s, inskrivna %(period)s",
                    what=Text("Fall på pilotens version"),
                    period=f"{start.isoformat()}–{(end - timedelta(days=1)).isoformat()}",
                ),
                start,
                end,
                select(ProcessInstance.id).where(ProcessInstance.pilot_id == pilot.id),
            ),
            GroupScope(
                "elsewhere",
                GROUP_TITLES["elsewhere"],
                "Samma period, fall utanför pilotens enheter (enligt pilotens regel för blandade fall)",
                start,
                end,
                select(ProcessInstance.id).where(
                    same_process,
                    or_(ProcessInstance.pilot_id.is_(None), ProcessInstance.pilot_id != pilot.id),
                    not_(takes),
                ),
            ),
            GroupScope(
                "before",
                GROUP_TITLES["before"],
                Text(
                    "%(what)s, inskrivna %(period)s (lika lång period före piloten)",
                    what=Text("Pilotens enheter"),
                    period=f"{(start - length).isoformat()}–{(start - timedelta(days=1)).isoformat()}",
                ),
                start - length,
                start,
                select(ProcessInstance.id).where(same_process, takes),
            ),
        ]

    def compare(self, actor: Actor, pilot_id: int) -> dict[str, Any]:
        self.policy.require(
            self.policy.can_view_pilots(actor), "Bara implementeringsteamet, processägare och samordnare ser piloter"
        )
        with self.db.read() as session:
            pilot = session.get(Pilot, pilot_id)
            if pilot is None:
                raise NotFound(Text("Piloten %(pilot_id)s finns inte", pilot_id=pilot_id))
            session.expunge(pilot)
        groups = self.groups(pilot)
        totals = {}
        for g in groups:
            scope = FigureScope(g.start, g.end, process_id=pilot.process_id, instance_ids=g.instance_ids)
            totals[g.key] = self.figures.compute(scope)[0]
        # Groups of fewer than SMALL_GROUP cases show neither figures nor their count, as on every figure page.
        hidden = {g.key for g in groups if 0 < totals[g.key].cases < SMALL_GROUP}
        rows = []
        for definition in FIGURES:
            values = [None if g.key in hidden else totals[g.key].figures.get(definition.id) for g in groups]
            rows.append(
                {
                    "id": definition.id,
                    "title": definition.title,
                    "unit": definition.unit,
                    "definition": definition.definition,
                    "values": [
                        {
                            "value": v.value if v is not None else None,
                            "numerator": v.numerator if v is not None else None,
                            "denominator": v.denominator if v is not None else None,
                            "margin": share_margin(v) if v is not None and definition.unit == "share" else None,
                            "text": Text("färre än %(n)s fall", n=SMALL_GROUP)
                            if g.key in hidden
                            else format_value(definition.unit, v),
                        }
                        for g, v in zip(groups, values, strict=True)
                    ],
                }
            )
        weeks = self._weekly(pilot, groups[:2])
        answers = self._answers(pilot, groups)
        return {
            "pilot_id": pilot.id,
            "threshold": MIN_CASES,
            "groups": [
                {
                    "key": g.key,
                    "title": g.title,
                    "description": g.description,
                    "start": g.start.isoformat(),
                    "end": (g.end - timedelta(days=1)).isoformat(),
                    "cases": None if g.key in hidden else totals[g.key].cases,
                    "suppressed": g.key in hidden,
                    "too_small": totals[g.key].cases < MIN_CASES,
                }
                for g in groups
            ],
            "rows": rows,
            "weeks": weeks,
            "questionnaires": answers,
        }

    def _weekly(self, pilot: Pilot, groups: list[GroupScope]) -> dict[str, Any]:
        """Cases and the deadline shares per ISO week for the pilot and the same period elsewhere."""
        series: dict[str, dict[str, Any]] = {}
        keys: set[str] = set()
        for g in groups:
            scope = FigureScope(g.start, g.end, process_id=pilot.process_id, instance_ids=g.instance_ids)
            rows = self.figures.compute(scope, group_by="week")
            by_week = {r.key: r for r in rows if r.key is not None}
            keys.update(by_week)
            series[g.key] = by_week
        weeks = sorted(keys)
        out: dict[str, Any] = {"weeks": weeks, "series": {}}

        def shown(g: GroupScope, week: str) -> bool:
            """A week of fewer than SMALL_GROUP cases is a gap in the charts: its values could point at a person."""
            return week in series[g.key] and series[g.key][week].cases >= SMALL_GROUP

        out["series"]["cases"] = {
            g.key: [
                float(series[g.key][w].cases) if shown(g, w) else (0.0 if w not in series[g.key] else None)
                for w in weeks
            ]
            for g in groups
        }
        for figure_id in CHART_FIGURES:
            out["series"][figure_id] = {
                g.key: [
                    series[g.key][w].figures[figure_id].value
                    if shown(g, w) and figure_id in series[g.key][w].figures
                    else None
                    for w in weeks
                ]
                for g in groups
            }
        return out

    def _questionnaire_steps(self, session: Any) -> dict[int, dict[str, str | None]]:
        """Per definition id, its elements whose form is a Värdekompass form. Definitions never change once
        deployed, so each is read once per process (its elements JSON is large)."""
        known = set(self._steps)
        missing = select(ProcessDefinition.id, ProcessDefinition.elements)
        if known:
            missing = missing.where(ProcessDefinition.id.not_in(sorted(known)))
        for d_id, elements in session.execute(missing):
            self._steps[d_id] = {
                key: (info.get("properties") or {}).get("form")
                for key, info in (elements or {}).items()
                if (info.get("properties") or {}).get("form") in (PERSON_FORM, STAFF_FORM)
            }
        return dict(self._steps)

    def _answers(self, pilot: Pilot, groups: list[GroupScope]) -> dict[str, Any]:
        """The Värdekompass answers per group: the person's (the case's own task, or the questionnaire process
        started for it) and the staff's per party. Per question: answers given and the share that agree fully."""
        out: dict[str, Any] = {"person": [], "staff": [], "parties": []}
        with self.db.read() as session:
            forms = self._questionnaire_steps(session)
            element_ids = {key for found in forms.values() for key in found}
            per_group: dict[str, dict[str, Any]] = {}
            parties: set[str] = set()
            for g in groups:
                cases = select(CaseFact.instance_id).where(
                    CaseFact.process_id == pilot.process_id,
                    CaseFact.ref_date >= g.start,
                    CaseFact.ref_date < g.end,
                    CaseFact.instance_id.in_(g.instance_ids.scalar_subquery()),
                )
                # The case itself and the questionnaire instances started for it (parent_instance_id); only the
                # completions of questionnaire steps are read, in one query.
                owners = union(
                    cases,
                    select(ProcessInstance.id).where(
                        ProcessInstance.parent_instance_id.in_(cases.scalar_subquery()),
                        ProcessInstance.process_id == QUESTIONNAIRE_PROCESS,
                    ),
                ).subquery()
                person: dict[str, list[str]] = {q: [] for q in PERSON_QUESTIONS}
                staff: dict[str, dict[str, list[str]]] = {}
                entries: list[Any] = (
                    list(
                        session.execute(
                            select(HistoryEntry.element_id, HistoryEntry.data, ProcessInstance.definition_id)
                            .join(ProcessInstance, ProcessInstance.id == HistoryEntry.instance_id)
                            .where(
                                HistoryEntry.kind == "task_completed",
                                HistoryEntry.element_id.in_(sorted(element_ids)),
                                HistoryEntry.instance_id.in_(select(owners.c[0])),
                            )
                        )
                    )
                    if element_ids
                    else []
                )
                for element_id, data, definition_id in entries:
                    form = forms.get(definition_id, {}).get(element_id or "")
                    submitted = (data or {}).get("submitted") or {}
                    if form == PERSON_FORM:
                        for q in PERSON_QUESTIONS:
                            if submitted.get(q) in SCALE:
                                person[q].append(submitted[q])
                    elif form == STAFF_FORM:
                        party = str((data or {}).get("lane") or "Okänd part")
                        parties.add(party)
                        answers = staff.setdefault(party, {q: [] for q in STAFF_QUESTIONS})
                        for q in STAFF_QUESTIONS:
                            if submitted.get(q) in SCALE:
                                answers[q].append(submitted[q])
                per_group[g.key] = {"person": person, "staff": staff}
        for q, title in PERSON_QUESTIONS.items():
            out["person"].append(
                {"id": q, "title": title, "values": [_summary(per_group[g.key]["person"][q]) for g in groups]}
            )
        out["parties"] = sorted(parties)
        for party in out["parties"]:
            for q, title in STAFF_QUESTIONS.items():
                out["staff"].append(
                    {
                        "party": party,
                        "id": q,
                        "title": title,
                        "values": [_summary(per_group[g.key]["staff"].get(party, {}).get(q, [])) for g in groups],
                    }
                )
        return out


def _summary(answers: list[str]) -> dict[str, Any]:
    """Answers to one question in one group: fewer than SMALL_GROUP answers are not shown (a person's own answer
    about their experience would stand alone)."""
    n = len(answers)
    agree = sum(1 for a in answers if a == AGREE_FULLY)
    if 0 < n < SMALL_GROUP:
        return {"answers": None, "agree_fully": None, "share": None, "text": Text("färre än %(n)s svar", n=SMALL_GROUP)}
    return {
        "answers": n,
        "agree_fully": agree,
        "share": agree / n if n else None,
        "text": Text("%(p)s %% instämmer helt (%(a)s av %(b)s)", p=round(agree / n * 100), a=agree, b=n)
        if n
        else "– (inga svar)",
    }


def table_rows(comparison: dict[str, Any]) -> list[list[Any]]:
    """The comparison as rows of a table (CSV and Excel): groups with their counts, figures, Värdekompass."""
    groups = comparison["groups"]
    rows: list[list[Any]] = [[Text("Nyckeltal"), *[g["title"] for g in groups]]]
    rows.append([Text("Period"), *[f"{g['start']}–{g['end']}" for g in groups]])
    rows.append(
        [
            Text("Antal fall"),
            *[g["cases"] if not g["suppressed"] else Text("färre än %(n)s", n=SMALL_GROUP) for g in groups],
        ]
    )
    rows.append(
        [
            Text("För få fall (under %(threshold)s) för slutsatser", threshold=comparison["threshold"]),
            *[Text("ja") if g["too_small"] else Text("nej") for g in groups],
        ]
    )
    for row in comparison["rows"]:
        rows.append([row["title"], *[v["text"] for v in row["values"]]])
    for row in comparison["questionnaires"]["person"]:
        rows.append(
            [Text("Värdekompass, den enskilde: %(title)s", title=row["title"]), *[v["text"] for v in row["values"]]]
        )
    for row in comparison["questionnaires"]["staff"]:
        rows.append(
            [
                Text("Värdekompass, %(party)s: %(title)s", party=row["party"], title=row["title"]),
                *[v["text"] for v in row["values"]],
            ]
        )
    return rows


class Questionnaires:
    """Värdekompass: the pilot's questionnaires as user tasks. `send` starts the questionnaire process
    (processes/vardekompass.bpmn) through the service layer for each discharged case of the pilot and of the same
    period elsewhere (so that the answers can be compared) that has none yet: one task per party's staff when the
    pilot asks the staff, and one for the person when the pilot asks the person and the case's own version has no
    such step (in_utskrivning has 'Berätta om min upplevelse'). The tasks land in each party's worklist by the case's
    units; unanswered questions close after 14 days. Answers are read by `PilotComparison._answers`."""

    def __init__(self, db: Database, clock: Clock, policy: Policy, comparison: PilotComparison, runtime: Any):
        self.db = db
        self.clock = clock
        self.policy = policy
        self.comparison = comparison
        self.runtime = runtime

    def send(self, actor: Actor, pilot_id: int) -> list[int]:
        self.policy.require(self.policy.can_manage_pilots(actor), "Bara implementeringsteamet får skicka frågor")
        with self.db.read() as session:
            pilot = session.get(Pilot, pilot_id)
            if pilot is None:
                raise NotFound(Text("Piloten %(pilot_id)s finns inte", pilot_id=pilot_id))
            session.expunge(pilot)
            if not (pilot.person_questionnaire or pilot.staff_questionnaire):
                raise Conflict("Piloten ställer inga frågor (Värdekompass): välj frågor när piloten skapas")
            if (
                session.scalar(
                    select(ProcessDefinition.id).where(ProcessDefinition.process_id == QUESTIONNAIRE_PROCESS).limit(1)
                )
                is None
            ):
                raise Conflict(
                    Text(
                        "Processen %(questionnaire_process)s är inte driftsatt (processes/vardekompass.bpmn)",
                        questionnaire_process=QUESTIONNAIRE_PROCESS,
                    )
                )
            asked = select(ProcessInstance.parent_instance_id).where(
                ProcessInstance.process_id == QUESTIONNAIRE_PROCESS, ProcessInstance.parent_instance_id.is_not(None)
            )
            wanted: list[tuple[int, dict[str, Any], int]] = []
            for group in self.comparison.groups(pilot)[:2]:  # the pilot and the same period elsewhere
                rows = session.execute(
                    select(ProcessInstance.id, ProcessInstance.data, ProcessInstance.definition_id)
                    .join(CaseFact, CaseFact.instance_id == ProcessInstance.id)
                    .where(
                        CaseFact.process_id == pilot.process_id,
                        CaseFact.ref_date >= group.start,
                        CaseFact.ref_date < group.end,
                        CaseFact.discharged_at.is_not(None),
                        ProcessInstance.id.in_(group.instance_ids.scalar_subquery()),
                        ProcessInstance.id.not_in(asked.scalar_subquery()),
                    )
                    .order_by(ProcessInstance.id)
                    .limit(MAX_QUESTIONNAIRES - len(wanted))
                ).all()
                wanted.extend((r[0], dict(r[1] or {}), r[2]) for r in rows)
            with_person_step = {
                d_id
                for d_id, elements in session.execute(
                    select(ProcessDefinition.id, ProcessDefinition.elements).where(
                        ProcessDefinition.id.in_(sorted({w[2] for w in wanted}))
                    )
                )
                if any((i.get("properties") or {}).get("form") == PERSON_FORM for i in (elements or {}).values())
            }
        started: list[int] = []
        for case_id, data, definition_id in wanted:
            payload = {k: data[k] for k in CASE_KEYS if data.get(k) not in (None, "")}
            payload.update(
                pilot_id=pilot.id,
                arende_id=case_id,
                fraga_personalen=bool(pilot.staff_questionnaire),
                fraga_den_enskilde=bool(pilot.person_questionnaire) and definition_id not in with_person_step,
            )
            started.append(
                self.runtime.start_instance(
                    QUESTIONNAIRE_PROCESS, f"vardekompass/{case_id}", payload, SYSTEM_ACTOR, parent_id=case_id
                )
            )
        with self.db.unit_of_work() as session:
            session.add(
                AuditEntry(
                    at=self.clock.now(),
                    actor=actor.username,
                    action="pilot_questionnaires_sent",
                    target_type="pilot",
                    target_id=str(pilot.id),
                    details={"process_id": pilot.process_id, "name": pilot.name, "instances": started},
                )
            )
        return started
