"""Tiny declarative BPMN 2.0 writer with grid layout and orthogonal edge routing.

A diagram is described as lanes (horizontal bands, each with a number of rows), nodes placed on a
(column, row) grid inside a lane, boundary events attached to a host, embedded/event subprocesses that
span several columns and hold their own small row of nodes, and sequence flows. ``Diagram.write`` emits
semantic XML plus full DI (collaboration, participant, lanes, shapes, edges).

Used by ``generate.py``; the generated ``processes/*.bpmn`` files are the source of truth afterwards.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SAMFLODE = "http://samflode.se/schema/bpmn/1.0"
NSMAP = {"bpmn": BPMN, "bpmndi": BPMNDI, "dc": DC, "di": DI, "xsi": XSI, "samflode": SAMFLODE}

COLW = 150          # column pitch: 100 px task + 50 px gap
ROWH = 140          # row pitch inside a lane
POOL_X, POOL_Y = 120, 60
HEAD = 30           # pool header / lane header width
LEFT_PAD = 40
SIZES = {"task": (100, 80), "event": (36, 36), "gateway": (50, 50)}
ACTIVITY_KINDS = {"user", "script", "call", "subprocess", "manual"}
EVENT_KINDS = {"start", "end", "throw", "catch", "boundary"}
GATEWAY_KINDS = {"xgw", "pgw", "igw", "egw"}
PROP_ORDER = ["form", "role", "routing", "due", "avvikelse", "flagga", "flagga_nar", "teknisk_timer", "mal", "syfte", "utforare", "tidpunkt", "lagrum"]


def q(ns, tag):
    return "{%s}%s" % (NSMAP[ns], tag)


@dataclass
class Node:
    id: str
    kind: str
    name: str
    lane: str | None = None
    col: float = 0
    row: int = 0
    parent: str | None = None      # id of an enclosing subprocess
    icol: int = 0                  # column inside the parent subprocess
    props: dict = field(default_factory=dict)
    doc: str | None = None
    message: str | None = None     # message name for message events
    signal: str | None = None      # signal name for signal events (broadcast inside the process)
    timer: tuple | None = None     # ("timeDuration"|"timeDate"|"timeCycle", expression)
    script: str | None = None
    called: str | None = None
    interrupting: bool = True      # start events in event subprocesses / boundary cancelActivity
    host: str | None = None        # boundary: attached to
    slot: int = 0                  # boundary: position along host bottom edge
    span: int = 1                  # subprocess: columns
    rows: int = 1                  # subprocess: rows
    triggered: bool = False        # event subprocess
    terminate: bool = False        # terminate end event
    grid: bool = False             # subprocess whose children sit on the lane grid (spans lanes)
    top: tuple | None = None       # grid subprocess: (lane, row) of its top edge
    edge: str = "bottom"           # boundary: which edge of the host
    default: str | None = None     # gateway default flow id
    bounds: tuple = (0, 0, 0, 0)

    @property
    def shape(self):
        if self.kind in ACTIVITY_KINDS:
            return "task"
        if self.kind in GATEWAY_KINDS:
            return "gateway"
        return "event"


@dataclass
class Flow:
    id: str
    src: str
    tgt: str
    name: str | None = None
    cond: str | None = None
    parent: str | None = None
    waypoints: list = field(default_factory=list)


class Diagram:
    def __init__(self, process_id, name, lanes, documentation=""):
        """lanes: list of (key, lane name, rows)"""
        self.pid = process_id
        self.name = name
        self.documentation = documentation
        self.lanes = lanes
        self.nodes: dict[str, Node] = {}
        self.flows: list[Flow] = []
        self.messages: list[str] = []
        self.signals: list[str] = []
        self.default_parent = None

    # ---- description -------------------------------------------------------------------------
    def add(self, id, kind, name, lane=None, col=0, row=0, **kw):
        assert id not in self.nodes, id
        props = {k: kw.pop(k) for k in list(kw) if k in PROP_ORDER}
        if "parent" not in kw and self.default_parent:
            kw["parent"] = self.default_parent
        n = Node(id=id, kind=kind, name=name, lane=lane, col=col, row=row, props=props, **kw)
        if n.parent and not n.lane and not self.nodes[n.parent].grid:
            n.lane = self.nodes[n.parent].lane
        if n.message and n.message not in self.messages:
            self.messages.append(n.message)
        if n.signal and n.signal not in self.signals:
            self.signals.append(n.signal)
        self.nodes[id] = n
        return n

    def flow(self, src, tgt, name=None, cond=None, default=False):
        fid = f"flow_{src}_{tgt}"
        i = 2
        while any(f.id == fid for f in self.flows):
            fid = f"flow_{src}_{tgt}_{i}"
            i += 1
        f = Flow(fid, src, tgt, name, cond, None)
        f.is_default = default
        self.flows.append(f)
        return f

    def _resolve(self):
        for f in self.flows:
            s, t = self.nodes[f.src], self.nodes[f.tgt]
            ps = self.nodes[s.host].parent if s.kind == "boundary" else s.parent
            assert ps == t.parent, (f.src, f.tgt)
            f.parent = ps
            if f.is_default:
                s.default = f.id

    def chain(self, *ids):
        for a, b in zip(ids, ids[1:]):
            self.flow(a, b)

    # ---- layout ------------------------------------------------------------------------------
    def lane_top(self, key):
        y = POOL_Y
        for k, _, rows in self.lanes:
            if k == key:
                return y
            y += rows * ROWH
        raise KeyError(key)

    def ncols(self):
        m = 0
        for n in self.nodes.values():
            if n.kind != "boundary" and not n.grid:
                m = max(m, n.col + (n.span if not n.parent or self.on_grid(n) else 1))
        return int(m + 0.999)

    def on_grid(self, n):
        return n.parent is None or self.nodes[n.parent].grid

    def in_lane(self, n):
        """lane key for flowNodeRef, or None when the node is nested (inherits its container's lane)"""
        if n.grid:
            return None
        if n.kind == "boundary":
            return self.in_lane(self.nodes[n.host])
        if not self.on_grid(n):
            return None
        return n.lane

    def layout(self):
        self._resolve()
        content_x = POOL_X + 2 * HEAD + LEFT_PAD
        total = sum(r for _, _, r in self.lanes) * ROWH
        for n in self.nodes.values():
            if n.grid:
                x = content_x + n.col * COLW - 10
                y = self.lane_top(n.top[0]) + n.top[1] * ROWH + 8
                inset = 14 if n.parent else 0  # a grid subprocess inside another: drawn just inside it
                n.bounds = (x, y + inset, n.span * COLW - 30, POOL_Y + total - 8 - y - 2 * inset)
        for n in self.nodes.values():
            if not self.on_grid(n) or n.kind == "boundary" or n.grid:
                continue
            if n.kind == "subprocess" and n.span > 1 or n.triggered:
                x = content_x + n.col * COLW - 10
                w = n.span * COLW - 30
                y = self.lane_top(n.lane) + n.row * ROWH + 15
                h = n.rows * ROWH - 30
                n.bounds = (x, y, w, h)
                continue
            w, h = SIZES[n.shape]
            cx = content_x + n.col * COLW + 50
            cy = self.lane_top(n.lane) + n.row * ROWH + 70
            n.bounds = (cx - w / 2, cy - h / 2, w, h)
        for n in self.nodes.values():
            if not self.on_grid(n):
                px, py, pw, ph = self.nodes[n.parent].bounds
                w, h = SIZES[n.shape]
                cx = px + 60 + n.icol * 140
                cy = py + ph / 2 - (8 if ph < 130 else 0)
                n.bounds = (cx - w / 2, cy - h / 2, w, h)
        for n in self.nodes.values():
            if n.kind == "boundary":
                hx, hy, hw, hh = self.nodes[n.host].bounds
                cx = hx + 28 + n.slot * 44 if hw <= 100 else hx + 60 + n.slot * 90
                n.bounds = (cx - 18, (hy if n.edge == "top" else hy + hh) - 18, 36, 36)
        width = content_x - POOL_X + self.ncols() * COLW + 40
        height = sum(r for _, _, r in self.lanes) * ROWH
        self.pool = (POOL_X, POOL_Y, width, height)
        for f in self.flows:
            f.waypoints = self.route(f)

    # ---- routing -----------------------------------------------------------------------------
    def obstacles(self, f):
        skip = {f.src, f.tgt}
        s = self.nodes[f.src]
        if s.kind == "boundary":
            skip.add(s.host)
        out = []
        for n in self.nodes.values():
            if n.id in skip:
                continue
            if n.kind == "subprocess" and (n.span > 1 or n.triggered or n.grid):
                # a container: only an obstacle for flows that live outside it
                if f.parent == n.id or n.grid:
                    continue
            out.append(n.bounds)
        return out

    @staticmethod
    def _hits(points, rects, margin=4):
        hits = 0
        for (x1, y1), (x2, y2) in zip(points, points[1:]):
            lx, hx = min(x1, x2), max(x1, x2)
            ly, hy = min(y1, y2), max(y1, y2)
            for rx, ry, rw, rh in rects:
                if lx < rx + rw + margin and hx > rx - margin and ly < ry + rh + margin and hy > ry - margin:
                    hits += 1
        return hits

    def route(self, f):
        s, t = self.nodes[f.src], self.nodes[f.tgt]
        sx, sy, sw, sh = s.bounds
        tx, ty, tw, th = t.bounds
        scx, scy, tcx, tcy = sx + sw / 2, sy + sh / 2, tx + tw / 2, ty + th / 2
        rects = self.obstacles(f)
        cands = []
        if s.kind == "boundary" and s.edge == "top":
            cands.append([(scx, sy), (scx, tcy), (tx, tcy)])
        elif s.kind == "boundary":
            b = sy + sh
            if tx <= scx <= tx + tw and ty > b:
                cands.append([(scx, b), (scx, ty)])
            if tx > scx and tcy > b:
                cands.append([(scx, b), (scx, tcy), (tx, tcy)])
            if tx > scx:
                cands.append([(scx, b), (scx, b + 20), (tx - 20, b + 20), (tx - 20, tcy), (tx, tcy)])
            else:
                yb = max(b, ty + th) + 22
                cands.append([(scx, b), (scx, yb), (tcx, yb), (tcx, ty + th)])
        elif abs(tcx - scx) <= 1 and tcy > scy:
            cands.append([(scx, sy + sh), (tcx, ty)])
        elif tcx > scx + 1:
            if abs(scy - tcy) < 1:
                cands.append([(sx + sw, scy), (tx, tcy)])
            if s.shape == "gateway" and abs(scy - tcy) >= 1:
                ey = sy + sh if tcy > scy else sy
                cands.append([(scx, ey), (scx, tcy), (tx, tcy)])
            if t.shape == "gateway" and abs(scy - tcy) >= 1:
                ey = ty + th if scy > tcy else ty
                cands.append([(sx + sw, scy), (tcx, scy), (tcx, ey)])
            if abs(scy - tcy) >= 1:
                for mx in (tx - 20, sx + sw + 20):
                    cands.append([(sx + sw, scy), (mx, scy), (mx, tcy), (tx, tcy)])
            chans = sorted({self.lane_top(k) + r * ROWH + 12 for k, _, rows in self.lanes for r in range(rows)}
                           | {self.lane_top(k) + r * ROWH + ROWH - 6 for k, _, rows in self.lanes for r in range(rows)},
                           key=lambda c: abs(c - tcy) + abs(c - scy))
            for ch in chans:
                cands.append([(sx + sw, scy), (sx + sw + 20, scy), (sx + sw + 20, ch), (tx - 20, ch),
                              (tx - 20, tcy), (tx, tcy)])
        else:
            # backwards (a loop): leave at the bottom, come back into the target's bottom
            base = max(sy + sh, ty + th)
            for off in (22, 30, 46, 62):
                yb = base + off
                cands.append([(scx, sy + sh), (scx, yb), (tcx, yb), (tcx, ty + th)])
            top = min(sy, ty)
            for off in (16, 30):
                yt = top - off
                cands.append([(scx, sy), (scx, yt), (tcx, yt), (tcx, ty)])
        best = min(cands, key=lambda p: (self._hits(p, rects), len(p)))
        # drop duplicate points
        out = [best[0]]
        for p in best[1:]:
            if p != out[-1]:
                out.append(p)
        return out

    # ---- XML ---------------------------------------------------------------------------------
    def _props(self, el, n):
        if not n.props:
            return
        ext = etree.SubElement(el, q("bpmn", "extensionElements"))
        ps = etree.SubElement(ext, q("samflode", "properties"))
        for k in PROP_ORDER:
            if k in n.props and n.props[k] is not None:
                etree.SubElement(ps, q("samflode", "property"), name=k, value=str(n.props[k]))

    def _expr(self, parent, tag, text):
        e = etree.SubElement(parent, q("bpmn", tag))
        e.set(q("xsi", "type"), "bpmn:tFormalExpression")
        e.text = text
        return e

    def _emit_node(self, container, n):
        tag = {"start": "startEvent", "end": "endEvent", "throw": "intermediateThrowEvent",
               "catch": "intermediateCatchEvent", "boundary": "boundaryEvent", "user": "userTask",
               "manual": "manualTask", "script": "scriptTask", "call": "callActivity",
               "subprocess": "subProcess", "xgw": "exclusiveGateway", "pgw": "parallelGateway",
               "igw": "inclusiveGateway", "egw": "eventBasedGateway"}[n.kind]
        el = etree.SubElement(container, q("bpmn", tag), id=n.id, name=n.name)
        if n.kind == "script":
            el.set("scriptFormat", "python")
        if n.kind == "call":
            el.set("calledElement", n.called)
        if n.kind == "subprocess" and n.triggered:
            el.set("triggeredByEvent", "true")
        if n.kind == "boundary":
            el.set("attachedToRef", n.host)
            if not n.interrupting:
                el.set("cancelActivity", "false")
        if n.kind == "start" and n.parent and self.nodes[n.parent].triggered:
            el.set("isInterrupting", "true" if n.interrupting else "false")
        if n.default:
            el.set("default", n.default)
        if n.doc:
            d = etree.SubElement(el, q("bpmn", "documentation"))
            d.text = n.doc
        self._props(el, n)
        for f in self.flows:
            if f.tgt == n.id:
                etree.SubElement(el, q("bpmn", "incoming")).text = f.id
        for f in self.flows:
            if f.src == n.id:
                etree.SubElement(el, q("bpmn", "outgoing")).text = f.id
        if n.message:
            etree.SubElement(el, q("bpmn", "messageEventDefinition"), id=f"{n.id}_med",
                             messageRef=self.msg_id(n.message))
        if n.signal:
            etree.SubElement(el, q("bpmn", "signalEventDefinition"), id=f"{n.id}_sed", signalRef=f"signal_{n.signal}")
        if n.props.get("_terminate") or getattr(n, "terminate", False):
            etree.SubElement(el, q("bpmn", "terminateEventDefinition"), id=f"{n.id}_ted")
        if n.timer:
            td = etree.SubElement(el, q("bpmn", "timerEventDefinition"), id=f"{n.id}_ted")
            self._expr(td, n.timer[0], n.timer[1])
        if n.kind == "script":
            etree.SubElement(el, q("bpmn", "script")).text = n.script
        if n.kind == "subprocess":
            for c in self.nodes.values():
                if c.parent == n.id:
                    self._emit_node(el, c)
            for f in self.flows:
                if f.parent == n.id:
                    self._emit_flow(el, f)
        return el

    def _emit_flow(self, container, f):
        el = etree.SubElement(container, q("bpmn", "sequenceFlow"), id=f.id, sourceRef=f.src, targetRef=f.tgt)
        if f.name:
            el.set("name", f.name)
        if f.cond:
            self._expr(el, "conditionExpression", f.cond)

    @staticmethod
    def msg_id(name):
        return f"message_{name}"  # not msg_*: the boundary events that catch them are called that

    def to_xml(self):
        self.layout()
        root = etree.Element(q("bpmn", "definitions"), nsmap=NSMAP, id=f"definitions_{self.pid}",
                             targetNamespace="http://samflode.se/bpmn", exporter="Samflöde tools/diagrams",
                             exporterVersion="1.0")
        for m in self.messages:
            etree.SubElement(root, q("bpmn", "message"), id=self.msg_id(m), name=m)
        for sig in self.signals:
            etree.SubElement(root, q("bpmn", "signal"), id=f"signal_{sig}", name=sig)
        collab = etree.SubElement(root, q("bpmn", "collaboration"), id=f"collaboration_{self.pid}")
        etree.SubElement(collab, q("bpmn", "participant"), id=f"participant_{self.pid}", name=self.name,
                         processRef=self.pid)
        proc = etree.SubElement(root, q("bpmn", "process"), id=self.pid, name=self.name, isExecutable="true")
        if self.documentation:
            etree.SubElement(proc, q("bpmn", "documentation")).text = self.documentation
        ls = etree.SubElement(proc, q("bpmn", "laneSet"), id=f"laneset_{self.pid}")
        for key, lname, _ in self.lanes:
            lane = etree.SubElement(ls, q("bpmn", "lane"), id=f"lane_{key}", name=lname)
            for n in self.nodes.values():
                if self.in_lane(n) == key:
                    etree.SubElement(lane, q("bpmn", "flowNodeRef")).text = n.id
        for n in self.nodes.values():
            if n.parent is None:
                self._emit_node(proc, n)
        for f in self.flows:
            if f.parent is None:
                self._emit_flow(proc, f)
        # ---- DI
        dia = etree.SubElement(root, q("bpmndi", "BPMNDiagram"), id=f"diagram_{self.pid}")
        plane = etree.SubElement(dia, q("bpmndi", "BPMNPlane"), id=f"plane_{self.pid}",
                                 bpmnElement=f"collaboration_{self.pid}")

        def shape(el_id, b, **attrs):
            s = etree.SubElement(plane, q("bpmndi", "BPMNShape"), id=f"{el_id}_di", bpmnElement=el_id, **attrs)
            etree.SubElement(s, q("dc", "Bounds"), x=fmt(b[0]), y=fmt(b[1]), width=fmt(b[2]), height=fmt(b[3]))
            return s

        shape(f"participant_{self.pid}", self.pool, isHorizontal="true")
        y = POOL_Y
        for key, _, rows in self.lanes:
            shape(f"lane_{key}", (POOL_X + HEAD, y, self.pool[2] - HEAD, rows * ROWH), isHorizontal="true")
            y += rows * ROWH
        order = [n for n in self.nodes.values() if n.kind == "subprocess"] + \
                [n for n in self.nodes.values() if n.kind != "subprocess"]
        for n in order:
            attrs = {}
            if n.kind == "subprocess":
                attrs["isExpanded"] = "true"
            if n.kind == "xgw":
                attrs["isMarkerVisible"] = "true"
            s = shape(n.id, n.bounds, **attrs)
            if n.shape in ("event", "gateway") and n.name:
                x, yy, w, h = n.bounds
                lab = etree.SubElement(s, q("bpmndi", "BPMNLabel"))
                lx, ly, lw = x + w / 2 - 50, yy + h + 4, 100
                if n.kind == "boundary":
                    # Boundary events can sit close on one host: labels 80 wide, pushed apart from a close
                    # neighbour on the same edge; on a top edge the label goes above.
                    lw, lx = 80, x + w / 2 - 40
                    row = sorted((m.bounds[0], m.id) for m in self.nodes.values()
                                 if m.kind == "boundary" and m.host == n.host and m.bounds[1] == yy)
                    i = row.index((x, n.id))
                    if i + 1 < len(row) and row[i + 1][0] - x < 84:
                        lx = x + w - lw
                    elif i > 0 and x - row[i - 1][0] < 84:
                        lx = x
                    host = self.nodes[n.host].bounds
                    if yy + h / 2 <= host[1] + 1:
                        ly = yy - 31
                etree.SubElement(lab, q("dc", "Bounds"), x=fmt(lx), y=fmt(ly), width=fmt(lw), height="27")
        for f in self.flows:
            e = etree.SubElement(plane, q("bpmndi", "BPMNEdge"), id=f"{f.id}_di", bpmnElement=f.id)
            for x, yy in f.waypoints:
                etree.SubElement(e, q("di", "waypoint"), x=fmt(x), y=fmt(yy))
            if f.name:
                # Left of the end of the first long vertical segment (where branches part), else above the start of a straight
                # flow: clear of the gateway's own label and of the other flows that leave the same point.
                segments = list(zip(f.waypoints, f.waypoints[1:]))
                vertical = [(a, b) for a, b in segments if a[0] == b[0] and abs(a[1] - b[1]) > 40]
                (x1, y1), (x2, y2) = vertical[0] if vertical else segments[0]
                lab = etree.SubElement(e, q("bpmndi", "BPMNLabel"))
                lw = max(20, round(6.5 * len(f.name)))  # about the width of the text at bpmn-js's label font
                etree.SubElement(lab, q("dc", "Bounds"), x=fmt(x1 - lw - 4 if x1 == x2 else min(x1, x2) + 4),
                                 y=fmt(max(y1, y2) - 18 if x1 == x2 else y1 - 18), width=fmt(lw), height="14")
        return root

    def write(self, path):
        root = self.to_xml()
        etree.ElementTree(root).write(path, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def fmt(v):
    v = round(float(v), 1)
    return str(int(v)) if v == int(v) else str(v)
