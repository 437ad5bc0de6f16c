"""Modelling idioms that plain SpiffWorkflow 3.2 refuses or misreads run with the meaning BPMN gives them
(engine/bpmn/normalise.py): each diagram goes through the runtime to its end."""

from __future__ import annotations

import pytest
from lxml import etree

from engine.bpmn.normalise import normalise_idioms
from engine.bpmn.parsing import parse_document
from tests import diagrams
from tests.conftest import ENGINE, OWNER, SYSTEM, instance_view


def view(platform, instance_id):
    return instance_view(platform, instance_id)


def active(platform, instance_id) -> list[str]:
    return sorted(t["element_id"] for t in view(platform, instance_id)["active_tasks"])


def complete(platform, instance_id, element_id: str, data: dict | None = None) -> None:
    task = next(t for t in view(platform, instance_id)["active_tasks"] if t["element_id"] == element_id)
    platform.runtime.complete_task(task["id"], data or {}, ENGINE)


def completed(platform, instance_id) -> list[str]:
    return sorted(h["element_id"] for h in view(platform, instance_id)["history"] if h["kind"] == "task_completed")


PARALLEL = diagrams.linear(
    "implicit_parallell",
    """
  <bpmn:startEvent id="start" />
  <bpmn:userTask id="bedom" name="Bedöm" />
  <bpmn:userTask id="a" name="Kontakta hemtjänst" />
  <bpmn:userTask id="b" name="Kontakta vårdcentral" />
  <bpmn:parallelGateway id="join" />
  <bpmn:userTask id="efter" name="Efter" />
  <bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="bedom" />
  <bpmn:sequenceFlow id="f2" sourceRef="bedom" targetRef="a" />
  <bpmn:sequenceFlow id="f3" sourceRef="bedom" targetRef="b" />
  <bpmn:sequenceFlow id="f4" sourceRef="a" targetRef="join" />
  <bpmn:sequenceFlow id="f5" sourceRef="b" targetRef="join" />
  <bpmn:sequenceFlow id="f6" sourceRef="join" targetRef="efter" />
  <bpmn:sequenceFlow id="f7" sourceRef="efter" targetRef="end" />""",
)


def test_several_unconditioned_flows_out_of_a_task_run_every_branch(platform):
    result = platform.runtime.deploy(PARALLEL, OWNER)
    assert result.executable, result.diagnostics
    iid = platform.runtime.start_instance("implicit_parallell", "k", {}, SYSTEM)
    complete(platform, iid, "bedom")
    assert active(platform, iid) == ["a", "b"]
    complete(platform, iid, "b")
    assert active(platform, iid) == ["a"]  # the join waits for both branches
    complete(platform, iid, "a")
    complete(platform, iid, "efter")
    assert view(platform, iid)["status"] == "completed"
    assert completed(platform, iid) == ["a", "b", "bedom", "efter"]


