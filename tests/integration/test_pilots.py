"""Pilots: which version a new case starts on and why (mixed cases under each rule, period boundaries at midnight in
Stockholm, paused pilots, explicit versions, start by message and by another case's message), overlapping pilots
refused, promotion whole and in steps, the default pinned against later deploys, audit and permissions."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from engine.domain.actors import Actor
from engine.domain.clock import STOCKHOLM
from engine.domain.errors import Conflict, Forbidden, ValidationFailed
from engine.features.pilots import Pilots, PilotSpec
from engine.persistence.models import AuditEntry
from tests import diagrams
from tests.conftest import ADMIN, COORDINATOR, OWNER, SYSTEM, instance_view

TEAM = Actor("irma", frozenset({"implementation_team"}), name="Irma Implementeringsteam")
WARD = "SE2321000057-ward1"
OTHER_WARD = "SE2321000057-ward2"
VC = "SE2321000057-vc1"
OTHER_VC = "SE2321000057-vc2"


def case(ward: str | None = WARD, vc: str | None = VC, kommun: str | None = "Eksjö", n: int = 1) -> dict:
    data: dict = {"personnummer": "19121212-1212", "vardtillfalle_id": f"VT-{n}"}
    if ward:
        data["avdelning_hsa_id"] = ward
    if vc:
        data["vardcentral_hsa_id"] = vc
    if kommun:
        data["kommun"] = kommun
    return data


@pytest.fixture
def pilots(platform) -> Pilots:
    return Pilots(platform.db, platform.clock, platform.policy)


@pytest.fixture
def versions(platform) -> tuple[int, int]:
    """Version 1 (today's routine) and version 2 (the routine to pilot) of 'flode'."""
    platform.runtime.deploy(diagrams.single_task("flode", "Gamla rutinen"), OWNER)
    platform.runtime.deploy(diagrams.single_task("flode", "Nya rutinen"), OWNER)
    return 1, 2


def spec(**changes) -> PilotSpec:
    values = {
        "name": "Eksjö SVPL",
        "process_id": "flode",
        "version": 2,
        "start_date": date(2026, 1, 12),
        "end_date": date(2026, 3, 31),
        "mixed_rule": "any",
        "avdelningar": [WARD],
        "vardcentraler": [VC],
        "kommuner": ["Eksjö"],
    }
    values.update(changes)
    return PilotSpec(**values)


def running(pilots: Pilots, **changes) -> int:
    pilot_id = pilots.create(TEAM, spec(**changes))
    pilots.start(TEAM, pilot_id)
    return pilot_id


def start(platform, data: dict, version: int | None = None) -> dict:
    key = f"{data['personnummer']}/{data['vardtillfalle_id']}"
    instance_id = platform.runtime.start_instance("flode", key, data, SYSTEM, version=version)
    return instance_view(platform, instance_id)


def test_deploying_a_new_version_does_not_change_the_version_new_cases_start_on(platform, pilots, versions):
    """Issue 15: the first executable version is the default; version 2 runs only once someone makes it so."""
    instance = start(platform, case())
    assert (instance["version"], instance["routing"], instance["pilot_id"]) == (1, "default", None)
    assert instance["route_reason"] == "standardversion"
    pilots.set_default(OWNER, "flode", 2, comment="Ny rutin beslutad i samverkansgruppen")
    made = start(platform, case(n=2))
    assert (made["version"], made["routing"]) == (2, "default")
    with platform.db.read() as session:
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "default_version_set")).all()
        assert [(a.actor, a.details) for a in audited] == [
            (OWNER.username, {"from": None, "to": 1, "comment": "första körbara versionen"}),
            (OWNER.username, {"from": 1, "to": 2, "comment": "Ny rutin beslutad i samverkansgruppen"}),
        ]


def test_creating_a_pilot_changes_nobody_elses_version(platform, pilots, versions):
    pilots.set_default(TEAM, "flode", 2)
    before = start(platform, case(ward=OTHER_WARD, vc=OTHER_VC, kommun="Nässjö", n=1))
    running(pilots, version=1)
    after = start(platform, case(ward=OTHER_WARD, vc=OTHER_VC, kommun="Nässjö", n=2))
    assert (before["version"], after["version"]) == (2, 2)
    assert start(platform, case(n=3))["version"] == 1  # the pilot's own units


