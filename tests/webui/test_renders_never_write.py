# ruff: noqa: F811  (pytest fixtures imported from tests.webui.staff are parameters here)
"""Page renders never write (issue 16): every page a staff member, a coordinator, the implementation team or an
administrator reaches by following links (GET, htmx partials included) issues no INSERT, UPDATE or DELETE, except
the access-log rows that reading patient data must write (Patientdatalagen; engine/reads), counted apart. The
notices' sync is a background job (engine/jobs/notifications.py), not part of a page view."""

from __future__ import annotations

import re
from collections import Counter, deque
from datetime import timedelta
from typing import Any

from sqlalchemy import event

from tests.webui.staff import advance_ward, demo, demo_app, sign_in  # noqa: F401

LINK = re.compile(r'(?:href|hx-get|action)="(/[^"#]*)"')
SKIP = ("/static/", "/logga-ut", "/api/", "/metrics", "/healthz", "/readyz")
WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)
TABLE = re.compile(r"^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.IGNORECASE)
ASSET = re.compile(r"\.(css|js|png|svg|ico|woff2?|map)$")
PAGES_PER_USER = 120


def crawl(client: Any, start: list[str]) -> list[str]:
    """Every page reachable by links from `start` (GETs only; forms with method=post are not followed)."""
    seen: set[str] = set()
    queue = deque(start)
    visited: list[str] = []
    while queue and len(visited) < PAGES_PER_USER:
        path = queue.popleft().replace("&amp;", "&")
        if path in seen or path.startswith(SKIP) or ASSET.search(path.split("?")[0]):
            continue
        seen.add(path)
        answer = client.get(path)
        visited.append(path)
        assert answer.status_code < 500, path
        html = answer.get_data(as_text=True) if answer.mimetype == "text/html" else ""
        answer.close()
        if html:
            posted = set(re.findall(r'<form[^>]*method="post"[^>]*action="(/[^"#]*)"', html, re.IGNORECASE))
            queue.extend(link for link in LINK.findall(html) if link not in seen and link not in posted)
    return visited


def test_no_page_render_writes_except_the_access_log(demo, demo_app):
    writes: Counter[str] = Counter()
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if WRITE.match(statement):
            found = TABLE.match(statement)
            table = found.group(1) if found else "?"
            writes[table] += 1
            if table != "access_log":
                statements.append(statement.split("\n")[0][:200])

    visited: dict[str, list[str]] = {}
    clients = {user: sign_in(demo_app, user) for user in ("vera", "vilma", "hanna", "cora", "admin", "agnes")}
    for instance_id in (1, 2):  # new tasks since signing in, and a few minutes later: notices the pages must not write
        advance_ward(demo, instance_id)
    demo.clock.advance(timedelta(minutes=3))
    event.listen(demo.db.engine, "before_cursor_execute", record)
    try:
        for user, client in clients.items():
            visited[user] = crawl(client, ["/", "/arbetslista", "/personer", "/notiser", "/overvakning"])
    finally:
        event.remove(demo.db.engine, "before_cursor_execute", record)
    assert all(len(pages) > 3 for pages in visited.values()), visited
    assert any(p.startswith("/uppgifter/") for p in visited["vera"]) and any(
        p.startswith("/personer/") for p in visited["cora"]
    )
    assert statements == [], statements
    assert writes["access_log"] > 0  # the reads of patient data were logged, as they must be
