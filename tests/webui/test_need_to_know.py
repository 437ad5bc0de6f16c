"""Issue 12, one test per finding: need to know fails closed, every read is logged, routing data is not form data,
a form shows only its own party's answers, sessions end for good, the lock-out holds under parallel attempts,
exports carry no live formulas and hide small groups, diagrams are downloads, and the access log is append-only."""

from __future__ import annotations

import io
import threading
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from engine.commands.accounts import Accounts, LockedOut, LockoutPolicy
from engine.domain.actors import SYSTEM_ACTOR, Actor
from engine.domain.errors import NotAuthenticated, NotFound, ValidationFailed
from engine.persistence.models import AccessLogEntry, ProcessInstance
from engine.reads.figures import FigureRow, FigureValue
from tests.conftest import task_list
from tests.webui.staff import FAST_HASHER, advance_ward, page_token, sign_in, valid_data
from webui.demo import DEMO_PASSWORD, personnummer
from webui.report_export import figure_table, to_csv, to_xlsx

ESTHER = 1
ESTHER_PNR = "19380312-2385"


def log_rows(p, username: str) -> int:  # type: ignore[no-untyped-def]
    with p.db.read() as session:
        return int(
            session.scalar(select(func.count()).select_from(AccessLogEntry).where(AccessLogEntry.username == username))
            or 0
        )


def add_user(p, username: str, roles: list[str], units: list[str]) -> None:  # type: ignore[no-untyped-def]
    with p.db.unit_of_work() as session:
        user = p.directory.create_user(session, username, username.title(), roles, units, at=p.clock.now())
        user.password_hash = FAST_HASHER.hash(DEMO_PASSWORD)