def test_a_database_without_default_rows_keeps_its_version_through_a_deploy(platform, versions):
    """A database from before migration 0019 never upgraded (no row): the version everyone started on stays."""
    from sqlalchemy import delete

    from engine.persistence.models import DefaultVersion

    with platform.db.unit_of_work() as session:
        session.execute(delete(DefaultVersion))
    assert start(platform, case(n=1))["version"] == 2  # routing step 5: the newest
    platform.runtime.deploy(diagrams.single_task("flode", "Ännu nyare"), OWNER)  # version 3
    assert start(platform, case(n=2))["version"] == 2


def test_a_case_in_a_running_pilot_starts_on_the_pilot_version_and_says_why(platform, pilots, versions):
    pilot_id = running(pilots)
    inside = start(platform, case(n=1))
    outside = start(platform, case(ward=OTHER_WARD, vc=OTHER_VC, kommun="Nässjö", n=2))
    assert (inside["version"], inside["routing"], inside["pilot_id"]) == (2, "pilot", pilot_id)
    assert inside["route_reason"] == f"pilot {pilot_id} Eksjö SVPL"
    started = [h for h in inside["history"] if h["kind"] == "started"][0]["data"]
    assert started["routing"] == "pilot" and started["pilot_id"] == pilot_id and started["version"] == 2
    # Version 1 stays the default (deploying version 2 did not change it), so the pilot does not reach everyone.
    assert (outside["version"], outside["routing"], outside["pilot_id"]) == (1, "default", None)
    assert pilots.get(TEAM, pilot_id)["cases"]["total"] == 1


MIXED = {
    # (ward, vårdcentral, kommun) of the case -> pilot version? per rule
    "ward only": ((WARD, OTHER_VC, "Nässjö"), {"any": True, "all": False, "avdelning": True, "kommun": False}),
    "kommun only": ((OTHER_WARD, OTHER_VC, "Eksjö"), {"any": True, "all": False, "avdelning": False, "kommun": True}),
    "all three": ((WARD, VC, "Eksjö"), {"any": True, "all": True, "avdelning": True, "kommun": True}),
    "none": ((OTHER_WARD, OTHER_VC, "Nässjö"), {"any": False, "all": False, "avdelning": False, "kommun": False}),
    "no ward in data": ((None, VC, "Eksjö"), {"any": True, "all": False, "avdelning": False, "kommun": True}),
}


@pytest.mark.parametrize("rule", ["any", "all", "avdelning", "kommun"])
def test_mixed_cases_follow_the_pilots_rule(platform, pilots, versions, rule):
    running(pilots, mixed_rule=rule)
    for n, (label, (units, expected)) in enumerate(MIXED.items()):
        ward, vc, kommun = units
        instance = start(platform, case(ward, vc, kommun, n=n))
        assert (instance["routing"] == "pilot") is expected[rule], (rule, label)
        assert instance["version"] == (2 if expected[rule] else 1), (rule, label)


def test_the_vardcentral_rule_and_all_with_only_some_kinds_named(platform, pilots, versions):
    running(pilots, mixed_rule="vardcentral", avdelningar=[], kommuner=[])
    assert start(platform, case(OTHER_WARD, VC, "Nässjö", n=1))["routing"] == "pilot"
    assert start(platform, case(WARD, OTHER_VC, "Eksjö", n=2))["routing"] == "default"


def test_all_needs_only_the_kinds_the_pilot_names(platform, pilots, versions):
    running(pilots, mixed_rule="all", vardcentraler=[])  # ward and kommun named, no vårdcentral
    assert start(platform, case(WARD, OTHER_VC, "Eksjö", n=1))["routing"] == "pilot"
    assert start(platform, case(WARD, OTHER_VC, "Nässjö", n=2))["routing"] == "default"


def test_period_boundaries_are_midnight_in_stockholm(platform, pilots, versions, clock):
    clock.set(datetime(2026, 1, 10, 12, 0, tzinfo=STOCKHOLM))
    running(pilots, start_date=date(2026, 2, 1), end_date=date(2026, 3, 31))
    moments = [
        (datetime(2026, 1, 31, 23, 59, 59, tzinfo=STOCKHOLM), "default"),
        (datetime(2026, 2, 1, 0, 0, tzinfo=STOCKHOLM), "pilot"),  # 2026-01-31 23:00 UTC
        (datetime(2026, 3, 31, 23, 59, 59, tzinfo=STOCKHOLM), "pilot"),  # summer time from 29 March: 21:59:59 UTC
        (datetime(2026, 4, 1, 0, 0, tzinfo=STOCKHOLM), "default"),
    ]
    for n, (moment, expected) in enumerate(moments):
        clock.set(moment)
        assert start(platform, case(n=n))["routing"] == expected, moment