INCLUSIVE = diagrams.linear(
    "implicit_inklusiv",
    """
  <bpmn:startEvent id="start" />
  <bpmn:userTask id="bedom" name="Bedöm behov" default="f_inget" />
  <bpmn:userTask id="hemtjanst" name="Beställ hemtjänst" />
  <bpmn:userTask id="hemsjukvard" name="Beställ hemsjukvård" />
  <bpmn:userTask id="inget" name="Inga insatser" />
  <bpmn:userTask id="alltid" name="Informera patienten" />
  <bpmn:endEvent id="e1" /><bpmn:endEvent id="e2" /><bpmn:endEvent id="e3" /><bpmn:endEvent id="e4" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="bedom" />
  <bpmn:sequenceFlow id="f_hemtjanst" sourceRef="bedom" targetRef="hemtjanst">
    <bpmn:conditionExpression>hemtjanst == True</bpmn:conditionExpression></bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f_hemsjukvard" sourceRef="bedom" targetRef="hemsjukvard">
    <bpmn:conditionExpression>hemsjukvard == True</bpmn:conditionExpression></bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f_inget" sourceRef="bedom" targetRef="inget" />
  <bpmn:sequenceFlow id="f_alltid" sourceRef="bedom" targetRef="alltid" />
  <bpmn:sequenceFlow id="f2" sourceRef="hemtjanst" targetRef="e1" />
  <bpmn:sequenceFlow id="f3" sourceRef="hemsjukvard" targetRef="e2" />
  <bpmn:sequenceFlow id="f4" sourceRef="inget" targetRef="e3" />
  <bpmn:sequenceFlow id="f5" sourceRef="alltid" targetRef="e4" />""",
)


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({"hemtjanst": True, "hemsjukvard": False}, ["alltid", "hemtjanst"]),
        ({"hemtjanst": True, "hemsjukvard": True}, ["alltid", "hemsjukvard", "hemtjanst"]),
        # No condition holds: the default flow, and the unconditioned flow, which BPMN always takes.
        ({"hemtjanst": False, "hemsjukvard": False}, ["alltid", "inget"]),
    ],
)
def test_conditional_flows_out_of_a_task_take_only_the_true_ones(platform, answers, expected):
    result = platform.runtime.deploy(INCLUSIVE, OWNER)
    assert result.executable, result.diagnostics
    iid = platform.runtime.start_instance("implicit_inklusiv", "k", {}, SYSTEM)
    complete(platform, iid, "bedom", answers)
    assert active(platform, iid) == expected
    for element_id in expected:
        complete(platform, iid, element_id)
    assert view(platform, iid)["status"] == "completed"
    assert completed(platform, iid) == sorted(["bedom", *expected])


def test_a_single_conditional_flow_out_of_a_task_is_not_ignored(platform):
    xml = diagrams.linear(
        "ett_villkor",
        """
  <bpmn:startEvent id="start" />
  <bpmn:userTask id="bedom" name="Bedöm" default="f_annars" />
  <bpmn:userTask id="ja" name="Ja" />
  <bpmn:userTask id="annars" name="Annars" />
  <bpmn:endEvent id="e1" /><bpmn:endEvent id="e2" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="bedom" />
  <bpmn:sequenceFlow id="f_ja" sourceRef="bedom" targetRef="ja">
    <bpmn:conditionExpression>svar == 'ja'</bpmn:conditionExpression></bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f_annars" sourceRef="bedom" targetRef="annars" />
  <bpmn:sequenceFlow id="f2" sourceRef="ja" targetRef="e1" />
  <bpmn:sequenceFlow id="f3" sourceRef="annars" targetRef="e2" />""",
    )
    platform.runtime.deploy(xml, OWNER)
    iid = platform.runtime.start_instance("ett_villkor", "k", {}, SYSTEM)
    complete(platform, iid, "bedom", {"svar": "nej"})
    assert active(platform, iid) == ["annars"]


MERGE = diagrams.linear(
    "implicit_sammanslagning",
    """
  <bpmn:startEvent id="start" />
  <bpmn:exclusiveGateway id="gw" default="f_nej" />
  <bpmn:userTask id="ja" name="Ja" />
  <bpmn:userTask id="nej" name="Nej" />
  <bpmn:userTask id="efter" name="Efter" />
  <bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="gw" />
  <bpmn:sequenceFlow id="f_ja" sourceRef="gw" targetRef="ja">
    <bpmn:conditionExpression>svar == 'ja'</bpmn:conditionExpression></bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f_nej" sourceRef="gw" targetRef="nej" />
  <bpmn:sequenceFlow id="f2" sourceRef="ja" targetRef="efter" />
  <bpmn:sequenceFlow id="f3" sourceRef="nej" targetRef="efter" />
  <bpmn:sequenceFlow id="f4" sourceRef="efter" targetRef="end" />""",
)


@pytest.mark.parametrize("answer", ["ja", "nej"])
def test_several_incoming_flows_into_a_task_merge_exclusively(platform, answer):
    platform.runtime.deploy(MERGE, OWNER)
    iid = platform.runtime.start_instance("implicit_sammanslagning", "k", {"svar": answer}, SYSTEM)
    complete(platform, iid, answer)
    assert active(platform, iid) == ["efter"]
    complete(platform, iid, "efter")
    assert view(platform, iid)["status"] == "completed"


