"""From BPMN bytes to checked, parsed process specs: safe XML, normalisation, metadata, lint, SpiffWorkflow parse.

The metadata (lanes, forms, deadlines, documentation of every element) is read from the XML here, once, at deploy,
and stored beside the definition; nothing at run time reads XML.
"""

from __future__ import annotations

import ast
import copy
import gc
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser, full_tag
from SpiffWorkflow.bpmn.parser.event_parsers import EventDefinitionParser
from SpiffWorkflow.bpmn.parser.ProcessParser import ProcessParser
from SpiffWorkflow.bpmn.parser.task_parsers import ConditionalGatewayParser, GatewayParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine.bpmn import timers as timer_bridge
from engine.bpmn.gateways import LoopSafeInclusiveGateway, ScanningParallelGateway
from engine.bpmn.normalise import normalise_idioms
from engine.bpmn.sandbox import check_source
from engine.bpmn.timers import ClockTimerParsing
from engine.bpmn.vocabulary import (
    BPMN_NS,
    FLOW_NODE_TAGS,
    GATEWAY_TAGS,
    HUMAN_TASK_TAGS,
    NS,
    SAMFLODE_NS,
)
from engine.bpmn.xml_safety import DEFAULT_MAX_BYTES, load_xml, to_bytes
from engine.domain.errors import DeployRejected, Diagnostic
from engine.domain.text import Text

EXPRESSION_TAGS = {
    "conditionExpression": "villkor",
    "condition": "villkor",
    "loopCardinality": "antal",
    "completionCondition": "slutvillkor",
    "loopCondition": "loopvillkor",
}
TIMER_TAGS = {"timeDuration": "duration", "timeDate": "date", "timeCycle": "cycle"}
DOC_PROPERTIES = ("mal", "syfte", "utforare", "tidpunkt", "lagrum")
_ISO_ATTEMPT = re.compile(r"^(R\d*/|PT?\d|\d{4}-\d)", re.IGNORECASE)  # looks like ISO 8601 but did not parse as such


_BPMN_PREFIX = f"{{{BPMN_NS}}}"


def _local(tag: Any) -> str:
    """'{ns}task' -> 'task' by string slicing (lxml's QName per element was a quarter of checking a big file)."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _is_bpmn(el: etree._Element) -> bool:
    tag = el.tag
    return isinstance(tag, str) and tag.startswith(_BPMN_PREFIX)


_CONTAINER_TAGS = frozenset(f"{{{BPMN_NS}}}{t}" for t in ("subProcess", "transaction", "adHocSubProcess"))


@lru_cache(maxsize=512)
def _compiled_xpath(expression: str, namespaces: tuple[tuple[str, str], ...]) -> etree.XPath:
    return etree.XPath(expression, namespaces=dict(namespaces))


class _FastXPath:
    """SpiffWorkflow's node parsers ask many small XPath questions per element; lxml compiles each one anew on
    every call. Compiled once here (same answers), which halves parsing a big file."""

    nsmap: dict[str, str]

    def _xpath(self, node: etree._Element, xpath: str) -> Any:
        key = self.__dict__.get("_ns_key")
        if key is None:
            key = self.__dict__["_ns_key"] = tuple(sorted((k, v) for k, v in self.nsmap.items() if k))
        return _compiled_xpath(xpath, key)(node)


class _ProcessParser(_FastXPath, ProcessParser):
    """SpiffWorkflow's process parser, indexing its own nodes by walking the tree instead of the XPath `.//*[@id]`:
    libxml2 merges descending node sets in quadratic time, and every nested sub-process indexed everything below
    it again, which made a few MB of sub-processes take minutes. A sub-process's contents are indexed by its own
    parser; what a parser looks up (flow targets, boundary events, data references) lies in its own container."""

    def _index_process_nodes(self) -> None:
        stack = list(self.node)
        while stack:
            node = stack.pop()
            tag = node.tag
            if not isinstance(tag, str):
                continue
            if tag not in _CONTAINER_TAGS:
                stack.extend(node)
            node_id = node.get("id")
            if node_id is None:
                continue
            self.nodes_by_id[node_id] = node
            if tag.endswith("sequenceFlow"):
                self.outgoing_sequence_flows.setdefault(node.get("sourceRef"), []).append(node)
            elif tag.endswith("boundaryEvent"):
                self.boundary_events_by_attached.setdefault(node.get("attachedToRef"), []).append(node)
            elif tag.endswith("dataObjectReference"):
                self.data_object_references[node_id] = node
            elif tag.endswith("dataStoreReference"):
                self.data_store_references[node_id] = node


def _fast_parser_classes(overrides: dict[str, tuple[type, type]]) -> dict[str, tuple[type, type]]:
    """Every task parser SpiffWorkflow registers, with compiled XPath mixed in and, in the event parsers, our timer
    event definitions (engine/bpmn/timers.py), registered through the parser's own OVERRIDE_PARSER_CLASSES, no
    patching; our task spec fixes (`overrides`) kept."""
    classes = {**BpmnParser.PARSER_CLASSES, **overrides}

    def mixins(parser: type) -> tuple[type, ...]:
        timers = (ClockTimerParsing,) if issubclass(parser, EventDefinitionParser) else ()
        return (_FastXPath, *timers, parser)

    return {tag: (type(f"Fast{parser.__name__}", mixins(parser), {}), spec) for tag, (parser, spec) in classes.items()}


class _Parser(BpmnParser):
    """SpiffWorkflow's parser with our fixes to its task specs (engine/bpmn/gateways.py) and its node index."""

    PROCESS_PARSER_CLASS = _ProcessParser
    OVERRIDE_PARSER_CLASSES = _fast_parser_classes(
        {
            full_tag("inclusiveGateway"): (ConditionalGatewayParser, LoopSafeInclusiveGateway),
            full_tag("parallelGateway"): (GatewayParser, ScanningParallelGateway),
        }
    )