def test_a_paused_or_planned_or_ended_pilot_routes_nothing(platform, pilots, versions):
    pilot_id = pilots.create(TEAM, spec())
    assert start(platform, case(n=1))["routing"] == "default"  # planned
    pilots.start(TEAM, pilot_id)
    assert start(platform, case(n=2))["routing"] == "pilot"
    pilots.pause(TEAM, pilot_id)
    assert start(platform, case(n=3))["routing"] == "default"
    pilots.resume(TEAM, pilot_id)
    assert start(platform, case(n=4))["routing"] == "pilot"
    pilots.end(TEAM, pilot_id)
    after = start(platform, case(n=5))
    assert (after["routing"], after["version"]) == ("default", 1)
    with pytest.raises(Conflict):
        pilots.resume(TEAM, pilot_id)


def test_an_explicit_version_wins_over_the_pilot(platform, pilots, versions):
    running(pilots)
    instance = start(platform, case(), version=1)
    assert (instance["version"], instance["routing"], instance["pilot_id"]) == (1, "explicit", None)
    assert instance["route_reason"] == "uttryckligen begärd version 1"


def test_a_case_started_by_a_message_is_routed_too(platform, pilots):
    platform.runtime.deploy(diagrams.message_start_process("flode", "inskrivning", "utskriven"), OWNER)
    platform.runtime.deploy(
        diagrams.message_start_process("flode", "inskrivning", "utskriven").replace("Registrera", "Registrera nytt"),
        OWNER,
    )
    pilot_id = running(pilots)
    corr = {"personnummer": "19121212-1212", "vardtillfalle_id": "VT-1"}
    inside = platform.runtime.send_message("inskrivning", "m1", corr, {"avdelning_hsa_id": WARD}, SYSTEM)
    corr2 = {"personnummer": "19121212-1212", "vardtillfalle_id": "VT-2"}
    outside = platform.runtime.send_message("inskrivning", "m2", corr2, {"kommun": "Nässjö"}, SYSTEM)
    a = instance_view(platform, inside.instance_id)
    b = instance_view(platform, outside.instance_id)
    assert (a["version"], a["routing"], a["pilot_id"]) == (2, "pilot", pilot_id)
    assert (b["version"], b["routing"]) == (1, "default")


THROWER = diagrams.linear(
    "avdelning",
    """
  <bpmn:startEvent id="start" />
  <bpmn:intermediateThrowEvent id="kalla" name="Kalla"><bpmn:messageEventDefinition messageRef="m_sip" />
  </bpmn:intermediateThrowEvent>
  <bpmn:userTask id="vanta" name="Vänta" />
  <bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="kalla" />
  <bpmn:sequenceFlow id="f2" sourceRef="kalla" targetRef="vanta" />
  <bpmn:sequenceFlow id="f3" sourceRef="vanta" targetRef="end" />""",
    messages='<bpmn:message id="m_sip" name="kallelse" />\n',
)


def test_a_case_started_by_another_cases_message_is_routed_on_the_senders_units(platform, pilots):
    platform.runtime.deploy(THROWER, OWNER)
    platform.runtime.deploy(diagrams.message_start_process("flode", "kallelse", "klar"), OWNER)
    platform.runtime.deploy(
        diagrams.message_start_process("flode", "kallelse", "klar").replace("Registrera", "Registrera nytt"), OWNER
    )
    pilot_id = running(pilots, mixed_rule="avdelning")
    sender = platform.runtime.start_instance("avdelning", "k1", case(n=1), SYSTEM)
    thrown = [h for h in instance_view(platform, sender)["history"] if h["kind"] == "message_thrown"]
    assert thrown and thrown[0]["data"]["outcome"] == "started", thrown
    child = instance_view(platform, thrown[0]["data"]["instance_id"])
    assert child["parent_instance_id"] == sender
    assert (child["version"], child["routing"], child["pilot_id"]) == (2, "pilot", pilot_id)


