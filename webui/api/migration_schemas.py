"""marshmallow schemas of /api/v1/migrations: preview, run, list, get, revert (engine/features/migration.py)."""

from __future__ import annotations

from marshmallow import EXCLUDE, RAISE, Schema, fields, validate


class MigrationSelectionIn(Schema):
    """Which running instances and which target: explicit `instance_ids`, or a filter (`from_version` and units)."""

    class Meta:
        unknown = RAISE

    process_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    target_version = fields.Integer(required=True, validate=validate.Range(min=1))
    instance_ids = fields.List(fields.Integer(validate=validate.Range(min=1)), load_default=list)
    from_version = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))
    kommun = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))
    vardcentral = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))
    avdelning = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))
    mapping = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=200)),
        values=fields.String(validate=validate.Length(max=200)),
        load_default=dict,
        metadata={"description": "old element id -> element id in the target version (renamed or replaced)"},
    )


class MigrationRunIn(MigrationSelectionIn):
    comment = fields.String(load_default="", validate=validate.Length(max=2000))


class RevertIn(Schema):
    class Meta:
        unknown = RAISE

    instance_ids = fields.List(
        fields.Integer(validate=validate.Range(min=1)),
        load_default=list,
        metadata={"description": "only these instances of the run; empty: every migrated instance of the run"},
    )


class RunsQueryIn(Schema):
    class Meta:
        unknown = EXCLUDE

    process_id = fields.String(load_default=None)


class ElementPlanOut(Schema):
    task_id = fields.String()
    element_id = fields.String()
    name = fields.String()
    kind = fields.String(metadata={"description": "uppgift | timer | meddelande | delprocess | steg"})
    process_id = fields.String()
    status = fields.String(validate=validate.OneOf(["same_id", "mapped", "needs_mapping", "blocked"]))
    target = fields.String(allow_none=True)
    suggestion = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)


class MissingDataOut(Schema):
    element_id = fields.String()
    name = fields.String()


class InstancePlanOut(Schema):
    instance_id = fields.Integer()
    kommun = fields.String(allow_none=True)
    vardcentral = fields.String(allow_none=True)
    avdelning = fields.String(allow_none=True)
    version = fields.Integer()
    status = fields.String()
    outcome = fields.String(validate=validate.OneOf(["ready", "needs_mapping", "blocked"]))
    elements = fields.List(fields.Nested(ElementPlanOut))
    missing_data = fields.List(fields.Nested(MissingDataOut))
    problems = fields.List(fields.String())


class TargetElementOut(Schema):
    id = fields.String()
    name = fields.String()
    type = fields.String(allow_none=True)


class PreviewCountsOut(Schema):
    ready = fields.Integer()
    needs_mapping = fields.Integer()
    blocked = fields.Integer()


class PreviewOut(Schema):
    process_id = fields.String()
    target_version = fields.Integer()
    target_definition_id = fields.Integer()
    mapping = fields.Dict(keys=fields.String(), values=fields.String())
    suggested_mapping = fields.Dict(keys=fields.String(), values=fields.String())
    target_elements = fields.List(fields.Nested(TargetElementOut))
    counts = fields.Nested(PreviewCountsOut)
    items = fields.List(fields.Nested(InstancePlanOut))


class RearmedOut(Schema):
    element_id = fields.String()
    due_at = fields.String()


class RunItemOut(Schema):
    instance_id = fields.Integer()
    from_version = fields.Integer(allow_none=True)
    outcome = fields.String(validate=validate.OneOf(["migrated", "failed", "reverted"]))
    reason = fields.String()
    at = fields.String()
    reverted_at = fields.String(allow_none=True)
    reverted_by = fields.String(allow_none=True)
    revertible = fields.Boolean()
    rearmed_timers = fields.List(fields.Nested(RearmedOut))


class RunSummaryOut(Schema):
    id = fields.Integer()
    process_id = fields.String()
    target_version = fields.Integer()
    mapping = fields.Dict(keys=fields.String(), values=fields.String())
    selection = fields.Dict()
    comment = fields.String()
    created_by = fields.String()
    created_at = fields.String()
    migrated = fields.Integer()
    failed = fields.Integer()
    reverted = fields.Integer()


class RunOut(RunSummaryOut):
    items = fields.List(fields.Nested(RunItemOut))


class RunsOut(Schema):
    items = fields.List(fields.Nested(RunSummaryOut))


class RefusedOut(Schema):
    instance_id = fields.Integer()
    reason = fields.String()


class RevertOut(Schema):
    run_id = fields.Integer()
    reverted = fields.List(fields.Integer())
    refused = fields.List(fields.Nested(RefusedOut))
