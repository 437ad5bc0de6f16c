"""The worklist pages: Mina uppgifter, Min enhet, Försenade, Idag; filters and saved filters. The list is read
through engine.reads.tasks (need to know applied, each person shown written to the access log there)."""

from __future__ import annotations

import contextlib
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from engine.domain.errors import SamflodeError
from engine.reads.tasks import DEFAULT_SORT, SORT_KEYS
from engine.reads.worklist import VIEWS, WorklistFilter
from webui.i18n import N_
from webui.i18n import gettext as _
from webui.views import csrf_token, platform, reads, worklist
from webui.views.auth import current_actor, login_required

bp = Blueprint("worklist", __name__)
VIEW_LABELS = {"mina": N_("Mina uppgifter"), "enhet": N_("Min enhet"), "forsenade": N_("Försenade"), "idag": N_("Idag")}
FILTER_LABELS = {"process": N_("Process"), "task": N_("Uppgift"), "kommun": N_("Kommun"), "avdelning": N_("Avdelning")}
PAGE_SIZE = 50
SEARCH_KEY = "worklist_search"
# The columns of the list, in order: (sort key or None, heading). Every column but the action sorts.
COLUMNS = (
    ("frist", N_("Tidsfrist")),
    ("person", N_("Person")),
    ("uppgift", N_("Uppgift")),
    ("arende", N_("Ärende")),
    ("part", N_("Part")),
    ("tagen", N_("Tagen av")),
)


_ID = "TASK-ID"  # stands for a task's id in the addresses worklist_row_texts builds once per list


@bp.app_template_global()
def worklist_row_texts() -> dict[str, Any]:
    """What every worklist row shows alike, looked up once per list (_worklist_table.html) instead of once per row:
    the column labels and buttons in the reader's language, the form token, the address to come back to, the common
    parts of a task's addresses (a row adds its quoted id: no address built from the routes 100 times a page), the
    signed-in user and the time now (for "försenad 2 dagar")."""
    task_url, claim_suffix = url_for("tasks.claim", task_id=_ID).split(_ID)
    release_suffix = url_for("tasks.unclaim", task_id=_ID).split(_ID)[1]
    return {
        "due": _("Tidsfrist"),
        "flag": _("Ärendet har gått vidare medan uppgiften var öppen"),
        "late": _("Försenad"),
        "no_due": _("Ingen frist"),
        "person": _("Person"),
        "born": _("f. %(date)s"),
        "unknown": _("Okänd"),
        "task": _("Uppgift"),
        "case": _("Ärende"),
        "party": _("Part"),
        "taken": _("Tagen av"),
        "nobody": _("Ingen"),
        "take": _("Ta uppgiften"),
        "release": _("Släpp"),
        "token": csrf_token(),
        "next": request.full_path,
        "task_url": task_url,
        "claim_suffix": claim_suffix,
        "release_suffix": release_suffix,
        "username": current_actor().username,
        "now": platform().clock.now(),
    }


@bp.get("/")
@login_required
def home() -> WerkzeugResponse:
    return redirect(url_for("worklist.index"))


@bp.get("/arbetslista")
@login_required
def index() -> Any:
    actor = current_actor()
    view = request.args.get("vy", "enhet")
    if view not in VIEWS:
        view = "enhet"
    try:
        filters = WorklistFilter.of(request.args.to_dict())
        page_number = max(1, int(request.args.get("sida", "1")))
    except (SamflodeError, ValueError):
        filters, page_number = WorklistFilter(), 1
    sort = request.args.get("sortera", DEFAULT_SORT)
    if sort not in SORT_KEYS:
        sort = DEFAULT_SORT
    page = reads().tasks.page(
        actor,
        view,
        filters,
        limit=PAGE_SIZE,
        offset=(page_number - 1) * PAGE_SIZE,
        sort=sort,
        descending=request.args.get("ordning") == "fallande",
        search=session.get(SEARCH_KEY) or None,
    )
    options = worklist().options(actor)
    template = "_worklist_table.html" if request.headers.get("HX-Request") else "worklist.html"
    saved = []
    for f in worklist().saved_filters(actor.username):
        f["params_without_view"] = {k: v for k, v in f["params"].items() if k != "view"}
        saved.append(f)
    return render_template(
        template,
        page=page,
        views=VIEW_LABELS,
        filter_labels=FILTER_LABELS,
        options=options,
        saved=saved,
        columns=COLUMNS,
        process_names=dict(options["process"]),
    )


@bp.get("/arbetslista/antal")
@login_required
def counts() -> str:
    """The four views' counts with the list's filters, as spans swapped out of band into the tabs (htmx): the page
    renders its list first and asks for these after it. Counts name nobody, so nothing is logged; they are counted
    within the user's need to know like the list (engine.reads.tasks)."""
    try:
        filters = WorklistFilter.of(request.args.to_dict())
    except SamflodeError:
        filters = WorklistFilter()
    found = reads().tasks.counts(current_actor(), filters)
    return render_template("_worklist_counts.html", views=VIEWS, counts=found, oob=True)


@bp.post("/arbetslista/sok")
@login_required
def search() -> WerkzeugResponse:
    """A search of the worklist by name or personnummer. POST, and kept in the session: a personnummer never stands
    in an address (server logs, history, Referer). An empty search, or `rensa`, shows the whole view again."""
    term = (request.form.get("sok") or "").strip()[:100]
    if term and not request.form.get("rensa"):
        session[SEARCH_KEY] = term
    else:
        session.pop(SEARCH_KEY, None)
    view = request.form.get("vy", "enhet")
    params: dict[str, Any] = {"vy": view if view in VIEWS else "enhet"}
    with contextlib.suppress(SamflodeError):
        params.update(WorklistFilter.of(request.form.to_dict()).as_dict())
    return redirect(url_for("worklist.index", **params), code=303)


@bp.post("/arbetslista/filter")
@login_required
def save_filter() -> WerkzeugResponse:
    actor = current_actor()
    view = request.form.get("vy", "enhet")
    try:
        filters = WorklistFilter.of(request.form.to_dict())
        worklist().save_filter(actor.username, request.form.get("name", ""), view, filters)
        flash(_("Filtret är sparat."), "ok")
    except SamflodeError as exc:
        flash(exc.message, "error")
        filters = WorklistFilter()
    params: dict[str, Any] = {"vy": view if view in VIEWS else "enhet", **filters.as_dict()}
    return redirect(url_for("worklist.index", **params), code=303)


@bp.post("/arbetslista/filter/<int:filter_id>/ta-bort")
@login_required
def delete_filter(filter_id: int) -> WerkzeugResponse:
    worklist().delete_filter(current_actor().username, filter_id)
    flash(_("Filtret är borttaget."), "ok")
    return redirect(url_for("worklist.index"), code=303)