def test_a_version_deployed_while_a_pilot_runs_does_not_become_the_default(platform, pilots, versions):
    running(pilots)
    platform.runtime.deploy(diagrams.single_task("flode", "Ännu nyare"), OWNER)  # version 3
    outside = start(platform, case(ward=OTHER_WARD, vc=OTHER_VC, kommun="Nässjö", n=1))
    inside = start(platform, case(n=2))
    assert (outside["version"], inside["version"]) == (1, 2)
    assert start(platform, case(ward=OTHER_WARD, vc=OTHER_VC, kommun="Nässjö", n=3), version=3)["version"] == 3
    assert pilots.defaults(TEAM, "flode")[0]["version"] == 1


def test_overlapping_pilots_for_a_process_are_refused_naming_the_other(platform, pilots, versions):
    first = pilots.create(TEAM, spec())
    with pytest.raises(Conflict) as refused:
        pilots.create(TEAM, spec(name="Nässjö", start_date=date(2026, 3, 31), end_date=date(2026, 5, 1)))
    assert "Eksjö SVPL" in refused.value.message and f"nr {first}" in refused.value.message
    assert refused.value.details == {"pilot_id": first, "name": "Eksjö SVPL"}
    after = pilots.create(TEAM, spec(name="Nässjö", start_date=date(2026, 4, 1), end_date=date(2026, 5, 1)))
    with pytest.raises(Conflict):
        pilots.extend(TEAM, first, date(2026, 4, 15))  # into the next pilot
    # Another process is not in the way, and an ended pilot no longer blocks its period.
    platform.runtime.deploy(diagrams.single_task("annan"), OWNER)
    pilots.create(TEAM, spec(process_id="annan", version=1))
    pilots.end(TEAM, first)
    pilots.create(TEAM, spec(name="Ny Eksjö", end_date=date(2026, 3, 1)))
    assert len(pilots.list_pilots(TEAM, "flode")) == 3 and after


def test_extend_moves_the_end_and_routes_past_the_old_end(platform, pilots, versions, clock):
    pilot_id = running(pilots, end_date=date(2026, 1, 31))
    with pytest.raises(ValidationFailed):
        pilots.extend(TEAM, pilot_id, date(2026, 1, 30))
    pilots.extend(TEAM, pilot_id, date(2026, 2, 28))
    clock.set(datetime(2026, 2, 15, 9, 0, tzinfo=STOCKHOLM))
    assert start(platform, case())["routing"] == "pilot"
    assert pilots.get(TEAM, pilot_id)["end_date"] == "2026-02-28"


def test_promotion_of_the_whole_process_makes_the_pilot_version_everyones_default(platform, pilots, versions):
    pilot_id = running(pilots)
    pilots.promote(TEAM, pilot_id)
    pilot = pilots.get(TEAM, pilot_id)
    assert pilot["status"] == "ended" and pilot["promoted_at"]
    assert pilot["promoted_to"] == [{"unit_kind": None, "unit": None, "name": None}]
    elsewhere = start(platform, case(ward=OTHER_WARD, vc=OTHER_VC, kommun="Nässjö"))
    assert (elsewhere["version"], elsewhere["routing"]) == (2, "default")


def test_stepwise_promotion_gives_named_units_the_version_by_default(platform, pilots, versions):
    pilot_id = running(pilots, end_date=date(2026, 1, 31))
    pilots.promote(TEAM, pilot_id, {"kommuner": ["Nässjö"], "avdelningar": [OTHER_WARD]})
    assert pilots.get(TEAM, pilot_id)["status"] == "running"
    nassjo = start(platform, case(ward="SE2321000057-ward3", vc=OTHER_VC, kommun="Nässjö", n=1))
    assert (nassjo["version"], nassjo["routing"], nassjo["pilot_id"]) == (2, "promotion", None)
    assert nassjo["route_reason"] == f"spridning till kommun Nässjö (pilot {pilot_id})"
    ward = start(platform, case(ward=OTHER_WARD, vc=OTHER_VC, kommun="Vetlanda", n=2))
    assert "avdelning" in ward["route_reason"] and ward["version"] == 2
    rest = start(platform, case(ward="SE2321000057-ward3", vc=OTHER_VC, kommun="Vetlanda", n=3))
    assert (rest["version"], rest["routing"]) == (1, "default")
    in_pilot = start(platform, case(n=4))
    assert in_pilot["routing"] == "pilot"  # the running pilot comes first
    # After the pilot's period the promoted units keep the version.
    platform.clock.set(datetime(2026, 2, 2, 9, 0, tzinfo=STOCKHOLM))
    assert start(platform, case(ward="SE2321000057-ward3", vc=OTHER_VC, kommun="Nässjö", n=5))["version"] == 2
    with pytest.raises(ValidationFailed):
        pilots.promote(TEAM, pilot_id, {"avdelningar": ["inte-ett-hsa-id"]})


