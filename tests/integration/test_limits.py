"""Issue 13: nothing in a diagram, a message or a request can hang, crash or poison the platform. One regression
test per finding, on the real test database (SQLite, or PostgreSQL with TEST_DATABASE_URL), plus the races that
need PostgreSQL whatever the suite's database."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from engine.commands.runtime import MAX_TIMER_ATTEMPTS
from engine.domain.errors import Conflict, DeployRejected, InvalidData, SamflodeError
from engine.persistence.models import HistoryEntry, Incident, ProcessInstance, Timer
from tests import diagrams
from tests.conftest import COORDINATOR, ENGINE, OWNER, SYSTEM, instance_view

# The case's ward, in the region its coordinator oversees: the coordinator's repairs need to see the case.
WARD = {"avdelning_hsa_id": "SE2321000057-ward1"}


def view(platform, instance_id):
    return instance_view(platform, instance_id)


def open_incidents(platform, instance_id):
    with platform.db.read() as session:
        return list(
            session.execute(
                select(Incident.element_id, Incident.message).where(
                    Incident.instance_id == instance_id, Incident.resolved_at.is_(None)
                )
            ).all()
        )


def script_first(process_id: str, script: str) -> str:
    """start -> script task 'skript' -> user task 'efter' -> end: the script runs while the case starts."""
    return diagrams.linear(
        process_id,
        f"""
  <bpmn:startEvent id="start" />
  <bpmn:scriptTask id="skript" name="Skript"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
  <bpmn:userTask id="efter" name="Efter" />
  <bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="skript" />
  <bpmn:sequenceFlow id="f2" sourceRef="skript" targetRef="efter" />
  <bpmn:sequenceFlow id="f3" sourceRef="efter" targetRef="end" />""",
    )


# --------------------------------------------------------------------------------------------- 1: the budget
def test_a_script_that_catches_the_budget_error_ends_as_an_incident_and_the_command_returns(platform):
    """Finding: a script caught the engine's budget error and went on looping; the request never returned and on
    SQLite every other write failed until restart."""
    script = (
        "n = 0\nwhile True:\n    try:\n        while True:\n            n += 1\n    except Exception:\n        n = 0\n"
    )
    platform.runtime.deploy(script_first("fast", script), OWNER)
    started = time.monotonic()
    iid = platform.runtime.start_instance("fast", "bk", {}, SYSTEM)
    assert time.monotonic() - started < 10
    assert view(platform, iid)["status"] == "incident"
    [(element, message)] = open_incidents(platform, iid)
    assert element == "skript" and "för" in message
    # The write lock is free again: other writes go on at once.
    platform.runtime.deploy(diagrams.single_task("annan"), OWNER)
    platform.runtime.start_instance("annan", "bk2", {}, SYSTEM)


def test_a_diagram_that_loops_without_end_is_stopped_by_the_command_budget(platform):
    """A loop of script task and gateway with no way out: each script is tiny, the command as a whole is not."""
    xml = diagrams.linear(
        "varv",
        """
  <bpmn:startEvent id="start" />
  <bpmn:scriptTask id="rakna" name="Räkna"><bpmn:script>varv = varv + 1</bpmn:script></bpmn:scriptTask>
  <bpmn:exclusiveGateway id="igen" default="tillbaka" />
  <bpmn:userTask id="aldrig" name="Aldrig" />
  <bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="rakna" />
  <bpmn:sequenceFlow id="f2" sourceRef="rakna" targetRef="igen" />
  <bpmn:sequenceFlow id="tillbaka" sourceRef="igen" targetRef="rakna" />
  <bpmn:sequenceFlow id="ut" sourceRef="igen" targetRef="aldrig">
    <bpmn:conditionExpression>varv &lt; 0</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f3" sourceRef="aldrig" targetRef="end" />""",
    )
    platform.runtime.deploy(xml, OWNER)
    iid = platform.runtime.start_instance("varv", "bk", {"varv": 0}, SYSTEM)
    assert view(platform, iid)["status"] == "incident"
    [(element, message)] = open_incidents(platform, iid)
    assert element in ("rakna", "igen") and ("steg" in message or "tid" in message)


