"""`make run`'s demo (issue 15): a platform that shows the product the moment it starts, on the simulated clock.

On a new database, with the clock still at its configured start (`make run` sets it three months before the demo's
Monday), `load_story` lives those months through the real service layer: admissions come in, the ward, the
vårdcentral and the kommun do their tasks, the hospital's system reports utskrivningsklar and the discharge, timers
fire as the clock moves. Then, on the Monday, the demo cases of webui/demo.py are admitted, one case is left with
overdue tasks and one due today, a small diagram with a broken expression gives an incident, a pilot of a second
in_utskrivning version runs in Eksjö, and a simulation of that version has finished. Run again, it changes nothing.

Every case is a real case (history, case facts, access log through the runtime); nothing is written with SQL.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import func, select

from engine.domain.actors import SYSTEM_ACTOR, Actor
from engine.domain.catalog import fill_required
from engine.domain.clock import STOCKHOLM
from engine.domain.errors import NotFound, SamflodeError
from engine.domain.personnummer import luhn_digit
from engine.features.pilots import PilotSpec
from engine.persistence.models import ProcessInstance, TaskIndex
from engine.platform import Platform
from webui.demo import DEMO_PASSWORD, UNITS, load_demo, personnummer

DEMO_MONDAY = datetime(2026, 1, 12, 8, 0, tzinfo=STOCKHOLM)  # the demo's "today" (SAMFLODE_SIMULATED_START's default)
HISTORY_START = DEMO_MONDAY - timedelta(weeks=13)  # `make run` starts the clock here on a new database
TEAM = Actor("irma", frozenset({"implementation_team"}), name="Irma Implementeringsteam")

# Where history cases come from: two wards, two vårdcentraler, two kommuner, so that each group of the figures gets
# at least five cases a month.
PLACES = [
    {"avdelning_hsa_id": UNITS["hs_medger"], "kommun": "Eksjö", "vardcentral_hsa_id": UNITS["vc_eksjo"]},
    {"avdelning_hsa_id": UNITS["ryhov_med"], "kommun": "Jönköping", "vardcentral_hsa_id": UNITS["vc_raslatt"]},
]
FIRST_NAMES = ["Anna", "Bertil", "Karin", "Sven", "Ingrid", "Lars", "Elsa", "Nils", "Greta", "Olof", "Margit", "Erik"]
LAST_NAMES = ["Berg", "Holm", "Lund", "Sjöberg", "Nyström", "Åberg", "Falk", "Wikström", "Lindqvist", "Hedlund"]
CASES_PER_WEEK = 3

PLANNING: dict[str, dict[str, Any]] = {
    "registrera_inskrivning": {"inskrivningsorsak": "Hjärtsvikt, försämrat allmäntillstånd"},
    "fraga_samtycke": {"samtycke_informationsdelning": True, "samtycke_lamnat_av": "Den enskilde"},
    "dokumentera_status_och_behov": {"avstamningsmote_behovs": False},
    "folja_upp_sip": {"plan_revideras": False},
    "uppfoljningssamtal": {"lakarhembesok_behovs": False},
    "genomfora_utskrivning": {"utskrivning_utfall": "utskriven"},
}

WHAT_TO_TRY = [
    ("vera", "Vårdplanerare, Höglandssjukhuset", "Arbetslistan: ta, kommentera och slutför Esthers uppgifter"),
    ("vilma", "Vårdsamordnare, VC Eksjö", "Försenade och dagens uppgifter; sök på namn eller personnummer"),
    ("hanna", "Sjuksköterska, hemsjukvård Eksjö", "Öppna arbetslistan i mobilen (390 px)"),
    ("bosse", "Biståndshandläggare, Eksjö", "Kommunens uppgifter och personens sida"),
    ("otto", "Vårdsamordnare, VC Råslätt", "Ser inte Eksjös patienter (behov av att veta)"),
    ("cora", "Samverkanskoordinator", "Övervakning: incidenten, försenade ärenden, värmekartan"),
    ("agnes", "Processägare", "Modellera: öppna in_utskrivning, kontrollera och driftsätt"),
    ("irma", "Implementeringsteam", "Piloten i Eksjö, den färdiga simuleringen, migreringar"),
    ("maja", "Verksamhetschef", "Nyckeltal: tre månader av avslutade ärenden"),
    ("ida", "Granskare", "Granska loggen: vem har sett Esther"),
]


def _answer(p: Platform, task: _Task, rng: random.Random, case: dict[str, Any]) -> dict[str, Any]:
    schema = p.catalog.form(task.form) if task.form else None
    given = dict(PLANNING.get(task.element_id, {}))
    if task.element_id == "bedoma_behov_efter_utskrivning":
        given.update(
            behov_efter_utskrivning=True,
            behovsomraden=["Hemtjänst"],
            beraknat_utskrivningsdatum=(p.clock.now() + timedelta(days=3)).date().isoformat(),
        )
    if task.element_id == "identifiera_behov_av_sip":
        sip = rng.random() < 0.4
        given.update(behov_region=sip, behov_kommun=sip, sip_behov=sip)
    if task.element_id == "uppratta_plan":
        given.update(
            uppfoljningsdatum=(p.clock.now() + timedelta(days=14)).date().isoformat(),
            planeringsansvarig="Region primärvård",
        )
    if not schema:
        return given
    now = p.clock.now()

    def value(name: str, prop: Mapping[str, Any]) -> Any:
        if name in case:
            return case[name]
        if "enum" in prop:
            return prop["enum"][0]
        kind, fmt = prop.get("type"), prop.get("format")
        if kind == "boolean":
            return not name.startswith("aterinlaggning")
        if kind in ("integer", "number"):
            return max(int(prop.get("minimum", 1)), 1)
        if kind == "array":
            items = prop.get("items") or {}
            return list((items.get("enum") or ["Annat"])[:1])
        if fmt == "date":
            return now.date().isoformat()
        if fmt == "date-time":
            return now.isoformat()
        if fmt == "hsa-id":
            return case.get("vardcentral_hsa_id")
        return "Dokumenterat i journalen"

    return fill_required(schema, given, value)


@dataclass(frozen=True)
class _Task:
    id: str
    element_id: str
    form: str | None


def _open_tasks(p: Platform, instance_id: int) -> list[_Task]:
    with p.db.read() as session:
        rows = session.execute(
            select(TaskIndex.id, TaskIndex.element_id, TaskIndex.form)
            .where(TaskIndex.instance_id == instance_id)
            .order_by(TaskIndex.created_at)
        ).all()
    return [_Task(*row) for row in rows]


def _status(p: Platform, instance_id: int) -> str:
    with p.db.read() as session:
        instance = session.get(ProcessInstance, instance_id)
        return instance.status if instance is not None else "missing"


def _work(p: Platform, instance_id: int, rng: random.Random, case: dict[str, Any]) -> None:
    """Do the case's open tasks now (not the discharge, which the hospital's system reports), as the parties would
    within the half day."""
    for _ in range(60):
        tasks = [t for t in _open_tasks(p, instance_id) if t.element_id != "genomfora_utskrivning"]
        if not tasks or _status(p, instance_id) in ("completed", "cancelled", "incident"):
            return
        task = tasks[0]
        p.runtime.complete_task(task.id, _answer(p, task, rng, case), SYSTEM_ACTOR)


def _message(p: Platform, name: str, key: str, case: dict[str, Any], **data: Any) -> bool:
    """The hospital's system reports `name`, if the case waits for it (the doctor may have decided in the task)."""
    correlation = {"personnummer": case["personnummer"], "vardtillfalle_id": case["vardtillfalle_id"]}
    try:
        p.runtime.send_message(name, key, correlation, data, SYSTEM_ACTOR)
    except NotFound:
        return False
    return True