@dataclass
class ElementInfo:
    id: str
    type: str
    name: str | None
    lane: str | None
    properties: dict[str, str] = field(default_factory=dict)
    documentation: str | None = None
    timer: dict[str, str] | None = None  # {"kind": "duration|date|cycle", "expression": original text}
    message: str | None = None
    attached_to: str | None = None
    cancel_activity: bool | None = None
    called_element: str | None = None
    parent: str | None = None  # id of the enclosing subprocess, if any

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, {}, [])}


@dataclass
class ParsedProcess:
    process_id: str
    name: str | None
    executable: bool
    elements: dict[str, ElementInfo]
    start_messages: list[str]
    called_processes: list[str]
    lanes: list[str]


@dataclass
class ParsedDocument:
    """A whole BPMN document after checks. `spec` is set only when the main process parsed and may run."""

    content_hash: str
    normalised_xml: bytes
    processes: list[ParsedProcess]
    diagnostics: list[Diagnostic]
    main: ParsedProcess | None
    spec: BpmnProcessSpec | None = None
    subprocess_specs: dict[str, BpmnProcessSpec] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    dependencies: dict[str, bytes] = field(default_factory=dict)
    unresolved: list[str] = field(default_factory=list)  # called process ids not deployed yet (resolved at run time)
    # A document with only a collaboration (pools without processes): (its id, its name), stored as documentation
    # under that id, as bpmn-js opens such a file (issue 15).
    collaboration: tuple[str, str | None] | None = None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def executable(self) -> bool:
        return self.spec is not None and not self.errors


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def document_meaning(xml: bytes) -> str | None:
    """`meaning_hash` of a stored or uploaded file (None when it is not XML at all). Only a deploy asks, and only
    when no stored version has the same bytes: checking a diagram does not pay for it."""
    try:
        return meaning_hash(load_xml(xml, max_bytes=max(len(xml), 1)))
    except DeployRejected:
        return None


