"""Issue 6 through the one service layer and the monitoring reads: the repairs (retry, cancel, move a token, fire a
timer now, reassign), each with a reason, audited and in the history; the instance list's filters; the heat map's
figures worked out by hand (p90 as percentile_cont). Runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from engine.domain.actors import Actor
from engine.domain.errors import Conflict, Forbidden, ValidationFailed
from engine.persistence.models import AuditEntry, HistoryEntry, Incident
from engine.reads.cases import InstanceFilter
from engine.reads.monitoring import Monitoring
from tests import diagrams
from tests.conftest import COORDINATOR, ENGINE, OWNER, SYSTEM, WARD, fixture_bytes, instance_view

PARALLEL = diagrams.linear(
    "parallell",
    """
  <bpmn:startEvent id="start" />
  <bpmn:userTask id="forst" name="Först" />
  <bpmn:parallelGateway id="split" />
  <bpmn:userTask id="a" name="A" />
  <bpmn:userTask id="b" name="B" />
  <bpmn:parallelGateway id="join" />
  <bpmn:userTask id="sist" name="Sist" />
  <bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="forst" />
  <bpmn:sequenceFlow id="f2" sourceRef="forst" targetRef="split" />
  <bpmn:sequenceFlow id="f3" sourceRef="split" targetRef="a" />
  <bpmn:sequenceFlow id="f4" sourceRef="split" targetRef="b" />
  <bpmn:sequenceFlow id="f5" sourceRef="a" targetRef="join" />
  <bpmn:sequenceFlow id="f6" sourceRef="b" targetRef="join" />
  <bpmn:sequenceFlow id="f7" sourceRef="join" targetRef="sist" />
  <bpmn:sequenceFlow id="f8" sourceRef="sist" targetRef="end" />""",
)
THREE_STEPS = diagrams.linear(
    "tre_steg",
    """
  <bpmn:startEvent id="start" />
  <bpmn:userTask id="ett" name="Ett" />
  <bpmn:userTask id="tva" name="Två" />
  <bpmn:userTask id="tre" name="Tre" />
  <bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="ett" />
  <bpmn:sequenceFlow id="f2" sourceRef="ett" targetRef="tva" />
  <bpmn:sequenceFlow id="f3" sourceRef="tva" targetRef="tre" />
  <bpmn:sequenceFlow id="f4" sourceRef="tre" targetRef="end" />""",
)
CASE = {
    "personnummer": "19121212-1212",
    "vardtillfalle_id": "VT-1",
    "kommun": "Eksjö",
    "avdelning_hsa_id": "SE2321000057-ward1",
}


def active(platform, instance_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [t["element_id"] for t in instance_view(platform, instance_id)["active_tasks"]]


def audit(platform, action: str) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    with platform.db.read() as session:
        return [a.details for a in session.scalars(select(AuditEntry).where(AuditEntry.action == action))]


def history(platform, instance_id: int, kind: str) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    with platform.db.read() as session:
        return [
            {"actor": h.actor, "element_id": h.element_id, **(h.data or {})}
            for h in session.scalars(
                select(HistoryEntry).where(HistoryEntry.instance_id == instance_id, HistoryEntry.kind == kind)
            )
        ]


def start(platform, xml: str, process_id: str, data: dict | None = None) -> int:  # type: ignore[type-arg]
    platform.runtime.deploy(xml, OWNER)
    return platform.runtime.start_instance(process_id, "bk-1", dict(data or CASE), SYSTEM)


def complete(platform, instance_id: int, element_id: str, data: dict | None = None) -> None:  # type: ignore[type-arg]
    task = next(t for t in instance_view(platform, instance_id)["active_tasks"] if t["element_id"] == element_id)
    platform.runtime.complete_task(task["id"], data or {}, ENGINE)


def test_a_token_moves_forward_over_steps_and_back_to_redo_one(platform):
    iid = start(platform, THREE_STEPS, "tre_steg")
    moved = platform.runtime.move_token(iid, "ett", "tre", COORDINATOR, reason="Två gjordes på papper")
    assert moved.direction == "forward" and moved.skipped == ("tva",)
    assert active(platform, iid) == ["tre"]
    platform.runtime.forget_cached_flows()  # the move survives a save and restore
    moved = platform.runtime.move_token(iid, "tre", "ett", COORDINATOR, reason="Ett måste göras om")
    assert moved.direction == "back" and active(platform, iid) == ["ett"]
    complete(platform, iid, "ett")
    assert active(platform, iid) == ["tva"]
    moves = history(platform, iid, "token_moved")
    assert [(m["from"], m["to"], m["reason"], m["actor"]) for m in moves] == [
        ("ett", "tre", "Två gjordes på papper", "cora"),
        ("tre", "ett", "Ett måste göras om", "cora"),
    ]
    assert [a["direction"] for a in audit(platform, "move_token")] == ["forward", "back"]


def test_unsafe_moves_are_refused_and_change_nothing(platform):
    iid = start(platform, PARALLEL, "parallell")
    with pytest.raises(Conflict, match="parallella grenar"):
        platform.runtime.move_token(iid, "forst", "sist", COORDINATOR, reason="hoppa")
    complete(platform, iid, "forst")
    assert sorted(active(platform, iid)) == ["a", "b"]
    with pytest.raises(Conflict, match="andra grenar"):
        platform.runtime.move_token(iid, "a", "forst", COORDINATOR, reason="tillbaka")
    with pytest.raises(Conflict, match="samma gren") as refused:
        platform.runtime.move_token(iid, "a", "b", COORDINATOR, reason="till grannen")
    assert "«B» nås inte från «A»" in refused.value.message  # the diagram's names, not ids
    with pytest.raises(ValidationFailed, match="finns inte"):
        platform.runtime.move_token(iid, "a", "okand", COORDINATOR, reason="?")
    with pytest.raises(ValidationFailed, match="skäl"):
        platform.runtime.move_token(iid, "a", "sist", COORDINATOR, reason="  ")
    with pytest.raises(Forbidden):
        platform.runtime.move_token(iid, "a", "sist", WARD, reason="jag vill")
    assert sorted(active(platform, iid)) == ["a", "b"]
    assert history(platform, iid, "token_moved") == [] and audit(platform, "move_token") == []


def test_an_incident_at_a_gateway_is_repaired_by_a_move_or_a_retry(platform):
    platform.runtime.deploy(diagrams.gateway_process("grind", "svar == 'ja'", default=False), OWNER)
    first = platform.runtime.start_instance("grind", "g-1", dict(CASE), SYSTEM)
    second = platform.runtime.start_instance("grind", "g-2", {**CASE, "vardtillfalle_id": "VT-2"}, SYSTEM)
    for iid in (first, second):
        complete(platform, iid, "bedom", {"svar": "kanske"})
        assert instance_view(platform, iid)["status"] == "incident"
    with pytest.raises(Conflict, match="öppen incident"):
        platform.runtime.move_token(first, "bedom", "nej", COORDINATOR, reason="fel ställe")
    platform.runtime.move_token(first, "gw", "nej", COORDINATOR, reason="Svaret betyder nej")
    assert active(platform, first) == ["nej"]
    with pytest.raises(ValidationFailed):
        platform.runtime.retry_instance(second, COORDINATOR, {"svar": "ja"}, reason="")
    platform.runtime.retry_instance(second, COORDINATOR, {"svar": "ja"}, reason="Svaret rättat till ja")
    assert active(platform, second) == ["ja"]
    with platform.db.read() as session:
        open_incidents = session.scalars(select(Incident).where(Incident.resolved_at.is_(None))).all()
        assert open_incidents == []
    assert [a["reason"] for a in audit(platform, "retry_incident")] == ["Svaret rättat till ja"]
    assert history(platform, second, "retried")[0]["reason"] == "Svaret rättat till ja"


def test_a_timer_fires_now_with_a_reason(platform, clock):
    iid = start(platform, diagrams.timer_process("vanta", "PT48H"), "vanta")
    timer = instance_view(platform, iid)["timers"][0]
    with pytest.raises(Forbidden):
        platform.runtime.fire_timer_now(iid, timer["id"], WARD, reason="x")
    platform.runtime.fire_timer_now(iid, timer["id"], COORDINATOR, reason="Svaret kom i telefon")
    view = instance_view(platform, iid)
    assert view["timers"] == [] and active(platform, iid) == ["sedan"]
    manual = history(platform, iid, "timer_fired_manually")
    assert manual[0]["reason"] == "Svaret kom i telefon" and manual[0]["element_id"] == "vanta"
    assert audit(platform, "fire_timer_now")[0]["due_at"] == timer["due_at"]
    with pytest.raises(Exception, match="finns inte"):
        platform.runtime.fire_timer_now(iid, timer["id"], COORDINATOR, reason="igen")


def test_a_task_is_reassigned_only_to_someone_who_may_take_it(platform):
    with platform.db.unit_of_work() as session:
        now = platform.clock.now()
        platform.directory.create_user(session, "vera", "Vera", ["vardplanerare"], ["SE2321000057-ward1"], at=now)
        platform.directory.create_user(session, "vilma", "Vilma", ["vardsamordnare"], ["SE2321000057-vc1"], at=now)
    iid = start(
        platform,
        fixture_bytes("two_lanes.bpmn").decode(),
        "two_lanes",
        {**CASE, "avdelning_hsa_id": "SE2321000057-ward1", "vardcentral_hsa_id": "SE2321000057-vc1"},
    )
    task = instance_view(platform, iid)["active_tasks"][0]
    with pytest.raises(ValidationFailed, match="roll och enhet"):
        platform.runtime.reassign_task(task["id"], "vilma", COORDINATOR, reason="hon har tid")
    with pytest.raises(ValidationFailed, match="finns inte"):
        platform.runtime.reassign_task(task["id"], "nobody", COORDINATOR, reason="?")
    with pytest.raises(Forbidden):
        platform.runtime.reassign_task(task["id"], "vera", WARD, reason="till mig")
    platform.runtime.reassign_task(task["id"], "vera", COORDINATOR, reason="Vera har patienten")
    assert instance_view(platform, iid)["active_tasks"][0]["claimed_by"] == "vera"
    assert history(platform, iid, "reassigned")[0]["reason"] == "Vera har patienten"
    assert audit(platform, "reassign_task")[0]["assignee"] == "vera"
    with pytest.raises(ValidationFailed):
        platform.runtime.cancel_instance(iid, COORDINATOR, reason="")
    platform.runtime.cancel_instance(iid, COORDINATOR, reason="Flyttad till annan region")
    assert audit(platform, "cancel_instance")[0]["reason"] == "Flyttad till annan region"


def test_the_instance_list_filters(platform, clock):
    platform.runtime.deploy(THREE_STEPS, OWNER)
    platform.runtime.deploy(diagrams.timer_process("vanta", "PT1H"), OWNER)
    eksjo = platform.runtime.start_instance("tre_steg", "a", dict(CASE), SYSTEM)
    clock.advance(timedelta(days=2))
    other = platform.runtime.start_instance(
        "tre_steg",
        "b",
        {
            "personnummer": "19380312-2385",
            "vardtillfalle_id": "VT-9",
            "kommun": "Nässjö",
            "avdelning_hsa_id": "SE2321000057-ward2",
        },
        SYSTEM,
    )
    waiting = platform.runtime.start_instance("vanta", "c", {**CASE, "vardtillfalle_id": "VT-3"}, SYSTEM)
    platform.runtime.cancel_instance(other, COORDINATOR, reason="Dubblett")

    def ids(**values: str) -> list[int]:
        return [i.id for i in platform.reads.cases.page(COORDINATOR, InstanceFilter.of(values)).items]

    assert ids() == [waiting, other, eksjo]
    assert ids(process="tre_steg") == [other, eksjo]
    assert ids(status="waiting") == [waiting]
    assert ids(status="cancelled") == [other]
    assert ids(kommun="Eksjö") == [waiting, eksjo]
    assert ids(version="1", process="vanta") == [waiting] and ids(version="2") == []
    assert ids(fran="2026-01-12", till="2026-01-12") == [eksjo]
    assert ids(fran="2026-01-14") == [waiting, other]
    assert ids(personnummer="193803122385") == [other]
    assert ids(forsenade="1") == []
    clock.advance(timedelta(hours=2))  # the timer is now overdue (no scheduler runs in tests)
    assert ids(forsenade="1") == [waiting]
    page = platform.reads.cases.page(COORDINATOR, InstanceFilter.of({"forsenade": "1"}))
    assert page.items[0].overdue and page.items[0].next_timer_at
    with pytest.raises(ValidationFailed):
        InstanceFilter.of({"fran": "2026-02-01", "till": "2026-01-01"})
    assert [i.id for i in platform.reads.cases.page(WARD).items] == [waiting, eksjo]  # its own ward's cases only
    assert platform.reads.cases.page(OWNER).items == ()  # a process owner sees no case at all
    with pytest.raises(Forbidden):
        platform.reads.cases.page(OWNER, InstanceFilter.of({"personnummer": "193803122385"}))


def test_the_instance_view_marks_elements_and_counts_loops(platform):
    iid = start(platform, THREE_STEPS, "tre_steg")
    complete(platform, iid, "ett")
    platform.runtime.move_token(iid, "tva", "ett", COORDINATOR, reason="om")
    complete(platform, iid, "ett")
    view = platform.reads.cases.view(COORDINATOR, iid)
    assert view.elements["ett"].completed == 2
    assert view.elements["tva"].active and not view.elements["tva"].incident
    assert [h.kind for h in view.history][-3:] == ["task_created", "task_completed", "task_created"]
    assert any(h.reason == "om" for h in view.history)


def test_heat_map_figures_match_a_hand_calculation(platform, clock):
    """Three cases of a one-task process: in the task 1 h, 2 h and 10 h; taken after 0.5 h, 1 h and never (the wait
    then runs to completion, 10 h). Means 13/3 h and 11.5/3 h; p90 (percentile_cont) at position 1 + 0.9 * 2 = 2.8:
    2 h + 0.8 * (10 h - 2 h) = 8.4 h, and 1 h + 0.8 * (10 h - 1 h) = 8.2 h."""
    platform.runtime.deploy(diagrams.single_task("en"), OWNER)
    with platform.db.unit_of_work() as session:
        platform.directory.create_user(session, "doer", "Doer", ["coordinator"], [], at=clock.now())
    doer = Actor("doer", frozenset({"admin"}), internal=True)  # drives the cases: no need to know here
    plan = [(0.5, 1.0), (1.0, 2.0), (None, 10.0)]
    for n, (claim_after, done_after) in enumerate(plan):
        iid = platform.runtime.start_instance("en", f"h-{n}", {}, SYSTEM)
        task = instance_view(platform, iid)["active_tasks"][0]["id"]
        begun = clock.now()
        if claim_after is not None:
            clock.advance(timedelta(hours=claim_after))
            platform.runtime.claim_task(task, doer)
        clock.set(begun + timedelta(hours=done_after))
        platform.runtime.complete_task(task, {}, doer)
    monitoring = Monitoring(platform.db, platform.policy, platform.clock)
    today = clock.now().date()
    figures = monitoring.heatmap(OWNER, "en", 1, today - timedelta(days=3), today + timedelta(days=1))
    rows = {e["element_id"]: e for e in figures["elements"]}
    task = rows["uppgift"]
    assert task["count"] == 3 and task["time_n"] == 3 and task["wait_n"] == 3
    assert task["time_mean_seconds"] == pytest.approx(13 / 3 * 3600, abs=1)
    assert task["time_p90_seconds"] == pytest.approx(8.4 * 3600, abs=1)
    assert task["wait_mean_seconds"] == pytest.approx(11.5 / 3 * 3600, abs=1)
    assert task["wait_p90_seconds"] == pytest.approx(8.2 * 3600, abs=1)
    assert rows["start"]["count"] == 3 and rows["start"]["time_mean_seconds"] is None
    # Another period holds nothing; another version of the process neither.
    assert monitoring.heatmap(OWNER, "en", 1, date(2025, 1, 1), date(2025, 1, 31))["elements"] == []
    assert monitoring.heatmap(OWNER, "en", 2, today, today)["elements"] == []
    with pytest.raises(Forbidden):
        monitoring.heatmap(WARD, "en", 1, today, today)


def test_upgrade_fills_when_completed_tasks_were_created_and_taken(tmp_path):
    """Migration 0006: existing task_completed rows get their task's creation and first claim, so the
    heat map covers the history from before the upgrade."""
    from alembic import command
    from sqlalchemy import text

    from engine.persistence.db import Database

    db = Database(f"sqlite:///{tmp_path / 'h.db'}")
    command.upgrade(db.alembic_config(), "0005")
    rows = [
        (1, "2026-01-12 08:00:00.000000", "task_created", "t1"),
        (2, "2026-01-12 09:00:00.000000", "claimed", "t1"),
        (3, "2026-01-12 09:30:00.000000", "claimed", "t1"),
        (4, "2026-01-12 11:00:00.000000", "task_completed", "t1"),
        (5, "2026-01-12 08:00:00.000000", "task_created", "t2"),
        (6, "2026-01-12 12:00:00.000000", "task_completed", "t2"),
    ]
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO process_definitions (id, process_id, version, xml, content_hash, executable, diagnostics,"
                " elements, lanes, start_messages, dependencies, forms, deployed_by, deployed_at, comment)"
                " VALUES (1, 'p', 1, x'00', 'h', 1, '[]', '{}', '[]', '[]', '{}', '{}', 'agnes', :now, '')"
            ),
            {"now": rows[0][1]},
        )
        conn.execute(
            text(
                "INSERT INTO process_instances (id, definition_id, process_id, version, business_key, status,"
                " started_at, updated_at, started_by, data, state, serializer_version, lock_version)"
                " VALUES (1, 1, 'p', 1, 'k', 'completed', :now, :now, 'vera', '{}', '{}', 'v', 1)"
            ),
            {"now": rows[0][1]},
        )
        for id_, at, kind, task in rows:
            conn.execute(
                text(
                    "INSERT INTO history (id, instance_id, at, kind, element_id, task_id, data)"
                    " VALUES (:id, 1, :at, :kind, 'steg', :task, '{}')"
                ),
                {"id": id_, "at": at, "kind": kind, "task": task},
            )
    command.upgrade(db.alembic_config(), "0006")
    with db.engine.connect() as conn:
        found = conn.execute(
            text("SELECT task_id, task_created_at, task_claimed_at FROM history WHERE kind = 'task_completed'")
        ).all()
    db.dispose()
    assert sorted(found) == [
        ("t1", "2026-01-12 08:00:00.000000", "2026-01-12 09:00:00.000000"),
        ("t2", "2026-01-12 08:00:00.000000", None),
    ]


def test_a_token_moves_past_a_waiting_timer_and_back_to_it(platform, clock):
    iid = start(platform, diagrams.timer_process("vanta", "PT48H"), "vanta")
    assert len(instance_view(platform, iid)["timers"]) == 1
    platform.runtime.move_token(iid, "vanta", "sedan", COORDINATOR, reason="Väntan behövs inte")
    view = instance_view(platform, iid)
    assert view["timers"] == [] and active(platform, iid) == ["sedan"]
    platform.runtime.forget_cached_flows()
    clock.advance(timedelta(hours=1))
    platform.runtime.move_token(iid, "sedan", "vanta", COORDINATOR, reason="Vänta ändå")
    view = instance_view(platform, iid)
    assert active(platform, iid) == [] and view["status"] == "waiting"
    assert [t["due_at"] for t in view["timers"]] == [(clock.now() + timedelta(hours=48)).isoformat()]


IN_SUBPROCESS = diagrams.linear(
    "underprocess",
    """
  <bpmn:startEvent id="start" />
  <bpmn:subProcess id="sp" name="Vårdtillfälle">
    <bpmn:startEvent id="sp_start" />
    <bpmn:userTask id="a" name="A" />
    <bpmn:boundaryEvent id="paminn" attachedToRef="b" cancelActivity="false">
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT24H</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="paminn_slut" />
    <bpmn:userTask id="b" name="B" />
    <bpmn:endEvent id="sp_end" />
    <bpmn:sequenceFlow id="s1" sourceRef="sp_start" targetRef="a" />
    <bpmn:sequenceFlow id="s2" sourceRef="a" targetRef="b" />
    <bpmn:sequenceFlow id="s3" sourceRef="b" targetRef="sp_end" />
    <bpmn:sequenceFlow id="s4" sourceRef="paminn" targetRef="paminn_slut" />
  </bpmn:subProcess>
  <bpmn:userTask id="efter" name="Efter" />
  <bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="sp" />
  <bpmn:sequenceFlow id="f2" sourceRef="sp" targetRef="efter" />
  <bpmn:sequenceFlow id="f3" sourceRef="efter" targetRef="end" />""",
)


def test_a_move_back_inside_a_sub_process_drops_the_boundary_timer_it_leaves(platform, clock):
    """Back from a task with a waiting boundary timer, inside a sub-process: the reset stays inside the sub-process
    (the enclosing sub-process task keeps running) and the engine forgets the dropped timer, so the case goes on
    (SpiffWorkflow kept it registered and the next step failed)."""
    iid = start(platform, IN_SUBPROCESS, "underprocess")
    complete(platform, iid, "a")
    assert active(platform, iid) == ["b"] and len(instance_view(platform, iid)["timers"]) == 1
    platform.runtime.forget_cached_flows()
    clock.advance(timedelta(hours=2))
    moved = platform.runtime.move_token(iid, "b", "a", COORDINATOR, reason="A måste göras om")
    view = instance_view(platform, iid)
    assert moved.direction == "back" and view["status"] == "running" and view["incidents"] == []
    assert active(platform, iid) == ["a"] and view["timers"] == []
    with pytest.raises(Conflict, match="annan"):
        platform.runtime.move_token(iid, "a", "efter", COORDINATOR, reason="ut ur underprocessen")
    complete(platform, iid, "a")
    view = instance_view(platform, iid)
    assert active(platform, iid) == ["b"]
    assert [t["due_at"] for t in view["timers"]] == [(clock.now() + timedelta(hours=24)).isoformat()]
    complete(platform, iid, "b")
    assert active(platform, iid) == ["efter"]


def test_a_case_waiting_for_a_message_is_marked_and_can_be_moved_on(platform):
    platform.runtime.deploy(diagrams.message_start_process("meddelanden", "inskrivning", "utskriven"), OWNER)
    result = platform.runtime.send_message(
        "inskrivning",
        "m-1",
        {"personnummer": "19121212-1212", "vardtillfalle_id": "VT-1"},
        {"avdelning_hsa_id": "SE2321000057-ward1"},
        SYSTEM,
    )
    iid = result.instance_id
    complete(platform, iid, "registrera")
    waiting = platform.reads.cases.view(COORDINATOR, iid).elements["vanta"]
    assert waiting.waiting and waiting.message == "utskriven" and not waiting.active
    platform.runtime.move_token(iid, "vanta", "avsluta", COORDINATOR, reason="Utskrivningen kom per telefon")
    assert active(platform, iid) == ["avsluta"]
    assert "vanta" not in platform.reads.cases.view(COORDINATOR, iid).elements  # passed over: neither waiting nor done
    with pytest.raises(Exception, match="Ingen instans väntar"):
        platform.runtime.send_message(
            "utskriven", "m-2", {"personnummer": "19121212-1212", "vardtillfalle_id": "VT-1"}, {}, SYSTEM
        )
