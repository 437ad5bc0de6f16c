"""Issue 6's figures in the API: GET /reports/figures (in total and per group), /reports/deviations (per party and
cause) and /reports/definitions (what each figure means, the daily prices). Same rules as /rapporter: coordinators,
process owners, admins and managers; groups of fewer than five cases come back with `suppressed: true` and neither
figures nor count."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from marshmallow import EXCLUDE, Schema, fields, validate

from engine.domain.clock import STOCKHOLM
from engine.domain.errors import BadRequest, Forbidden
from engine.domain.text import Text
from engine.reads.figures import FIGURES, GROUPINGS, SMALL_GROUP, FigureRow, suppress_small
from webui.api import actor, documented, load_query, platform
from webui.report_query import MAX_DAYS, ReportRequest, default_period


class ReportQueryIn(Schema):
    class Meta:
        unknown = EXCLUDE

    period_from = fields.Date(load_default=None)  # first day of admission (Europe/Stockholm); default 11 months back
    period_to = fields.Date(load_default=None)  # last day, inclusive; default today
    group_by = fields.String(load_default=None, validate=validate.OneOf(GROUPINGS))
    kommun = fields.String(load_default=None, validate=validate.Length(max=2000))  # comma-separated
    vardcentral = fields.String(load_default=None, validate=validate.Length(max=2000))
    avdelning = fields.String(load_default=None, validate=validate.Length(max=2000))


class FigureValueOut(Schema):
    value = fields.Float(allow_none=True)
    numerator = fields.Float()
    denominator = fields.Float()


class FigureRowOut(Schema):
    key = fields.String(allow_none=True)
    cases = fields.Integer(allow_none=True)
    suppressed = fields.Boolean()
    figures = fields.Dict(keys=fields.String(), values=fields.Nested(FigureValueOut))


class FiguresOut(Schema):
    period_from = fields.Date()
    period_to = fields.Date()
    group_by = fields.String(allow_none=True)
    small_group = fields.Integer()
    total = fields.Nested(FigureRowOut)
    rows = fields.List(fields.Nested(FigureRowOut))


class DeviationOut(Schema):
    key = fields.String(allow_none=True)
    party = fields.String(allow_none=True)
    cause = fields.String()
    count = fields.Integer()


class DeviationsOut(Schema):
    period_from = fields.Date()
    period_to = fields.Date()
    group_by = fields.String(allow_none=True)
    items = fields.List(fields.Nested(DeviationOut))


class FigureDefinitionOut(Schema):
    id = fields.String()
    title = fields.String()
    unit = fields.String()
    definition = fields.String()
    source = fields.String()


class DailyPriceOut(Schema):
    agreement = fields.String()
    year = fields.Integer()
    amount = fields.Float(allow_none=True)
    source = fields.String()
    assumption = fields.Boolean()


class DefinitionsOut(Schema):
    figures = fields.List(fields.Nested(FigureDefinitionOut))
    daily_prices = fields.List(fields.Nested(DailyPriceOut))
    groupings = fields.List(fields.String())
    small_group = fields.Integer()


def _json(payload: Any) -> Response:
    return jsonify(payload)


def _query() -> tuple[ReportRequest, str | None]:
    who = actor()
    if not platform().policy.can_read_figures(who):
        raise Forbidden("Nyckeltalen är för samordnare, processägare, chefer och administratörer")
    q = load_query(ReportQueryIn)
    default_from, default_to = default_period(platform().clock.now().astimezone(STOCKHOLM).date())
    start, until = q["period_from"] or default_from, q["period_to"] or default_to
    if until < start:
        raise BadRequest("period_to ligger före period_from", {"fields": {"period_to": [Text("före period_from")]}})
    if (until - start).days > MAX_DAYS:
        raise BadRequest("Perioden får vara högst tre år", {"fields": {"period_from": [Text("för lång period")]}})

    def units(text: str | None) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.strip()[:100] for p in (text or "").split(",") if p.strip()))

    wanted = ReportRequest(
        start, until, q["group_by"] or "month", units(q["kommun"]), units(q["vardcentral"]), units(q["avdelning"])
    )
    return wanted, q["group_by"]


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": row["key"],
        "cases": row["cases"],
        "suppressed": row["suppressed"],
        "figures": {
            k: {"value": v.value, "numerator": v.numerator, "denominator": v.denominator}
            for k, v in row["figures"].items()
        },
    }


def _shown(rows: list[FigureRow]) -> list[dict[str, Any]]:
    return [_row(r) for r in suppress_small(rows)]


@documented(
    "GET",
    "/reports/figures",
    "Nyckeltalen (issue 6) för ärenden inskrivna under perioden (svensk tid, till och med), totalt och per grupp "
    "(month, week, kommun, vardcentral, avdelning, version). Varje nyckeltal med täljare och nämnare; grupper med "
    "färre än fem ärenden döljs (suppressed)",
    query=ReportQueryIn,
    response=FiguresOut,
    errors=(400, 401, 403),
)
def report_figures() -> Response:
    wanted, group_by = _query()
    figures = platform().figures
    scope = wanted.scope()
    total = figures.compute(scope)
    rows = figures.compute(scope, group_by) if group_by else []
    return _json(
        FiguresOut().dump(
            {
                "period_from": wanted.start,
                "period_to": wanted.until,
                "group_by": group_by,
                "small_group": SMALL_GROUP,
                "total": _shown(total)[0],
                "rows": _shown(rows),
            }
        )
    )


@documented(
    "GET",
    "/reports/deviations",
    "Avvikelser i samverkan per part och orsak (och grupp) för ärenden inskrivna under perioden",
    query=ReportQueryIn,
    response=DeviationsOut,
    errors=(400, 401, 403),
)
def report_deviations() -> Response:
    wanted, group_by = _query()
    items = platform().figures.deviations(wanted.scope(), group_by)
    return _json(
        DeviationsOut().dump(
            {
                "period_from": wanted.start,
                "period_to": wanted.until,
                "group_by": group_by,
                "items": [vars(i) for i in items],
            }
        )
    )


@documented(
    "GET",
    "/reports/definitions",
    "Definitionen och källan för varje nyckeltal, grupperingarna och avtalens dagpris per år (med antaganden)",
    response=DefinitionsOut,
    errors=(401, 403),
)
def report_definitions() -> Response:
    who = actor()
    if not platform().policy.can_read_figures(who):
        raise Forbidden("Nyckeltalen är för samordnare, processägare, chefer och administratörer")
    figures = platform().figures
    today = platform().clock.now().astimezone(STOCKHOLM).date()
    years = [today.year - 1, today.year]  # the years the default period can reach
    prices = [
        {"agreement": key, **vars(figures.daily_price(key, year))}
        for key in sorted(figures.catalog.agreements)
        for year in years
    ]
    return _json(
        DefinitionsOut().dump(
            {
                "figures": [vars(f) for f in FIGURES],
                "daily_prices": prices,
                "groupings": list(GROUPINGS),
                "small_group": SMALL_GROUP,
            }
        )
    )
