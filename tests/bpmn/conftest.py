"""Running the real diagrams (processes/*.bpmn) through the real service layer.

`walk` is a platform with the three processes deployed (sip first, as `samflode demo` does) and a `Walker` that
drives instances the way staff and outside systems do: it completes tasks with data that satisfies each task's
form (JSON Schema, validated by the runtime), sends messages, fires timers at their due moment and not before, and
drops the in-memory workflows after every step so the next step restores the instance from the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from engine.config import PROJECT_ROOT, Settings
from engine.domain.catalog import fill_required
from engine.domain.clock import SimulatedClock
from engine.persistence.models import TaskIndex
from engine.platform import Platform, build
from tests.conftest import ENGINE, OWNER, SYSTEM, instance_list, instance_view, truncate_all

PROCESSES = PROJECT_ROOT / "processes"
DEPLOY_ORDER = ("sip", "in_utskrivning", "mobilt_team")

ESTHER = {
    "personnummer": "19380312-2385",
    "vardtillfalle_id": "VT-1001",
    "avdelning_hsa_id": "SE2321000057-HSMEDGER",
    "kommun": "Eksjö",
    "vardcentral_hsa_id": "SE2321000057-VCEKSJO",
    "avtal": "jonkoping",
}


@pytest.fixture
def process_settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, clock="simulated", processes_dir=PROCESSES, scheduler=False).checked()


@pytest.fixture
def process_platform(process_settings: Settings, clock: SimulatedClock) -> Iterator[Platform]:
    p = build(process_settings, clock=clock, migrate=False)
    truncate_all(p.db)
    for name in DEPLOY_ORDER:
        p.runtime.deploy((PROCESSES / f"{name}.bpmn").read_bytes(), OWNER, filename=f"{name}.bpmn")
    yield p
    p.close()


@pytest.fixture
def walk(process_platform: Platform) -> Walker:
    return Walker(process_platform)


def form_value(name: str, prop: dict[str, Any], case: dict[str, Any], now: datetime) -> Any:
    """A realistic value for one form field: the case's own value when the field names one, else by type/format."""
    if name in case:
        return case[name]
    if "const" in prop:
        return prop["const"]
    if "enum" in prop:
        return prop["enum"][0]
    kind = prop.get("type")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    fmt = prop.get("format")
    if kind == "string":
        if fmt == "date":
            return now.date().isoformat()
        if fmt == "date-time":
            return now.isoformat()
        if fmt == "personnummer":
            return case["personnummer"]
        if fmt == "hsa-id":
            return case.get("vardcentral_hsa_id", "SE2321000057-VCEKSJO")
        return f"Ifyllt i test: {prop.get('title', name)}"[: prop.get("maxLength", 2000)]
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        return max(int(prop.get("minimum", 1)), 1)
    if kind == "array":
        items = prop.get("items", {})
        count = max(int(prop.get("minItems", 1)), 1)
        if "enum" in items:
            return items["enum"][:count]
        return [form_value(name, items, case, now) for _ in range(count)]
    if kind == "object":
        return fill_form(prop, case, now, {})
    raise AssertionError(f"no test value for field {name!r} of type {kind!r}")


def fill_form(schema: dict[str, Any], case: dict[str, Any], now: datetime, given: dict[str, Any]) -> dict[str, Any]:
    """The required fields of a form (including those an if/then makes required), with `given` on top."""
    return fill_required(schema, dict(given), lambda key, prop: form_value(key, prop, case, now))


