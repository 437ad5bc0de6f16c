"""The worklist pages: Mina uppgifter, Min enhet, Försenade, Idag; filters and saved filters. The list is read
through engine.reads.tasks (need to know applied, each person shown written to the access log there)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from markupsafe import escape
from werkzeug.wrappers import Response as WerkzeugResponse

from engine.domain.errors import BadRequest, SamflodeError
from engine.domain.text import Text
from engine.reads.tasks import DEFAULT_SORT, FILTER_KEYS, SORT_KEYS
from engine.reads.worklist import VIEWS, WorklistFilter
from webui.i18n import N_
from webui.i18n import gettext as _
from webui.labels import engine_text
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


def _query(args: Mapping[str, str]) -> tuple[str, WorklistFilter, int, str]:
    """The list's view, filters, page and sort from the address, each checked: a value the list cannot show is a
    refusal (BadRequest), never quietly another list (an unfiltered one, another view), nor counts of one."""
    view = args.get("vy") or "enhet"
    if view not in VIEWS:
        raise BadRequest(Text("Okänd vy %(view)r", view=view[:40]))
    filters = WorklistFilter.of(dict(args))
    page = args.get("sida") or "1"
    if not page.isdigit() or not 0 < int(page) < 1_000_000:
        raise BadRequest(Text("Sidan %(page)r finns inte: ange ett heltal från 1", page=page[:40]))
    sort = args.get("sortera") or DEFAULT_SORT
    if sort not in SORT_KEYS:
        raise BadRequest(Text("Listan kan inte sorteras på %(sort)r", sort=sort[:40]))
    return view, filters, int(page), sort


def _refused(exc: SamflodeError) -> tuple[str, int]:
    """A refused address in the reader's language: the page's error page, or for htmx (the tabs' counts) the text
    alone, which htmx leaves unswapped (a 400), so the tabs keep waiting rather than show another list's counts."""
    if request.headers.get("HX-Request"):
        return str(escape(engine_text(exc.message))), exc.status
    return render_template("error.html", title=N_("Arbetslistan kan inte visas"), message=exc.message), exc.status


@bp.get("/")
@login_required
def home() -> WerkzeugResponse:
    return redirect(url_for("worklist.index"))


@bp.get("/arbetslista")
@login_required
def index() -> Any:
    actor = current_actor()
    try:
        view, filters, page_number, sort = _query(request.args)
    except SamflodeError as exc:
        return _refused(exc)
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
def counts() -> Any:
    """The four views' counts with the list's filters, as spans swapped out of band into the tabs (htmx): the page
    renders its list first and asks for these after it. Counts name nobody, so nothing is logged; they are counted
    within the user's need to know like the list (engine.reads.tasks)."""
    try:
        filters = _query(request.args)[1]
    except SamflodeError as exc:
        return _refused(exc)
    found = reads().tasks.counts(current_actor(), filters)
    return render_template("_worklist_counts.html", views=VIEWS, counts=found, oob=True)


@bp.post("/arbetslista/sok")
@login_required
def search() -> Any:
    """A search of the worklist by name or personnummer. POST, and kept in the session: a personnummer never stands
    in an address (server logs, history, Referer). An empty search, or `rensa`, shows the whole view again. A view or
    filter the list cannot show is refused like the page refuses it (`_form_refused`), the search still kept."""
    term = (request.form.get("sok") or "").strip()[:100]
    if term and not request.form.get("rensa"):
        session[SEARCH_KEY] = term
    else:
        session.pop(SEARCH_KEY, None)
    try:
        view, filters = _form_query()
    except SamflodeError as exc:
        return _form_refused(exc)
    params: dict[str, Any] = {"vy": view, **filters.as_dict()}
    return redirect(url_for("worklist.index", **params), code=303)


@bp.post("/arbetslista/filter")
@login_required
def save_filter() -> Any:
    """Saves the list's view and filters under a name. A view or filter the list cannot show is refused like the
    page refuses it (`_form_refused`), nothing saved; a missing name keeps the list as it was."""
    actor = current_actor()
    try:
        view, filters = _form_query()
    except SamflodeError as exc:
        return _form_refused(exc)
    try:
        worklist().save_filter(actor.username, request.form.get("name", ""), view, filters)
        flash(_("Filtret är sparat."), "ok")
    except SamflodeError as exc:
        flash(exc.message, "error")
    params: dict[str, Any] = {"vy": view, **filters.as_dict()}
    return redirect(url_for("worklist.index", **params), code=303)


def _form_query() -> tuple[str, WorklistFilter]:
    """The view and filters a worklist form sends, checked as the page checks its address (`_query`)."""
    view, filters, _page, _sort = _query({k: v for k, v in request.form.items() if k in ("vy", *FILTER_KEYS)})
    return view, filters


def _form_refused(exc: SamflodeError) -> Any:
    """A worklist form's view or filter refused: for htmx the text alone with its 400 (like `_refused`); otherwise
    back to the list with the refusal as a flash message, in the reader's language: the list shown is the view (or
    the default view) without filters, and the flash says why, so it is never quietly another list."""
    if request.headers.get("HX-Request"):
        return _refused(exc)
    flash(engine_text(exc.message), "error")  # translated here: the session keeps a flash as plain text
    view = request.form.get("vy") or "enhet"
    return redirect(url_for("worklist.index", vy=view if view in VIEWS else "enhet"), code=303)


@bp.post("/arbetslista/filter/<int:filter_id>/ta-bort")
@login_required
def delete_filter(filter_id: int) -> WerkzeugResponse:
    worklist().delete_filter(current_actor().username, filter_id)
    flash(_("Filtret är borttaget."), "ok")
    return redirect(url_for("worklist.index"), code=303)
