"""Checks for processes/*.bpmn, forms, lanes.json and agreements.json. Exits non-zero on any problem.

Run:  .venv/bin/python tools/diagrams/check.py
"""
from __future__ import annotations

import ast
import json
import pathlib
import re
import sys

import jsonschema
from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROC = ROOT / "processes"
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
      "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
      "dc": "http://www.omg.org/spec/DD/20100524/DC",
      "samflode": "http://samflode.se/schema/bpmn/1.0"}
B = "{%s}" % NS["bpmn"]
PROCESSES = {"in_utskrivning": ["sip"], "sip": [], "mobilt_team": ["sip"]}
LANES = ["Slutenvård", "Region primärvård", "Kommun hemsjukvård", "Kommun socialtjänst", "Den enskilde"]
REQUIRED_MESSAGES = {"in_utskrivning": ["inskrivning", "planerat_utskrivningsdatum", "utskrivningsklar",
                                        "aterkallad_utskrivningsklar", "utskriven", "avliden"]}
START_DATA = {"personnummer", "vardtillfalle_id", "avdelning_hsa_id", "inskrivningstid", "kommun",
              "vardcentral_hsa_id", "avtal", "tidigare_vardtillfalle_id"}
ACTIVITY_TAGS = {"userTask", "scriptTask", "callActivity", "subProcess", "manualTask", "serviceTask", "task",
                 "sendTask", "receiveTask", "businessRuleTask"}
ARBETSBESKRIVNING = ["mal", "syfte", "utforare", "tidpunkt", "lagrum"]
SAFE_NAMES = {"True", "False", "None", "len", "min", "max", "sum", "sorted", "any", "all", "str", "int", "float",
              "bool", "list", "dict", "round", "abs", "range", "deadline", "deadline_at"}

problems: list[str] = []


def problem(msg):
    problems.append(msg)


def props(el):
    return {p.get("name"): p.get("value") for p in el.findall("bpmn:extensionElements/samflode:properties/"
                                                              "samflode:property", NS)}


def local(el):
    return etree.QName(el).localname


def schema_props_ok(schema, where):
    for name, sub in (schema.get("properties") or {}).items():
        if not sub.get("title") or not sub.get("description"):
            problem(f"{where}: property {name} lacks Swedish title/description")
        if sub.get("type") == "object":
            schema_props_ok(sub, f"{where}.{name}")
        if sub.get("type") == "array" and isinstance(sub.get("items"), dict) and sub["items"].get("type") == "object":
            schema_props_ok(sub["items"], f"{where}.{name}[]")


def load_forms():
    forms = {}
    for path in sorted((PROC / "forms").glob("*.json")):
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
            jsonschema.Draft202012Validator.check_schema(schema)
        except Exception as exc:  # noqa: BLE001
            problem(f"forms/{path.name}: invalid JSON Schema: {exc}")
            continue
        if schema.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
            problem(f"forms/{path.name}: $schema is not draft 2020-12")
        if schema.get("type") != "object" or "required" not in schema:
            problem(f"forms/{path.name}: must be type object with required")
        schema_props_ok(schema, f"forms/{path.name}")
        forms[path.stem] = schema
    return forms


def fields_of(elements, forms):
    """data names that forms (properties) and scripts (assignments) can set"""
    out = set()
    for el in elements:
        p = props(el)
        if p.get("form") in forms:
            out |= set(forms[p["form"]].get("properties", {}))
        if local(el) == "scriptTask":
            code = el.findtext("bpmn:script", default="", namespaces=NS)
            for node in ast.walk(ast.parse(code)):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    out.add(node.id)
    return out


def check_spiff(pid, deps):
    try:
        parser = BpmnParser()
        for dep in deps:
            parser.add_bpmn_file(str(PROC / f"{dep}.bpmn"))
        parser.add_bpmn_file(str(PROC / f"{pid}.bpmn"))
        parser.get_spec(pid)
        if deps:
            subs = parser.get_subprocess_specs(pid)
            for dep in deps:
                if dep not in subs:
                    problem(f"{pid}: called process {dep} not resolved by SpiffWorkflow")
    except Exception as exc:  # noqa: BLE001
        problem(f"{pid}: SpiffWorkflow parser: {exc}")


