"""Deploying diagrams through the service layer, on the real database."""

import re

import pytest
from sqlalchemy import func, select

from engine.domain.errors import DeployRejected, Forbidden
from engine.persistence.models import AuditEntry, ProcessDefinition, ProcessInstance
from tests import diagrams
from tests.conftest import OWNER, SYSTEM, VC, fixture_bytes


def count_definitions(platform) -> int:
    with platform.db.read() as session:
        return session.scalar(select(func.count()).select_from(ProcessDefinition))


def test_deploy_stores_version_one_with_who_when_and_comment(platform):
    result = platform.runtime.deploy(fixture_bytes("two_lanes.bpmn"), OWNER, comment="Första versionen")
    assert (result.process_id, result.version, result.created, result.executable) == ("two_lanes", 1, True, True)
    definition = platform.reports.definition("two_lanes")
    assert definition["deployed_by"] == "agnes"
    assert definition["comment"] == "Första versionen"
    assert definition["deployed_at"] == platform.clock.now().isoformat()
    assert definition["elements"]["registrera"]["lane"] == "Slutenvård"
    assert definition["elements"]["registrera"]["properties"]["form"] == "registrera"
    with platform.db.read() as session:
        audit = [
            (a.actor, a.target_id) for a in session.scalars(select(AuditEntry).where(AuditEntry.action == "deploy"))
        ]
    assert audit == [("agnes", "two_lanes:1")]


def test_same_content_twice_is_the_same_version(platform):
    first = platform.runtime.deploy(fixture_bytes("two_lanes.bpmn"), OWNER)
    again = platform.runtime.deploy(fixture_bytes("two_lanes.bpmn"), OWNER, comment="igen")
    assert (again.version, again.created, again.definition_id) == (1, False, first.definition_id)
    assert count_definitions(platform) == 1


def test_changed_content_is_the_next_version(platform):
    platform.runtime.deploy(diagrams.single_task("p", "Gör A"), OWNER)
    second = platform.runtime.deploy(diagrams.single_task("p", "Gör B"), OWNER)
    assert (second.version, second.created) == (2, True)


def test_only_process_owners_deploy(platform):
    with pytest.raises(Forbidden):
        platform.runtime.deploy(diagrams.single_task("p"), VC)
    assert count_definitions(platform) == 0


@pytest.mark.parametrize(
    ("script", "fragment"),
    [
        ("import os\nos.system('touch /tmp/samflode-pwned')", "import"),
        ("x = ().__class__.__bases__[0].__subclasses__()", "_"),
        ("data = open('/etc/passwd').read()", "open"),
    ],
)
def test_unsafe_script_is_rejected_at_deploy_with_the_element_named(platform, script, fragment):
    with pytest.raises(DeployRejected) as info:
        platform.runtime.deploy(diagrams.script_process("farlig", script), OWNER)
    errors = [d for d in info.value.diagnostics if d.severity == "error"]
    assert errors and errors[0].element_id == "skript"
    assert fragment in errors[0].message
    assert count_definitions(platform) == 0


def test_unsafe_condition_is_rejected_with_the_flow_named(platform):
    xml = diagrams.gateway_process("farlig_grind", "__import__('os').system('id')", default=True)
    with pytest.raises(DeployRejected) as info:
        platform.runtime.deploy(xml, OWNER)
    assert [d.element_id for d in info.value.diagnostics if d.severity == "error"] == ["f_ja"]


def test_unparseable_timer_is_rejected_with_the_event_named(platform):
    with pytest.raises(DeployRejected) as info:
        platform.runtime.deploy(diagrams.timer_process("t", "P3X"), OWNER)
    assert info.value.diagnostics[0].element_id == "vanta"
    assert "ISO 8601" in info.value.diagnostics[0].message


def test_missing_form_is_rejected(platform):
    xml = fixture_bytes("two_lanes.bpmn").replace(b'value="registrera"', b'value="finns_inte"')
    with pytest.raises(DeployRejected) as info:
        platform.runtime.deploy(xml, OWNER)
    assert [(d.element_id, d.severity) for d in info.value.diagnostics] == [("registrera", "error")]


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not xml at all",
        b'<?xml version="1.0"?><html><body>hej</body></html>',
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>',
    ],
)
def test_bad_files_are_refused_and_nothing_is_stored(platform, payload):
    with pytest.raises(DeployRejected):
        platform.runtime.deploy(payload, OWNER)
    assert count_definitions(platform) == 0