def meaning_hash(root: etree._Element) -> str:
    """What a document says, apart from how it is written (issue 15: unchanged content is not a new version): every
    element with its namespace (not its prefix), attributes (QName values such as xsi:type resolved to their
    namespace), text and children (in any order, but an edge's waypoints in theirs), the drawing's coordinates
    rounded to whole points. Whitespace between elements, comments, the exporter's name and version, and the
    incoming/outgoing lists that some tools write and others leave out (the flows say the same) are not in it."""
    skip_tags = {f"{{{BPMN_NS}}}incoming", f"{{{BPMN_NS}}}outgoing"}
    skip_attributes = {"exporter", "exporterVersion"}
    qname = re.compile(r"^([A-Za-z_][\w.\-]*):([A-Za-z_][\w.\-]*)$")
    di_points = {f"{{{DC_NS}}}Bounds", f"{{{DI_NS}}}waypoint"}
    edge = f"{{{BPMNDI_NS}}}BPMNEdge"

    def value(el: etree._Element, text: str, rounded: bool) -> str:
        if ":" in text:
            found = qname.match(text)
            if found:
                namespaces = el.nsmap
                if found.group(1) in namespaces:
                    return f"{{{namespaces[found.group(1)]}}}{found.group(2)}"
        if rounded:
            try:
                return str(round(float(text)))
            except ValueError:
                return text
        return text

    def walk(el: etree._Element) -> str:
        # Each element as the digest of its own parts and its children's digests: linear in the file's size.
        rounded = el.tag in di_points
        attributes = sorted(
            (name, value(el, text, rounded)) for name, text in el.attrib.items() if name not in skip_attributes
        )
        text = (el.text or "").strip()
        children = [walk(child) for child in el if isinstance(child.tag, str) and child.tag not in skip_tags]
        if el.tag != edge:  # only an edge's waypoints are a sequence; tools order the rest as they like
            children.sort()
        own = "\x1f".join([el.tag, repr(attributes), value(el, text, False) if text else "", *children])
        return hashlib.sha1(own.encode("utf-8"), usedforsecurity=False).hexdigest()

    return walk(root)


DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
_DOCUMENTATION = f"{{{BPMN_NS}}}documentation"
_EXTENSIONS = f"{{{BPMN_NS}}}extensionElements"
_TIMER_DEFINITION = f"{{{BPMN_NS}}}timerEventDefinition"
_MESSAGE_DEFINITION = f"{{{BPMN_NS}}}messageEventDefinition"
_SAMFLODE_PROPERTIES = f"{{{SAMFLODE_NS}}}properties"
_SAMFLODE_PROPERTY = f"{{{SAMFLODE_NS}}}property"


def _extension_properties(extensions: etree._Element) -> dict[str, str]:
    props: dict[str, str] = {}
    for group in extensions:
        if group.tag != _SAMFLODE_PROPERTIES:
            continue
        for prop in group:
            name = prop.get("name") if prop.tag == _SAMFLODE_PROPERTY else None
            if name:
                props[name] = prop.get("value", "") if prop.get("value") is not None else (prop.text or "")
    return props


def _lanes_by_node(process: etree._Element) -> dict[str, str]:
    result: dict[str, str] = {}
    for lane in process.xpath(".//bpmn:lane", namespaces=NS):
        lane_name = lane.get("name") or lane.get("id")
        for ref in lane.xpath("./bpmn:flowNodeRef", namespaces=NS):
            if ref.text:
                result[ref.text.strip()] = lane_name
    return result


def _collect_elements(
    process: etree._Element, lanes: dict[str, str], messages: dict[str, str]
) -> dict[str, ElementInfo]:
    elements: dict[str, ElementInfo] = {}

    def walk(container: etree._Element, parent: str | None, inherited_lane: str | None) -> None:
        for el in container:
            if not _is_bpmn(el):
                continue
            tag = _local(el.tag)
            if tag not in FLOW_NODE_TAGS:
                continue
            el_id = el.get("id")
            if not el_id:
                continue
            lane = lanes.get(el_id, inherited_lane)
            info = ElementInfo(id=el_id, type=tag, name=el.get("name"), lane=lane, parent=parent)
            # One pass over the element's own children (no path lookups per element: linear in the file's size).
            for child in el:
                child_tag = child.tag
                if child_tag == _DOCUMENTATION:
                    if info.documentation is None and child.text:
                        info.documentation = child.text.strip() or None
                elif child_tag == _EXTENSIONS:
                    info.properties.update(_extension_properties(child))
                elif child_tag == _TIMER_DEFINITION:
                    for timer_el in child:
                        kind = TIMER_TAGS.get(_local(timer_el.tag))
                        if kind:
                            info.timer = {"kind": kind, "expression": (timer_el.text or "").strip()}
                elif child_tag == _MESSAGE_DEFINITION and info.message is None:
                    ref = child.get("messageRef")
                    info.message = messages.get(ref or "", ref)
            if tag == "receiveTask" and el.get("messageRef"):
                info.message = messages.get(el.get("messageRef", ""), el.get("messageRef"))
            if tag == "boundaryEvent":
                info.attached_to = el.get("attachedToRef")
                info.cancel_activity = el.get("cancelActivity", "true").lower() != "false"
            if tag == "callActivity":
                info.called_element = el.get("calledElement")
            elements[el_id] = info
            if tag in {"subProcess", "transaction", "adHocSubProcess"}:
                walk(el, el_id, lane)

    walk(process, None, None)
    return elements


