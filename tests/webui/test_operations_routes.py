"""Issue 17: /livez, /readyz and /metrics answer without signing in and carry no patient data; every answer has a
request id (the caller's, when it sends a sane one); JSON logs carry it."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from engine.jobs.heartbeat import SchedulerSlots, now_utc
from engine.persistence.models import SchedulerSlot
from tests import diagrams
from tests.conftest import OWNER, SYSTEM, fixture_bytes
from tests.webui.test_api import CASE
from webui import create_app
from webui.ops import JsonFormatter


def samples(body: bytes) -> dict[str, float]:
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


def test_livez_answers_without_asking_anything(client):
    answer = client.get("/livez")
    assert answer.status_code == 200 and answer.get_json() == {"status": "ok"}


def test_readyz_needs_a_live_scheduler_and_says_what_fails(client, platform):
    answer = client.get("/readyz")
    assert answer.status_code == 503
    checks = answer.get_json()["checks"]
    assert checks["database"] == "ok" and checks["migrations"] == "at head"
    assert checks["schedulers"] == {"alive": 0, "configured": 1}

    slots = SchedulerSlots(platform.db, slots=1)
    assert slots.try_claim() == 0
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["checks"]["schedulers"]["alive"] == 1

    with platform.db.unit_of_work() as session:  # the scheduler died: its heartbeat is a minute old
        session.execute(update(SchedulerSlot).values(beat_at=now_utc() - timedelta(minutes=1)))
    assert client.get("/readyz").status_code == 503
    slots.stop()


def test_readyz_fails_when_the_due_backlog_is_over_the_limit(client, platform, monkeypatch):
    slots = SchedulerSlots(platform.db, slots=1)
    slots.try_claim()
    platform.runtime.deploy(diagrams.timer_process("backlog", "PT1M"), OWNER)
    for n in range(3):
        platform.runtime.start_instance("backlog", f"b{n}", {}, SYSTEM)
    platform.clock.advance(timedelta(minutes=5))  # due, but nobody fires them (the scheduler is stuck)
    monkeypatch.setenv("SAMFLODE_READY_MAX_BACKLOG", "2")
    answer = client.get("/readyz")
    assert answer.status_code == 503
    backlog = answer.get_json()["checks"]["due_backlog"]
    assert backlog["timers"] == 3 and backlog["oldest_seconds"] == 240.0
    monkeypatch.setenv("SAMFLODE_READY_MAX_BACKLOG", "3")
    assert client.get("/readyz").status_code == 200
    slots.stop()


def test_metrics_count_requests_per_route_completions_backlog_and_incidents(client, platform, tokens):
    platform.runtime.deploy(fixture_bytes("two_lanes.bpmn"), OWNER)
    platform.runtime.deploy(diagrams.timer_process("metric_timer", "PT1M"), OWNER)
    platform.runtime.start_instance("metric_timer", "m1", {}, SYSTEM)
    platform.clock.advance(timedelta(minutes=2))
    platform.runtime.start_instance("two_lanes", "19121212-1212/VT-1", CASE, SYSTEM)
    before = samples(client.get("/metrics").data)
    task_id = client.get("/api/v1/tasks", headers=tokens["vera"]).get_json()["items"][0]["id"]
    done = client.post(
        f"/api/v1/tasks/{task_id}/complete", json={"data": {"behov": ["hemtjänst"]}}, headers=tokens["vera"]
    )
    assert done.status_code == 200, done.get_json()
    after = samples(client.get("/metrics").data)

    assert after["samflode_timers_due"] == 1.0
    assert after["samflode_timers_due_oldest_seconds"] == 60.0
    assert after["samflode_incidents_open"] == 0.0
    assert after["samflode_schedulers_configured"] == 1.0
    assert after["samflode_jobs{state=queued}"] == 0.0
    key = "samflode_task_completions_total{via=api}"
    assert after[key] - before.get(key, 0.0) == 1.0
    route = (
        "samflode_http_request_duration_seconds_count{method=POST,route=/api/v1/tasks/<task_id>/complete,status=2xx}"
    )
    assert after[route] - before.get(route, 0.0) == 1.0
    # Route templates only: no task id, case id or personnummer in any label.
    text = client.get("/metrics").data.decode()
    assert task_id not in text and "19121212" not in text


def test_every_answer_has_a_request_id_and_json_logs_carry_it(client, app):
    answer = client.get("/livez", headers={"X-Request-Id": "abc-123"})
    assert answer.headers["X-Request-Id"] == "abc-123"
    generated = client.get("/livez", headers={"X-Request-Id": "not ok; <script>"}).headers["X-Request-Id"]
    assert len(generated) == 16 and generated != "not ok; <script>"

    with app.test_request_context("/livez"):
        from flask import g

        g.request_id = "req-42"
        record = logging.LogRecord("samflode", logging.INFO, __file__, 1, "hej %s", ("där",), None)
        line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hej där" and line["request_id"] == "req-42" and line["level"] == "INFO"


def test_metrics_answer_only_on_this_host_without_a_token(client):
    """Route latencies, backlog and incidents name no person but map the service: without SAMFLODE_METRICS_TOKEN
    only a scraper on the same host gets them."""
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    away = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert away.status_code == 403 and b"SAMFLODE_METRICS_TOKEN" in away.data
    assert b"samflode_" not in away.data


def test_metrics_with_a_token_ask_for_it_from_everyone(platform, monkeypatch):
    monkeypatch.setattr(platform, "settings", replace(platform.settings, metrics_token="s3cret-scrape"))
    client = create_app({"TESTING": True}, platform=platform).test_client()
    for who in ("127.0.0.1", "10.1.2.3"):
        env = {"REMOTE_ADDR": who}
        missing = client.get("/metrics", environ_base=env)
        assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
        wrong = client.get("/metrics", environ_base=env, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = client.get("/metrics", environ_base=env, headers={"Authorization": "Bearer s3cret-scrape"})
        assert right.status_code == 200 and b"samflode_" in right.data
