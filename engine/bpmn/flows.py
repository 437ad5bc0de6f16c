"""The sequence flows of a BPMN document as plain data, for the diff of two versions (engine/domain/diff.py).

Read from the stored XML (as uploaded, so the ids are the modeller's), not from SpiffWorkflow's specs: a flow's
condition is compared as the text the process owner wrote.
"""

from __future__ import annotations

from typing import Any

from engine.bpmn.vocabulary import BPMN_NS, NS
from engine.bpmn.xml_safety import load_xml


def sequence_flows(xml: bytes) -> dict[str, dict[str, Any]]:
    """Flow id -> {id, name, source, target, condition, default, process} for every process in the document."""
    root = load_xml(xml, max_bytes=len(xml) + 1)
    defaults = {el.get("default") for el in root.iter() if isinstance(el.tag, str) and el.get("default")}
    flows: dict[str, dict[str, Any]] = {}
    for process in root.xpath("./bpmn:process", namespaces=NS):
        for flow in process.iter(f"{{{BPMN_NS}}}sequenceFlow"):
            flow_id = flow.get("id")
            if not flow_id:
                continue
            condition = flow.find(f"{{{BPMN_NS}}}conditionExpression")
            text = (condition.text or "").strip() if condition is not None else ""
            flows[flow_id] = {
                "id": flow_id,
                "name": flow.get("name") or None,
                "source": flow.get("sourceRef"),
                "target": flow.get("targetRef"),
                "condition": text or None,
                "default": flow_id in defaults,
                "process": process.get("id"),
            }
    return flows