def _message_names(root: etree._Element) -> dict[str, str]:
    return {m.get("id"): (m.get("name") or m.get("id")) for m in root.xpath(".//bpmn:message", namespaces=NS)}


def _owner_id(el: etree._Element) -> str | None:
    """The id of the element a finding is about: the nearest flow node or sequence flow around `el` (what a modeller
    draws, so the finding can be shown on it; a timer definition's own id is not drawn), else the nearest id."""
    nearest: str | None = None
    node: etree._Element | None = el
    while node is not None:
        node_id = node.get("id")
        if node_id and nearest is None:
            nearest = node_id
        if node_id and _is_bpmn(node) and (_local(node.tag) in FLOW_NODE_TAGS or _local(node.tag) == "sequenceFlow"):
            return node_id
        node = node.getparent()
    return nearest


def _lint_expressions(process: etree._Element, diagnostics: list[Diagnostic], now: datetime | None = None) -> None:
    for el in process.iter():
        if not _is_bpmn(el):
            continue
        tag = _local(el.tag)
        text = (el.text or "").strip()
        if tag == "script" and text:
            for problem in check_source(text, "exec"):
                diagnostics.append(
                    Diagnostic(
                        _owner_id(el), "error", Text("Skriptet stoppas av sandlådan: %(problem)s", problem=problem)
                    )
                )
        elif tag in EXPRESSION_TAGS and text:
            for problem in check_source(text, "eval"):
                what = EXPRESSION_TAGS[tag]
                diagnostics.append(Diagnostic(_owner_id(el), "error", f"Uttrycket ({what}) stoppas: {problem}"))
        elif tag in TIMER_TAGS:
            if not text:
                diagnostics.append(Diagnostic(_owner_id(el), "error", "Timern saknar uttryck"))
            elif timer_bridge.is_plain_iso(text):
                refused = timer_bridge.timer_problem(TIMER_TAGS[tag], text, now)
                if refused:
                    diagnostics.append(
                        Diagnostic(
                            _owner_id(el), "error", Text("Timern kan inte användas: %(refused)s", refused=refused)
                        )
                    )
            else:
                if _ISO_ATTEMPT.match(text):
                    diagnostics.append(
                        Diagnostic(
                            _owner_id(el),
                            "error",
                            Text(
                                "Timern %(text)r är varken giltig ISO 8601 (t.ex. PT24H) eller ett uttryck", text=text
                            ),
                        )
                    )
                    continue
                problems = check_source(text, "eval")
                for problem in problems:
                    diagnostics.append(Diagnostic(_owner_id(el), "error", f"Timeruttrycket stoppas: {problem}"))
                literal = _string_literal(text) if not problems else None
                refused = timer_bridge.timer_problem(TIMER_TAGS[tag], literal, now) if literal is not None else None
                if refused:
                    diagnostics.append(
                        Diagnostic(
                            _owner_id(el), "error", Text("Timern kan inte användas: %(refused)s", refused=refused)
                        )
                    )


def _string_literal(text: str) -> str | None:
    """The text of an expression that is only a string literal ('R/PT0S'), which can be checked at deploy."""
    try:
        node = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError):
        return None
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _normalise(root: etree._Element) -> etree._Element:
    """A copy of the document in the form SpiffWorkflow runs: plain ISO timer text becomes a string literal, and
    implicit splits out of tasks and events become explicit gateways (engine/bpmn/normalise.py)."""
    doc = copy.deepcopy(root)
    for tag in TIMER_TAGS:
        for el in doc.iter(f"{{{BPMN_NS}}}{tag}"):
            if el.text and el.text.strip():
                el.text = timer_bridge.normalise_timer_expression(el.text)
    normalise_idioms(doc)
    return doc


