"""Issue 13: fuzzing the running server. Generated bodies go to every route of the JSON API (webui.api.ROUTES) and
generated diagrams are checked, deployed and started, through a real HTTP server on 127.0.0.1; no answer may be a
5xx, and /healthz must keep answering promptly from another connection while it runs. Hypothesis' fixed profile
(tests/conftest.py) keeps the run repeatable and to a few seconds per test."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.serving import make_server

from tests import diagrams
from tests.conftest import OWNER, SYSTEM, instance_view
from webui.api import ROUTES


@dataclass
class Live:
    port: int
    headers: dict[str, str]
    ids: dict[str, str]
    health_latencies: list[float] = field(default_factory=list)
    health_failures: list[str] = field(default_factory=list)

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json") -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            headers = {**self.headers, "Content-Type": content_type}
            connection.request(method, "/api/v1" + path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()


@pytest.fixture
def live(app, platform, tokens) -> Iterator[Live]:
    platform.runtime.deploy(diagrams.single_task("p"), OWNER)
    instance_id = platform.runtime.start_instance("p", "bk", {"a": 1}, SYSTEM)
    task_id = instance_view(platform, instance_id)["active_tasks"][0]["id"]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    state = Live(server.server_port, tokens["admin"], {"id": str(instance_id), "task_id": task_id, "process_id": "p"})
    stop = threading.Event()

    def watch_health() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", state.port, timeout=10)
                connection.request("GET", "/healthz")
                response = connection.getresponse()
                response.read()
                connection.close()
                if response.status != 200:
                    state.health_failures.append(f"status {response.status}")
            except OSError as exc:
                state.health_failures.append(repr(exc))
            state.health_latencies.append(time.monotonic() - started)
            stop.wait(0.05)

    watcher = threading.Thread(target=watch_health, daemon=True)
    watcher.start()
    yield state
    stop.set()
    watcher.join(timeout=15)
    server.shutdown()
    serving.join(timeout=15)
    server.server_close()
    assert state.health_failures == []
    assert state.health_latencies and max(state.health_latencies) < 5.0, max(state.health_latencies)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["typename", "PT24H", "R/PT0S", "2026-01-01", "p", "191212121212"])
)
json_bodies = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["data", "name", "reason", "process_id", "business_key", "correlation", "typename", "x"])
            | st.text(max_size=8),
            inner,
            max_size=5,
        )
    ),
    max_leaves=25,
)
raw_bodies = st.sampled_from(
    [
        b'{"data": {"x": NaN}}',
        b'{"data": {"x": Infinity}, "reason": "r"}',
        b"[" * 5000 + b"]" * 5000,
        b'{"a": ' * 3000 + b"1" + b"}" * 3000,
        b"\xff\xfe\x00",
        b"",
        b"null",
        b'{"data": {"typename": "UUID", "value": "x"}}',
    ]
)
path_values = st.sampled_from(["1", "999999", "0", "x", "%00", "-1", "9" * 30]) | st.just("REAL")


def _path(template: str, live: Live, value: str) -> str:
    path = template
    for name in ("id", "n", "timer_id", "task_id", "process_id"):
        real = live.ids.get(name, "1")
        path = path.replace("{" + name + "}", real if value == "REAL" else value)
    return path


def _encode(body: Any) -> bytes:
    return json.dumps(body, allow_nan=True).encode()


@settings(max_examples=120)
@given(
    st.sampled_from([r for r in ROUTES if r.method != "GET"]),
    json_bodies.map(_encode) | raw_bodies,
    path_values,
)
def test_generated_bodies_to_every_route_never_give_a_5xx(live, route, body, value):
    status = live.request(route.method, _path(route.path, live, value), body, route.content)
    assert status < 500, (route.method, route.path, body[:200], status)


@settings(max_examples=40)
@given(st.sampled_from([r for r in ROUTES if r.method == "GET"]), path_values)
def test_every_read_route_answers_without_a_5xx(live, route, value):
    assert live.request("GET", _path(route.path, live, value)) < 500


timers = st.sampled_from(
    [
        ("timeDuration", "PT1H"),
        ("timeDuration", "P5000Y"),
        ("timeDuration", "varde"),
        ("timeCycle", "R/PT0S"),
        ("timeCycle", "R3/PT1S"),
        ("timeCycle", "R/P1D"),
        ("timeDate", "9999-12-31T23:59"),
        ("timeDate", "2026-02-01T08:00"),
        ("timeDate", "'\x01'"),
    ]
)
scripts = st.sampled_from(
    [
        "x = 1",
        "x = 10 ** 10 ** 8",
        "x = 'a' * 10 ** 9",
        "x = range(3)",
        "x = float('nan')",
        "x = {'typename': 'UUID'}",
        "x = [1]\nx.append(x)",
        "n = 0\nwhile True:\n    try:\n        n += 1\n    except Exception:\n        n = 0",
        "import os",
        "x = ().__class__",
        "try:\n    x = 1\nexcept:\n    x = 2",
    ]
)
conditions = st.sampled_from(["varde &gt; 1", "10 ** 10 ** 9 &gt; 1", "len('x' * 10 ** 10) &gt; 0", "x.y", "(", "True"])


@st.composite
def generated_diagrams(draw: Any) -> bytes:
    kind, timer = draw(timers)
    script = draw(scripts)
    condition = draw(conditions)
    body = f"""
  <bpmn:startEvent id="start" />
  <bpmn:scriptTask id="skript"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
  <bpmn:exclusiveGateway id="gw" default="f_nej" />
  <bpmn:intermediateCatchEvent id="vanta">
    <bpmn:timerEventDefinition><bpmn:{kind}>{timer}</bpmn:{kind}></bpmn:timerEventDefinition>
  </bpmn:intermediateCatchEvent>
  <bpmn:userTask id="klar" />
  <bpmn:endEvent id="end" /><bpmn:endEvent id="end2" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="skript" />
  <bpmn:sequenceFlow id="f2" sourceRef="skript" targetRef="gw" />
  <bpmn:sequenceFlow id="f_ja" sourceRef="gw" targetRef="vanta">
    <bpmn:conditionExpression>{condition}</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f_nej" sourceRef="gw" targetRef="end2" />
  <bpmn:sequenceFlow id="f3" sourceRef="vanta" targetRef="klar" />
  <bpmn:sequenceFlow id="f4" sourceRef="klar" targetRef="end" />"""
    return diagrams.linear(draw(st.sampled_from(["fuzz_a", "fuzz_b"])), body).encode()


@settings(max_examples=25)
@given(generated_diagrams(), json_bodies)
def test_generated_diagrams_check_deploy_and_start_without_a_5xx(live, xml, data):
    assert live.request("POST", "/definitions/check", xml, "application/xml") < 500
    status = live.request("POST", "/definitions", xml, "application/xml")
    assert status < 500
    if status in (200, 201):
        process_id = "fuzz_a" if b'id="fuzz_a"' in xml else "fuzz_b"
        body = {"process_id": process_id, "business_key": "fuzz", "data": data if isinstance(data, dict) else {}}
        assert live.request("POST", "/instances", _encode(body)) < 500
