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


_BPMN_PREFIX = f"{{{BPMN_NS}}}"


def _local(el: etree._Element) -> str:
    """The local name of an element's tag ('{ns}task' -> 'task'): string slicing, not lxml's QName, which was a
    quarter of checking a big file."""
    tag = el.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _is_bpmn(el: etree._Element) -> bool:
    tag = el.tag
    return isinstance(tag, str) and tag.startswith(_BPMN_PREFIX)


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


@dataclass
class _Index:
    """Looked up once per document, so that each inserted gateway costs the same whatever the file's size (a 5 MB
    file checks in linear time, issue 13): the ids taken, each element's lane reference and diagram shape."""

    taken: set[str]
    lane_refs: dict[str, etree._Element]
    shapes: dict[str, etree._Element]


def normalise_idioms(root: etree._Element) -> list[Rewrite]:
    """Rewrite the implicit splits of every process and subprocess in `root`, in place. Returns what changed."""
    di = "http://www.omg.org/spec/BPMN/20100524/DI"
    index = _Index(set(), {}, {})
    containers = []
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        el_id = el.get("id")
        if el_id:
            index.taken.add(el_id)
        if _is_bpmn(el):
            name = _local(el)
            if name in _CONTAINERS:
                containers.append(el)
            elif name == "flowNodeRef":
                index.lane_refs.setdefault((el.text or "").strip(), el)
        elif el.tag == f"{{{di}}}BPMNShape" and el.get("bpmnElement"):
            index.shapes.setdefault(el.get("bpmnElement", ""), el)
    rewrites: list[Rewrite] = []
    for container in containers:
        rewrites.extend(_normalise_container(container, index))
    return rewrites


def _normalise_container(container: etree._Element, index: _Index) -> list[Rewrite]:
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
            inclusive, to_inclusive = _insert_gateway(node, "inclusiveGateway", index)
            if default and any(f.get("id") == default for f in out):
                inclusive.set("default", default)
            for flow in out:
                if flow not in always:
                    flow.set("sourceRef", inclusive.get("id", ""))
            rewrites.append(Rewrite(node_id, "inclusive_split", inclusive.get("id", "")))
            if always:
                parallel, _ = _insert_gateway(node, "parallelGateway", index)
                to_inclusive.set("sourceRef", parallel.get("id", ""))  # node -> parallel -> inclusive
                for flow in always:
                    flow.set("sourceRef", parallel.get("id", ""))
                rewrites.append(Rewrite(node_id, "parallel_split", parallel.get("id", "")))
        elif len(out) > 1:
            parallel, _ = _insert_gateway(node, "parallelGateway", index)
            for flow in out:
                flow.set("sourceRef", parallel.get("id", ""))
            rewrites.append(Rewrite(node_id, "parallel_split", parallel.get("id", "")))
        else:
            continue
        if default is not None:
            del node.attrib["default"]
    return rewrites


def _insert_gateway(node: etree._Element, tag: str, index: _Index) -> tuple[etree._Element, etree._Element]:
    """A new diverging gateway right after `node`, joined to it by a new flow (returned too), in its lane and at its
    position."""
    node_id = node.get("id", "")
    gateway = etree.Element(_q(tag), id=_fresh_id(f"{node_id}__split", index.taken), gatewayDirection="Diverging")
    node.addnext(gateway)
    flow = _connect(node, gateway, index.taken)
    _add_to_lane(index, node_id, gateway.get("id", ""))
    _add_shape(index, node_id, gateway.get("id", ""))
    return gateway, flow


def _connect(source: etree._Element, target: etree._Element, taken: set[str]) -> etree._Element:
    source_id = source.get("id", "")
    flow = etree.Element(
        _q("sequenceFlow"),
        id=_fresh_id(f"{source_id}__to_split", taken),
        sourceRef=source_id,
        targetRef=target.get("id", ""),
    )
    target.addnext(flow)
    return flow


def _add_to_lane(index: _Index, node_id: str, gateway_id: str) -> None:
    """The inserted gateway belongs to the lane of the element it follows (SpiffWorkflow reads lanes per task)."""
    ref = index.lane_refs.get(node_id)
    lane = ref.getparent() if ref is not None else None
    if lane is not None:
        new_ref = etree.SubElement(lane, _q("flowNodeRef"))
        new_ref.text = gateway_id
        index.lane_refs.setdefault(gateway_id, new_ref)


def _add_shape(index: _Index, node_id: str, gateway_id: str) -> None:
    """SpiffWorkflow orders a split's children by the y of their shapes; give the gateway the position of the element
    it follows so that nothing else changes order."""
    di = "http://www.omg.org/spec/BPMN/20100524/DI"
    dc = "http://www.omg.org/spec/DD/20100524/DC"
    shape = index.shapes.get(node_id)
    if shape is None:
        return
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
    index.shapes.setdefault(gateway_id, copy)