@pytest.mark.parametrize(
    "condition", ["10 ** 10 ** 8 &gt; 0", "len('x' * 10 ** 10) &gt; 0", "len(str(9 ** 999999)) &gt; 0"]
)
def test_one_huge_operation_in_a_condition_is_an_incident_at_once(platform, condition):
    """Finding: a huge power held the interpreter for seconds; string repetition allocated a gigabyte."""
    platform.runtime.deploy(diagrams.gateway_process("stor", condition, default=True), OWNER)
    iid = platform.runtime.start_instance("stor", "bk", {}, SYSTEM)
    task = view(platform, iid)["active_tasks"][0]["id"]
    started = time.monotonic()
    platform.runtime.complete_task(task, {}, ENGINE)
    assert time.monotonic() - started < 5
    assert view(platform, iid)["status"] == "incident"
    [(element, _message)] = open_incidents(platform, iid)
    assert element == "gw"


@pytest.mark.parametrize(
    "script",
    ["x = range(5)", "x = 'a'.encode()", "x = [1]\nx.append(x)", "x = 10 ** 50", "x = float('nan')", "x = {1, 2}"],
)
def test_a_script_result_that_cannot_be_stored_is_an_incident_and_not_stored(platform, script):
    """Finding: a range, bytes, a generator, a circular list or a 5 000-digit integer gave 500 instead of an
    incident; later commands on the case kept failing."""
    platform.runtime.deploy(script_first("resultat", script), OWNER)
    iid = platform.runtime.start_instance("resultat", "bk", {"kvar": 1, **WARD}, SYSTEM)
    instance = view(platform, iid)
    assert instance["status"] == "incident"
    assert "x" not in instance["data"]
    [(element, message)] = open_incidents(platform, iid)
    assert element == "skript" and "kan inte lagras" in message
    platform.runtime.forget_cached_flows()  # the stored state restores: the case is not poisoned
    platform.runtime.retry_instance(iid, COORDINATOR, {}, "prövar igen")
    assert view(platform, iid)["status"] == "incident"


# --------------------------------------------------------------------------------------------- 2: timers
@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("timeCycle", "R/PT0S"),
        ("timeCycle", "R5/PT0.5S"),
        ("timeCycle", "R0/P1D"),
        ("timeDuration", "P5000Y"),
        ("timeDuration", "P999999999Y"),
        ("timeDate", "3026-01-01T08:00"),
        ("timeDate", "0001-01-01T08:00"),
        ("timeCycle", "'R/PT0S'"),
        ("timeDuration", "'P2000Y'"),
    ],
)
def test_timers_that_cannot_be_computed_sanely_are_refused_at_deploy_with_the_element_named(platform, kind, text):
    """Finding: a zero-period cycle or a duration of thousands of years deployed, then starting a case hung or
    blocked other writes; the timer validation that existed was never called at deploy."""
    with pytest.raises(DeployRejected) as info:
        platform.runtime.deploy(diagrams.timer_process("tid", text, kind), OWNER)
    assert any(d.element_id == "vanta" and "Timern" in d.message for d in info.value.diagnostics), (
        info.value.diagnostics
    )


@pytest.mark.parametrize(
    ("kind", "value"),
    [("timeCycle", "R/PT0S"), ("timeDuration", "P999999999Y"), ("timeDate", "9999-01-01T00:00"), ("timeDate", 5)],
)
def test_a_timer_computed_at_run_time_is_checked_before_the_engine_uses_it(platform, kind, value):
    platform.runtime.deploy(diagrams.timer_process("tid", "varde", kind), OWNER)
    started = time.monotonic()
    iid = platform.runtime.start_instance("tid", "bk", {"varde": value}, SYSTEM)
    assert time.monotonic() - started < 5
    assert view(platform, iid)["status"] == "incident"
    [(element, message)] = open_incidents(platform, iid)
    assert element == "vanta" and "Timern" in message
    with platform.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Timer)) == 0


def test_sane_timers_still_deploy(platform):
    for kind, text in [("timeCycle", "R/PT1S"), ("timeDuration", "P99Y"), ("timeDate", "2030-01-01T08:00")]:
        platform.runtime.deploy(diagrams.timer_process(f"ok_{kind}", text, kind), OWNER)