class Walker:
    def __init__(self, platform: Platform):
        self.p = platform
        self.runtime = platform.runtime
        clock = platform.clock
        assert isinstance(clock, SimulatedClock)
        self.clock = clock
        self._message_ids = 0

    # --- reading ---
    def view(self, instance_id: int) -> dict[str, Any]:
        return instance_view(self.p, instance_id, ENGINE)

    def active(self, instance_id: int) -> list[str]:
        return sorted(t["element_id"] for t in self.view(instance_id)["active_tasks"])

    def timers(self, instance_id: int) -> dict[str, dict[str, Any]]:
        return {t["element_id"]: t for t in self.view(instance_id)["timers"]}

    def history(self, instance_id: int, kind: str) -> list[dict[str, Any]]:
        return [h for h in self.view(instance_id)["history"] if h["kind"] == kind]

    def thrown(self, instance_id: int) -> list[str]:
        return [h["data"]["name"] for h in self.history(instance_id, "message_thrown")]

    def data(self, instance_id: int) -> dict[str, Any]:
        return dict(self.view(instance_id)["data"])

    def children(self, parent_id: int) -> list[dict[str, Any]]:
        items = instance_list(self.p, ENGINE, limit=500)["items"]
        return [self.view(i["id"]) for i in items if self.view(i["id"])["parent_instance_id"] == parent_id]

    # --- steps (each followed by a restore from the database) ---
    def _step_done(self) -> None:
        self.runtime.forget_cached_flows()

    def send(self, name: str, case: dict[str, Any], **data: Any) -> int:
        self._message_ids += 1
        correlation = {k: case[k] for k in ("personnummer", "vardtillfalle_id")}
        result = self.runtime.send_message(name, f"test-{name}-{self._message_ids}", correlation, data, SYSTEM)
        self._step_done()
        return result.instance_id

    def admit(self, case: dict[str, Any], **extra: Any) -> int:
        """The ward's system reports an admission: the `inskrivning` message starts in_utskrivning."""
        return self.send("inskrivning", case, **case, inskrivningstid=self.clock.now().isoformat(), **extra)

    def start(self, process_id: str, case: dict[str, Any]) -> int:
        business_key = f"{case['personnummer']}/{process_id}"
        instance_id = self.runtime.start_instance(process_id, business_key, dict(case), SYSTEM)
        self._step_done()
        return instance_id

    def task_id(self, instance_id: int, element_id: str) -> str:
        found = [t["id"] for t in self.view(instance_id)["active_tasks"] if t["element_id"] == element_id]
        assert found, f"{element_id} is not active; active: {self.active(instance_id)}"
        return found[0]

    def complete(self, instance_id: int, element_id: str, **given: Any) -> None:
        task_id = self.task_id(instance_id, element_id)
        with self.p.db.read() as session:
            row = session.get(TaskIndex, task_id)
            assert row is not None
            form = row.form
        schema = self.p.catalog.form(form) if form else None
        data = fill_form(schema, self.data(instance_id), self.clock.now(), given) if schema else dict(given)
        self.runtime.complete_task(task_id, data, ENGINE)
        self._step_done()

    def run_until(
        self, instance_id: int, stop: set[str], decisions: dict[str, dict[str, Any]] | None = None
    ) -> list[str]:
        """Complete active tasks (oldest first) until one named in `stop` is active or nothing is; returns the
        order in which tasks were done."""
        decisions = decisions or {}
        done: list[str] = []
        for _ in range(300):
            view = self.view(instance_id)
            assert view["status"] != "incident", view["incidents"]
            active = [t["element_id"] for t in view["active_tasks"]]
            if not active or stop & set(active):
                return done
            element = active[0]
            self.complete(instance_id, element, **decisions.get(element, {}))
            done.append(element)
        raise AssertionError("run_until did not reach its stop")

    def run_except(
        self, instance_id: int, keep: set[str], decisions: dict[str, dict[str, Any]] | None = None
    ) -> list[str]:
        """Complete active tasks (oldest first) except those named in `keep`, until only those (or none) are left;
        returns the order in which tasks were done. The planning of the stay runs beside the wait for the UK
        decision, so `run_until` cannot stop at it."""
        decisions = decisions or {}
        done: list[str] = []
        for _ in range(300):
            view = self.view(instance_id)
            assert view["status"] != "incident", view["incidents"]
            todo = [t["element_id"] for t in view["active_tasks"] if t["element_id"] not in keep]
            if not todo:
                return done
            self.complete(instance_id, todo[0], **decisions.get(todo[0], {}))
            done.append(todo[0])
        raise AssertionError("run_except did not finish")

    def fire(self, instance_id: int, element_id: str) -> datetime:
        """Fire a timer at its due moment: one second before, it is not due; at the moment, it fires."""
        timer = self.timers(instance_id)[element_id]
        due_at = datetime.fromisoformat(timer["due_at"])
        assert due_at > self.clock.now(), "a timer in the past cannot be fired 'not before' its moment"
        self.clock.set(due_at - timedelta(seconds=1))
        assert timer["id"] not in [t for t, _ in self.runtime.due_timers()]
        self.clock.set(due_at)
        assert timer["id"] in [t for t, _ in self.runtime.due_timers()]
        assert self.runtime.fire_timer(timer["id"], ENGINE)
        self._step_done()
        return due_at
