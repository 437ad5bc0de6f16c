"""marshmallow at the edge (convention 8): `load()` checks what clients send, `dump()` shapes what they get."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, fields, validate


class _In(Schema):
    class Meta:
        unknown = RAISE


class StartInstanceIn(_In):
    process_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    business_key = fields.String(required=True, validate=validate.Length(min=1, max=200))
    data = fields.Dict(keys=fields.String(), load_default=dict)
    version = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))


class CompleteTaskIn(_In):
    data = fields.Dict(keys=fields.String(), load_default=dict)


class ClaimTaskIn(_In):
    assignee = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100))


class MessageIn(_In):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    message_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    correlation = fields.Dict(keys=fields.String(), required=True)
    data = fields.Dict(keys=fields.String(), load_default=dict)


class CancelIn(_In):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class RetryIn(_In):
    data = fields.Dict(keys=fields.String(), load_default=dict)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class MoveTokenIn(_In):
    from_element = fields.String(required=True, validate=validate.Length(min=1, max=200))
    to_element = fields.String(required=True, validate=validate.Length(min=1, max=200))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class ReasonIn(_In):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class ReassignTaskIn(_In):
    assignee = fields.String(required=True, validate=validate.Length(min=1, max=100))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class ClockAdvanceIn(_In):
    seconds = fields.Float(required=True, validate=validate.Range(min=0, max=10 * 366 * 86400))


class PageIn(Schema):
    class Meta:
        unknown = EXCLUDE

    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))


class InstanceFilterIn(PageIn):
    process_id = fields.String(load_default=None)
    version = fields.Integer(load_default=None, validate=validate.Range(min=1))
    status = fields.String(
        load_default=None, validate=validate.OneOf(["running", "waiting", "incident", "completed", "cancelled"])
    )
    business_key = fields.String(load_default=None)
    personnummer = fields.String(load_default=None)
    kommun = fields.String(load_default=None, validate=validate.Length(max=200))
    vardcentral = fields.String(load_default=None, validate=validate.Length(max=200))
    avdelning = fields.String(load_default=None, validate=validate.Length(max=200))
    overdue = fields.Boolean(load_default=False)
    started_from = fields.Date(load_default=None)
    started_to = fields.Date(load_default=None)
    waiting_in = fields.String(
        load_default=None,
        validate=validate.Length(max=200),
        metadata={"description": "element id: cases with an active task, a timer or an open incident there"},
    )


class HeatmapQueryIn(Schema):
    class Meta:
        unknown = EXCLUDE

    started_from = fields.Date(load_default=None)  # the first day (Europe/Stockholm); default 29 days before `to`
    started_to = fields.Date(load_default=None)  # the last day, inclusive; default today


class TaskFilterIn(PageIn):
    claimed = fields.String(load_default=None, validate=validate.OneOf(["me", "none"]))
    process_id = fields.String(load_default=None)


class DefinitionFilterIn(PageIn):
    process_id = fields.String(load_default=None)


# --- output ---
class DiagnosticOut(Schema):
    element_id = fields.String(allow_none=True)
    severity = fields.String()
    message = fields.String(metadata={"description": "in Swedish"})
    text = fields.String(metadata={"description": "the message in the caller's language, when that is not Swedish"})


class DeployOut(Schema):
    id = fields.Integer()
    process_id = fields.String()
    version = fields.Integer()
    executable = fields.Boolean()
    created = fields.Boolean()
    diagnostics = fields.List(fields.Nested(DiagnosticOut))
    default_version = fields.Integer(
        allow_none=True,
        metadata={
            "description": "the version new cases start on now (a deploy never changes it: make a version the "
            "default with POST /pilots/defaults, or pilot it)"
        },
    )


class DefinitionOut(Schema):
    id = fields.Integer()
    process_id = fields.String()
    version = fields.Integer()
    name = fields.String(allow_none=True)
    filename = fields.String(allow_none=True)
    executable = fields.Boolean()
    diagnostics = fields.List(fields.Nested(DiagnosticOut))
    deployed_by = fields.String()
    deployed_at = fields.String()
    comment = fields.String()
    start_messages = fields.List(fields.String())
    lanes = fields.List(fields.String())
    running_instances = fields.Integer()


class ActiveTaskOut(Schema):
    id = fields.String()
    element_id = fields.String()
    name = fields.String()
    lane = fields.String(allow_none=True)
    due_at = fields.DateTime(allow_none=True)
    claimed_by = fields.String(allow_none=True)
    flag = fields.String(allow_none=True)  # the case has moved past the task's point (e.g. open at UK)


class TaskOut(ActiveTaskOut):
    instance_id = fields.Integer()
    process_id = fields.String()
    business_key = fields.String()
    role = fields.String(allow_none=True)
    form = fields.String(allow_none=True)
    unit = fields.String(allow_none=True)
    created_at = fields.DateTime()


class TimerOut(Schema):
    id = fields.Integer()
    element_id = fields.String()
    kind = fields.String()
    due_at = fields.DateTime()
    boundary = fields.Boolean()


class HistoryOut(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    kind = fields.String()
    element_id = fields.String(allow_none=True)
    task_id = fields.String(allow_none=True)
    actor = fields.String(allow_none=True)
    data = fields.Dict()


class IncidentOut(Schema):
    id = fields.Integer()
    element_id = fields.String(allow_none=True)
    message = fields.String()
    created_at = fields.DateTime()
    resolved_at = fields.DateTime(allow_none=True)
    resolved_by = fields.String(allow_none=True)
    expression = fields.String(
        allow_none=True, metadata={"description": "the failing expression or script, or a gateway's conditions"}
    )
    seen_values = fields.Dict(
        allow_none=True, metadata={"description": "name -> {value} or {missing: true}, as the failing step saw it"}
    )
    failures = fields.Integer(metadata={"description": "how often the step failed while the incident was open"})


class DeviationOut(Schema):
    id = fields.Integer()
    element_id = fields.String(allow_none=True)
    party = fields.String(allow_none=True)
    cause = fields.String()
    at = fields.DateTime()


class InstanceSummaryOut(Schema):
    id = fields.Integer()
    process_id = fields.String()
    version = fields.Integer()
    routing = fields.String(
        metadata={"description": "Varför instansen kör sin version: default | pilot | explicit | promotion"}
    )
    pilot_id = fields.Integer(allow_none=True, metadata={"description": "Piloten som gav versionen (routing=pilot)"})
    route_reason = fields.String(metadata={"description": "Skälet i klartext, t.ex. 'pilot 3 Eksjö SVPL'"})
    business_key = fields.String()
    status = fields.String()
    started_at = fields.DateTime()
    ended_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime()
    active_tasks = fields.List(fields.Nested(ActiveTaskOut))


class InstanceListItemOut(InstanceSummaryOut):
    kommun = fields.String(allow_none=True)
    vardcentral = fields.String(allow_none=True)
    avdelning = fields.String(allow_none=True)
    overdue = fields.Boolean()
    open_incidents = fields.Integer()
    next_timer_at = fields.DateTime(allow_none=True)
    parent_instance_id = fields.Integer(allow_none=True)


class HeatmapElementOut(Schema):
    element_id = fields.String()
    count = fields.Integer()
    time_n = fields.Integer()
    time_mean_seconds = fields.Float(allow_none=True)
    time_p90_seconds = fields.Float(allow_none=True)
    wait_n = fields.Integer()
    wait_mean_seconds = fields.Float(allow_none=True)
    wait_p90_seconds = fields.Float(allow_none=True)


class HeatmapOut(Schema):
    process_id = fields.String()
    version = fields.Integer()
    since = fields.String()
    until = fields.String()
    elements = fields.List(fields.Nested(HeatmapElementOut))


class InstanceOut(InstanceSummaryOut):
    data = fields.Dict()
    timers = fields.List(fields.Nested(TimerOut))
    history = fields.List(fields.Nested(HistoryOut))
    incidents = fields.List(fields.Nested(IncidentOut))
    deviations = fields.List(fields.Nested(DeviationOut))
    parent_instance_id = fields.Integer(allow_none=True)


class TokenMoveOut(Schema):
    direction = fields.String()
    skipped = fields.List(fields.String())
    instance = fields.Nested(InstanceOut)


class MessageOut(Schema):
    instance_id = fields.Integer()
    outcome = fields.String()
    duplicate = fields.Boolean()


class ClockOut(Schema):
    now = fields.String()
    simulated = fields.Boolean()


class ClockAdvanceOut(ClockOut):
    fired = fields.Integer()
    steps = fields.Integer()


class ErrorOut(Schema):
    error = fields.String()
    message = fields.String()
    details = fields.Dict()


def page_of(schema: type[Schema]) -> type[Schema]:
    """A `{items, total}` list schema of `schema`."""
    return type(
        f"{schema.__name__.removesuffix('Out')}PageOut",
        (Schema,),
        {"items": fields.List(fields.Nested(schema)), "total": fields.Integer()},
    )


def dump_page(schema: type[Schema], page: Any) -> dict[str, Any]:
    """A read's page (`items` and `total`, attributes or keys) as `{items, total}`."""
    items = page["items"] if isinstance(page, dict) else page.items
    total = page["total"] if isinstance(page, dict) else page.total
    return {"items": schema(many=True).dump(items), "total": total}