def _lint_structure(
    process: ParsedProcess,
    process_el: etree._Element,
    diagnostics: list[Diagnostic],
    form_exists: Callable[[str], bool] | None,
) -> None:
    has_lanes = bool(process.lanes)
    for info in process.elements.values():
        if info.type in HUMAN_TASK_TAGS:
            if has_lanes and info.lane is None and info.parent is None:
                diagnostics.append(Diagnostic(info.id, "warning", "Uppgiften ligger inte i någon lane (part)"))
            form = info.properties.get("form")
            if form and form_exists is not None and not form_exists(form):
                diagnostics.append(Diagnostic(info.id, "error", Text("Formuläret %(form)r finns inte", form=form)))
    # Splitting exclusive/inclusive gateways need a default flow or they raise when no condition holds.
    outgoing: dict[str, int] = {}
    for flow in process_el.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        src = flow.get("sourceRef")
        if src:
            outgoing[src] = outgoing.get(src, 0) + 1
    for gw in process_el.iter(f"{{{BPMN_NS}}}exclusiveGateway", f"{{{BPMN_NS}}}inclusiveGateway"):
        if outgoing.get(gw.get("id", ""), 0) > 1 and not gw.get("default"):
            diagnostics.append(Diagnostic(gw.get("id"), "warning", "Grindvägen saknar standardflöde"))
    # Unreachable elements: not reachable from any start event, boundary event or event subprocess.
    targets: dict[str, list[str]] = {}
    for flow in process_el.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        targets.setdefault(flow.get("sourceRef", ""), []).append(flow.get("targetRef", ""))
    seeds = [i.id for i in process.elements.values() if i.type in {"startEvent", "boundaryEvent"}]
    children: dict[str, list[str]] = {}  # sub-process -> its elements, once (a scan per sub-process was quadratic)
    for info in process.elements.values():
        if info.parent is not None:
            children.setdefault(info.parent, []).append(info.id)
    seen: set[str] = set()
    stack = list(seeds)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(targets.get(node, []))
        stack.extend(children.get(node, []))
    for info in process.elements.values():
        if info.id not in seen and info.type not in {"boundaryEvent"}:
            diagnostics.append(Diagnostic(info.id, "warning", "Elementet kan inte nås från någon start"))


_CONTAINERS = {"subProcess", "transaction"}


