"""Two people complete the same task at the same moment: exactly one wins, the other gets a clear conflict."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from engine.domain.errors import Conflict, SamflodeError
from engine.persistence.models import HistoryEntry, ProcessInstance
from tests import diagrams
from tests.conftest import ENGINE, OWNER, SYSTEM, instance_view


def race(platform, runs: int = 5) -> None:
    platform.runtime.deploy(diagrams.script_process("lopp", "raknare = raknare + 1"), OWNER)
    for run in range(runs):
        iid = platform.runtime.start_instance("lopp", f"bk-{run}", {"raknare": 0}, SYSTEM)
        task_id = instance_view(platform, iid, ENGINE)["active_tasks"][0]["id"]
        barrier = threading.Barrier(2)
        outcomes: list[object] = []

        def complete(who: str, barrier=barrier, task_id=task_id, outcomes=outcomes) -> None:
            barrier.wait()
            try:
                platform.runtime.complete_task(task_id, {"vem": who}, ENGINE)
                outcomes.append("ok")
            except SamflodeError as exc:
                outcomes.append(exc)

        threads = [threading.Thread(target=complete, args=(name,)) for name in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert outcomes.count("ok") == 1, outcomes
        [loser] = [o for o in outcomes if o != "ok"]
        assert isinstance(loser, Conflict), loser
        view = instance_view(platform, iid, ENGINE)
        assert view["data"]["raknare"] == 1  # the script after the task ran once
        assert [t["element_id"] for t in view["active_tasks"]] == ["efter"]
        with platform.db.read() as session:
            completions = session.scalar(
                select(func.count())
                .select_from(HistoryEntry)
                .where(HistoryEntry.instance_id == iid, HistoryEntry.kind == "task_completed")
            )
            assert completions == 1
            assert session.get(ProcessInstance, iid).lock_version >= 2


def test_two_threads_complete_the_same_task_on_the_test_database(platform):
    race(platform)


@pytest.mark.postgres
def test_two_connections_complete_the_same_task_on_postgresql(postgres_platform):
    """Always on PostgreSQL, whatever the suite's own database: row locks across two real connections."""
    race(postgres_platform)
