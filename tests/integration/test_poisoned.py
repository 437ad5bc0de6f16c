"""Issue 13: cases poisoned before the data boundary existed are reported and, where possible, repaired (audited);
the rest become incidents. Through `samflode repair-poisoned` as an operator runs it."""

from __future__ import annotations

import json

from sqlalchemy import select, update

from engine.commands.poisoned import PoisonedCases
from engine.persistence.models import AuditEntry, Incident, ProcessInstance
from tests import diagrams
from tests.conftest import ENGINE, OWNER, SYSTEM, instance_view
from webui.cli import CLI_ACTOR


def _poison(platform, instance_id: int, state_text: str | None = None) -> None:
    with platform.db.unit_of_work() as session:
        instance = session.get(ProcessInstance, instance_id)
        state = json.loads(instance.state)
        for task in state["tasks"].values():
            task["data"]["bilaga"] = {"typename": "Okand", "v": 1}
        session.execute(
            update(ProcessInstance)
            .where(ProcessInstance.id == instance_id)
            .values(state=state_text or json.dumps(state), data={"bilaga": {"typename": "Okand", "v": 1}})
        )
    platform.runtime.forget_cached_flows()


def test_poisoned_cases_are_reported_repaired_and_audited(platform):
    platform.runtime.deploy(diagrams.single_task("p"), OWNER)
    healthy = platform.runtime.start_instance("p", "frisk", {"a": 1}, SYSTEM)
    repairable = platform.runtime.start_instance("p", "lagbar", {"a": 1}, SYSTEM)
    lost = platform.runtime.start_instance("p", "forlorad", {"a": 1}, SYSTEM)
    _poison(platform, repairable)
    _poison(platform, lost, state_text='{"inte": "ett arbetsflöde"')

    cases = PoisonedCases(platform.runtime)
    found = {f.instance_id: f for f in cases.scan()}
    assert set(found) == {repairable, lost}
    assert any("typename" in p for p in found[repairable].problems)
    assert any("kan inte läsas in" in p for p in found[lost].problems)

    done = {f.instance_id: f for f in cases.repair(CLI_ACTOR)}
    assert not done[repairable].unrepairable and done[repairable].repaired
    assert done[lost].unrepairable
    assert list(cases.scan()) == [f for f in cases.scan() if f.instance_id == lost]  # only the lost one is left

    # The repaired case works again: its task can be completed; the key is kept under a new name.
    view = instance_view(platform, repairable)
    assert view["data"]["bilaga"] == {"typename_": "Okand", "v": 1}
    platform.runtime.complete_task(view["active_tasks"][0]["id"], {}, ENGINE)
    assert instance_view(platform, repairable)["status"] == "completed"
    # The lost one is an incident the coordinators see; the healthy one was not touched.
    with platform.db.read() as session:
        assert session.get(ProcessInstance, lost).status == "incident"
        assert session.scalar(select(Incident.message).where(Incident.instance_id == lost)).startswith(
            "Ärendets sparade tillstånd"
        )
        audited = set(session.scalars(select(AuditEntry.target_id).where(AuditEntry.action == "repair_poisoned")))
        assert audited == {str(repairable), str(lost)}
    assert instance_view(platform, healthy)["data"] == {"a": 1}


def test_the_command_line_lists_and_fixes(platform, monkeypatch, capsys):
    from webui import cli

    platform.runtime.deploy(diagrams.single_task("p"), OWNER)
    iid = platform.runtime.start_instance("p", "bk", {}, SYSTEM)
    _poison(platform, iid)
    monkeypatch.setattr(cli, "_platform", lambda settings=None: platform)
    assert cli.main(["repair-poisoned"]) == 1
    assert f'"instance_id": {iid}' in capsys.readouterr().out
    assert cli.main(["repair-poisoned", "--fix"]) == 0
    assert cli.main(["repair-poisoned"]) == 0
    assert "0 förgiftade" in capsys.readouterr().out