def test_a_task_reached_by_two_parallel_tokens_runs_twice(platform):
    """BPMN: an uncontrolled merge passes every token on, so the task after an (implicit) parallel split whose
    branches meet without a join runs once per branch."""
    xml = diagrams.linear(
        "okontrollerad",
        """
  <bpmn:startEvent id="start" />
  <bpmn:userTask id="bedom" name="Bedöm" />
  <bpmn:userTask id="a" name="A" />
  <bpmn:userTask id="b" name="B" />
  <bpmn:userTask id="efter" name="Efter" />
  <bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="bedom" />
  <bpmn:sequenceFlow id="f2" sourceRef="bedom" targetRef="a" />
  <bpmn:sequenceFlow id="f3" sourceRef="bedom" targetRef="b" />
  <bpmn:sequenceFlow id="f4" sourceRef="a" targetRef="efter" />
  <bpmn:sequenceFlow id="f5" sourceRef="b" targetRef="efter" />
  <bpmn:sequenceFlow id="f6" sourceRef="efter" targetRef="end" />""",
    )
    platform.runtime.deploy(xml, OWNER)
    iid = platform.runtime.start_instance("okontrollerad", "k", {}, SYSTEM)
    complete(platform, iid, "bedom")
    complete(platform, iid, "a")
    assert active(platform, iid) == ["b", "efter"]
    complete(platform, iid, "b")
    assert active(platform, iid) == ["efter", "efter"]
    complete(platform, iid, "efter")
    complete(platform, iid, "efter")
    assert view(platform, iid)["status"] == "completed"


def test_only_the_parsed_copy_changes_and_the_stored_file_stays_as_uploaded(platform):
    result = platform.runtime.deploy(PARALLEL, OWNER)
    assert platform.reports.definition_xml("implicit_parallell", result.version) == PARALLEL.encode()
    elements = platform.reports.definition("implicit_parallell")["elements"]
    assert not [key for key in elements if "__split" in key]
    root = etree.fromstring(PARALLEL.encode())
    rewrites = normalise_idioms(root)
    assert [(r.element_id, r.kind, r.gateway_id) for r in rewrites] == [("bedom", "parallel_split", "bedom__split")]
    assert [f.get("sourceRef") for f in root.iter("{*}sequenceFlow") if f.get("id") in {"f2", "f3"}] == [
        "bedom__split",
        "bedom__split",
    ]


def test_plain_spiffworkflow_refuses_what_normalisation_makes_runnable():
    """The reason for engine/bpmn/normalise.py: without it these documents do not parse or lose conditions."""
    from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
    from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException

    for xml in (PARALLEL, INCLUSIVE):
        parser = BpmnParser()
        parser.add_bpmn_xml(etree.fromstring(xml.encode()))
        with pytest.raises(ValidationException, match="Multiple outgoing flows"):
            parser.get_spec(etree.fromstring(xml.encode()).find("{*}process").get("id"))
        assert parse_document(xml).executable


def test_several_flows_out_of_an_event_run_every_branch(platform):
    xml = diagrams.linear(
        "handelse_delning",
        """
  <bpmn:startEvent id="start" />
  <bpmn:intermediateThrowEvent id="klart" name="Klart" />
  <bpmn:userTask id="a" name="A" />
  <bpmn:userTask id="b" name="B" />
  <bpmn:endEvent id="e1" /><bpmn:endEvent id="e2" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="klart" />
  <bpmn:sequenceFlow id="f2" sourceRef="klart" targetRef="a" />
  <bpmn:sequenceFlow id="f3" sourceRef="klart" targetRef="b" />
  <bpmn:sequenceFlow id="f4" sourceRef="a" targetRef="e1" />
  <bpmn:sequenceFlow id="f5" sourceRef="b" targetRef="e2" />""",
    )
    assert platform.runtime.deploy(xml, OWNER).executable
    iid = platform.runtime.start_instance("handelse_delning", "k", {}, SYSTEM)
    assert active(platform, iid) == ["a", "b"]
    complete(platform, iid, "a")
    complete(platform, iid, "b")
    assert view(platform, iid)["status"] == "completed"