# --------------------------------------------------------------------------------------------- 3: the boundary
@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"a": float("nan")}, "data.a"),
        ({"a": [1, float("inf")]}, "data.a[1]"),
        ({"a": {"typename": "UUID", "value": "x"}}, "data.a.typename"),
        ({"serializer_version": "1"}, "data.serializer_version"),
        ({"a": 10**30}, "data.a"),
        ({"a": "x\x00y"}, "data.a"),
        ({"a": "\ud800"}, "data.a"),
        ({"__class__": 1}, "data.__class__"),
    ],
)
def test_data_that_would_poison_a_case_is_refused_naming_the_field_and_nothing_is_stored(platform, data, path):
    """Finding: a `typename` key, NaN or very deep lists were accepted; afterwards every command on the case answered
    500 and, with NaN stored, the coordinators' list and the unit's worklist answered 500 for everyone."""
    platform.runtime.deploy(diagrams.single_task("p"), OWNER)
    with pytest.raises(InvalidData) as info:
        platform.runtime.start_instance("p", "bk", data, SYSTEM)
    assert info.value.status == 400
    assert path in info.value.details["fields"], info.value.details
    with platform.db.read() as session:
        assert session.scalar(select(func.count()).select_from(ProcessInstance)) == 0


def test_very_deep_data_is_refused(platform):
    platform.runtime.deploy(diagrams.single_task("p"), OWNER)
    deep: list = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(InvalidData):
        platform.runtime.start_instance("p", "bk", {"d": deep}, SYSTEM)


def test_message_payloads_and_correlation_pass_the_same_boundary(platform):
    platform.runtime.deploy(diagrams.message_start_process("m", "inskrivning", "utskrivning"), OWNER)
    with pytest.raises(InvalidData) as info:
        platform.runtime.send_message("inskrivning", "id-1", {"vardtillfalle_id": float("nan")}, {}, SYSTEM)
    assert "correlation.vardtillfalle_id" in info.value.details["fields"]
    with pytest.raises(InvalidData):
        platform.runtime.send_message("inskrivning", "id-2", {"vardtillfalle_id": "v1"}, {"x": {"typename": 1}}, SYSTEM)


# --------------------------------------------------------------------------------------------- 5: one case per stay
def _concurrent_messages(platform, count: int = 8) -> list[object]:
    platform.runtime.deploy(diagrams.message_start_process("vistelse", "inskrivning", "utskrivning"), OWNER)
    barrier = threading.Barrier(count)
    outcomes: list[object] = []
    lock = threading.Lock()

    def send(n: int) -> None:
        barrier.wait()
        try:
            result = platform.runtime.send_message(
                "inskrivning", f"msg-{n}", {"personnummer": "191212121212", "vardtillfalle_id": "VT-1"}, {}, SYSTEM
            )
            outcome: object = "duplicate" if result.duplicate else result.outcome
        except SamflodeError as exc:
            outcome = exc
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


def _assert_one_case(platform, outcomes: list[object]) -> None:
    assert outcomes.count("started") == 1, outcomes
    assert all(o == "started" or isinstance(o, Conflict) for o in outcomes), outcomes
    with platform.db.read() as session:
        assert session.scalar(select(func.count()).select_from(ProcessInstance)) == 1


def test_concurrent_journal_messages_for_one_stay_start_one_case(platform):
    _assert_one_case(platform, _concurrent_messages(platform))


@pytest.mark.postgres
def test_concurrent_journal_messages_for_one_stay_start_one_case_on_postgresql(postgres_platform):
    """Finding: on PostgreSQL 4-8 of 8 concurrent messages with different message ids started a case each."""
    _assert_one_case(postgres_platform, _concurrent_messages(postgres_platform))


def test_the_stay_index_refuses_a_second_going_case_even_without_the_check(platform):
    """The constraint itself, not the check before it: a second insert of a going case with the same key fails."""
    from sqlalchemy.exc import IntegrityError

    platform.runtime.deploy(diagrams.message_start_process("vistelse", "inskrivning", "utskrivning"), OWNER)
    platform.runtime.send_message(
        "inskrivning", "a", {"personnummer": "191212121212", "vardtillfalle_id": "V"}, {}, SYSTEM
    )
    with platform.db.read() as session:
        first = session.scalars(select(ProcessInstance)).one()
        key, values = (
            first.stay_key,
            {
                c: getattr(first, c)
                for c in ("definition_id", "process_id", "version", "started_at", "serializer_version")
            },
        )
    assert key
    with pytest.raises(IntegrityError), platform.db.unit_of_work() as session:
        clone = ProcessInstance(
            **values,
            business_key="kopia",
            status="running",
            updated_at=values["started_at"],
            started_by="test",
            data={},
            state="",
            stay_key=key,
        )
        session.add(clone)
        session.flush()