def _lint_flows(process_el: etree._Element, diagnostics: list[Diagnostic]) -> None:
    """The flow rules that matter for running, at least as strong as bpmnlint's recommended set (issue 15), per
    process and sub-process, each finding naming its element:
    errors: no start event (start-event-required), no end event (end-event-required), an element connected to
    nothing (no-disconnected), a dead end that is not an end event (no-implicit-end), two flows between the same
    elements (no-duplicate-sequence-flows); warnings: an implicit split out of a task or event (no-implicit-split),
    a gateway that both joins and forks (no-gateway-join-fork), a flow out of an exclusive or inclusive gateway
    with neither a condition nor the default mark (conditional-flows). An ad hoc sub-process's elements need no
    flows; event sub-processes, boundary events, compensation handlers and link events are judged as BPMN says."""

    def label(el: etree._Element) -> str:
        name = (el.get("name") or "").strip()
        return f"«{name}»" if name else f"«{el.get('id')}»"

    def definitions(el: etree._Element) -> set[str]:
        return {_local(child.tag) for child in el if _local(child.tag).endswith("EventDefinition")}

    def check(container: etree._Element, what: str) -> None:
        nodes = [
            el
            for el in container
            if _is_bpmn(el) and _local(el.tag) in FLOW_NODE_TAGS and el.get("id") and _local(el.tag) != "boundaryEvent"
        ]
        flows = [el for el in container if _is_bpmn(el) and _local(el.tag) == "sequenceFlow"]
        incoming: dict[str, int] = {}
        outgoing: dict[str, list[etree._Element]] = {}
        pairs: dict[tuple[str, str], str] = {}
        for flow in flows:
            src, dst = flow.get("sourceRef", ""), flow.get("targetRef", "")
            outgoing.setdefault(src, []).append(flow)
            incoming[dst] = incoming.get(dst, 0) + 1
            if (src, dst) in pairs:
                diagnostics.append(
                    Diagnostic(
                        flow.get("id"),
                        "error",
                        Text("Flödet %(flow)r dubblerar %(pairs)r", flow=flow.get("id"), pairs=pairs[(src, dst)]),
                    )
                )
            pairs.setdefault((src, dst), flow.get("id", ""))
        if not nodes:
            return
        kinds = [_local(el.tag) for el in nodes]
        if "startEvent" not in kinds:
            diagnostics.append(
                Diagnostic(container.get("id"), "error", Text("%(what)s saknar starthändelse", what=what))
            )
        if "endEvent" not in kinds:
            diagnostics.append(
                Diagnostic(container.get("id"), "error", Text("%(what)s saknar sluthändelse", what=what))
            )
        for el in nodes:
            tag, el_id = _local(el.tag), el.get("id", "")
            event_sub = tag == "subProcess" and el.get("triggeredByEvent", "false").lower() == "true"
            compensation = el.get("isForCompensation", "false").lower() == "true"
            if event_sub or compensation:
                continue
            link = "linkEventDefinition" in definitions(el)
            n_in, out = incoming.get(el_id, 0), outgoing.get(el_id, [])
            if n_in == 0 and not out and not link:
                diagnostics.append(
                    Diagnostic(el_id, "error", Text("%(el)s är inte kopplat till något flöde", el=label(el)))
                )
                continue
            if not out and tag != "endEvent" and not link:
                dead_end = Text("%(el)s leder ingenstans: lägg till ett flöde eller en sluthändelse", el=label(el))
                diagnostics.append(Diagnostic(el_id, "error", dead_end))
            if tag in GATEWAY_TAGS:
                if n_in > 1 and len(out) > 1:
                    diagnostics.append(
                        Diagnostic(
                            el_id,
                            "warning",
                            Text("Grinden %(el)s både förenar och delar: rita två grindar", el=label(el)),
                        )
                    )
                if tag in ("exclusiveGateway", "inclusiveGateway") and len(out) > 1:
                    for flow in out:
                        has_condition = any(_local(c.tag) == "conditionExpression" for c in flow)
                        if not has_condition and el.get("default") != flow.get("id"):
                            diagnostics.append(
                                Diagnostic(
                                    flow.get("id"),
                                    "warning",
                                    Text(
                                        "Flödet %(flow)r ut ur grinden %(el)s saknar villkor och är inte standardflöde",
                                        flow=flow.get("id"),
                                        el=label(el),
                                    ),
                                )
                            )
            elif len(out) > 1:
                conditional = any(any(_local(c.tag) == "conditionExpression" for c in flow) for flow in out)
                diagnostics.append(
                    Diagnostic(
                        el_id,
                        "warning",
                        Text(
                            "%(el)s delar flödet utan grind (villkorade flöden): rita en grind"
                            if conditional
                            else "%(el)s delar flödet utan grind (alla vägar tas parallellt): rita en grind",
                            el=label(el),
                        ),
                    )
                )
            if tag in _CONTAINERS:
                check(el, Text("Underprocessen %(el)s", el=label(el)))
        for el in container:
            if _is_bpmn(el) and _local(el.tag) == "subProcess" and el.get("triggeredByEvent", "").lower() == "true":
                check_event_sub(el)

    def check_event_sub(el: etree._Element) -> None:
        if not any(_is_bpmn(c) and _local(c.tag) == "startEvent" for c in el):
            diagnostics.append(
                Diagnostic(
                    el.get("id"), "error", Text("Händelseunderprocessen %(el)s saknar starthändelse", el=label(el))
                )
            )

    name = (process_el.get("name") or "").strip()
    check(process_el, Text("Processen «%(name)s»", name=name or process_el.get("id")))