def test_a_call_to_a_process_not_deployed_yet_is_a_warning_and_resolved_later(platform):
    early = platform.runtime.deploy(diagrams.call_process("huvud", "del"), OWNER)
    assert early.executable
    [warning] = [d for d in early.diagnostics if d.element_id == "anropa"]
    assert warning.severity == "warning" and "'del'" in warning.message
    assert platform.reports.definition("huvud")["dependencies"] == {"del": None}
    platform.runtime.deploy(diagrams.single_task("del", "Delsteg"), OWNER)
    result = platform.runtime.deploy(diagrams.call_process("huvud", "del").replace("Anropa", "Anropa del"), OWNER)
    assert result.executable
    assert platform.reports.definition("huvud")["dependencies"] == {"del": 2}


def test_non_executable_diagram_is_refused_unless_documentation_only(platform):
    xml = diagrams.single_task("bara_bild").replace('isExecutable="true"', 'isExecutable="false"')
    with pytest.raises(DeployRejected):
        platform.runtime.deploy(xml, OWNER)
    result = platform.runtime.deploy(xml, OWNER, allow_documentation_only=True)
    assert (result.executable, result.version) == (False, 1)


def test_the_command_line_deploys_without_changing_the_default_and_makes_default_explicitly(
    platform, monkeypatch, capsys, tmp_path
):
    """Issue 15: `samflode deploy` says which version new cases still start on; `samflode make-default` changes it,
    with a comment, audited."""
    from webui import cli
    from webui.cli import CLI_ACTOR

    monkeypatch.setattr(cli, "_platform", lambda settings=None: platform)
    first, second = tmp_path / "v1.bpmn", tmp_path / "v2.bpmn"
    first.write_text(diagrams.single_task("rad", "Gammal"), encoding="utf-8")
    second.write_text(diagrams.single_task("rad", "Ny"), encoding="utf-8")
    assert cli.main(["deploy", str(first), "--comment", "första"]) == 0
    assert cli.main(["deploy", str(second), "--comment", "andra"]) == 0
    out = capsys.readouterr().out
    assert "rad version 2 (ny version)" in out and "nya fall startar fortfarande på version 1" in out
    assert cli.main(["deploy", str(second)]) == 0
    assert "rad version 2 (oförändrad)" in capsys.readouterr().out  # unchanged content is not a new version
    assert cli.main(["make-default", "rad", "2", "--comment", " "]) == 2
    assert cli.main(["make-default", "rad", "9", "--comment", "fel"]) == 1
    assert cli.main(["make-default", "rad", "2", "--comment", "Ny rutin från 1 mars"]) == 0
    started = platform.runtime.start_instance("rad", "bk", {}, SYSTEM)
    with platform.db.read() as session:
        assert session.get(ProcessInstance, started).version == 2
        made = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "default_version_set").order_by(AuditEntry.id)
        ).all()[-1]
        assert (made.actor, made.details["comment"]) == (CLI_ACTOR.username, "Ny rutin från 1 mars")


def test_the_same_diagram_written_differently_is_not_a_new_version(platform):
    """Issue 15: another tool's export of the newest version (other prefixes, whitespace, exporter, incoming and
    outgoing lists) says the same: no new version. A moved shape or a renamed task is a new version."""
    original = fixture_bytes("with_diagram.bpmn")
    first = platform.runtime.deploy(original, OWNER, comment="v1")
    rewritten = (
        original.decode("utf-8")
        .replace("bpmn:", "semantic:")
        .replace("xmlns:bpmn=", "xmlns:semantic=")
        .replace("\n    ", "\n\t")
        .replace(
            '<semantic:userTask id="folj_upp" name="Följ upp" />',
            '<semantic:userTask id="folj_upp" name="Följ upp"><semantic:incoming>x</semantic:incoming>'
            "</semantic:userTask>",
        )
    )
    assert rewritten.encode() != original
    again = platform.runtime.deploy(rewritten.encode(), OWNER, comment="samma i annan form")
    assert (again.created, again.version, again.definition_id) == (False, 1, first.definition_id)
    moved = platform.runtime.deploy(
        re.sub(r'x="(\d+)"', lambda m: f'x="{int(m.group(1)) + 40}"', rewritten, count=1).encode(), OWNER
    )
    assert (moved.created, moved.version) == (True, 2)
