"""engine/domain/diff.py: what changed between two versions' element metadata."""

from engine.bpmn.flows import sequence_flows
from engine.domain.diff import FieldChange, diff_elements, diff_flows

BEFORE = {
    "start": {"type": "startEvent", "process": "p"},
    "bedom": {
        "type": "userTask",
        "name": "Bedöm",
        "lane": "Slutenvård",
        "properties": {"form": "bedom", "due": "PT24H"},
        "process": "p",
    },
    "gammal": {"type": "userTask", "name": "Gammal", "lane": "Slutenvård", "process": "p"},
    "vanta": {"type": "intermediateCatchEvent", "timer": {"kind": "duration", "expression": "P1D"}, "process": "p"},
}


def test_identical_versions_have_no_differences():
    assert diff_elements(BEFORE, BEFORE).empty


def test_added_removed_and_changed_elements_with_what_changed():
    after = {
        "start": BEFORE["start"],
        "bedom": {
            "type": "manualTask",
            "name": "Bedöm behov",
            "lane": "Region primärvård",
            "properties": {"form": "bedom", "due": "PT48H", "mal": "Klart"},
            "process": "p",
        },
        "vanta": {**BEFORE["vanta"], "timer": {"kind": "duration", "expression": "P2D"}},
        "ny": {"type": "userTask", "name": "Ny", "lane": "Slutenvård", "process": "p"},
    }
    diff = diff_elements(BEFORE, after)
    assert diff.added == [{"id": "ny", "type": "userTask", "name": "Ny", "lane": "Slutenvård"}]
    assert diff.removed == [{"id": "gammal", "type": "userTask", "name": "Gammal", "lane": "Slutenvård"}]
    assert [c.id for c in diff.changed] == ["bedom", "vanta"]
    assert diff.changed[0].changes == [
        FieldChange("type", "userTask", "manualTask"),
        FieldChange("name", "Bedöm", "Bedöm behov"),
        FieldChange("lane", "Slutenvård", "Region primärvård"),
        FieldChange("property:due", "PT24H", "PT48H"),
        FieldChange("property:mal", None, "Klart"),
    ]
    assert diff.changed[1].changes == [
        FieldChange("timer", {"kind": "duration", "expression": "P1D"}, {"kind": "duration", "expression": "P2D"})
    ]


def test_a_removed_property_is_a_change_to_none():
    after = {**BEFORE, "bedom": {**BEFORE["bedom"], "properties": {"form": "bedom"}}}
    (change,) = diff_elements(BEFORE, after).changed
    assert change.changes == [FieldChange("property:due", "PT24H", None)]


FLOWS_V1 = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:exclusiveGateway id="gw" default="f_nej" />
    <bpmn:userTask id="a" /><bpmn:userTask id="b" /><bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="gw" />
    <bpmn:sequenceFlow id="f_ja" name="Ja" sourceRef="gw" targetRef="a">
      <bpmn:conditionExpression>behov == 'ja'</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_nej" name="Nej" sourceRef="gw" targetRef="b" />
    <bpmn:sequenceFlow id="f_old" sourceRef="a" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"""

FLOWS_V2 = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:exclusiveGateway id="gw" default="f_ja" />
    <bpmn:userTask id="a" /><bpmn:userTask id="b" /><bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="gw" />
    <bpmn:sequenceFlow id="f_ja" name="Ja" sourceRef="gw" targetRef="a" />
    <bpmn:sequenceFlow id="f_nej" name="Nej" sourceRef="gw" targetRef="b">
      <bpmn:conditionExpression>  behov == 'nej'  </bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_new" sourceRef="a" targetRef="b" />
    <bpmn:sequenceFlow id="f_b" sourceRef="b" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"""


def test_sequence_flows_are_read_with_condition_name_and_default():
    flows = sequence_flows(FLOWS_V1)
    assert set(flows) == {"f1", "f_ja", "f_nej", "f_old"}
    assert flows["f_ja"] == {
        "id": "f_ja",
        "name": "Ja",
        "source": "gw",
        "target": "a",
        "condition": "behov == 'ja'",
        "default": False,
        "process": "p",
    }
    assert flows["f_nej"]["default"] is True and flows["f_nej"]["condition"] is None


def test_flows_added_removed_and_changed_in_condition_default_and_target():
    result = diff_flows(sequence_flows(FLOWS_V1), sequence_flows(FLOWS_V2))
    assert [f["id"] for f in result.flows_added] == ["f_b", "f_new"]
    assert [f["id"] for f in result.flows_removed] == ["f_old"]
    assert result.flows_added[1]["source"] == "a" and result.flows_added[1]["target"] == "b"
    changed = {c.id: c.changes for c in result.flows_changed}
    assert set(changed) == {"f_ja", "f_nej"}
    assert changed["f_ja"] == [
        FieldChange("condition", "behov == 'ja'", None),
        FieldChange("default", False, True),
    ]
    assert changed["f_nej"] == [
        FieldChange("condition", None, "behov == 'nej'"),  # surrounding blanks are not a change of meaning
        FieldChange("default", True, False),
    ]
    assert not result.empty
    assert diff_flows(sequence_flows(FLOWS_V1), sequence_flows(FLOWS_V1)).empty


def test_flow_differences_join_the_element_differences():
    result = diff_elements({"a": {"type": "userTask", "name": "A"}}, {"a": {"type": "userTask", "name": "B"}})
    diff_flows(sequence_flows(FLOWS_V1), sequence_flows(FLOWS_V2), into=result)
    assert [c.id for c in result.changed] == ["a"]
    assert [f["id"] for f in result.flows_removed] == ["f_old"]
