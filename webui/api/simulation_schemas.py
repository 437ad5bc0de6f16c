"""marshmallow schemas of /api/v1/simulations (engine/features/simulations.py, engine/features/simulation.py)."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, fields, post_load, validate

from engine.features.simulation import SimulationParams


class SimulationIn(Schema):
    class Meta:
        unknown = RAISE

    process_id = fields.String(load_default="in_utskrivning", validate=validate.Length(min=1, max=200))
    candidate_version = fields.Integer(required=True, validate=validate.Range(min=1))
    baseline_version = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1),
        metadata={"description": "the current version to compare with; none: the candidate alone"},
    )
    cases_per_year = fields.Float(load_default=12644.0, validate=validate.Range(min=1, max=200_000))
    days = fields.Integer(load_default=365, validate=validate.Range(min=1, max=1098))
    sip_share = fields.Float(load_default=0.37, validate=validate.Range(min=0, max=1))
    seed = fields.Integer(load_default=1, validate=validate.Range(min=0, max=2**31 - 1))
    start_date = fields.Date(load_default=None, allow_none=True)
    avtal = fields.String(load_default="jonkoping", validate=validate.Length(min=1, max=100))
    durations_hours = fields.Dict(
        keys=fields.String(),
        values=fields.Float(validate=validate.Range(min=0, max=24 * 365)),
        load_default=dict,
        metadata={"description": "element id -> mean handling time in hours (by hand; else recorded history)"},
    )
    default_hours = fields.Float(load_default=8.0, validate=validate.Range(min=0.01, max=24 * 365))
    capacity = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(validate=validate.Range(min=0, max=10_000)),
        load_default=dict,
        metadata={"description": "role -> staff per unit working at once; a role not named never waits"},
    )
    decisions = fields.Dict(
        keys=fields.String(),
        values=fields.Float(validate=validate.Range(min=0, max=1)),
        load_default=dict,
        metadata={"description": "yes/no form field -> probability of yes"},
    )
    message_delay_hours = fields.Float(load_default=24.0, validate=validate.Range(min=0, max=24 * 365))

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> SimulationParams:
        if data.get("start_date") is None:
            data.pop("start_date", None)
        return SimulationParams(**data)


class FigureOut(Schema):
    value = fields.Float(allow_none=True)
    numerator = fields.Float()
    denominator = fields.Float()


class WorkloadOut(Schema):
    tasks = fields.Integer()
    busy_hours = fields.Float()
    mean_wait_hours = fields.Float()
    max_queue = fields.Integer()


class VersionResultOut(Schema):
    role = fields.String(metadata={"description": "baseline | candidate"})
    version = fields.Integer()
    definition_id = fields.Integer()
    cases = fields.Integer()
    completed = fields.Integer()
    stuck = fields.Integer()
    incidents = fields.Integer()
    steps = fields.Integer()
    wall_seconds = fields.Float()
    figures = fields.Dict(keys=fields.String(), values=fields.Nested(FigureOut))
    workload = fields.Dict(keys=fields.String(), values=fields.Nested(WorkloadOut))


class SimulationResultOut(Schema):
    arrivals = fields.Integer()
    recorded_elements = fields.List(fields.String())
    versions = fields.List(fields.Nested(VersionResultOut))


class SimulationOut(Schema):
    id = fields.Integer()
    process_id = fields.String()
    candidate_version = fields.Integer()
    baseline_version = fields.Integer(allow_none=True)
    status = fields.String(validate=validate.OneOf(["queued", "running", "done", "failed"]))
    progress_done = fields.Integer()
    progress_total = fields.Integer()
    percent = fields.Integer()
    error = fields.String()
    created_by = fields.String()
    created_at = fields.String()
    started_at = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)
    params = fields.Dict()
    result = fields.Nested(SimulationResultOut)


class SimulationsOut(Schema):
    items = fields.List(fields.Nested(SimulationOut(exclude=("result",))))
