"""A readmission the platform knows (issue 14, point 7): the same person, discharged by Samflöde within 30 days
before the new admission. The case says so from the start, the ward's admission form shows it, the figures count it
whatever the ward ticks; the tick stays for what the platform cannot know. The look-up goes through engine/reads under
the access policy and is in the access log."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine.domain.actors import Actor
from engine.persistence.models import AccessLogEntry, CaseFact
from tests.bpmn.conftest import ESTHER, Walker
from tests.bpmn.test_deadlines import at_uk

WARD = Actor("vera", frozenset({"vardplanerare"}), frozenset({ESTHER["avdelning_hsa_id"]}), name="Vera")


def _discharged_stay(walk: Walker) -> tuple[int, str]:
    first = at_uk(walk)
    discharged = walk.clock.now()
    walk.send("utskriven", ESTHER, utskrivningstid=discharged.isoformat())
    return first, discharged.isoformat()


def _readmission(walk: Walker, instance: int) -> bool:
    with walk.p.db.read() as session:
        row = session.get(CaseFact, instance)
        assert row is not None
        return bool(row.readmission)


def test_an_admission_within_30_days_of_a_discharge_is_a_readmission_the_ward_sees(walk):
    first, discharged = _discharged_stay(walk)
    walk.clock.advance(timedelta(days=29, hours=23))
    second = walk.admit({**ESTHER, "vardtillfalle_id": "VT-1002"})

    data = walk.data(second)
    assert data["aterinlaggning_kand"] is True
    assert (data["tidigare_arende_id"], data["tidigare_utskrivning"]) == (first, discharged)
    assert data["tidigare_vardtillfalle_id"] == ESTHER["vardtillfalle_id"]
    # the ward's admission task shows it beside the form
    task_id = walk.task_id(second, "registrera_inskrivning")
    view = walk.p.reads.tasks.view(WARD, task_id)
    shown = {fact.key: fact.value for fact in view.reads}
    assert shown["tidigare_utskrivning"] == discharged and shown["tidigare_arende_id"] == first
    assert {fact.label for fact in view.reads} >= {"Tidigare utskrivning (känd av Samflöde)", "Tidigare ärende"}
    # counted whatever the ward ticks: the tick is for what the platform cannot know
    walk.complete(second, "registrera_inskrivning", aterinlaggning_inom_30_dagar=False, aterinlaggning_planerad=False)
    assert _readmission(walk, second) is True
    assert _readmission(walk, first) is False
    with walk.p.db.read() as session:
        logged = session.scalars(
            select(AccessLogEntry).where(AccessLogEntry.instance_id == first, AccessLogEntry.action == "person_sok")
        ).all()
        assert [row.detail for row in logged] == ["återinläggning: tidigare utskrivning"]


def test_an_admission_after_30_days_rests_on_the_wards_answer(walk):
    _discharged_stay(walk)
    walk.clock.advance(timedelta(days=30, minutes=1))
    second = walk.admit({**ESTHER, "vardtillfalle_id": "VT-1003"})
    assert walk.data(second)["aterinlaggning_kand"] is False
    assert "tidigare_arende_id" not in walk.data(second)
    walk.complete(
        second,
        "registrera_inskrivning",
        aterinlaggning_inom_30_dagar=True,
        tidigare_vardtillfalle_id="VT-ANNAT-SJUKHUS",
        aterinlaggning_planerad=False,
    )
    assert _readmission(walk, second) is True  # a discharge elsewhere that the ward knows of


def test_another_person_is_not_a_readmission(walk):
    _discharged_stay(walk)
    walk.clock.advance(timedelta(days=2))
    other = walk.admit({**ESTHER, "personnummer": "19400101-2386", "vardtillfalle_id": "VT-2002"})
    assert walk.data(other)["aterinlaggning_kand"] is False


def test_a_readmission_the_ward_marks_as_planned_is_not_counted(walk):
    _discharged_stay(walk)
    walk.clock.advance(timedelta(days=5))
    second = walk.admit({**ESTHER, "vardtillfalle_id": "VT-1004"})
    assert walk.data(second)["aterinlaggning_kand"] is True
    walk.complete(second, "registrera_inskrivning", aterinlaggning_planerad=True)
    assert _readmission(walk, second) is False  # the figure is of unplanned readmissions
