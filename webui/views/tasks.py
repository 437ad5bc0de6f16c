"""The task page (form from the task's JSON Schema, drafts, completion through Runtime.complete_task, case context)
and the claim, unclaim and hand-over actions. Conflicts are explained on the page, never a 500.

What the page shows comes from engine.reads.tasks (need to know applied, the access log written there); what it
changes goes through engine.commands.runtime, which logs the change with it."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from markupsafe import escape

from engine.domain.clock import STOCKHOLM
from engine.domain.errors import NotFound, SamflodeError, ValidationFailed
from engine.reads.tasks import TaskView, WorklistFilter
from engine.reads.worklist import VIEWS, Drafts
from webui.i18n import gettext as _
from webui.i18n import ngettext
from webui.labels import engine_text, label
from webui.views import local_time, platform, reads, worklist
from webui.views.auth import _safe_next as safe_next
from webui.views.auth import current_actor, login_required
from webui.views.forms import check, defaults, field_labels, fields, parse

bp = Blueprint("tasks", __name__)


def _drafts() -> Drafts:
    return platform().form_drafts


def _not_found(task_id: str | None = None) -> tuple[str, int]:
    """A task that is not open: if it was (and the user did it or may see its case), what became of it (200); else
    the same 404 whether or not it ever existed."""
    ended = reads().tasks.ended(current_actor(), task_id) if task_id else None
    if ended is not None:
        if ended.completed_at is not None:
            message = _(
                "”%(name)s” är redan slutförd, av %(who)s %(at)s. Det finns inget mer att göra i den.",
                name=ended.name,
                who=ended.completed_by or _("någon"),
                at=local_time(ended.completed_at),
            )
        else:
            message = _(
                "”%(name)s” behövs inte längre: ärendet gick vidare utan den (%(status)s).",
                name=ended.name,
                status=label(ended.case_status, "status"),
            )
        return (
            render_template("error.html", title=_("Uppgiften är inte längre öppen"), message=message, ended=ended),
            200,
        )
    return (
        render_template(
            "error.html",
            title=_("Uppgiften finns inte"),
            message=_("Uppgiften finns inte, är redan slutförd eller hör inte till din roll och enhet."),
        ),
        404,
    )


def _counts_oob() -> str:
    """The views' counts again, out of band (htmx), with the filters of the list the action came from; none when
    those filters cannot be read (the list itself refuses them), rather than the counts of an unfiltered list."""
    query = parse_qs(urlsplit(request.form.get("next") or "").query)
    try:
        filters = WorklistFilter.of({k: v[0] for k, v in query.items() if v})
    except SamflodeError:
        return ""
    counts = reads().tasks.counts(current_actor(), filters)
    return render_template("_worklist_counts.html", views=VIEWS, counts=counts, oob=True)


def _row_response(task_id: str, message: tuple[str, str] | None) -> Any:
    """For htmx: the worklist row again (or nothing when the task has left the list), with the message in it, and
    the views' counts, which a claim or a release changes."""
    item = reads().tasks.row(current_actor(), task_id)
    counts = _counts_oob()
    if item is None:
        text = message[1] if message else _("Uppgiften finns inte längre i listan.")
        return f'<tr><td colspan="7"><p class="flash info" role="status">{escape(text)}</p></td></tr>' + counts
    names = dict(worklist().options(current_actor())["process"])
    row = render_template("_worklist_row.html", item=item, row_message=message, process_names=names)
    return row + counts


def _action(task_id: str, run: Any, done: str) -> Any:
    message: tuple[str, str]
    try:
        run(current_actor())
        message = ("ok", done)
    except SamflodeError as exc:
        message = ("error", _explain(exc))
    if request.headers.get("HX-Request"):
        return _row_response(task_id, message)
    flash(message[1], message[0])
    return redirect(safe_next(request.form.get("next") or url_for("tasks.task_page", task_id=task_id)), code=303)


def _explain(exc: SamflodeError) -> str:
    """An engine refusal of a task action in the reader's language, colleagues by name."""
    if exc.status == 409:
        who = exc.details.get("claimed_by") or exc.details.get("completed_by")
        if who:
            name = worklist().user_names([who]).get(who, who)
            return (
                _("Uppgiften är redan tagen av %(name)s.", name=name)
                + " "
                + _("Någon annan hann före; uppgiften har inte ändrats av dig.")
            )
        return f"{engine_text(exc.message)}."
    if exc.status in (403, 404) and not exc.details.get("fields"):
        if exc.message == "Välj en kollega med rätt roll i samma enhet":
            return _("Välj en kollega med rätt roll i samma enhet.")
        return _("Uppgiften finns inte eller hör inte till din roll och enhet.")
    return engine_text(exc.message)


@bp.post("/uppgifter/<task_id>/ta")
@login_required
def claim(task_id: str) -> Any:
    return _action(task_id, lambda a: platform().runtime.claim_task(task_id, a), _("Du har tagit uppgiften."))


