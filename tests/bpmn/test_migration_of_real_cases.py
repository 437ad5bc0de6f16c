"""Migrating real in_utskrivning cases (sub-processes, boundary timers on a sub-process, the SIP call activity) to a
new version of the diagram, and finishing them there, restored from the database after every step."""

from __future__ import annotations

from datetime import timedelta

from engine.domain.actors import Actor
from engine.features.migration import Migrations, Selection
from tests.bpmn.conftest import PROCESSES, Walker
from tests.bpmn.test_in_utskrivning import PLANNING, finish, until_uk_decision
from tests.conftest import OWNER

TEAM = Actor("ines", frozenset({"implementation_team"}))


def deploy_version_2(walk: Walker) -> None:
    xml = (PROCESSES / "in_utskrivning.bpmn").read_text(encoding="utf-8")
    changed = xml.replace('name="Skicka inskrivningsmeddelande"', 'name="Skicka inskrivningsmeddelande (ny)"', 1)
    assert changed != xml
    walk.runtime.deploy(changed, OWNER)


def migrate(walk: Walker, instance: int) -> dict:
    migrations = Migrations(walk.runtime)
    selection = Selection(process_id="in_utskrivning", target_version=2, instance_ids=(instance,))
    preview = migrations.preview(selection, {}, TEAM)
    assert preview["items"][0]["outcome"] == "ready", preview["items"][0]
    run = migrations.get(migrations.run(selection, {}, TEAM), TEAM)
    walk.runtime.forget_cached_flows()
    return run


def test_a_case_in_the_utskrivningsklar_period_keeps_its_tasks_and_deadlines_and_finishes_on_version_2(walk):
    instance = until_uk_decision(walk)
    walk.complete(instance, "besluta_utskrivningsklar", utskrivningsklar=True)
    walk.complete(instance, "skicka_meddelande_utskrivningsklar")
    walk.clock.advance(timedelta(hours=5))
    active, timers = walk.active(instance), walk.timers(instance)
    assert {"tid_betalningsansvar", "tid_hem_efter_uk"} <= set(timers)
    deploy_version_2(walk)
    run = migrate(walk, instance)
    assert run["migrated"] == 1, run["items"]
    view = walk.view(instance)
    assert view["version"] == 2
    assert walk.active(instance) == active
    # the same deadlines (the target's definitions are the same), counted from when they began, not from now
    after = walk.timers(instance)
    assert {k: v["due_at"] for k, v in after.items()} == {k: v["due_at"] for k, v in timers.items()}
    finish(walk, instance)


def test_a_case_in_its_sip_is_migrated_and_reverted(walk):
    instance = until_uk_decision(walk)
    walk.complete(instance, "besluta_utskrivningsklar", utskrivningsklar=True)
    walk.complete(instance, "skicka_meddelande_utskrivningsklar")
    walk.run_until(instance, {"kalla_till_sip"}, PLANNING)
    before = walk.view(instance)
    deploy_version_2(walk)
    run = migrate(walk, instance)
    assert run["migrated"] == 1 and walk.view(instance)["version"] == 2
    answer = Migrations(walk.runtime).revert(run["id"], TEAM)
    assert answer["reverted"] == [instance]
    walk.runtime.forget_cached_flows()
    again = walk.view(instance)
    assert again["version"] == 1
    assert [t["id"] for t in again["active_tasks"]] == [t["id"] for t in before["active_tasks"]]
    assert [(t["element_id"], t["due_at"]) for t in again["timers"]] == [
        (t["element_id"], t["due_at"]) for t in before["timers"]
    ]
    finish(walk, instance)
