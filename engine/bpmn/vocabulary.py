"""The BPMN 2.0 names the parser, the linter and the normaliser share."""

from __future__ import annotations

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SAMFLODE_NS = "http://samflode.se/schema/bpmn/1.0"
NS = {"bpmn": BPMN_NS, "samflode": SAMFLODE_NS}

ACTIVITY_TAGS = {
    "task",
    "userTask",
    "manualTask",
    "scriptTask",
    "serviceTask",
    "sendTask",
    "receiveTask",
    "businessRuleTask",
    "callActivity",
    "subProcess",
    "transaction",
    "adHocSubProcess",
}
HUMAN_TASK_TAGS = {"userTask", "manualTask"}
EVENT_TAGS = {
    "startEvent",
    "endEvent",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "boundaryEvent",
}
GATEWAY_TAGS = {"exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway"}
FLOW_NODE_TAGS = ACTIVITY_TAGS | EVENT_TAGS | GATEWAY_TAGS
