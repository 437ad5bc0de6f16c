"""Operations (issue 17): liveness and readiness, Prometheus metrics, a request id and JSON logs on demand.

- /livez: the process answers (nothing else is asked: a liveness probe that reads the database restarts healthy
  processes when the database is away).
- /readyz: the database answers, its schema is at the newest migration, a scheduler's heartbeat is recent and the
  backlog of due timers is below SAMFLODE_READY_MAX_BACKLOG; 503 with the failing checks otherwise.
- /metrics: Prometheus text (prometheus_client). Under gunicorn each worker writes its samples to
  PROMETHEUS_MULTIPROC_DIR and /metrics sums them (multiprocess mode). The figures read from the database (due
  backlog, open incidents, job queue, scheduler heartbeats) are read when scraped.
None of these carries patient data: counts, durations, route templates (never a path with an id) and states.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from engine.commands.runtime import MAX_TIMER_ATTEMPTS
from engine.jobs.heartbeat import slot_states
from engine.metrics import TIMER_LATENESS, TIMERS_FIRED
from engine.persistence.models import Incident, SimulationRun, Timer
from engine.platform import Platform

log = logging.getLogger(__name__)
REQUEST_ID_HEADER = "X-Request-Id"
HEARTBEAT_STALE_SECONDS = 20.0

REQUEST_SECONDS = Histogram(
    "samflode_http_request_duration_seconds",
    "Time to answer a request, per route template and method",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0),
)
COMPLETIONS = Counter("samflode_task_completions_total", "Tasks completed through the web pages and the API", ["via"])


def due_backlog(platform: Platform) -> tuple[int, float]:
    """How many timers are due now and not waiting for a retry, and how late the oldest is (seconds)."""
    now = platform.clock.now()
    with platform.db.read() as session:
        count, oldest = session.execute(
            select(func.count(), func.min(Timer.due_at)).where(
                Timer.due_at <= now,
                Timer.attempts < MAX_TIMER_ATTEMPTS,
                (Timer.next_attempt_at.is_(None)) | (Timer.next_attempt_at <= now),
            )
        ).one()
    return int(count or 0), (now - oldest).total_seconds() if oldest is not None else 0.0


class DatabaseCollector:
    """Figures read from the database when /metrics is scraped (one process answers; no double counting)."""

    def __init__(self, platform: Platform):
        self.platform = platform

    def collect(self) -> Any:
        p = self.platform
        backlog, oldest = due_backlog(p)
        with p.db.read() as session:
            incidents = session.scalar(select(func.count()).select_from(Incident).where(Incident.resolved_at.is_(None)))
            jobs = dict(
                session.execute(
                    select(SimulationRun.status, func.count())
                    .where(SimulationRun.status.in_(("queued", "running")))
                    .group_by(SimulationRun.status)
                ).all()
            )
            waiting = session.scalar(select(func.count()).select_from(Timer))
        yield GaugeMetricFamily("samflode_timers_due", "Timers due now and not yet fired (the due backlog)", backlog)
        yield GaugeMetricFamily("samflode_timers_due_oldest_seconds", "How late the oldest due timer is", oldest)
        yield GaugeMetricFamily("samflode_timers_waiting", "Timers written and waiting", waiting or 0)
        yield GaugeMetricFamily("samflode_incidents_open", "Open incidents", incidents or 0)
        queue = GaugeMetricFamily("samflode_jobs", "Background jobs (simulations) per state", labels=["state"])
        for job_state in ("queued", "running"):
            queue.add_metric([job_state], jobs.get(job_state, 0))
        yield queue
        beats = GaugeMetricFamily(
            "samflode_scheduler_heartbeat_age_seconds", "Seconds since each scheduler slot's heartbeat", labels=["slot"]
        )
        now = datetime.now(UTC)
        alive = 0
        for state in slot_states(p.db, HEARTBEAT_STALE_SECONDS):
            if state.slot >= p.settings.schedulers:
                continue
            alive += state.alive
            age = (now - state.beat_at).total_seconds() if state.beat_at is not None else float("inf")
            beats.add_metric([str(state.slot)], age)
        yield beats
        yield GaugeMetricFamily("samflode_schedulers_alive", "Scheduler slots with a recent heartbeat", alive)
        yield GaugeMetricFamily(
            "samflode_schedulers_configured", "Scheduler slots configured (SAMFLODE_SCHEDULERS)", p.settings.schedulers
        )


LOOPBACK = ("127.0.0.1", "::1")


def metrics_refusal(token: str) -> Response | None:
    """Who may scrape /metrics: with SAMFLODE_METRICS_TOKEN set, whoever sends it as a Bearer token (Prometheus'
    `authorization` setting), from anywhere; without one, only a scraper on this host. The figures name no person,
    but route latencies, backlog and incident counts are an attacker's map of the service, so it fails closed."""
    if token:
        sent = request.headers.get("Authorization", "")
        scheme, _, value = sent.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode()):
            return None
        return Response(
            "metrics: send SAMFLODE_METRICS_TOKEN as a Bearer token\n",
            status=401,
            mimetype="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    if request.remote_addr in LOOPBACK:
        return None
    return Response(
        "metrics: only on this host unless SAMFLODE_METRICS_TOKEN is set (docs/operations.md)\n",
        status=403,
        mimetype="text/plain",
    )


def metrics_text(platform: Platform) -> bytes:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:  # one process: its own samples (the metrics live in the default registry)
        for collector in (REQUEST_SECONDS, COMPLETIONS, TIMER_LATENESS, TIMERS_FIRED):
            registry.register(_Borrowed(collector))
    registry.register(DatabaseCollector(platform))
    return generate_latest(registry)


class _Borrowed:
    """A metric of the default registry shown in ours too (a collector may belong to several registries only by
    being wrapped)."""

    def __init__(self, metric: Any):
        self.metric = metric

    def collect(self) -> Any:
        return self.metric.collect()


def readiness(platform: Platform) -> tuple[bool, dict[str, Any]]:
    checks: dict[str, Any] = {}
    ok = True
    try:
        with platform.db.read() as session:
            session.execute(select(1))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - whatever the driver says, it is "not ready"
        return False, {"database": f"unreachable: {exc.__class__.__name__}"}
    try:
        at_head = platform.db.at_head()
    except Exception as exc:  # noqa: BLE001
        at_head = False
        log.warning("migration state unreadable: %s", exc)
    checks["migrations"] = "at head" if at_head else "behind"
    ok &= at_head
    alive = [s for s in slot_states(platform.db, HEARTBEAT_STALE_SECONDS) if s.alive]
    alive = [s for s in alive if s.slot < platform.settings.schedulers]
    checks["schedulers"] = {"alive": len(alive), "configured": platform.settings.schedulers}
    if not alive:
        ok = False
    backlog, oldest = due_backlog(platform)
    limit = int(os.environ.get("SAMFLODE_READY_MAX_BACKLOG", "10000"))
    checks["due_backlog"] = {"timers": backlog, "oldest_seconds": round(oldest, 3), "limit": limit}
    if backlog > limit:
        ok = False
    return ok, checks


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and the request id when in a request."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or _current_request_id()
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _current_request_id() -> str | None:
    from flask import has_request_context

    if has_request_context():
        return getattr(g, "request_id", None)
    return None


def configure_logging(log_format: str) -> None:
    """JSON lines on standard error when SAMFLODE_LOG_FORMAT=json; the plain format otherwise."""
    if log_format != "json":
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)


