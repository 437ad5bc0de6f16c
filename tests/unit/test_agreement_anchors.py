"""Every agreement deadline names its anchor event, checked when the agreements load (issue 14, point 1)."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from engine.config import PROJECT_ROOT
from engine.domain.calendar import DeadlineRule
from engine.domain.catalog import Catalog, CatalogError
from engine.domain.clock import STOCKHOLM
from engine.domain.deadlines import ANCHORS, PLAN_PREFIX, TASK_ANCHOR, due_moment

PROCESSES = PROJECT_ROOT / "processes"


def _catalog_with(tmp_path: Path, rule: dict) -> Catalog:
    folder = tmp_path / "processes"
    folder.mkdir()
    (folder / "agreements.json").write_text(
        json.dumps({"nationell": {"name": "N", "deadlines": {"kallelse_sip": rule}}}), encoding="utf-8"
    )
    return Catalog(folder)


def test_every_deadline_of_the_real_agreements_names_an_event_of_the_case():
    catalog = Catalog(PROCESSES)
    for agreement in catalog.agreements.values():
        for key, rule in agreement.deadlines.items():
            assert rule.anchor is not None and rule.anchor != TASK_ANCHOR, (agreement.key, key)  # never "uppgift"
            if rule.anchor.startswith(PLAN_PREFIX):  # a date in the plan: a field some form of the process records
                field = rule.anchor[len(PLAN_PREFIX) :]
                forms = [json.loads(p.read_text(encoding="utf-8")) for p in (PROCESSES / "forms").glob("*.json")]
                assert any(field in (form.get("properties") or {}) for form in forms), (agreement.key, key, field)
            else:
                assert rule.anchor in ANCHORS, (agreement.key, key, rule.anchor)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"duration": "P3D", "calendar": "calendar"}, "ankarhändelse (anchor) saknas"),
        ({"duration": "P3D", "calendar": "calendar", "anchor": "kallelsen"}, "okänd ankarhändelse 'kallelsen'"),
        ({"duration": "P3D", "calendar": "calendar", "anchor": "plan:"}, "okänd ankarhändelse 'plan:'"),
    ],
)
def test_a_missing_or_unknown_anchor_stops_the_agreements_from_loading(tmp_path, rule, message):
    with pytest.raises(CatalogError) as info:
        _catalog_with(tmp_path, rule)
    assert "nationell.kallelse_sip" in str(info.value) and message in str(info.value)
    if "okänd" in message:
        assert "utskrivning" in str(info.value)  # the choices are named


def test_the_due_moment_counts_from_the_recorded_anchor_or_a_date_in_the_plan():
    uk = DeadlineRule("P3D", "calendar", anchor="utskrivningsklar")
    notice = datetime(2026, 10, 23, 15, 0, tzinfo=STOCKHOLM)
    assert due_moment(uk, {"utskrivningsklar": notice}) == datetime(2026, 10, 26, 15, 0, tzinfo=STOCKHOLM)
    assert due_moment(uk, {"utskrivningsklar": None}) is None  # not recorded yet: no moment
    plan = DeadlineRule("PT24H", "hours", anchor="plan:planerat_utskrivningsdatum")
    due = due_moment(plan, {}, {"planerat_utskrivningsdatum": "2026-10-24T12:00"})
    assert due == datetime(2026, 10, 25, 11, 0, tzinfo=STOCKHOLM)  # 24 real hours across the change
    assert due_moment(DeadlineRule("PT24H", "hours", anchor=TASK_ANCHOR), {"inskrivning": notice}) is None


def test_the_shipped_catalogue_still_loads_from_a_copy(tmp_path):
    shutil.copytree(PROCESSES, tmp_path / "p")
    assert set(Catalog(tmp_path / "p").agreements) == {"nationell", "jonkoping", "goteborg"}


def test_the_payment_clock_under_lpt_or_lrv_is_the_agreements_psychiatric_rule():
    catalog = Catalog(PROCESSES)
    general = catalog.deadline_rule("betalningsansvar", "jonkoping")
    assert (general.duration, general.anchor) == ("P2D", "senaste_utskrivningsklar")
    for flag in ("LPT", "lrv", True):
        rule = catalog.deadline_rule("betalningsansvar", "jonkoping", {"psykiatrisk_tvangsvard": flag})
        assert (rule.duration, rule.calendar, rule.anchor) == ("P3D", "calendar", "senaste_utskrivningsklar")
    for flag in (False, None, "nej", "ja"):
        assert catalog.deadline_rule("betalningsansvar", "jonkoping", {"psykiatrisk_tvangsvard": flag}) == general
    # only the payment clock follows the block
    other = catalog.deadline_rule("kallelse_sip", "jonkoping", {"psykiatrisk_tvangsvard": "LPT"})
    assert other == catalog.deadline_rule("kallelse_sip", "jonkoping")