@bp.post("/uppgifter/<task_id>/slapp")
@login_required
def unclaim(task_id: str) -> Any:
    return _action(task_id, lambda a: platform().runtime.unclaim_task(task_id, a), _("Uppgiften är släppt."))


@bp.post("/uppgifter/<task_id>/lamna-over")
@login_required
def hand_over(task_id: str) -> Any:
    assignee = (request.form.get("assignee") or "").strip()
    note = (request.form.get("comment") or "").strip() or None
    names = dict(worklist().colleagues(current_actor(), task_id))
    return _action(
        task_id,
        lambda a: platform().runtime.claim_task(task_id, a, assignee=assignee, comment=note),
        _("Uppgiften är lämnad över till %(name)s.", name=names.get(assignee, assignee)),
    )


@bp.post("/uppgifter/<task_id>/kommentar")
@login_required
def comment(task_id: str) -> Any:
    """A comment on the task, kept in the case's timeline (Runtime.comment_task)."""
    text = request.form.get("comment") or ""
    return _action(task_id, lambda a: platform().runtime.comment_task(task_id, a, text), _("Kommentaren är sparad."))


@bp.get("/uppgifter/<task_id>")
@login_required
def task_page(task_id: str) -> Any:
    actor = current_actor()
    show_pnr = request.args.get("visa") == "personnummer"
    try:
        view = reads().tasks.view(actor, task_id, show_personnummer=show_pnr)
    except NotFound:
        return _not_found(task_id)
    draft = _drafts().get(task_id, actor.username)
    values = draft["data"] if draft else dict(view.prefill)
    if view.may_act and not draft:
        schema = dict(view.schema) if view.schema else None
        values = defaults(schema, values, actor.name or actor.username, platform().clock.now())
    return _render(view, values, {}, draft, show_pnr)


def _render(
    view: TaskView,
    values: dict[str, Any],
    errors: dict[str, list[str]],
    draft: dict[str, Any] | None,
    show_pnr: bool = False,
    status: int = 200,
    message: str | None = None,
    confirm_dates: list[str] | None = None,
) -> Any:
    actor = current_actor()
    colleagues = worklist().colleagues(actor, view.task.id) if view.may_act else []
    schema = dict(view.schema) if view.schema else None
    units = worklist().unit_names()
    return (
        render_template(
            "task.html",
            v=view,
            task=view.task,
            fields=fields(schema, values, errors, units=units),
            field_labels=field_labels(schema),
            unit_choices=sorted(units.items(), key=lambda u: u[1]),
            confirm_dates=confirm_dates or [],
            errors=errors,
            draft=draft,
            show_pnr=show_pnr,
            colleagues=colleagues,
            message=message,
            role_names=platform().catalog.role_names,
        ),
        status,
    )


@bp.post("/uppgifter/<task_id>")
@login_required
def task_submit(task_id: str) -> Any:
    actor = current_actor()
    try:
        view = reads().tasks.view(actor, task_id)
    except NotFound:
        return _not_found(task_id)
    if not view.may_act:
        return _render(view, dict(view.prefill), {}, None, status=403, message=_explain(NotFound("")))
    schema = dict(view.schema) if view.schema else None
    units = worklist().unit_names()
    data = parse(schema, request.form, units=units)
    drafts = _drafts()
    if request.form.get("action") == "draft":
        drafts.save(actor, task_id, view.instance_id, view.personnummer, data)
        flash(_("Utkastet är sparat. Uppgiften är inte slutförd."), "ok")
        return redirect(url_for("tasks.task_page", task_id=task_id), code=303)
    today = platform().clock.now().astimezone(STOCKHOLM).date()
    problems, old_dates = check(schema, data, today, units, dates_confirmed=request.form.get("datum_stammer") == "1")
    if problems:
        count = sum(len(m) for m in problems.values())
        text = ngettext(
            "%(num)s sak att rätta innan uppgiften kan slutföras:",
            "%(num)s saker att rätta innan uppgiften kan slutföras:",
            count,
        )
        return _render(
            view, data, problems, drafts.get(task_id, actor.username), status=422, message=text, confirm_dates=old_dates
        )
    try:
        platform().runtime.complete_task(task_id, data, actor)
    except ValidationFailed as exc:
        problems = {k: list(v) for k, v in (exc.details.get("fields") or {}).items()}
        return _render(
            view, data, problems, drafts.get(task_id, actor.username), status=422, message=engine_text(exc.message)
        )
    except SamflodeError as exc:
        return _render(view, data, {}, None, status=exc.status if exc.status < 500 else 409, message=_explain(exc))
    drafts.discard(task_id)
    flash(_("”%(name)s” är slutförd.", name=view.task.name), "ok")
    return redirect(url_for("worklist.index"), code=303)
