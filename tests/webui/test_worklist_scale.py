# ruff: noqa: F811  (pytest fixtures imported from tests.webui.staff are parameters here)
"""What keeps the worklist page's cost flat as cases grow (bench/worklist.py): counts stop at a cap and say so, and
the filter choices come from the deployed processes rather than from every open task."""

from __future__ import annotations

import engine.worklist
import webui.views
from engine.worklist import Worklist
from tests.webui.staff import demo, demo_app, sign_in  # noqa: F401  (fixtures)


def test_counts_stop_at_the_cap_and_say_so(demo_app, monkeypatch):
    monkeypatch.setattr(engine.worklist, "COUNT_CAP", 1)
    monkeypatch.setattr(webui.views, "COUNT_CAP", 1)
    html = sign_in(demo_app, "vera").get("/arbetslista?vy=enhet").get_data(as_text=True)
    assert 'aria-label="1+ uppgifter">1+</span>' in html
    assert "1+ uppgifter i min enhet" in html
    assert html.count('<tr id="task-') == 2  # the rows themselves are not capped


def test_filter_choices_are_the_user_tasks_of_the_users_lanes(demo):
    worklist = Worklist(demo.db, demo.catalog, demo.policy, demo.clock)
    vera = {name for _, name in worklist.options(demo.directory.actor("vera"))["task"]}
    vilma = {name for _, name in worklist.options(demo.directory.actor("vilma"))["task"]}
    cora = {name for _, name in worklist.options(demo.directory.actor("cora"))["task"]}
    assert "Skicka inskrivningsmeddelande" in vera  # no such task is open yet: the choice comes from the diagram
    assert "Kvittera inskrivningsmeddelande (vårdcentral)" not in vera
    assert "Kvittera inskrivningsmeddelande (vårdcentral)" in vilma and "Skicka inskrivningsmeddelande" not in vilma
    assert vera | vilma <= cora
    assert "in_utskrivning" in {p for p, _ in worklist.options(demo.directory.actor("vera"))["process"]}
