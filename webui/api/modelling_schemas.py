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


class DiffOut(Schema):
    process_id = fields.String()
    from_version = fields.Integer(data_key="from")
    to_version = fields.Integer(data_key="to")
    added = fields.List(fields.Nested(ElementSummaryOut))
    removed = fields.List(fields.Nested(ElementSummaryOut))
    changed = fields.List(fields.Nested(ChangedElementOut))
