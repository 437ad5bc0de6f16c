"""Modelling idioms that BPMN allows and plain SpiffWorkflow 3.2 rejects, rewritten into explicit gateways.

Modellers draw these all the time (most of the MIWG diagrams that plain SpiffWorkflow refuses do so for these):

- **Implicit parallel split**: a task or event with several outgoing flows and no conditions. BPMN 2.0 (10.3.1):
  every outgoing flow gets a token. SpiffWorkflow refuses "Multiple outgoing flows are not supported". We insert a
  parallelGateway after the element.
- **Implicit inclusive split**: conditional flows straight out of a task or event. BPMN: a token goes down every
  flow whose condition holds, down each unconditioned flow, and down the default flow (the element's `default`)
  only when no condition holds. SpiffWorkflow ignores a condition on a task's single outgoing flow and refuses
  several. We insert an inclusiveGateway that carries the conditions; the default flow stays the default. An
  unconditioned flow beside conditional ones is always taken (the default is "the flow that receives a token when
  none of the conditionExpressions on other outgoing flows evaluate to true", BPMN 2.0 table 10.3), so such flows
  leave from a parallelGateway placed in front of the inclusive one.
- **Implicit merge**: several incoming flows into a task. BPMN: each arriving token starts the task again (an
  uncontrolled, exclusive-style merge). SpiffWorkflow 3.2 already does that for a task with several inputs (each
  completed input makes the task ready once more, as in a loop), so no gateway is inserted; tests/unit/test_normalise.py
  pins the behaviour.

Only the copy that SpiffWorkflow parses changes (parsing._normalise); the stored XML stays as uploaded, and the
element metadata, lint and diagnostics are read from the uploaded XML. The inserted elements get ids derived from
the element they follow (`<id>__split`, `<id>__to_split`), so incidents and history still name the modeller's
element for everything the modeller drew.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from engine.bpmn.vocabulary import ACTIVITY_TAGS, BPMN_NS, EVENT_TAGS

# Flow nodes a modeller draws several outgoing flows from: every activity and the events that pass a token on.
_SPLIT_SOURCES = ACTIVITY_TAGS | (EVENT_TAGS - {"endEvent"})
_CONTAINERS = {"process", "subProcess", "transaction", "adHocSubProcess"}


@dataclass(frozen=True)
class Rewrite:
    """One idiom made explicit: `element_id` is the modeller's element, `gateway_id` the inserted gateway."""

    element_id: str
    kind: str  # "parallel_split" | "inclusive_split"
    gateway_id: str


def _q(tag: str) -> str:
    return f"{{{BPMN_NS}}}{tag}"


def _local(el: etree._Element) -> str:
    return etree.QName(el.tag).localname if isinstance(el.tag, str) else ""


def _is_bpmn(el: etree._Element) -> bool:
    return isinstance(el.tag, str) and etree.QName(el.tag).namespace == BPMN_NS


def _has_condition(flow: etree._Element) -> bool:
    cond = flow.find(_q("conditionExpression"))
    return cond is not None and bool((cond.text or "").strip())


def _fresh_id(base: str, taken: set[str]) -> str:
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}{n}"
    taken.add(candidate)
    return candidate


