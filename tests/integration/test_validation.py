"""Findings process owners can act on: unknown lanes and roles (engine/bpmn/catalog_check.py) beside the diagram's own
findings, and the dry-run check that stores nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.domain.errors import DeployRejected, Forbidden
from engine.persistence.models import AuditEntry, ProcessDefinition
from tests import diagrams
from tests.conftest import OWNER, VC, fixture_bytes

TWO_LANES = fixture_bytes("two_lanes.bpmn")


def findings(result) -> list[tuple[str | None, str, str]]:
    return [(d.element_id, d.severity, d.message) for d in result.diagnostics]


def stored(platform) -> tuple[int, int]:
    with platform.db.read() as session:
        return (
            session.scalar(select(func.count()).select_from(ProcessDefinition)),
            session.scalar(select(func.count()).select_from(AuditEntry)),
        )


def test_a_diagram_whose_lanes_and_roles_are_known_has_no_findings(platform):
    assert findings(platform.runtime.check_diagram(TWO_LANES, OWNER)) == []


def test_a_task_in_an_unknown_lane_is_an_error_on_the_task(platform):
    xml = TWO_LANES.replace('name="Region primärvård"'.encode(), b'name="Kommunen"')
    result = platform.runtime.check_diagram(xml, OWNER)
    errors = [(e, m) for e, s, m in findings(result) if s == "error"]
    assert [e for e, _ in errors] == ["planera", "eskalera"]
    assert "Kommunen" in errors[0][1] and "ingen får uppgiften" in errors[0][1]
    assert not result.executable
    with pytest.raises(DeployRejected) as info:
        platform.runtime.deploy(xml, OWNER)
    assert {d.element_id for d in info.value.diagnostics} == {"planera", "eskalera"}


def test_a_known_role_property_answers_for_an_unknown_lane_but_the_lane_is_still_named(platform):
    xml = TWO_LANES.replace('name="Region primärvård"'.encode(), b'name="Kommunen"').replace(
        b'<bpmn:userTask id="eskalera" name="Hantera f\xc3\xb6rsenad planering" />',
        b'<bpmn:userTask id="eskalera" name="Hantera"><bpmn:extensionElements><samflode:properties>'
        b'<samflode:property name="role" value="vardsamordnare" /></samflode:properties></bpmn:extensionElements>'
        b"</bpmn:userTask>",
    )
    result = platform.runtime.check_diagram(xml, OWNER)
    assert [(e, s) for e, s, _ in findings(result)] == [("planera", "error")]


def test_an_unknown_role_property_is_an_error_on_the_task(platform):
    xml = TWO_LANES.replace(
        b'<samflode:property name="due" value="PT24H" />',
        b'<samflode:property name="due" value="PT24H" /><samflode:property name="role" value="vardplanerarre" />',
    )
    result = platform.runtime.check_diagram(xml, OWNER)
    assert [(e, s) for e, s, _ in findings(result)] == [("planera", "error")]
    assert "'vardplanerarre' finns inte i lanes.json" in result.diagnostics[0].message


def test_an_unknown_lane_without_human_tasks_is_a_warning_on_the_lane(platform):
    xml = diagrams.linear(
        "bara_handelser",
        """
  <bpmn:laneSet id="ls"><bpmn:lane id="lane_x" name="Okänd part">
    <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>end</bpmn:flowNodeRef>
  </bpmn:lane></bpmn:laneSet>
  <bpmn:startEvent id="start" /><bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="end" />""",
    )
    result = platform.runtime.check_diagram(xml, OWNER)
    assert [(e, s) for e, s, _ in findings(result)] == [("lane_x", "warning")]
    assert result.executable


def test_check_lists_every_kind_of_finding_by_element(platform):
    """One diagram with a missing form, a timer that cannot be parsed, an unreachable task, a gateway without a
    default, a task outside any lane and a sandbox violation: each finding names its element."""
    xml = diagrams.linear(
        "manga_fel",
        """
  <bpmn:laneSet id="ls"><bpmn:lane id="lane_s" name="Slutenvård">
    <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>bedom</bpmn:flowNodeRef>
  </bpmn:lane></bpmn:laneSet>
  <bpmn:startEvent id="start" />
  <bpmn:userTask id="bedom" name="Bedöm"><bpmn:extensionElements><samflode:properties>
    <samflode:property name="form" value="finns_inte" /></samflode:properties></bpmn:extensionElements></bpmn:userTask>
  <bpmn:exclusiveGateway id="gw" />
  <bpmn:intermediateCatchEvent id="vanta"><bpmn:timerEventDefinition>
    <bpmn:timeDuration>P3X</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
  <bpmn:userTask id="utanfor" name="Utanför" />
  <bpmn:userTask id="ensam" name="Ensam" />
  <bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="bedom" />
  <bpmn:sequenceFlow id="f2" sourceRef="bedom" targetRef="gw" />
  <bpmn:sequenceFlow id="f_a" sourceRef="gw" targetRef="vanta">
    <bpmn:conditionExpression>__import__('os')</bpmn:conditionExpression></bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f_b" sourceRef="gw" targetRef="utanfor">
    <bpmn:conditionExpression>x == 1</bpmn:conditionExpression></bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f3" sourceRef="vanta" targetRef="end" />
  <bpmn:sequenceFlow id="f4" sourceRef="utanfor" targetRef="end" />""",
    )
    before = stored(platform)
    result = platform.runtime.check_diagram(xml, OWNER)
    by_element = {(e, s) for e, s, _ in findings(result)}
    assert {
        ("bedom", "error"),  # form
        ("vanta", "error"),  # timer
        ("f_a", "error"),  # sandbox
        ("gw", "warning"),  # no default
        ("utanfor", "warning"),  # outside any lane
        ("ensam", "error"),  # connected to nothing (issue 15: was a warning, "0 fel" with the rest fixed)
    } <= by_element
    assert not result.executable and result.errors == 4
    assert stored(platform) == before


def test_the_flow_rules_that_matter_for_running_are_errors_naming_the_element(platform):
    """Issue 15: a disconnected task and a dead end reached by an implicit split passed as "0 fel"; bpmnlint's
    recommended rules call both errors, and so does the server's check (the modeller runs bpmnlint itself too)."""
    xml = diagrams.linear(
        "dott_slut",
        """
  <bpmn:startEvent id="start" />
  <bpmn:userTask id="bedom" name="Bedöm" />
  <bpmn:userTask id="vidare" name="Vidare" />
  <bpmn:userTask id="atervandsgrand" name="Återvändsgränd" />
  <bpmn:userTask id="ensam" name="Ensam" />
  <bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="bedom" />
  <bpmn:sequenceFlow id="f2" sourceRef="bedom" targetRef="vidare" />
  <bpmn:sequenceFlow id="f3" sourceRef="bedom" targetRef="atervandsgrand" />
  <bpmn:sequenceFlow id="f4" sourceRef="vidare" targetRef="end" />
  <bpmn:sequenceFlow id="f5" sourceRef="vidare" targetRef="end" />""",
    )
    result = platform.runtime.check_diagram(xml, OWNER)
    found = {(e, s): m for e, s, m in findings(result)}
    assert "«Ensam» är inte kopplat till något flöde" in found[("ensam", "error")]
    assert "«Återvändsgränd» leder ingenstans" in found[("atervandsgrand", "error")]
    assert "«Bedöm» delar flödet utan grind" in found[("bedom", "warning")]
    assert ("f5", "error") in found  # the same two elements joined twice
    assert not result.executable and result.errors == 3
    no_ends = diagrams.linear(
        "utan_slut",
        """
  <bpmn:startEvent id="start" /><bpmn:userTask id="t" name="Gör" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="t" />""",
    )
    found = {(e, s): m for e, s, m in findings(platform.runtime.check_diagram(no_ends, OWNER))}
    assert "saknar sluthändelse" in found[("utan_slut", "error")]
    assert "«Gör» leder ingenstans" in found[("t", "error")]


@pytest.mark.parametrize("payload", [b"", b"inte xml", b'<?xml version="1.0"?><html/>'])
def test_check_answers_what_is_wrong_with_a_file_that_is_not_bpmn(platform, payload):
    result = platform.runtime.check_diagram(payload, OWNER)
    assert not result.executable and result.errors >= 1 and result.process_id is None


def test_only_process_owners_check(platform):
    with pytest.raises(Forbidden):
        platform.runtime.check_diagram(TWO_LANES, VC)