def esther_task(p, lane: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return next(
        t for t in task_list(p, SYSTEM_ACTOR, limit=500)["items"] if t["instance_id"] == ESTHER and t["lane"] == lane
    )


# --- need to know fails closed ----------------------------------------------------------------------------------
def test_a_user_with_a_role_but_no_unit_sees_nothing_and_completes_nothing(demo, demo_app):
    add_user(demo, "ulf", ["vardplanerare"], [])
    ulf = Actor("ulf", frozenset({"vardplanerare"}), frozenset(), "Ulf")
    assert demo.reads.tasks.page(ulf).items == () and demo.reads.cases.page(ulf).items == ()
    task = esther_task(demo, "Slutenvård")
    with pytest.raises(NotFound):
        demo.runtime.complete_task(task["id"], valid_data(demo.catalog.form(task["form"]) or {}), ulf)
    client = sign_in(demo_app, "ulf")
    assert "Esther Andersson" not in client.get("/arbetslista").get_data(as_text=True)
    assert client.get(f"/uppgifter/{task['id']}").status_code == 404
    assert client.get(f"/personer/arende/{ESTHER}").status_code == 404


def test_a_case_without_a_vardcentral_shows_its_tasks_to_no_vardcentral(demo):
    case = {
        "personnummer": personnummer("19450921", "483"),
        "namn": "Utan Vårdcentral",
        "vardtillfalle_id": "VT-UTAN",
        "avdelning_hsa_id": "SE2321000057-HSMEDGER",
        "kommun": "Eksjö",
        "inskrivningstid": demo.clock.now().isoformat(),
        "avtal": "jonkoping",
    }
    corr = {"personnummer": case["personnummer"], "vardtillfalle_id": case["vardtillfalle_id"]}
    iid = demo.runtime.send_message("inskrivning", "utan-vc", corr, case, SYSTEM_ACTOR).instance_id
    send = advance_ward(demo, iid)
    form = dict(valid_data(demo.catalog.form(send["form"]) or {}))
    form.pop("mottagande_vardcentral_hsa_id", None)
    demo.runtime.complete_task(send["id"], valid_data(demo.catalog.form(send["form"]) or {}), SYSTEM_ACTOR)
    task = demo.reads.tasks.page(SYSTEM_ACTOR, "enhet").items
    primary = [t for t in task if t.instance_id == iid and t.lane == "Region primärvård"]
    assert primary and all(t.unit is None for t in primary)
    for username, unit in (("vilma", "SE2321000057-VCEKSJO"), ("otto", "SE2321000057-VCRASLATT")):
        staff = Actor(username, frozenset({"vardsamordnare"}), frozenset({unit}))
        assert not [t for t in demo.reads.tasks.page(staff).items if t.instance_id == iid]
    coordinator = demo.directory.actor("cora")  # the region's coordinator sees it and can give it to someone
    assert {t.id for t in primary} <= {t.id for t in demo.reads.tasks.page(coordinator).items}
    demo.runtime.reassign_task(primary[0].id, "vilma", coordinator, reason="Listad på VC Eksjö enligt journalen")
    vilma = demo.directory.actor("vilma")
    assert primary[0].id in {t.id for t in demo.reads.tasks.page(vilma, "mina").items}


def test_a_unit_field_in_a_task_form_does_not_move_the_case(demo):
    vera = demo.directory.actor("vera")
    task = esther_task(demo, "Slutenvård")
    data = {**valid_data(demo.catalog.form(task["form"]) or {}), "vardcentral_hsa_id": "SE2321000057-VCRASLATT"}
    with pytest.raises(ValidationFailed) as info:
        demo.runtime.complete_task(task["id"], data, vera)
    assert "vardcentral_hsa_id" in info.value.details["fields"]
    with demo.db.read() as session:
        assert session.get(ProcessInstance, ESTHER).vardcentral == "SE2321000057-VCEKSJO"
    otto = demo.directory.actor("otto")
    with pytest.raises(NotFound):
        demo.reads.cases.view(otto, ESTHER)
    with pytest.raises(ValidationFailed):  # a field the form does not have at all
        demo.runtime.complete_task(task["id"], {**valid_data(demo.catalog.form(task["form"]) or {}), "x": 1}, vera)


def test_a_coordinator_corrects_the_units_with_a_reason_and_the_tasks_follow(demo):
    cora = demo.directory.actor("cora")
    send = advance_ward(demo, ESTHER)
    demo.runtime.complete_task(send["id"], valid_data(demo.catalog.form(send["form"]) or {}), SYSTEM_ACTOR)
    with pytest.raises(ValidationFailed):
        demo.runtime.change_routing(ESTHER, {"vardcentral_hsa_id": "SE2321000057-VCRASLATT"}, cora, reason="")
    with pytest.raises(ValidationFailed):
        demo.runtime.change_routing(ESTHER, {"personnummer": "19121212-1212"}, cora, reason="fel")
    demo.runtime.change_routing(
        ESTHER, {"vardcentral_hsa_id": "SE2321000057-VCRASLATT"}, cora, reason="Listad på Råslätt sedan oktober"
    )
    otto, vilma = demo.directory.actor("otto"), demo.directory.actor("vilma")
    assert [t.lane for t in demo.reads.tasks.page(otto).items if t.instance_id == ESTHER]
    assert not [t for t in demo.reads.tasks.page(vilma).items if t.lane == "Region primärvård" and t.instance_id == 1]
    view = demo.reads.cases.view(cora, ESTHER)
    [changed] = [h for h in view.history if h.kind == "routing_changed"]
    assert changed.reason == "Listad på Råslätt sedan oktober"
    assert changed.data["was"] == {"vardcentral_hsa_id": "SE2321000057-VCEKSJO"}


# --- every read is logged, through the API too --------------------------------------------------------------------
@pytest.fixture
def api(demo, demo_app):  # type: ignore[no-untyped-def]
    with demo.db.unit_of_work() as session:
        tokens = {u: demo.directory.create_token(session, u, at=demo.clock.now()) for u in ("vera", "cora", "journal")}
    client = demo_app.test_client()
    return client, {u: {"Authorization": f"Bearer {t}"} for u, t in tokens.items()}


def test_api_reads_of_patient_data_are_logged(demo, api):
    client, headers = api
    task = esther_task(demo, "Slutenvård")
    calls = [
        ("vera", "get", f"/api/v1/instances/{ESTHER}"),
        ("journal", "get", "/api/v1/instances?business_key=19380312-2385/VT-1001"),
        ("vera", "get", "/api/v1/tasks"),
        ("vera", "get", f"/api/v1/tasks/{task['id']}"),
        ("vera", "post", f"/api/v1/tasks/{task['id']}/claim"),
    ]
    for username, method, path in calls:
        before = log_rows(demo, username)
        response = getattr(client, method)(path, headers=headers[username])
        assert response.status_code == 200, (path, response.get_json())
        assert log_rows(demo, username) > before, f"{method.upper()} {path} wrote no access-log row"
    before = log_rows(demo, "vera")
    done = client.post(
        f"/api/v1/tasks/{task['id']}/complete",
        json={"data": valid_data(demo.catalog.form(task["form"]) or {})},
        headers=headers["vera"],
    )
    assert done.status_code == 200
    with demo.db.read() as session:
        actions = set(
            session.scalars(
                select(AccessLogEntry.action).where(AccessLogEntry.username == "vera", AccessLogEntry.id > 0)
            )
        )
    assert log_rows(demo, "vera") >= before + 2 and {"ta", "slutfor", "instans"} <= actions


def test_a_case_that_ended_long_ago_is_no_longer_readable_by_staff(demo, api):
    client, headers = api
    cora = demo.directory.actor("cora")
    demo.runtime.cancel_instance(ESTHER, cora, reason="Dubblett")
    assert client.get(f"/api/v1/instances/{ESTHER}", headers=headers["vera"]).status_code == 200
    demo.clock.advance(timedelta(days=40))
    assert client.get(f"/api/v1/instances/{ESTHER}", headers=headers["vera"]).status_code == 404
    assert client.get(f"/api/v1/instances/{ESTHER}", headers=headers["cora"]).status_code == 200  # the overseer


# --- a form shows its own party's answers ------------------------------------------------------------------------
def test_the_kommun_acknowledgement_does_not_start_from_the_vardcentral_answers(demo, demo_app):
    advance_ward(demo, ESTHER)
    send = esther_task(demo, "Slutenvård")
    demo.runtime.complete_task(send["id"], valid_data(demo.catalog.form(send["form"]) or {}), SYSTEM_ACTOR)
    vc = next(
        t
        for t in task_list(demo, SYSTEM_ACTOR, limit=500)["items"]
        if t["name"].startswith("Kvittera") and t["lane"] == "Region primärvård"
    )
    vilma = demo.directory.actor("vilma")
    demo.runtime.complete_task(
        vc["id"], {"kvitterad_av": "Vilma Vårdsamordnare", "kvitterad_tidpunkt": "2026-01-12T10:00:00+01:00"}, vilma
    )
    kommun = next(
        t
        for t in task_list(demo, SYSTEM_ACTOR, limit=500)["items"]
        if t["name"].startswith("Kvittera") and t["lane"] == "Kommun socialtjänst"
    )
    html = sign_in(demo_app, "bosse").get(f"/uppgifter/{kommun['id']}").get_data(as_text=True)
    # The form's fields start empty (the parties' list beside the form may say who acknowledged what).
    assert 'value="Vilma Vårdsamordnare"' not in html and 'value="2026-01-12T10:00"' not in html


# --- sessions and sign-in -----------------------------------------------------------------------------------------
def test_the_session_cookie_has_its_documented_name_and_at_most_eight_hours(demo_app):
    client = demo_app.test_client()
    token = page_token(client, "/logga-in")
    response = client.post("/logga-in", data={"username": "vera", "password": DEMO_PASSWORD, "csrf_token": token})
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("samflode_session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    expires = next(part for part in cookie.split("; ") if part.startswith("Expires="))
    from email.utils import parsedate_to_datetime

    lifetime = parsedate_to_datetime(expires.split("=", 1)[1]) - datetime.now(UTC)
    assert timedelta(hours=7, minutes=59) <= lifetime <= timedelta(hours=8, seconds=5)


def test_a_copied_cookie_is_dead_after_sign_out(demo_app):
    client = sign_in(demo_app, "vera")
    cookie = client.get_cookie("samflode_session").value
    copy = demo_app.test_client()
    copy.set_cookie("samflode_session", cookie)
    assert copy.get("/arbetslista").status_code == 200
    client.post("/logga-ut", data={"csrf_token": page_token(client)})
    assert copy.get("/arbetslista").status_code == 302  # to the sign-in page


def test_an_idle_session_ends_and_so_does_one_past_its_lifetime(demo, demo_app):
    client = sign_in(demo_app, "vera")
    demo.clock.advance(timedelta(minutes=29))
    assert client.get("/arbetslista").status_code == 200
    demo.clock.advance(timedelta(minutes=31))
    assert client.get("/arbetslista").status_code == 302
    client = sign_in(demo_app, "vera")
    for _ in range(17):  # active all day: a request every 28 minutes, 7 h 56 min
        demo.clock.advance(timedelta(minutes=28))
        assert client.get("/arbetslista").status_code == 200
    demo.clock.advance(timedelta(minutes=5))
    assert client.get("/arbetslista").status_code == 302  # eight hours after sign-in, whatever the activity


def test_a_new_password_ends_the_users_sessions(demo, demo_app):
    client = sign_in(demo_app, "vera")
    Accounts(demo.db, demo.clock, demo.directory, FAST_HASHER).set_password("vera", "ett-nytt-langt-losenord")
    assert client.get("/arbetslista").status_code == 302


def test_parallel_wrong_passwords_meet_the_lock_out(demo):
    accounts = Accounts(demo.db, demo.clock, demo.directory, FAST_HASHER, LockoutPolicy(free_failures=5))
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        try:
            accounts.authenticate("vera", "fel-losenord-123", "10.0.0.9")
            result = "in"
        except LockedOut:
            result = "locked"
        except NotAuthenticated:
            result = "wrong"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("in") == 0
    assert outcomes.count("wrong") <= 5 and outcomes.count("locked") >= 15  # at most five passwords were tried
    with pytest.raises(LockedOut):
        accounts.authenticate("vera", DEMO_PASSWORD)  # the right password waits for the lock too


def test_one_address_trying_many_names_is_locked_out(demo):
    accounts = Accounts(
        demo.db, demo.clock, demo.directory, FAST_HASHER, address_lockout=LockoutPolicy(free_failures=3)
    )
    for name in ("vera", "vilma", "otto"):
        with pytest.raises(NotAuthenticated):
            accounts.authenticate(name, "fel-losenord-123", "10.0.0.7")
    with pytest.raises(LockedOut):
        accounts.authenticate("hanna", DEMO_PASSWORD, "10.0.0.7")
    assert accounts.authenticate("hanna", DEMO_PASSWORD, "10.0.0.8").username == "hanna"  # another address


# --- exports ------------------------------------------------------------------------------------------------------
def test_exports_neutralise_formulas_and_hide_small_totals():
    rows = [FigureRow('=HYPERLINK("http://x")', 7, {"hem_24h": FigureValue(0.5, 3, 6)}), FigureRow("@SUM(A1)", 3)]
    total = FigureRow(None, 3, {"hem_24h": FigureValue(1.0, 3, 3)})
    table = figure_table(rows, total, "Kommun")
    text = to_csv(table)
    assert "'=HYPERLINK" in text and "'@SUM" in text and ";=" not in text and "\n=" not in text
    totalt = next(line for line in text.splitlines() if line.startswith("Totalt"))
    assert "färre än 5" in totalt
    sheet = zipfile.ZipFile(io.BytesIO(to_xlsx([("Nyckeltal", table)]))).read("xl/worksheets/sheet1.xml").decode()
    assert "&apos;=HYPERLINK" in sheet or "'=HYPERLINK" in sheet


def test_the_loggutdrag_neutralises_what_staff_typed(demo, demo_app):
    demo.reads.log.record(demo.directory.actor("vera"), "person", [(ESTHER_PNR, ESTHER)], "=cmd|' /C calc'!A0")
    text = demo.reads.access_log.extract(demo.directory.actor("ida"), ESTHER_PNR)
    assert "'=cmd" in text and ";=cmd" not in text


# --- served content -----------------------------------------------------------------------------------------------
def test_a_diagram_is_a_download_that_is_never_run(demo, api):
    client, headers = api
    response = client.get("/api/v1/definitions/in_utskrivning/versions/1/bpmn", headers=headers["cora"])
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]


def test_every_page_has_a_content_security_policy_without_inline_script(demo_app):
    client = sign_in(demo_app, "cora")
    for path in ("/arbetslista", "/overvakning", "/personer", "/logga-in"):
        policy = client.get(path).headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in policy


# --- the access log is append-only --------------------------------------------------------------------------------
def test_the_application_cannot_change_or_empty_the_access_log(demo):
    demo.reads.log.record(demo.directory.actor("vera"), "person", [(ESTHER_PNR, ESTHER)], "sida")
    statements = ["UPDATE access_log SET username = 'x'", "DELETE FROM access_log"]
    if demo.db.dialect == "postgresql":
        statements.append("TRUNCATE access_log")
    for statement in statements:
        with pytest.raises(DBAPIError), demo.db.unit_of_work() as session:
            session.execute(text(statement))
    assert log_rows(demo, "vera") == 1
