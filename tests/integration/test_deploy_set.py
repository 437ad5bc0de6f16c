"""A set of diagrams deploys in any order (issue 14, point 9): calls resolve within the set; a call to a process not
deployed yet is a warning at deploy, resolved when a case reaches it (the version the call pins, else the called
process's default version then), and an incident naming the process only if it is still missing then."""

from __future__ import annotations

import pytest

from engine.domain.errors import DeployRejected
from engine.persistence.models import ProcessInstance
from tests import diagrams
from tests.conftest import ENGINE, OWNER, SYSTEM, instance_view, make_default


def _active(platform, iid: int) -> list[str]:
    return [t["name"] for t in instance_view(platform, iid)["active_tasks"]]


def test_a_set_is_all_or_nothing_and_names_the_file(platform):
    broken = diagrams.script_process("trasig", "import os")  # the sandbox refuses it
    with pytest.raises(DeployRejected) as info:
        platform.runtime.deploy_set(
            [("huvud.bpmn", diagrams.call_process("huvud", "del").encode()), ("trasig.bpmn", broken.encode())], OWNER
        )
    assert any(d.message.startswith("trasig.bpmn: ") for d in info.value.diagnostics)
    assert platform.reports.definitions(None, limit=10, offset=0)["total"] == 0


def test_a_missing_call_is_an_incident_at_run_time_and_a_retry_after_deploying_it_runs_on(platform):
    platform.runtime.deploy(diagrams.call_process("huvud", "del"), OWNER)
    iid = platform.runtime.start_instance("huvud", "bk", {}, SYSTEM)
    view = instance_view(platform, iid)
    assert view["status"] == "incident"
    [incident] = view["incidents"]
    assert incident["element_id"] == "anropa" and "'del'" in incident["message"]

    platform.runtime.deploy(diagrams.single_task("del", "Delsteg"), OWNER)
    platform.runtime.retry_instance(iid, ENGINE, reason="del är driftsatt nu")
    platform.runtime.forget_cached_flows()
    assert _active(platform, iid) == ["Delsteg"]
    # the case keeps the version it resolved: a newer del does not change it mid-case
    platform.runtime.deploy(diagrams.single_task("del", "Nytt delsteg"), OWNER)
    platform.runtime.forget_cached_flows()
    task = instance_view(platform, iid)["active_tasks"][0]
    platform.runtime.complete_task(task["id"], {}, ENGINE)
    assert _active(platform, iid) == ["Efter anropet"]
    with platform.db.read() as session:
        row = session.get(ProcessInstance, iid)
        assert row is not None and list((row.called_versions or {}).keys()) == ["del"]


def test_a_case_resolves_the_default_version_or_the_version_the_call_pins(platform):
    platform.runtime.deploy(diagrams.call_process("senast", "del"), OWNER)
    pinned = diagrams.call_process("fast", "del").replace(
        'calledElement="del" />',
        'calledElement="del"><bpmn:extensionElements><samflode:properties>'
        '<samflode:property name="version" value="2"/></samflode:properties></bpmn:extensionElements>'
        "</bpmn:callActivity>",
    )
    platform.runtime.deploy(pinned, OWNER)
    platform.runtime.deploy(diagrams.single_task("del", "Version 1"), OWNER)
    platform.runtime.deploy(diagrams.single_task("del", "Version 2"), OWNER)
    # deploying version 2 did not change the version new cases of del start on: an unpinned call takes version 1
    default = platform.runtime.start_instance("senast", "a", {}, SYSTEM)
    fixed = platform.runtime.start_instance("fast", "b", {}, SYSTEM)
    platform.runtime.forget_cached_flows()
    assert _active(platform, default) == ["Version 1"]
    assert _active(platform, fixed) == ["Version 2"]
    # once version 2 is made the default, a case reaching the call takes it; the earlier case keeps version 1
    make_default(platform, "del", 2)
    later = platform.runtime.start_instance("senast", "c", {}, SYSTEM)
    platform.runtime.forget_cached_flows()
    assert _active(platform, later) == ["Version 2"]
    assert _active(platform, default) == ["Version 1"]
