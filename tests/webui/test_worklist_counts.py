# ruff: noqa: F811  (pytest fixtures imported from tests.webui.staff are parameters here)
"""Issue 15: the worklist page renders its list first and asks for the tabs' counts after it (GET /arbetslista/antal,
htmx, out of band into the tabs). The fragment counts what the list shows, within the user's need to know and the
list's filters; it names nobody, so it writes nothing, not even an access-log row."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from sqlalchemy import event, func, select

from engine.persistence.models import AccessLogEntry
from engine.reads.tasks import VIEWS, WorklistFilter
from tests.webui.staff import FAST_HASHER, advance_ward, demo, demo_app, sign_in  # noqa: F401
from webui.demo import DEMO_PASSWORD

COUNT = re.compile(r'<span id="count-(\w+)" hx-swap-oob="true" class="count[^"]*"\s+aria-label="[^"]*">([^<]*)</span>')


def _fragment(client: Any, query: str = "") -> dict[str, int]:
    answer = client.get(f"/arbetslista/antal{query}", headers={"HX-Request": "true"})
    assert answer.status_code == 200
    found = {view: int(text.replace("\u00a0", "")) for view, text in COUNT.findall(answer.get_data(as_text=True))}
    assert set(found) == set(VIEWS)
    return found


def _log_rows(demo) -> int:  # type: ignore[no-untyped-def]
    with demo.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(AccessLogEntry)) or 0)


def test_the_page_shows_its_list_and_its_own_count_and_asks_for_the_others(demo_app, demo):
    advance_ward(demo, 1)
    html = sign_in(demo_app, "cora").get("/arbetslista?vy=forsenade&kommun=Eksj%C3%B6").get_data(as_text=True)
    start = html.index('<nav class="tabs"')
    nav = html[start : html.index("</nav>", start)]
    assert 'hx-get="/arbetslista/antal?kommun=Eksj%C3%B6"' in nav and 'hx-trigger="load"' in nav
    assert 'hx-swap="none"' in nav  # the answer is out-of-band spans only
    total = demo.reads.tasks.counts(demo.directory.actor("cora"), WorklistFilter(kommun="Eksjö"))["forsenade"]
    assert re.search(rf'<span id="count-forsenade" class="count[^"]*"\s+aria-label="[^"]*">{total}</span>', nav)
    pending = re.findall(r'<span id="count-(\w+)" class="count pending" aria-busy="true"', nav)
    assert sorted(pending) == sorted(set(VIEWS) - {"forsenade"})


def test_the_fragment_counts_what_each_view_lists_with_the_filters(demo_app, demo):
    advance_ward(demo, 1)
    cora = sign_in(demo_app, "cora")
    for query, filters in (("", WorklistFilter()), ("?kommun=Eksj%C3%B6", WorklistFilter(kommun="Eksjö"))):
        counts = _fragment(cora, query)
        assert counts == demo.reads.tasks.counts(demo.directory.actor("cora"), filters)
        for view in VIEWS:
            page = demo.reads.tasks.page(demo.directory.actor("cora"), view, filters, limit=500)
            assert counts[view] == page.total == len(page.items), (query, view)
    assert _fragment(cora)["enhet"] > 0
    assert _fragment(cora, "?kommun=Ingenstans")["enhet"] == 0


def test_the_fragment_counts_within_need_to_know_and_only_for_the_signed_in(demo_app, demo):
    advance_ward(demo, 1)
    with demo.db.unit_of_work() as session:  # a role and no unit: sees no task
        user = demo.directory.create_user(session, "ulf", "Ulf", ["vardplanerare"], [], at=demo.clock.now())
        user.password_hash = FAST_HASHER.hash(DEMO_PASSWORD)
    seen = {}
    for username in ("vera", "vilma", "otto", "cora", "ulf"):
        seen[username] = _fragment(sign_in(demo_app, username))
        assert seen[username] == demo.reads.tasks.counts(demo.directory.actor(username)), username
    assert seen["vera"]["enhet"] > 0 and seen["cora"]["enhet"] >= seen["vera"]["enhet"]
    assert seen["otto"]["enhet"] < seen["vera"]["enhet"]  # another vårdcentral: none of the ward's tasks
    assert seen["ulf"] == dict.fromkeys(VIEWS, 0)
    signed_out = demo_app.test_client().get("/arbetslista/antal")
    assert signed_out.status_code == 302 and "/logga-in" in signed_out.headers["Location"]
    assert "count-" not in signed_out.get_data(as_text=True)


def test_the_fragment_writes_nothing_and_the_page_logs_what_it_shows(demo_app, demo):
    advance_ward(demo, 1)
    cora = sign_in(demo_app, "cora")
    before = _log_rows(demo)
    cora.get("/arbetslista")
    after_page = _log_rows(demo)
    assert after_page > before  # the page shows persons and logs them
    writes: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes.append(statement)

    event.listen(demo.db.engine, "before_cursor_execute", record)
    try:
        _fragment(cora)
    finally:
        event.remove(demo.db.engine, "before_cursor_execute", record)
    assert writes == [] and _log_rows(demo) == after_page  # counts name nobody


def test_the_page_does_not_count_the_other_views(demo_app, demo):
    """The page's statements hold at most its own view's count, never the four (bench/worklist.py: the counts were
    about half of the coordinator's page at 100 000 cases)."""
    cora = sign_in(demo_app, "cora")
    cora.get("/arbetslista")  # warm: directory and process names are read once per change
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement.lower())

    event.listen(demo.db.engine, "before_cursor_execute", record)
    try:
        cora.get("/arbetslista?vy=enhet")
    finally:
        event.remove(demo.db.engine, "before_cursor_execute", record)
    assert max(s.count("count(") for s in seen) <= 1