# --------------------------------------------------------------------------------------------- 6: failing timers
def test_a_timer_that_keeps_failing_backs_off_becomes_an_incident_and_is_retried_from_there(platform, clock):
    """Finding: a timer whose firing raised was retried every round forever, with a log line only."""
    platform.runtime.deploy(diagrams.timer_process("tid", "PT1H"), OWNER)
    iid = platform.runtime.start_instance("tid", "bk", dict(WARD), SYSTEM)
    with platform.db.read() as session:
        good_state = session.get(ProcessInstance, iid).state
    with platform.db.unit_of_work() as session:  # a state that cannot be restored (as a poisoned case's)
        session.execute(update(ProcessInstance).where(ProcessInstance.id == iid).values(state='{"trasig": '))
    platform.runtime.forget_cached_flows()
    clock.advance(timedelta(hours=1))
    for attempt in range(1, MAX_TIMER_ATTEMPTS + 1):
        platform.timers.run_due()
        with platform.db.read() as session:
            timer = session.scalars(select(Timer)).one()
            assert timer.attempts == attempt
            assert "kan inte läsas in" in (timer.last_error or "")
            assert "UnboundLocalError" not in timer.last_error
            next_at = timer.next_attempt_at
        platform.timers.run_due()  # backing off: not tried again before next_attempt_at
        with platform.db.read() as session:
            assert session.scalars(select(Timer)).one().attempts == attempt
        if attempt < MAX_TIMER_ATTEMPTS:
            assert next_at is not None and next_at > clock.now()
            clock.set(next_at)
    instance = view(platform, iid)
    assert instance["status"] == "incident"
    [(element, message)] = open_incidents(platform, iid)
    assert element == "vanta" and f"efter {MAX_TIMER_ATTEMPTS} försök" in message and "JSONDecodeError" in message
    assert platform.timers.next_due() is None  # the scheduler does not spin on it
    clock.advance(timedelta(days=1))
    platform.timers.run_due()
    with platform.db.read() as session:
        assert session.scalars(select(Timer)).one().attempts == MAX_TIMER_ATTEMPTS
    # An administrator repairs the state; the coordinator retries from the incident, and the timer fires.
    with platform.db.unit_of_work() as session:
        session.execute(update(ProcessInstance).where(ProcessInstance.id == iid).values(state=good_state))
    platform.runtime.retry_instance(iid, COORDINATOR, {}, "tillståndet är lagat")
    instance = view(platform, iid)
    assert instance["status"] == "running"
    assert [t["element_id"] for t in instance["active_tasks"]] == ["sedan"]
    assert open_incidents(platform, iid) == []


def test_a_lock_time_out_opening_a_unit_of_work_is_the_error_seen(platform, monkeypatch):
    """Finding: a lock time-out while opening a unit of work surfaced as UnboundLocalError."""
    platform.runtime.deploy(diagrams.single_task("p"), OWNER)
    from contextlib import contextmanager

    @contextmanager
    def locked():
        raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))
        yield  # pragma: no cover

    monkeypatch.setattr(platform.db, "unit_of_work", locked)
    with pytest.raises(OperationalError, match="database is locked"):
        platform.runtime.start_instance("p", "bk", {}, SYSTEM)


def test_a_case_whose_state_cannot_be_restored_answers_409_not_500(platform):
    platform.runtime.deploy(diagrams.single_task("p"), OWNER)
    iid = platform.runtime.start_instance("p", "bk", {}, SYSTEM)
    task = view(platform, iid)["active_tasks"][0]["id"]
    with platform.db.unit_of_work() as session:
        session.execute(
            update(ProcessInstance).where(ProcessInstance.id == iid).values(state='{"typename": "Okand", "x": 1}')
        )
    platform.runtime.forget_cached_flows()
    with pytest.raises(Conflict, match="repair-poisoned"):
        platform.runtime.complete_task(task, {}, ENGINE)
    with platform.db.read() as session:
        assert (
            session.scalar(select(func.count()).select_from(HistoryEntry).where(HistoryEntry.kind == "task_completed"))
            == 0
        )