def overlaps(a, b):
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def check_file(pid, forms, agreements):
    path = PROC / f"{pid}.bpmn"
    try:
        tree = etree.parse(str(path))
    except Exception as exc:  # noqa: BLE001
        problem(f"{pid}: lxml: {exc}")
        return 0
    root = tree.getroot()
    proc = root.find(f"bpmn:process[@id='{pid}']", NS)
    if proc is None or proc.get("isExecutable") != "true":
        problem(f"{pid}: no executable process with id {pid}")
        return 0
    by_id = {el.get("id"): el for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    # lanes
    lane_names = [ln.get("name") for ln in proc.findall("bpmn:laneSet/bpmn:lane", NS)]
    if lane_names != LANES:
        problem(f"{pid}: lanes are {lane_names}, expected {LANES}")
    lane_of = {ref.text: ln.get("name") for ln in proc.findall("bpmn:laneSet/bpmn:lane", NS)
               for ref in ln.findall("bpmn:flowNodeRef", NS)}
    for ref in lane_of:
        if ref not in by_id:
            problem(f"{pid}: lane refers to missing node {ref}")

    def lane_for(el):
        while el is not None and el is not proc:
            if el.get("id") in lane_of:
                return lane_of[el.get("id")]
            el = el.getparent()
        return None

    # messages
    msgs = {m.get("name") for m in root.findall("bpmn:message", NS)}
    for m in REQUIRED_MESSAGES.get(pid, []):
        if m not in msgs:
            problem(f"{pid}: message {m} missing")
    # flow nodes
    flow_nodes = [el for el in proc.iter() if isinstance(el.tag, str) and el.tag.startswith(B)
                  and local(el) in ACTIVITY_TAGS | {"startEvent", "endEvent", "intermediateThrowEvent",
                                                     "intermediateCatchEvent", "boundaryEvent",
                                                     "exclusiveGateway", "parallelGateway", "inclusiveGateway",
                                                     "eventBasedGateway"}]
    known_fields = set(START_DATA)
    for dep in PROCESSES.get(pid, []):
        dep_root = etree.parse(str(PROC / f"{dep}.bpmn")).getroot()
        flow_nodes_dep = [el for el in dep_root.iter() if isinstance(el.tag, str) and local(el) in ("userTask", "scriptTask")]
        known_fields |= fields_of(flow_nodes_dep, forms)
    known_fields |= fields_of(flow_nodes, forms)
    activities = 0
    used_keys = set()
    for el in flow_nodes:
        kind, nid, p = local(el), el.get("id"), props(el)
        if not el.get("name") and kind in ACTIVITY_TAGS:
            problem(f"{pid}:{nid}: activity without name")
        if kind in ACTIVITY_TAGS:
            activities += 1
            for k in ARBETSBESKRIVNING:
                if not p.get(k):
                    problem(f"{pid}:{nid}: missing property {k}")
            if not (el.findtext("bpmn:documentation", default="", namespaces=NS) or "").strip():
                problem(f"{pid}:{nid}: missing documentation")
        if kind == "userTask":
            if lane_for(el) not in LANES:
                problem(f"{pid}:{nid}: user task not in a lane")
            form = p.get("form")
            if not form or form not in forms:
                problem(f"{pid}:{nid}: form {form!r} missing in processes/forms/")
            if p.get("due"):
                if not re.fullmatch(r"P.*", p["due"]):
                    used_keys.add(p["due"])
        if kind == "callActivity" and not el.get("calledElement"):
            problem(f"{pid}:{nid}: callActivity without calledElement")
        if kind == "boundaryEvent" and el.find("bpmn:timerEventDefinition", NS) is not None \
                and el.get("cancelActivity") == "false" and not p.get("avvikelse") \
                and "betalningsansvar" not in (el.findtext(".//bpmn:timeDuration", default="", namespaces=NS)) \
                and el.find(".//bpmn:timeCycle", NS) is None:
            problem(f"{pid}:{nid}: escalation timer without avvikelse")
        if kind in ("exclusiveGateway", "inclusiveGateway"):
            outs = [f for f in proc.iter(B + "sequenceFlow") if f.get("sourceRef") == nid]
            if len(outs) > 1:
                if not el.get("default"):
                    problem(f"{pid}:{nid}: splitting gateway without default flow")
                for f in outs:
                    cond = f.find("bpmn:conditionExpression", NS)
                    if f.get("id") != el.get("default") and (cond is None or not (cond.text or "").strip()):
                        problem(f"{pid}:{nid}: flow {f.get('id')} without condition")
                    if cond is not None and cond.text:
                        for node in ast.walk(ast.parse(cond.text, mode="eval")):
                            if isinstance(node, ast.Name) and node.id not in SAFE_NAMES | known_fields:
                                problem(f"{pid}:{f.get('id')}: condition reads {node.id}, set by no form/script")
    # expressions using deadline('key')
    text = path.read_text(encoding="utf-8")
    used_keys |= set(re.findall(r"deadline(?:_at)?\(\s*'([a-z_]+)'", text))
    for key in sorted(used_keys):
        for agr, conf in agreements.items():
            if key not in conf.get("deadlines", {}):
                problem(f"{pid}: deadline key {key} missing in agreements.json[{agr}]")
    # DI
    shapes = {s.get("bpmnElement"): s for s in root.iter("{%s}BPMNShape" % NS["bpmndi"])}
    edges = {e.get("bpmnElement") for e in root.iter("{%s}BPMNEdge" % NS["bpmndi"])}
    for el in flow_nodes:
        if el.get("id") not in shapes:
            problem(f"{pid}:{el.get('id')}: no DI shape")
    for f in proc.iter(B + "sequenceFlow"):
        if f.get("id") not in edges:
            problem(f"{pid}:{f.get('id')}: no DI edge")
    for ln in proc.findall("bpmn:laneSet/bpmn:lane", NS):
        if ln.get("id") not in shapes:
            problem(f"{pid}:{ln.get('id')}: lane without DI")
    if not root.findall("bpmn:collaboration/bpmn:participant", NS):
        problem(f"{pid}: no collaboration/participant")
    bounds = {}
    for eid, s in shapes.items():
        b = s.find("dc:Bounds", NS)
        bounds[eid] = tuple(float(b.get(k)) for k in ("x", "y", "width", "height"))
    lane_bounds = {by_id[lid].get("name"): bounds[lid] for lid in bounds if lid in by_id and local(by_id[lid]) == "lane"}
    nodes = [el for el in flow_nodes if el.get("id") in bounds]
    for el in nodes:
        ln = lane_of.get(el.get("id"))
        if ln and local(el) != "boundaryEvent" and ln in lane_bounds:
            x, y, w, h = bounds[el.get("id")]
            lx, ly, lw, lh = lane_bounds[ln]
            if local(el) != "subProcess" and not (ly <= y + h / 2 <= ly + lh):
                problem(f"{pid}:{el.get('id')}: drawn outside its lane {ln}")
    for i, a in enumerate(nodes):
        for b2 in nodes[i + 1:]:
            ia, ib = a.get("id"), b2.get("id")
            if a in b2.iterancestors() or b2 in a.iterancestors():
                continue
            if b2.get("attachedToRef") == ia or a.get("attachedToRef") == ib:
                continue
            if overlaps(bounds[ia], bounds[ib]):
                problem(f"{pid}: shapes {ia} and {ib} overlap")
    return activities


def main():
    forms = load_forms()
    agreements = json.loads((PROC / "agreements.json").read_text(encoding="utf-8"))
    for agr in ("nationell", "jonkoping", "goteborg"):
        if agr not in agreements:
            problem(f"agreements.json: {agr} missing")
    lanes = json.loads((PROC / "lanes.json").read_text(encoding="utf-8"))
    if sorted(lanes.get("lanes", {})) != sorted(LANES):
        problem("lanes.json: lanes do not match the diagram lanes")
    for ln, conf in lanes.get("lanes", {}).items():
        for r in conf.get("roles", []):
            if r not in lanes.get("roles", {}):
                problem(f"lanes.json: role {r} of {ln} has no display name")
    for pid, deps in PROCESSES.items():
        check_spiff(pid, deps)
        n = check_file(pid, forms, agreements)
        print(f"{pid}: {n} activities")
    # roles used in diagrams must be known
    for pid in PROCESSES:
        for role in re.findall(r'name="role" value="([^"]+)"', (PROC / f"{pid}.bpmn").read_text(encoding="utf-8")):
            if role not in lanes.get("roles", {}):
                problem(f"{pid}: role {role} not in lanes.json roles")
    print(f"{len(forms)} forms")
    if problems:
        print(f"\n{len(problems)} problem(s):")
        for p in problems:
            print(" -", p)
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
