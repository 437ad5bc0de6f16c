"""An avvikelse is charged to the party whose work was late, not to the lane the deadline is drawn in (issue 14,
point 6): "home within 24 h of UK" guards the ward's UK period, but the person may be kept from going home by the
kommun's biståndsbeslut or hemsjukvård's first visit planning in the branches beside it."""

from __future__ import annotations

from tests.bpmn.conftest import Walker
from tests.bpmn.test_deadlines import at_uk

LATE = "tid_hem_efter_uk"


def _charged(walk: Walker, instance: int) -> list[str]:
    return sorted(d["party"] for d in walk.view(instance)["deviations"] if d["element_id"] == LATE)


def _lane(walk: Walker, instance: int, element_id: str) -> str:
    return next(t["lane"] for t in walk.view(instance)["active_tasks"] if t["element_id"] == element_id)


def test_late_homecoming_is_charged_to_every_party_with_work_still_open(walk):
    instance = at_uk(walk)
    open_work = {e: _lane(walk, instance, e) for e in ("overfora_information", "fatta_bistandsbeslut")}
    walk.fire(instance, LATE)
    charged = _charged(walk, instance)
    assert set(open_work.values()) <= set(charged)
    assert len(charged) == len(set(charged))  # one avvikelse per party
    assert "Region primärvård" not in charged  # the SIP's tasks are not what keeps the person from going home


def test_late_homecoming_is_charged_to_the_kommun_when_the_others_have_done_their_part(walk):
    instance = at_uk(walk)
    socialtjanst = _lane(walk, instance, "fatta_bistandsbeslut")
    waiting = {"fatta_bistandsbeslut", "genomfora_utskrivning"}  # the biståndsbeslut, and the discharge waiting for it
    for _ in range(40):  # everything else the parties do before the person goes home (not the SIP's own steps)
        todo = [
            t["element_id"]
            for t in walk.view(instance)["active_tasks"]
            if t["element_id"] not in waiting and t["lane"] != "Region primärvård"
        ]
        if not todo:
            break
        walk.complete(instance, todo[0])
    walk.fire(instance, LATE)
    assert _charged(walk, instance) == sorted({socialtjanst, _lane(walk, instance, "genomfora_utskrivning")})