def normalise_idioms(root: etree._Element) -> list[Rewrite]:
    """Rewrite the implicit splits of every process and subprocess in `root`, in place. Returns what changed."""
    taken = {el.get("id") for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    rewrites: list[Rewrite] = []
    containers = [el for el in root.iter() if _is_bpmn(el) and _local(el) in _CONTAINERS]
    for container in containers:
        rewrites.extend(_normalise_container(root, container, taken))
    return rewrites


def _normalise_container(root: etree._Element, container: etree._Element, taken: set[str]) -> list[Rewrite]:
    flows = [el for el in container if _is_bpmn(el) and _local(el) == "sequenceFlow"]
    outgoing: dict[str, list[etree._Element]] = {}
    for flow in flows:
        outgoing.setdefault(flow.get("sourceRef", ""), []).append(flow)
    rewrites: list[Rewrite] = []
    for node in list(container):
        if not _is_bpmn(node) or _local(node) not in _SPLIT_SOURCES:
            continue
        node_id = node.get("id")
        out = outgoing.get(node_id or "", [])
        if not node_id or not out:
            continue
        default = node.get("default")
        conditioned = [f for f in out if _has_condition(f)]
        always = [f for f in out if f not in conditioned and f.get("id") != default]
        if conditioned:
            # node -> inclusive gateway (conditions, default); unconditioned flows come off a parallel gateway
            # in front of it, since BPMN takes them whatever the conditions say.
            inclusive = _insert_gateway(root, container, node, "inclusiveGateway", taken)
            if default and any(f.get("id") == default for f in out):
                inclusive.set("default", default)
            for flow in out:
                if flow not in always:
                    flow.set("sourceRef", inclusive.get("id", ""))
            rewrites.append(Rewrite(node_id, "inclusive_split", inclusive.get("id", "")))
            if always:
                parallel = _insert_gateway(root, container, node, "parallelGateway", taken)
                _move_source(container, node_id, inclusive.get("id", ""), parallel.get("id", ""))
                for flow in always:
                    flow.set("sourceRef", parallel.get("id", ""))
                rewrites.append(Rewrite(node_id, "parallel_split", parallel.get("id", "")))
        elif len(out) > 1:
            parallel = _insert_gateway(root, container, node, "parallelGateway", taken)
            for flow in out:
                flow.set("sourceRef", parallel.get("id", ""))
            rewrites.append(Rewrite(node_id, "parallel_split", parallel.get("id", "")))
        else:
            continue
        if default is not None:
            del node.attrib["default"]
    return rewrites


def _insert_gateway(
    root: etree._Element, container: etree._Element, node: etree._Element, tag: str, taken: set[str]
) -> etree._Element:
    """A new diverging gateway right after `node`, joined to it by a new flow, in its lane and at its position."""
    node_id = node.get("id", "")
    gateway = etree.Element(_q(tag), id=_fresh_id(f"{node_id}__split", taken), gatewayDirection="Diverging")
    node.addnext(gateway)
    _connect(container, node, gateway, taken)
    _add_to_lane(container, node_id, gateway.get("id", ""))
    _add_shape(root, node_id, gateway.get("id", ""))
    return gateway


def _connect(container: etree._Element, source: etree._Element, target: etree._Element, taken: set[str]) -> None:
    source_id = source.get("id", "")
    flow = etree.Element(
        _q("sequenceFlow"),
        id=_fresh_id(f"{source_id}__to_split", taken),
        sourceRef=source_id,
        targetRef=target.get("id", ""),
    )
    target.addnext(flow)


def _move_source(container: etree._Element, source_id: str, target_id: str, new_source_id: str) -> None:
    """The flow source -> target leaves from new_source instead."""
    for flow in container:
        is_flow = _is_bpmn(flow) and _local(flow) == "sequenceFlow"
        if is_flow and flow.get("sourceRef") == source_id and flow.get("targetRef") == target_id:
            flow.set("sourceRef", new_source_id)


def _add_to_lane(container: etree._Element, node_id: str, gateway_id: str) -> None:
    """The inserted gateway belongs to the lane of the element it follows (SpiffWorkflow reads lanes per task)."""
    for ref in container.iter(_q("flowNodeRef")):
        if (ref.text or "").strip() == node_id:
            lane = ref.getparent()
            if lane is not None:
                new_ref = etree.SubElement(lane, _q("flowNodeRef"))
                new_ref.text = gateway_id
            return


def _add_shape(root: etree._Element, node_id: str, gateway_id: str) -> None:
    """SpiffWorkflow orders a split's children by the y of their shapes; give the gateway the position of the element
    it follows so that nothing else changes order."""
    di = "http://www.omg.org/spec/BPMN/20100524/DI"
    dc = "http://www.omg.org/spec/DD/20100524/DC"
    for shape in root.iter(f"{{{di}}}BPMNShape"):
        if shape.get("bpmnElement") == node_id:
            bounds = shape.find(f"{{{dc}}}Bounds")
            copy = etree.Element(f"{{{di}}}BPMNShape", id=f"{gateway_id}_di", bpmnElement=gateway_id)
            if bounds is not None:
                etree.SubElement(
                    copy,
                    f"{{{dc}}}Bounds",
                    x=bounds.get("x", "0"),
                    y=bounds.get("y", "0"),
                    width="50",
                    height="50",
                )
            shape.addnext(copy)
            return