def test_the_rows_texts_are_looked_up_once_per_list_and_a_claimed_row_alone_still_has_them(demo_app, demo):
    """A page of 50 rows looked up its column labels, buttons and form token 1 000 times; now once per list."""
    calls: list[int] = []
    original = demo_app.jinja_env.globals["worklist_row_texts"]

    def counted() -> dict[str, str]:
        calls.append(1)
        return original()  # type: ignore[no-any-return]

    demo_app.jinja_env.globals["worklist_row_texts"] = counted
    vera = sign_in(demo_app, "vera")
    html = vera.get("/arbetslista?vy=enhet").get_data(as_text=True)
    rows = html.count('<tr id="task-')
    assert rows > 1 and len(calls) == 1
    assert html.count('data-label="Tidsfrist"') == rows and html.count(">Ta uppgiften</button>") == rows
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    task_id = re.search(r'<tr id="task-([^"]+)"', html).group(1)  # type: ignore[union-attr]
    answer = vera.post(
        f"/uppgifter/{task_id}/ta",
        data={"csrf_token": token, "next": "/arbetslista?vy=enhet"},
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)
    assert f'<tr id="task-{task_id}"' in answer and ">Släpp</button>" in answer and 'data-label="Person"' in answer
    assert f'name="csrf_token" value="{token}"' in answer


BAD_ADDRESSES = (
    ("?kommun=" + "x" * 201, "The filter municipality is too long"),
    ("?sida=abc", "There is no page 'abc'"),
    ("?sida=0", "There is no page '0'"),
    ("?vy=xyz", "Unknown view 'xyz'"),
    ("?sortera=xyz", "The list cannot be sorted by 'xyz'"),
)


def test_a_bad_address_is_refused_alike_by_the_list_and_its_counts(demo_app, demo):
    """A filter, page, view or sort the list cannot show is refused with a clear error, by the page and by the counts'
    fragment alike (the same check): never quietly the unfiltered list, another view, or counts of another list. In
    the reader's language; htmx leaves a 400 unswapped, so the tabs keep waiting instead of showing wrong counts."""
    from tests.webui.staff import page_token

    advance_ward(demo, 1)
    cora = sign_in(demo_app, "cora")
    for query, _english in BAD_ADDRESSES:
        page = cora.get(f"/arbetslista{query}")
        html = page.get_data(as_text=True)
        assert page.status_code == 400 and "Arbetslistan kan inte visas" in html, query
        assert '<tr id="task-' not in html, query
        counts = cora.get(f"/arbetslista/antal{query}", headers={"HX-Request": "true"})
        assert counts.status_code == 400 and "count-" not in counts.get_data(as_text=True), query
    cora.post("/sprak", data={"csrf_token": page_token(cora), "lang": "en"})
    for query, english in BAD_ADDRESSES:
        html = unescape(cora.get(f"/arbetslista{query}").get_data(as_text=True))
        assert "The worklist cannot be shown" in html and english in html, query
        fragment = cora.get(f"/arbetslista/antal{query}", headers={"HX-Request": "true"}).get_data(as_text=True)
        assert english in unescape(fragment), query
    # What the list can show still shows: an empty value is the default, a filter that matches nothing lists nothing.
    assert cora.get("/arbetslista?vy=&sida=&sortera=&ordning=&kommun=").status_code == 200
    assert _fragment(cora, "?kommun=Ingenstans")["enhet"] == 0


def test_an_action_from_a_list_with_a_bad_filter_sends_no_counts_of_another_list(demo_app, demo):
    """After a claim (htmx) the tabs' counts come again for the list the action came from (`next`); when its filters
    cannot be read the answer carries no counts rather than those of the unfiltered list."""
    advance_ward(demo, 1)
    vera = sign_in(demo_app, "vera")
    html = vera.get("/arbetslista?vy=enhet").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    task_id = re.search(r'<tr id="task-([^"]+)"', html).group(1)  # type: ignore[union-attr]
    answer = vera.post(
        f"/uppgifter/{task_id}/ta",
        data={"csrf_token": token, "next": "/arbetslista?vy=enhet&kommun=" + "x" * 201},
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)
    assert f'<tr id="task-{task_id}"' in answer and "count-" not in answer
    again = vera.post(
        f"/uppgifter/{task_id}/slapp",
        data={"csrf_token": token, "next": "/arbetslista?vy=enhet"},
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)
    assert COUNT.search(again)  # a list that can be read: its counts as before