def _person(number: int, rng: random.Random, place: dict[str, str]) -> dict[str, Any]:
    birth = f"19{rng.randint(25, 45)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    serial = f"{number % 1000:03d}"
    return {
        "personnummer": f"{birth}-{serial}{luhn_digit(birth[2:] + serial)}",
        "namn": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
        "vardtillfalle_id": f"VT-H{number:04d}",
        **place,
    }


def _admit(p: Platform, case: dict[str, Any], key: str) -> int:
    data = {**case, "inskrivningstid": p.clock.now().isoformat(), "avtal": "jonkoping"}
    correlation = {"personnummer": case["personnummer"], "vardtillfalle_id": case["vardtillfalle_id"]}
    return p.runtime.send_message("inskrivning", key, correlation, data, SYSTEM_ACTOR).instance_id


@dataclass
class _Stay:
    number: int
    instance_id: int
    case: dict[str, Any]
    uk_at: datetime
    out_at: datetime
    uk_sent: bool = False
    out_sent: bool = False


def _live_history(p: Platform, until: datetime, rng: random.Random) -> int:
    """Half day by half day from the clock's time until `until`: admissions on Mondays, Wednesdays and Fridays
    (CASES_PER_WEEK), every open task of the running cases done, utskrivningsklar reported two or three days after
    the admission and the discharge a day later, and the clock moved on so that deadlines and follow-ups come
    due (timers fire as in production)."""
    stays: list[_Stay] = []
    number = 0
    while p.clock.now() < until:
        now = p.clock.now().astimezone(STOCKHOLM)
        if now.hour < 12 and now.weekday() in (0, 2, 4)[:CASES_PER_WEEK]:
            number += 1
            case = _person(number, rng, PLACES[number % 2])
            instance_id = _admit(p, case, f"demo-historik-{number}")
            uk_at = now + timedelta(days=rng.choice((2, 2, 3, 4)), hours=rng.randint(1, 5))
            stays.append(_Stay(number, instance_id, case, uk_at, uk_at + timedelta(hours=rng.randint(18, 40))))
        for stay in stays:
            if _status(p, stay.instance_id) in ("completed", "cancelled", "incident"):
                continue
            _work(p, stay.instance_id, rng, stay.case)
            if not stay.uk_sent and now >= stay.uk_at:
                stay.uk_sent = True
                _message(
                    p, "utskrivningsklar", f"demo-uk-{stay.number}", stay.case,
                    utskrivningsklar=True, utskrivningsklar_tidpunkt=now.isoformat(),
                )  # fmt: skip
                _work(p, stay.instance_id, rng, stay.case)
            if not stay.out_sent and now >= stay.out_at:
                stay.out_sent = True
                _message(p, "utskriven", f"demo-ut-{stay.number}", stay.case, utskrivningstid=now.isoformat())
                _work(p, stay.instance_id, rng, stay.case)
        p.timers.advance(timedelta(hours=12))
    return number