def parse_document(
    data: bytes | str,
    *,
    resolve: Callable[[str, int | None], bytes | None] | None = None,
    form_exists: Callable[[str], bool] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    process_id: str | None = None,
    now: datetime | None = None,
) -> ParsedDocument:
    """Check and parse a BPMN document. Raises DeployRejected/TooLarge for what is not BPMN at all; every other
    finding is a Diagnostic, and `spec` is None when the main process cannot run.

    `resolve` gives the (already deployed) XML that defines a called process id, or None; called processes of
    called processes are resolved too. The ids resolved are in `ParsedDocument.dependencies`. `now` (the
    platform's clock) bounds timer dates written as ISO text to 100 years ahead.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    # Checking builds hundreds of thousands of objects (XML elements, SpiffWorkflow specs) and frees few: the cyclic
    # garbage collector would scan them again and again (40 % of checking a 5 MB file). Paused for the check only.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _parse_document(raw, resolve, form_exists, max_bytes, process_id, now)
    finally:
        if paused:
            gc.enable()


def _parse_document(
    raw: bytes,
    resolve: Callable[[str, int | None], bytes | None] | None,
    form_exists: Callable[[str], bool] | None,
    max_bytes: int,
    process_id: str | None,
    now: datetime | None,
) -> ParsedDocument:
    repairs: list[str] = []
    root = load_xml(raw, max_bytes=max_bytes, repairs=repairs)
    diagnostics: list[Diagnostic] = [Diagnostic(None, "warning", repair) for repair in repairs]
    if _local(root.tag) != "definitions" or etree.QName(root.tag).namespace != BPMN_NS:
        diagnostics.append(Diagnostic(None, "error", "Filen är inte BPMN 2.0 (rotelementet ska vara bpmn:definitions)"))
        return ParsedDocument(content_hash(raw), raw, [], diagnostics, None)

    messages = _message_names(root)
    processes: list[ParsedProcess] = []
    for process_el in root.xpath("./bpmn:process", namespaces=NS):
        pid = process_el.get("id")
        if not pid:
            diagnostics.append(Diagnostic(None, "error", "En process saknar id"))
            continue
        lanes = _lanes_by_node(process_el)
        elements = _collect_elements(process_el, lanes, messages)
        start_messages = sorted(
            {i.message for i in elements.values() if i.type == "startEvent" and i.message and i.parent is None}
        )
        called = sorted({i.called_element for i in elements.values() if i.called_element})
        lane_names = sorted(
            {lane.get("name") or lane.get("id") for lane in process_el.xpath(".//bpmn:lane", namespaces=NS)}
        )
        parsed = ParsedProcess(
            pid,
            process_el.get("name"),
            process_el.get("isExecutable", "false").lower() == "true",
            elements,
            start_messages,
            called,
            lane_names,
        )
        processes.append(parsed)
        _lint_expressions(process_el, diagnostics, now)
        _lint_structure(parsed, process_el, diagnostics, form_exists)
        _lint_flows(process_el, diagnostics)

    if not processes:
        diagnostics.append(
            Diagnostic(None, "warning", "Dokumentet innehåller ingen process (bara samarbete eller data)")
        )
        doc = ParsedDocument(content_hash(raw), raw, [], diagnostics, None, messages=sorted(set(messages.values())))
        collaboration = next(iter(root.xpath("./bpmn:collaboration", namespaces=NS)), None)
        if collaboration is not None and collaboration.get("id"):
            doc.collaboration = (collaboration.get("id"), collaboration.get("name") or root.get("name"))
        return doc

    main = _choose_main(processes, process_id)
    normalised = _normalise(root)
    doc = ParsedDocument(
        content_hash(raw), to_bytes(normalised), processes, diagnostics, main, messages=sorted(set(messages.values()))
    )
    if main is None:
        diagnostics.append(Diagnostic(None, "warning", "Ingen process är markerad som körbar (isExecutable)"))
        return doc
    if any(d.severity == "error" for d in diagnostics):
        return doc

    parser = _Parser()
    try:
        parser.add_bpmn_xml(normalised, filename=f"{main.process_id}.bpmn")
        pending = list(main.called_processes)
        while pending:
            called_id = pending.pop()
            if parser.get_process_parser(called_id) is not None:
                continue
            dep_xml = resolve(called_id, pinned_version(main, called_id)) if resolve is not None else None
            if dep_xml is None:
                # Not deployed (yet): resolved when a case reaches the call (the newest version, or the version the
                # call activity pins); an incident naming the process only if it is still missing then.
                diagnostics.append(
                    Diagnostic(
                        _called_by(main, called_id),
                        "warning",
                        Text(
                            "Anropad process %(called_id)r är inte driftsatt ännu: den hämtas när ett ärende når "
                            "anropet; saknas den då blir ärendet en incident",
                            called_id=called_id,
                        ),
                    )
                )
                doc.unresolved.append(called_id)
                continue
            dep_root = _normalise(load_xml(dep_xml, max_bytes=max_bytes))
            parser.add_bpmn_xml(dep_root, filename=f"{called_id}.bpmn")
            doc.dependencies[called_id] = dep_xml
            pending.extend(
                ca.get("calledElement") for ca in dep_root.iter(f"{{{BPMN_NS}}}callActivity") if ca.get("calledElement")
            )
        if any(d.severity == "error" for d in diagnostics):
            return doc
        doc.spec = parser.get_spec(main.process_id)
        doc.subprocess_specs = parser.get_subprocess_specs(main.process_id, require_call_activity_specs=False)
    except ValidationException as exc:
        element = getattr(exc, "id", None) or getattr(exc, "name", None)
        diagnostics.append(
            Diagnostic(element, "error", Text("SpiffWorkflow kan inte tolka diagrammet: %(exc)s", exc=exc))
        )
        doc.spec = None
    except (SpiffWorkflowException, KeyError, ValueError, TypeError, AttributeError, IndexError) as exc:
        diagnostics.append(Diagnostic(None, "error", Text("SpiffWorkflow kan inte tolka diagrammet: %(exc)r", exc=exc)))
        doc.spec = None
    return doc


def pinned_version(process: ParsedProcess | Mapping[str, Any], called: str) -> int | None:
    """The version of `called` a call activity pins with its `version` property (samflode:property), else None
    (the newest executable version). `process` is a parsed process or a definition's stored elements."""
    elements = process.elements if isinstance(process, ParsedProcess) else process
    for info in elements.values():
        props = info.properties if isinstance(info, ElementInfo) else (info.get("properties") or {})
        called_element = info.called_element if isinstance(info, ElementInfo) else info.get("called_element")
        if called_element == called and str(props.get("version") or "").strip().isdigit():
            return int(str(props["version"]).strip())
    return None