_VALID_ID = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def register_operations(app: Flask, platform: Platform) -> None:
    access_log = logging.getLogger("samflode.requests")

    @app.before_request
    def _start() -> None:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = given if 0 < len(given) <= 64 and set(given) <= _VALID_ID else secrets.token_hex(8)
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        started = g.get("request_started")
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        if started is not None:
            seconds = time.perf_counter() - started
            REQUEST_SECONDS.labels(rule, request.method, f"{response.status_code // 100}xx").observe(seconds)
            if platform.settings.log_format == "json":
                access_log.info(
                    "%s %s %d %.1f ms", request.method, rule, response.status_code, seconds * 1000
                )  # the route template, never the path: ids in paths may point at a person
        if request.endpoint == "api.complete_task" and response.status_code < 400:
            COMPLETIONS.labels("api").inc()
        elif (
            request.endpoint == "tasks.task_submit"
            and response.status_code == 303
            and request.form.get("action") != "draft"
        ):
            COMPLETIONS.labels("page").inc()
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        return response

    @app.get("/livez")
    def _livez() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/readyz")
    def _readyz() -> tuple[dict[str, Any], int]:
        ok, checks = readiness(platform)
        return {"status": "ok" if ok else "not ready", "checks": checks}, 200 if ok else 503

    @app.get("/metrics")
    def _metrics() -> Response:
        refused = metrics_refusal(platform.settings.metrics_token)
        if refused is not None:
            return refused
        return Response(metrics_text(platform), mimetype=CONTENT_TYPE_LATEST)