def test_every_pilot_command_is_audited(platform, pilots, versions):
    pilot_id = running(pilots)
    pilots.pause(TEAM, pilot_id)
    pilots.resume(TEAM, pilot_id)
    pilots.extend(TEAM, pilot_id, date(2026, 4, 30))
    pilots.promote(TEAM, pilot_id, {"kommuner": ["Nässjö"]})
    pilots.promote(TEAM, pilot_id)
    with platform.db.read() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.target_type == "pilot").order_by(AuditEntry.id))
        actions = [(r.action, r.actor, r.target_id) for r in rows]
    assert [a for a, _, _ in actions] == [
        "pilot_created",
        "pilot_started",
        "pilot_paused",
        "pilot_resumed",
        "pilot_extended",
        "pilot_promoted_units",
        "pilot_promoted",
    ]
    assert {(actor, target) for _, actor, target in actions} == {("irma", str(pilot_id))}


@pytest.mark.parametrize("who", [OWNER, COORDINATOR, SYSTEM])
def test_only_the_implementation_team_manages_pilots(platform, pilots, versions, who):
    with pytest.raises(Forbidden):
        pilots.create(who, spec())
    pilot_id = pilots.create(ADMIN, spec())
    for command in (pilots.start, pilots.pause, pilots.end, pilots.promote):
        with pytest.raises(Forbidden):
            command(who, pilot_id)
    with pytest.raises(Forbidden):
        pilots.extend(who, pilot_id, date(2026, 5, 1))
    if who is SYSTEM:
        with pytest.raises(Forbidden):
            pilots.list_pilots(who)
    else:
        assert pilots.list_pilots(who)[0]["id"] == pilot_id  # process owners and coordinators may look


def test_bad_pilots_are_refused_with_the_fields_named(platform, pilots, versions):
    with pytest.raises(ValidationFailed) as bad:
        pilots.create(TEAM, spec(name="", mixed_rule="x", end_date=date(2026, 1, 1)))
    assert set(bad.value.details["fields"]) == {"name", "mixed_rule", "end_date"}
    with pytest.raises(ValidationFailed) as bad:
        pilots.create(TEAM, spec(avdelningar=[], vardcentraler=[], kommuner=[]))
    assert "enheter" in bad.value.details["fields"]
    with pytest.raises(ValidationFailed) as bad:
        pilots.create(TEAM, spec(mixed_rule="avdelning", avdelningar=[]))
    assert "mixed_rule" in bad.value.details["fields"]
    with pytest.raises(ValidationFailed) as bad:
        pilots.create(TEAM, spec(version=9))
    assert "version" in bad.value.details["fields"]
    with pytest.raises(ValidationFailed) as bad:
        pilots.create(TEAM, spec(avdelningar=["nej"]))
    assert "avdelningar" in bad.value.details["fields"]
    assert pilots.list_pilots(TEAM) == []


def test_a_pilot_whose_period_is_over_cannot_start(platform, pilots, versions, clock):
    pilot_id = pilots.create(TEAM, spec(end_date=date(2026, 1, 20)))
    clock.set(clock.now() + timedelta(days=10))
    with pytest.raises(Conflict):
        pilots.start(TEAM, pilot_id)