def deploy_order(files: list[bytes], max_bytes: int = DEFAULT_MAX_BYTES) -> list[int]:
    """The order to deploy a set of BPMN files in so that a called process is deployed before its callers (the
    positions in `files`); calls outside the set, cycles and files that are not BPMN keep their given order."""
    defines: dict[str, int] = {}
    calls: dict[int, set[str]] = {}
    for position, raw in enumerate(files):
        try:
            root = load_xml(raw, max_bytes=max_bytes)
        except Exception:  # noqa: BLE001 - the deploy itself says what is wrong with the file
            calls[position] = set()
            continue
        for process_el in root.xpath("./bpmn:process", namespaces=NS):
            defines.setdefault(process_el.get("id") or "", position)
        calls[position] = {c for c in root.xpath("//bpmn:callActivity/@calledElement", namespaces=NS) if c}
    order: list[int] = []
    visiting: set[int] = set()

    def visit(position: int) -> None:
        if position in order or position in visiting:
            return
        visiting.add(position)
        for called in sorted(calls.get(position, ())):
            if called in defines and defines[called] != position:
                visit(defines[called])
        visiting.discard(position)
        order.append(position)

    for position in range(len(files)):
        visit(position)
    return order


def _called_by(process: ParsedProcess, called: str) -> str | None:
    for info in process.elements.values():
        if info.called_element == called:
            return info.id
    return None


def _choose_main(processes: list[ParsedProcess], wanted: str | None) -> ParsedProcess | None:
    if wanted:
        return next((p for p in processes if p.process_id == wanted), None)
    executable = [p for p in processes if p.executable]
    if not executable:
        return None
    # A process that no other process in the document calls is the main one.
    called = {c for p in executable for c in p.called_processes}
    roots = [p for p in executable if p.process_id not in called]
    return (roots or executable)[0]


def parse_for_run(
    xml: bytes, process_id: str, dependencies: Mapping[str, bytes]
) -> tuple[BpmnProcessSpec, dict[str, BpmnProcessSpec]]:
    """Re-create the specs of an already checked definition from its stored XML (for the spec cache)."""
    parser = _Parser()
    for dep_id, dep_xml in dependencies.items():
        if dep_id != process_id:
            parser.add_bpmn_xml(_normalise(load_xml(dep_xml)), filename=f"{dep_id}.bpmn")
    parser.add_bpmn_xml(_normalise(load_xml(xml)), filename=f"{process_id}.bpmn")
    return parser.get_spec(process_id), parser.get_subprocess_specs(process_id, require_call_activity_specs=False)
