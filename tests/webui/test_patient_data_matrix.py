"""Issue 12's matrix: every route (page and API) that returns patient data, for every demo user plus a user with a
role but no unit and a coordinator of another region, against an oracle of need to know written out by hand for
Esther's case (ward Höglandssjukhuset Medicin/geriatrik, VC Eksjö, Eksjö kommun). Each user either sees Esther and
the read wrote its access-log row, or sees nothing of her at all.

Every route of the app must be classified below: a new route that is not is a failing test, so that a read of patient
data cannot be added without deciding who sees it and checking that it logs.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from engine.domain.actors import SYSTEM_ACTOR
from engine.persistence.models import AccessLogEntry
from tests.conftest import task_list
from tests.webui.staff import FAST_HASHER, page_token, sign_in
from webui.demo import DEMO_PASSWORD

ESTHER = 1
PNR = "19380312-2385"

# endpoint -> (method, path, what it reads)
PATIENT_READS: dict[str, tuple[str, str, str]] = {
    "worklist.index": ("GET", "/arbetslista", "worklist"),
    "tasks.task_page": ("GET", "/uppgifter/{task}", "task"),
    "persons.person_page": ("GET", "/personer/arende/{case}", "case"),
    "persons.search": ("POST", "/personer/sok", "case"),
    "monitoring.index": ("GET", "/overvakning", "monitor"),
    "monitoring.search": ("POST", "/overvakning/sok", "monitor_search"),
    "monitoring.instance_page": ("GET", "/overvakning/instans/{case}", "monitor_case"),
    "audit.search": ("GET", f"/logg?personnummer={PNR}", "audit"),
    "audit.extract": ("GET", f"/logg/utdrag.csv?personnummer={PNR}", "audit"),
    "api.list_instances": ("GET", "/api/v1/instances", "api_cases"),
    "api.get_instance": ("GET", "/api/v1/instances/{case}", "case"),
    "api.list_tasks": ("GET", "/api/v1/tasks", "api_tasks"),
    "api.get_task": ("GET", "/api/v1/tasks/{task}", "task"),
}
# Commands on a case: the runtime checks need to know and logs the change in its unit of work
# (tests/webui/test_need_to_know.py and the integration tests).
PATIENT_COMMANDS = {
    "tasks.task_submit",
    "tasks.claim",
    "tasks.unclaim",
    "tasks.hand_over",
    "tasks.comment",
    "monitoring.cancel",
    "monitoring.change_units",
    "monitoring.move",
    "monitoring.retry",
    "monitoring.fire_timer",
    "monitoring.reassign",
    "monitoring.batch_run",
    "api.start_instance",
    "api.cancel_instance",
    "api.move_token",
    "api.retry_instance",
    "api.fire_timer_now",
    "api.receive_message",
    "api.claim_task",
    "api.unclaim_task",
    "api.complete_task",
    "api.reassign_task",
    "api.run_migration",
    "api.revert_migration",
    "versions.run",
    "versions.revert",
    "pilots.send_questionnaires",
}
# Routes that name no person: definitions, figures (small groups hidden), pilots' aggregates, heat maps, the
# catalogue, notices (task and case number only), migration previews (units only), simulations (synthetic).
NO_PATIENT_DATA = {
    "worklist.home",
    "worklist.save_filter",
    "worklist.search",  # keeps the search in the session and redirects; the worklist page shows (and logs) it
    "worklist.counts",  # the tabs' four counts, within need to know (tests/webui/test_worklist_counts.py)
    "worklist.delete_filter",
    "auth.sign_in",
    "auth.sign_out",
    "language.switch",
    "notifications.index",
    "notifications.mark_read",
    "notifications.mark_all_read",
    "persons.search_form",
    "monitoring.diagram",
    "monitoring.heatmap",
    "monitoring.batch_preview",  # case numbers and a count, no person
    "catalogue.activities",
    "modeller.page",
    "modeller.old_static_page",
    "reports.index",
    "reports.export_csv",
    "reports.export_xlsx",
    "pilots.index",
    "pilots.show",
    "pilots.new",
    "pilots.create",
    "pilots.transition",
    "pilots.extend",
    "pilots.export",
    "pilots.promote",
    "pilots.set_default",
    "versions.migrations",
    "versions.migration",
    "versions.preview",
    "versions.simulations_page",
    "versions.simulate",
    "versions.simulation",
    "versions.simulation_progress",
    "static",
    "_vendor",
    "_health",
    "_livez",  # issue 17: counts, states and route templates only (webui/ops.py)
    "_readyz",
    "_metrics",
    "api.catalog_for_modelling",
    "api.get_clock",
    "api.advance_clock",
    "api.deploy_definition",
    "api.list_definitions",
    "api.definition_diff",
    "api.definition_versions",
    "api.definition_bpmn",
    "api.heatmap",
    "api.check_definition",
    "api.list_drafts",
    "api.create_draft",
    "api.get_draft",
    "api.update_draft",
    "api.delete_draft",
    "api.list_migrations",
    "api.get_migration",
    "api.preview_migration",
    "api.openapi_document",
    "api.list_pilots",
    "api.create_pilot",
    "api.get_pilot",
    "api.pilot_comparison",
    "api.pilot_extend",
    "api.pilot_promote",
    "api.pilot_questionnaires",
    "api.pilot_status",
    "api.pilot_defaults",
    "api.set_pilot_default",
    "api.report_definitions",
    "api.report_deviations",
    "api.report_figures",
    "api.start_simulation",
    "api.list_simulations",
    "api.get_simulation",
}

# The oracle, by hand: who takes part in Esther's case, whose is her open task (the ward's first step), who oversees.
TAKES_PART = {"vera", "linnea", "vilma", "viktor", "hanna", "bosse"}
TASK_OWNERS = {"vera", "linnea"}
OVERSEERS = {"cora", "ida", "journal"}  # the region's coordinator, auditor and journal system
MONITORS = {"cora", "ida", "admin", "greta"}  # may open the monitoring pages (admin and greta see no case there)
SEARCHERS = {"cora", "journal", "admin", "greta"}  # may search instances by personnummer
USERS = sorted(
    {"vera", "linnea", "rut", "vilma", "viktor", "otto", "nils", "hanna", "bosse", "jonas", "jenny"}
    | {"cora", "ida", "journal", "agnes", "irma", "maja", "admin", "ulf", "greta"}
)


def expected(kind: str, user: str) -> tuple[set[int], bool]:
    """(acceptable status codes, whether Esther is shown) for one kind of read and one user."""
    sees_case = user in TAKES_PART | OVERSEERS
    if kind == "worklist":
        return {200}, user in TASK_OWNERS | OVERSEERS
    if kind == "task":
        return ({200}, True) if user in TASK_OWNERS | OVERSEERS else ({404}, False)
    if kind == "case":
        return ({200, 303}, True) if sees_case else ({404}, False)
    if kind == "monitor":
        return ({200}, user in OVERSEERS) if user in MONITORS else ({403}, False)
    if kind == "monitor_case":
        if user not in MONITORS:
            return {403}, False
        return ({200}, True) if user in OVERSEERS else ({404}, False)
    if kind == "monitor_search":
        return ({200, 404}, user in OVERSEERS) if user in SEARCHERS else ({403}, False)
    if kind == "audit":
        return ({200}, True) if user == "ida" else ({403}, False)
    if kind == "api_cases":
        return {200}, sees_case
    if kind == "api_tasks":
        return {200}, user in TASK_OWNERS  # the tasks one acts on
    raise AssertionError(kind)


def test_every_route_is_classified(demo_app):
    endpoints = {rule.endpoint for rule in demo_app.url_map.iter_rules()}
    classified = set(PATIENT_READS) | PATIENT_COMMANDS | NO_PATIENT_DATA
    assert not endpoints - classified, f"classify these routes in the matrix: {sorted(endpoints - classified)}"
    assert not classified - endpoints, f"these routes are gone: {sorted(classified - endpoints)}"
    assert not set(PATIENT_READS) & (PATIENT_COMMANDS | NO_PATIENT_DATA)


@pytest.fixture
def matrix(demo, demo_app):  # type: ignore[no-untyped-def]
    with demo.db.unit_of_work() as session:
        for username, roles, units in (
            ("ulf", ["vardplanerare"], []),  # a role and no unit
            ("greta", ["coordinator"], ["SE2321000065-REGION"]),  # a coordinator of another region
        ):
            user = demo.directory.create_user(session, username, username.title(), roles, units, at=demo.clock.now())
            user.password_hash = FAST_HASHER.hash(DEMO_PASSWORD)
        tokens = {u: demo.directory.create_token(session, u, at=demo.clock.now()) for u in USERS}
    demo.reads.log.record(demo.directory.actor("vera"), "person", [(PNR, ESTHER)], "för granskningen")
    task = next(t for t in task_list(demo, SYSTEM_ACTOR, limit=500)["items"] if t["instance_id"] == ESTHER)
    assert task["lane"] == "Slutenvård"
    return {"task": task["id"], "case": ESTHER, "tokens": tokens}


def _shows_esther(body: str, asked_by_number: bool) -> bool:
    """Esther's name, birth date or personnummer in an answer (the number only when the request did not carry it:
    a search form may show what the user typed)."""
    return "Esther Andersson" in body or "1938-03-12" in body or (not asked_by_number and "19380312" in body)


def _rows(demo, username: str) -> int:  # type: ignore[no-untyped-def]
    with demo.db.read() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(AccessLogEntry)
                .where(AccessLogEntry.username == username, AccessLogEntry.personnummer == PNR)
            )
            or 0
        )


@pytest.mark.parametrize("user", USERS)
def test_each_user_sees_exactly_what_need_to_know_allows_and_every_read_is_logged(demo, demo_app, matrix, user):
    page = sign_in(demo_app, user)
    api = demo_app.test_client()
    bearer = {"Authorization": f"Bearer {matrix['tokens'][user]}"}
    for endpoint, (method, template, kind) in PATIENT_READS.items():
        path = template.format(task=matrix["task"], case=matrix["case"])
        before = _rows(demo, user)
        response: Any
        if endpoint.startswith("api."):
            response = api.open(path, method=method, headers=bearer)
        elif method == "POST":
            form = {"personnummer": PNR, "csrf_token": page_token(page)}
            response = page.post(path, data=form)
        else:
            response = page.get(path)
        statuses, shown = expected(kind, user)
        body = response.get_data(as_text=True)
        where = f"{user} {method} {path}"
        assert response.status_code in statuses, f"{where}: {response.status_code}, expected {statuses}"
        if response.status_code == 303:  # a search that found her: the person's page is where she is shown
            body = page.get(response.headers["Location"]).get_data(as_text=True)
        asked = method == "POST" or PNR in path
        if kind == "audit" and shown:  # the auditor's log of Esther: rows about her, and the reading is logged too
            assert "vera" in body, f"{where}: the log of Esther should be shown"
            assert _rows(demo, user) > before, f"{where}: shown but not logged"
        elif shown:
            assert _shows_esther(body, asked), f"{where}: Esther should be shown"
            assert _rows(demo, user) > before, f"{where}: shown but not logged"
        else:
            assert not _shows_esther(body, asked), f"{where}: shows Esther without need to know"