def overlapping_race(platform, runs: int = 3) -> None:
    """Two members of the team create overlapping pilots of one process at the same moment: exactly one is created,
    the other is refused naming it."""
    platform.runtime.deploy(diagrams.single_task("flode", "Gamla rutinen"), OWNER)
    platform.runtime.deploy(diagrams.single_task("flode", "Nya rutinen"), OWNER)
    pilots = Pilots(platform.db, platform.clock, platform.policy)
    for run in range(runs):
        barrier = threading.Barrier(2)
        outcomes: list[object] = []
        first = date(2027 + run, 1, 1)

        def create(name: str, barrier=barrier, outcomes=outcomes, first=first) -> None:
            barrier.wait()
            try:
                outcomes.append(pilots.create(TEAM, spec(name=name, start_date=first, end_date=first + timedelta(30))))
            except Conflict as exc:
                outcomes.append(exc)

        threads = [threading.Thread(target=create, args=(name,)) for name in ("Eksjö", "Nässjö")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        created = [o for o in outcomes if isinstance(o, int)]
        refused = [o for o in outcomes if isinstance(o, Conflict)]
        assert len(created) == 1 and len(refused) == 1, outcomes
        assert refused[0].details["pilot_id"] == created[0]
    assert len(pilots.list_pilots(TEAM, "flode")) == runs


def test_two_overlapping_pilots_created_at_once_on_the_test_database(platform):
    overlapping_race(platform)


@pytest.mark.postgres
def test_two_overlapping_pilots_created_at_once_on_postgresql(postgres_platform):
    """Always on PostgreSQL: the advisory lock per process across two real connections."""
    overlapping_race(postgres_platform)


def test_instances_that_existed_before_pilots_say_default_after_the_upgrade(tmp_path) -> None:
    """Migration 0010: existing instances get routing 'default' (the only rule there was), no pilot."""
    from alembic import command
    from sqlalchemy import text

    from engine.persistence.db import Database

    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    command.upgrade(db.alembic_config(), "0005")
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO process_definitions (id, process_id, version, xml, content_hash, executable, diagnostics,"
                " elements, lanes, start_messages, dependencies, forms, deployed_by, deployed_at, comment)"
                " VALUES (1, 'p', 1, x'00', 'h', 1, '[]', '{}', '[]', '[]', '{}', '{}', 'agnes',"
                " '2026-01-01 08:00:00.000000', '')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO process_instances (id, definition_id, process_id, version, business_key, status,"
                " started_at, updated_at, started_by, data, state, serializer_version, lock_version)"
                " VALUES (1, 1, 'p', 1, 'k', 'waiting', '2026-01-12 07:00:00.000000', '2026-01-12 07:00:00.000000',"
                " 'journal', '{}', '{}', 'v', 1)"
            )
        )
    db.upgrade()
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT routing, pilot_id, route_reason, business_key FROM process_instances")).one()
    db.dispose()
    assert tuple(row) == ("default", None, "", "k")


def test_the_team_chooses_the_default_version_by_hand_and_back_to_the_newest(platform, pilots, versions):
    running(pilots)  # version 1 stays the default
    platform.runtime.deploy(diagrams.single_task("flode", "Ännu nyare"), OWNER)  # version 3
    outside = case(ward=OTHER_WARD, vc=OTHER_VC, kommun="Nässjö")
    assert start(platform, {**outside, "vardtillfalle_id": "VT-a"})["version"] == 1
    pilots.set_default(TEAM, "flode", 3)
    chosen = start(platform, {**outside, "vardtillfalle_id": "VT-b"})
    assert (chosen["version"], chosen["routing"], chosen["route_reason"]) == (3, "default", "standardversion")
    assert start(platform, case(n=9))["routing"] == "pilot"  # the running pilot still comes first
    pilots.set_default(TEAM, "flode", 1)
    pilots.set_default(TEAM, "flode", None)  # the newest as it is now, written down
    platform.runtime.deploy(diagrams.single_task("flode", "Den fjärde"), OWNER)  # version 4 changes nothing
    newest = start(platform, {**outside, "vardtillfalle_id": "VT-c"})
    assert (newest["version"], newest["route_reason"]) == (3, "standardversion")
    assert pilots.default_overview(TEAM) == [
        {"process_id": "flode", "newest": 4, "default": 3, "versions": [4, 3, 2, 1], "unit_defaults": 0}
    ]
    with pytest.raises(ValidationFailed):
        pilots.set_default(TEAM, "flode", 9)
    with pytest.raises(Forbidden):
        pilots.set_default(COORDINATOR, "flode", 1)
    with platform.db.read() as session:
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "default_version_set")).all()
        assert [(a.target_id, a.details) for a in audited] == [
            ("flode", {"from": None, "to": 1, "comment": "första körbara versionen"}),
            ("flode", {"from": 1, "to": 3, "comment": ""}),
            ("flode", {"from": 3, "to": 1, "comment": ""}),
            ("flode", {"from": 1, "to": 3, "comment": ""}),
        ]
