"""The task page (form from the task's JSON Schema, drafts, completion through Runtime.complete_task, case context)
and the claim, unclaim and hand-over actions. Conflicts are explained on the page, never a 500."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from markupsafe import escape

from engine.domain.errors import Forbidden, NotFound, SamflodeError, ValidationFailed
from engine.worklist import Drafts, TaskContext
from webui.views import access_log, need_to_know, platform, worklist
from webui.views.auth import _safe_next as safe_next
from webui.views.auth import current_actor, login_required
from webui.views.forms import fields, parse

bp = Blueprint("tasks", __name__)


def _context(task_id: str) -> dict[str, Any]:
    """The task and its case, if the user may see them: the task's role and unit, or an overseeing role; and the
    person's case must be one the user's unit takes part in. Otherwise 404 (nothing about the task leaks)."""
    actor = current_actor()
    p = platform()
    ctx = TaskContext(p.db, p.catalog, p.clock).load(task_id)
    owns = p.reports.task(task_id, actor) if not need_to_know().overseer(actor) else None
    del owns  # reports.task raised NotFound when the task is not the actor's
    if not need_to_know().may_see_instance(actor, ctx["instance"]["id"]):
        raise NotFound("Uppgiften finns inte")
    return ctx


def _not_found(message: str = "Uppgiften finns inte eller hör inte till din roll och enhet.") -> tuple[str, int]:
    return render_template("error.html", title="Uppgiften finns inte", message=message), 404


def _row_response(task_id: str, message: tuple[str, str] | None) -> Any:
    """For htmx: the worklist row again (or nothing when the task has left the list), with the message in it."""
    item = worklist().item(current_actor(), task_id)
    if item is None:
        text = message[1] if message else "Uppgiften finns inte längre i listan."
        return f'<tr><td colspan="7"><p class="flash info" role="status">{escape(text)}</p></td></tr>'
    return render_template("_worklist_row.html", item=item, row_message=message)


def _action(task_id: str, run: Any, done: str, log_action: str) -> Any:
    actor = current_actor()
    message: tuple[str, str]
    try:
        run(actor)
        message = ("ok", done)
        ctx_person = worklist().person_of(task_id)
        if ctx_person is not None:
            access_log().record(actor, log_action, [ctx_person], task_id)
    except SamflodeError as exc:
        message = ("error", _explain(exc))
    if request.headers.get("HX-Request"):
        return _row_response(task_id, message)
    flash(message[1], message[0])
    return redirect(safe_next(request.form.get("next") or url_for("tasks.task_page", task_id=task_id)), code=303)


def _explain(exc: SamflodeError) -> str:
    if exc.status == 409:
        who = exc.details.get("claimed_by") or exc.details.get("completed_by")
        if who:
            return f"{exc.message}. Någon annan hann före; uppgiften har inte ändrats av dig."
        return f"{exc.message}."
    if exc.status in (403, 404):
        return "Uppgiften finns inte eller hör inte till din roll och enhet."
    return exc.message


@bp.post("/uppgifter/<task_id>/ta")
@login_required
def claim(task_id: str) -> Any:
    return _action(task_id, lambda a: platform().runtime.claim_task(task_id, a), "Du har tagit uppgiften.", "ta")


@bp.post("/uppgifter/<task_id>/slapp")
@login_required
def unclaim(task_id: str) -> Any:
    return _action(task_id, lambda a: platform().runtime.unclaim_task(task_id, a), "Uppgiften är släppt.", "slapp")


@bp.post("/uppgifter/<task_id>/lamna-over")
@login_required
def hand_over(task_id: str) -> Any:
    assignee = (request.form.get("assignee") or "").strip()

    def run(actor: Any) -> None:
        allowed = dict(worklist().colleagues(actor, task_id))
        if assignee not in allowed:
            raise Forbidden("Välj en kollega med rätt roll i samma enhet")
        platform().runtime.claim_task(task_id, actor, assignee=assignee)

    return _action(task_id, run, f"Uppgiften är lämnad över till {assignee}.", "lamna_over")


@bp.get("/uppgifter/<task_id>")
@login_required
def task_page(task_id: str) -> Any:
    actor = current_actor()
    try:
        ctx = _context(task_id)
    except NotFound:
        return _not_found()
    drafts = Drafts(platform().db, platform().clock)
    draft = drafts.get(task_id, actor.username)
    values = draft["data"] if draft else _prefill(ctx)
    show_pnr = request.args.get("visa") == "personnummer"
    access_log().record(
        actor,
        "visa_personnummer" if show_pnr else "uppgift",
        [(ctx["person"]["personnummer"], ctx["instance"]["id"])],
        ctx["task"]["name"],
    )
    return _render(ctx, values, {}, draft, show_pnr)


def _prefill(ctx: dict[str, Any]) -> dict[str, Any]:
    """Fields whose names are already in the case data start with that value (the form says so in its help)."""
    data = ctx["instance"]["data"]
    props = (ctx["schema"] or {}).get("properties") or {}
    return {k: data[k] for k in props if k in data}


def _render(
    ctx: dict[str, Any],
    values: dict[str, Any],
    errors: dict[str, list[str]],
    draft: dict[str, Any] | None,
    show_pnr: bool = False,
    status: int = 200,
    message: str | None = None,
) -> Any:
    actor = current_actor()
    colleagues = worklist().colleagues(actor, ctx["task"]["id"])
    return (
        render_template(
            "task.html",
            ctx=ctx,
            task=ctx["task"],
            person=ctx["person"],
            fields=fields(ctx["schema"], values, errors),
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
        ctx = _context(task_id)
    except NotFound:
        return _not_found()
    data = parse(ctx["schema"], request.form)
    drafts = Drafts(platform().db, platform().clock)
    person = [(ctx["person"]["personnummer"], ctx["instance"]["id"])]
    if request.form.get("action") == "draft":
        drafts.save(task_id, ctx["instance"]["id"], actor.username, data)
        access_log().record(actor, "utkast", person, ctx["task"]["name"])
        flash("Utkastet är sparat. Uppgiften är inte slutförd.", "ok")
        return redirect(url_for("tasks.task_page", task_id=task_id), code=303)
    try:
        platform().runtime.complete_task(task_id, data, actor)
    except ValidationFailed as exc:
        problems = {k: list(v) for k, v in (exc.details.get("fields") or {}).items()}
        return _render(ctx, data, problems, drafts.get(task_id, actor.username), status=422, message=exc.message)
    except SamflodeError as exc:
        return _render(ctx, data, {}, None, status=exc.status if exc.status < 500 else 409, message=_explain(exc))
    drafts.discard(task_id)
    access_log().record(actor, "slutfor", person, ctx["task"]["name"])
    flash(f"”{ctx['task']['name']}” är slutförd.", "ok")
    return redirect(url_for("worklist.index"), code=303)
