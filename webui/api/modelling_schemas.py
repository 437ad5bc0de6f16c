"""marshmallow schemas of the modelling routes: import (deploy or documentation-only), dry-run check, versions, diff.

Kept apart from schemas.py so that the modelling API can grow without touching the schemas of the staff routes."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from webui.api.schemas import DiagnosticOut


class DeployQueryIn(Schema):
    """The query (or, for multipart uploads, the form fields) of POST /definitions and POST /definitions/check."""

    class Meta:
        unknown = EXCLUDE

    comment = fields.String(load_default="", validate=validate.Length(max=2000))
    filename = fields.String(load_default=None, validate=validate.Length(max=300))
    documentation_only = fields.Boolean(
        load_default=False,
        metadata={
            "description": "true: store a diagram that cannot run as a documentation-only model (executable=false) "
            "with its diagnostics instead of refusing it with 422; a diagram that can run is deployed as usual"
        },
    )
    draft = fields.Integer(
        load_default=None,
        metadata={
            "description": "the id of the caller's modeller draft the diagram came from: after the deploy it is "
            "discarded, as is the caller's draft of the same process"
        },
    )


class CheckOut(Schema):
    process_id = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    executable = fields.Boolean()
    errors = fields.Integer()
    warnings = fields.Integer()
    diagnostics = fields.List(fields.Nested(DiagnosticOut))


class VersionOut(Schema):
    id = fields.Integer()
    version = fields.Integer()
    executable = fields.Boolean()
    deployed_by = fields.String()
    deployed_at = fields.String()
    comment = fields.String()
    filename = fields.String(allow_none=True)
    running_instances = fields.Integer()
    diagnostics = fields.Integer(metadata={"description": "number of findings stored with the version"})
    is_default = fields.Boolean(
        metadata={"description": "new cases start on this version where no pilot or per-unit default takes them"}
    )


class VersionsOut(Schema):
    process_id = fields.String()
    items = fields.List(fields.Nested(VersionOut))


class DiffIn(Schema):
    class Meta:
        unknown = EXCLUDE

    from_version = fields.Integer(required=True, data_key="from", validate=validate.Range(min=1))
    to_version = fields.Integer(required=True, data_key="to", validate=validate.Range(min=1))


class ElementSummaryOut(Schema):
    id = fields.String()
    type = fields.String()
    name = fields.String(allow_none=True)
    lane = fields.String(allow_none=True)


class FieldChangeOut(Schema):
    field = fields.String(
        metadata={"description": "name, lane, type, documentation, timer, message, ... or property:<name>"}
    )
    before = fields.Raw(allow_none=True)
    after = fields.Raw(allow_none=True)


class ChangedElementOut(ElementSummaryOut):
    changes = fields.List(fields.Nested(FieldChangeOut))


class FlowSummaryOut(Schema):
    id = fields.String()
    name = fields.String(allow_none=True)
    source = fields.String(allow_none=True)
    target = fields.String(allow_none=True)
    condition = fields.String(allow_none=True)
    default = fields.Boolean(metadata={"description": "the default flow of its source (taken when no condition holds)"})
    process = fields.String(allow_none=True)


class ChangedFlowOut(FlowSummaryOut):
    changes = fields.List(fields.Nested(FieldChangeOut))


class DiffOut(Schema):
    process_id = fields.String()
    from_version = fields.Integer(data_key="from")
    to_version = fields.Integer(data_key="to")
    added = fields.List(fields.Nested(ElementSummaryOut))
    removed = fields.List(fields.Nested(ElementSummaryOut))
    changed = fields.List(fields.Nested(ChangedElementOut))
    flows_added = fields.List(fields.Nested(FlowSummaryOut))
    flows_removed = fields.List(fields.Nested(FlowSummaryOut))
    flows_changed = fields.List(fields.Nested(ChangedFlowOut))


# --- the catalogue the modeller's properties panel offers -----------------------------------------------------------
class FormInfoOut(Schema):
    name = fields.String(metadata={"description": "the value of the `form` property (file stem under forms/)"})
    title = fields.String(allow_none=True)
    description = fields.String(allow_none=True)


class LaneInfoOut(Schema):
    name = fields.String(metadata={"description": "lane name as written in the diagram"})
    roles = fields.List(fields.String())
    unit_from = fields.String(allow_none=True)


class RoleInfoOut(Schema):
    key = fields.String()
    name = fields.String(allow_none=True)


class DeadlineRuleOut(Schema):
    agreement = fields.String()
    agreement_name = fields.String()
    duration = fields.String()
    calendar = fields.String(metadata={"description": "hours | calendar | working_days"})
    before = fields.String(allow_none=True, metadata={"description": "latest local time of day, e.g. 12:00"})
    anchor = fields.String(
        allow_none=True, metadata={"description": "the event it counts from (agreements.json anchor), e.g. utskrivning"}
    )
    anchor_title = fields.String(
        allow_none=True,
        metadata={"description": "what it counts from, in the caller's language (Accept-Language; Swedish by default)"},
    )


class DeadlineInfoOut(Schema):
    key = fields.String(metadata={"description": "the value of `due`, or the argument of deadline('<key>')"})
    rules = fields.List(fields.Nested(DeadlineRuleOut))


class CatalogOut(Schema):
    forms = fields.List(fields.Nested(FormInfoOut))
    lanes = fields.List(fields.Nested(LaneInfoOut))
    roles = fields.List(fields.Nested(RoleInfoOut))
    deadlines = fields.List(fields.Nested(DeadlineInfoOut))


# --- drafts -----------------------------------------------------------------------------------------------------
class DraftIn(Schema):
    class Meta:
        unknown = EXCLUDE

    process_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=300))
    base_version = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))
    xml = fields.String(required=True, validate=validate.Length(min=1))


class DraftSummaryOut(Schema):
    id = fields.Integer()
    process_id = fields.String()
    name = fields.String(allow_none=True)
    base_version = fields.Integer(allow_none=True, metadata={"description": "the deployed version it started from"})
    created_at = fields.String()
    updated_at = fields.String()
    size = fields.Integer(metadata={"description": "bytes of XML"})


class DraftOut(DraftSummaryOut):
    xml = fields.String()


class DraftsOut(Schema):
    items = fields.List(fields.Nested(DraftSummaryOut))