INCIDENT_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="demo_incident_defs"
    targetNamespace="https://samflode.se/demo">
  <bpmn:process id="demo_berakning" name="Demo: beräkning av vårddygn" isExecutable="true">
    <bpmn:startEvent id="start" name="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="berakna"/>
    <bpmn:scriptTask id="berakna" name="Beräkna vårddygn" scriptFormat="python">
      <bpmn:script>varddygn = planerade_dygn / antal_besok</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="berakna" targetRef="slut"/>
    <bpmn:endEvent id="slut" name="Klart"/>
  </bpmn:process>
</bpmn:definitions>
"""


def _incident(p: Platform, owner: Actor) -> str:
    """A small diagram whose expression divides by a number of visits that is 0: the case stops in an incident that
    the coordinator can read, fix (a retry with antal_besok) or cancel."""
    try:
        p.runtime.deploy(INCIDENT_BPMN.encode(), owner, comment="demo", filename="demo_berakning.bpmn")
        instance_id = p.runtime.start_instance(
            "demo_berakning",
            personnummer("19400101", "123") + "/berakning",
            {"personnummer": personnummer("19400101", "123"), "namn": "Sigrid Demo", "planerade_dygn": 10,
             "antal_besok": 0, "kommun": "Eksjö"},
            SYSTEM_ACTOR,
        )  # fmt: skip
    except SamflodeError as exc:
        return f"ingen incident: {exc.message}"
    return f"ärende #{instance_id}: {_status(p, instance_id)}"


def _pilot_and_simulation(p: Platform, owner: Actor) -> list[str]:
    from engine.features.simulation import SimulationParams

    out = []
    xml = (p.settings.processes_dir / "in_utskrivning.bpmn").read_text(encoding="utf-8")
    pilot_xml = xml.replace('name="Registrera inskrivning"', 'name="Registrera inskrivning (pilot)"', 1)
    try:
        deployed = p.runtime.deploy(pilot_xml.encode(), owner, comment="demo: pilotversion", filename="pilot.bpmn")
        vardekompass = p.settings.processes_dir / "vardekompass.bpmn"
        if vardekompass.is_file():
            p.runtime.deploy(vardekompass.read_bytes(), owner, comment="demo", filename="vardekompass.bpmn")
        pilots = p.pilots
        today = p.clock.now().astimezone(STOCKHOLM).date()
        pilot_id = pilots.create(
            TEAM,
            PilotSpec(
                name="Eksjö SVPL",
                process_id="in_utskrivning",
                version=deployed.version,
                start_date=today,
                end_date=today + timedelta(days=80),
                mixed_rule="all",
                avdelningar=[UNITS["hs_medger"]],
                vardcentraler=[UNITS["vc_eksjo"]],
                kommuner=["Eksjö"],
                description="Ny registrering av inskrivning på Höglandssjukhuset med Eksjö",
                staff_questionnaire=True,
            ),
        )
        pilots.start(TEAM, pilot_id)
        out.append(f"pilot {pilot_id} (version {deployed.version}) pågår")
        sims = p.simulations_in(p.settings.simulation_dir, 1)
        run_id = sims.create(
            SimulationParams(
                process_id="in_utskrivning",
                candidate_version=deployed.version,
                baseline_version=1,
                cases_per_year=600,
                days=30,
                start_date=date(2026, 2, 2),
            ),
            TEAM,
        )
        sims.run_here(run_id)  # as its job (claimed here), so no queued copy is left for the scheduler
        out.append(f"simulering {run_id}: {sims.get(run_id, TEAM)['status']}")
    except SamflodeError as exc:
        out.append(f"pilot/simulering: {exc.message}")
    return out


def load_story(p: Platform, hasher: PasswordHasher | None = None) -> dict[str, Any]:
    """The demo with history (see the module's text). Needs the simulated clock; on a database that has cases
    already, only the ordinary demo (webui/demo.py) is made sure of."""
    if not getattr(p.clock, "simulated", False):
        raise SystemExit("Demon med historik behöver den simulerade klockan (SAMFLODE_CLOCK=simulated)")
    with p.db.read() as session:
        fresh = (session.scalar(select(func.count()).select_from(ProcessInstance)) or 0) == 0
    if not fresh or p.clock.now() >= DEMO_MONDAY - timedelta(days=14):
        return {"story": "finns redan (eller klockan är förbi starten): bara demodata", **load_demo(p, hasher)}
    rng = random.Random(15)
    summary = load_demo(p, hasher, start_cases=False)
    owner = p.directory.actor("agnes")
    summary["history_cases"] = _live_history(p, DEMO_MONDAY - timedelta(days=4), rng)
    # Two cases admitted on Thursday: their first tasks are overdue on Monday.
    overdue = [_left_undone(p, number, rng) for number in (9001, 9002)]
    p.timers.advance(max(DEMO_MONDAY - p.clock.now(), timedelta(0)))
    summary.update(load_demo(p, hasher))  # Esther, Gunnar and Maj are admitted on Monday 08:00: due today
    summary["overdue_cases"] = overdue
    summary["incident"] = _incident(p, owner)
    summary["pilot"] = _pilot_and_simulation(p, owner)
    return summary


def _left_undone(p: Platform, number: int, rng: random.Random) -> int:
    """A case admitted and left with its first tasks undone (they will be overdue on Monday)."""
    return _admit(p, _person(number, rng, PLACES[0]), f"demo-forsenad-{number}")


def users_table(p: Platform) -> str:
    """The demo users, their roles and what to try, as a table for the terminal."""
    rows = [("Användare", "Roll", "Prova")] + [(u, r, t) for u, r, t in WHAT_TO_TRY]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + f"\n\nLösenord för alla: {DEMO_PASSWORD}\n"