@pytest.mark.parametrize("name", ["A.4.0.bpmn", "A.4.1.bpmn"])
def test_miwg_diagrams_with_implicit_splits_parse_once_normalised(name):
    """A.4.0 and A.4.1 split out of tasks without gateways; marked executable, they parse only with normalisation."""
    from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
    from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException

    from tests.miwg import MIWG_DIR, miwg_files

    miwg_files()
    xml = (MIWG_DIR / name).read_bytes().replace(b'isExecutable="false"', b'isExecutable="true"')
    doc = parse_document(xml)
    assert doc.executable, doc.diagnostics
    parser = BpmnParser()
    parser.add_bpmn_xml(etree.fromstring(xml))
    with pytest.raises(ValidationException, match="Multiple outgoing flows"):
        for process in etree.fromstring(xml).iterfind("{*}process"):
            parser.get_spec(process.get("id"))


EVENT_BASED = diagrams.linear(
    "vanta_pa_forsta",
    """
  <bpmn:startEvent id="start" />
  <bpmn:eventBasedGateway id="vilket" />
  <bpmn:intermediateCatchEvent id="vanta_a">
    <bpmn:messageEventDefinition messageRef="m_a" />
  </bpmn:intermediateCatchEvent>
  <bpmn:intermediateCatchEvent id="vanta_b">
    <bpmn:messageEventDefinition messageRef="m_b" />
  </bpmn:intermediateCatchEvent>
  <bpmn:exclusiveGateway id="orsak" default="f_annat" />
  <bpmn:userTask id="avliden" name="Avliden" />
  <bpmn:userTask id="annat" name="Annat" />
  <bpmn:userTask id="efter_b" name="Efter b" />
  <bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="vilket" />
  <bpmn:sequenceFlow id="f2" sourceRef="vilket" targetRef="vanta_a" />
  <bpmn:sequenceFlow id="f3" sourceRef="vilket" targetRef="vanta_b" />
  <bpmn:sequenceFlow id="f4" sourceRef="vanta_a" targetRef="orsak" />
  <bpmn:sequenceFlow id="f_avliden" sourceRef="orsak" targetRef="avliden">
    <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"
      xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">avslutsorsak == 'avliden'</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f_annat" sourceRef="orsak" targetRef="annat" />
  <bpmn:sequenceFlow id="f5" sourceRef="vanta_b" targetRef="efter_b" />
  <bpmn:sequenceFlow id="f6" sourceRef="avliden" targetRef="end" />
  <bpmn:sequenceFlow id="f7" sourceRef="annat" targetRef="end" />
  <bpmn:sequenceFlow id="f8" sourceRef="efter_b" targetRef="end" />""",
    messages='<bpmn:message id="m_a" name="vardtillfalle_avslutat" />\n<bpmn:message id="m_b" name="utskrivet" />\n',
)
STAY = {"personnummer": "19380312-2385", "vardtillfalle_id": "VT-9"}


def test_an_event_based_gateway_listens_for_each_of_its_messages(platform):
    platform.runtime.deploy(EVENT_BASED, OWNER, filename="vanta_pa_forsta.bpmn")
    instance_id = platform.runtime.start_instance("vanta_pa_forsta", "k", dict(STAY), SYSTEM)
    result = platform.runtime.send_message("vardtillfalle_avslutat", "m-1", STAY, {"avslutsorsak": "avliden"}, SYSTEM)
    assert result.outcome == "delivered" and active(platform, instance_id) == ["avliden"]


def test_a_condition_that_fails_after_a_caught_message_is_an_incident_not_a_lost_message(platform):
    """The message is delivered (the catch happened) and the failing condition is an incident on its element, as
    any failing expression is; it is never answered 'no longer waiting' with the message thrown away."""
    platform.runtime.deploy(EVENT_BASED, OWNER, filename="vanta_pa_forsta.bpmn")
    instance_id = platform.runtime.start_instance("vanta_pa_forsta", "k", dict(STAY), SYSTEM)
    result = platform.runtime.send_message("vardtillfalle_avslutat", "m-2", STAY, {}, SYSTEM)
    assert result.outcome == "delivered"
    state = view(platform, instance_id)
    assert state["status"] == "incident"
    assert [i["element_id"] for i in state["incidents"]] == ["orsak"]
