"""marshmallow schemas of /api/v1/pilots (issue 8): load() makes the pilot commands, dump() formats the reads."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from engine.features.pilots import MIXED_RULES, STATUS_TEXT


class _In(Schema):
    class Meta:
        ordered = True


def _units() -> fields.List:
    """A list of units (HSA-ids, or kommun names), at most 500."""
    return fields.List(
        fields.String(validate=validate.Length(max=100)), load_default=list, validate=validate.Length(max=500)
    )


class PilotIn(_In):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default="", validate=validate.Length(max=4000))
    process_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    version = fields.Integer(required=True, validate=validate.Range(min=1))
    start_date = fields.Date(required=True, metadata={"description": "Första dag (svensk tid)"})
    end_date = fields.Date(required=True, metadata={"description": "Sista dag, inklusive (svensk tid)"})
    mixed_rule = fields.String(
        required=True,
        validate=validate.OneOf(list(MIXED_RULES)),
        metadata={"description": "; ".join(f"{k}: {v}" for k, v in MIXED_RULES.items())},
    )
    avdelningar = _units()
    vardcentraler = _units()
    kommuner = _units()
    person_questionnaire = fields.Boolean(load_default=False)
    staff_questionnaire = fields.Boolean(load_default=False)


class PilotStatusIn(_In):
    action = fields.String(
        required=True,
        validate=validate.OneOf(["start", "pause", "resume", "end"]),
        metadata={"description": "start (planerad -> pågår), pause, resume, end (avsluta utan spridning)"},
    )


class PilotExtendIn(_In):
    end_date = fields.Date(required=True)


class PilotPromoteIn(_In):
    scope = fields.String(
        required=True,
        validate=validate.OneOf(["whole", "units"]),
        metadata={"description": "whole: versionen blir standard för alla och piloten avslutas; units: de angivna"},
    )
    avdelningar = _units()
    vardcentraler = _units()
    kommuner = _units()


class PilotListIn(Schema):
    class Meta:
        ordered = True

    process_id = fields.String(load_default=None, validate=validate.Length(max=200))


class DefaultsIn(Schema):
    process_id = fields.String(required=True, validate=validate.Length(min=1, max=200))


class DefaultSetIn(_In):
    process_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    version = fields.Integer(
        required=True,
        allow_none=True,
        validate=validate.Range(min=1),
        metadata={"description": "Versionen; null: den nyaste körbara versionen som den är nu (skrivs ner)"},
    )
    comment = fields.String(
        load_default="", validate=validate.Length(max=2000), metadata={"description": "varför (granskas i loggen)"}
    )


class UnitOut(Schema):
    value = fields.String()
    name = fields.String()


class PilotUnitsOut(Schema):
    avdelningar = fields.List(fields.Nested(UnitOut))
    vardcentraler = fields.List(fields.Nested(UnitOut))
    kommuner = fields.List(fields.Nested(UnitOut))


class PromotedOut(Schema):
    unit_kind = fields.String(allow_none=True)
    unit = fields.String(allow_none=True)
    name = fields.String(allow_none=True)


class PilotCasesOut(Schema):
    total = fields.Integer()
    open = fields.Integer()
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer())


class PilotOut(Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    process_id = fields.String()
    definition_id = fields.Integer()
    version = fields.Integer()
    status = fields.String(validate=validate.OneOf(list(STATUS_TEXT)))
    status_text = fields.String()
    routing_now = fields.Boolean(metadata={"description": "Tar piloten emot nya fall just nu (pågår och i perioden)"})
    mixed_rule = fields.String(validate=validate.OneOf(list(MIXED_RULES)))
    mixed_rule_text = fields.String()
    start_date = fields.String()
    end_date = fields.String()
    days = fields.Integer()
    units = fields.Nested(PilotUnitsOut)
    person_questionnaire = fields.Boolean()
    staff_questionnaire = fields.Boolean()
    created_by = fields.String()
    created_at = fields.String()
    ended_at = fields.String(allow_none=True)
    promoted_at = fields.String(allow_none=True)
    promoted_to = fields.List(fields.Nested(PromotedOut))
    cases = fields.Nested(PilotCasesOut)


class PilotListOut(Schema):
    items = fields.List(fields.Nested(PilotOut))
    total = fields.Integer()


class DefaultVersionOut(Schema):
    unit_kind = fields.String(allow_none=True)
    unit = fields.String(allow_none=True)
    version = fields.Integer()
    pilot_id = fields.Integer(allow_none=True)
    set_by = fields.String()
    set_at = fields.String()


class DefaultsOut(Schema):
    process_id = fields.String()
    items = fields.List(fields.Nested(DefaultVersionOut))


class GroupOut(Schema):
    key = fields.String(metadata={"description": "pilot | elsewhere | before"})
    title = fields.String()
    description = fields.String()
    start = fields.String()
    end = fields.String()
    cases = fields.Integer(allow_none=True, metadata={"description": "null när gruppen har färre än fem fall"})
    suppressed = fields.Boolean(metadata={"description": "Färre än fem fall: varken antal eller nyckeltal visas"})
    too_small = fields.Boolean(metadata={"description": "Färre fall än tröskeln: inga slutsatser"})


class FigureValueOut(Schema):
    value = fields.Float(allow_none=True)
    numerator = fields.Float(allow_none=True)
    denominator = fields.Float(allow_none=True)
    margin = fields.Float(allow_none=True, metadata={"description": "95 %-felmarginal för andelar"})
    text = fields.String()


class ComparisonRowOut(Schema):
    id = fields.String()
    title = fields.String()
    unit = fields.String()
    definition = fields.String()
    values = fields.List(fields.Nested(FigureValueOut), metadata={"description": "En per grupp, i gruppernas ordning"})


class AnswerOut(Schema):
    answers = fields.Integer(allow_none=True)
    agree_fully = fields.Integer(allow_none=True)
    share = fields.Float(allow_none=True)
    text = fields.String()


class QuestionOut(Schema):
    id = fields.String()
    title = fields.String()
    party = fields.String()
    values = fields.List(fields.Nested(AnswerOut))


class QuestionnairesOut(Schema):
    person = fields.List(fields.Nested(QuestionOut))
    staff = fields.List(fields.Nested(QuestionOut))
    parties = fields.List(fields.String())


class WeeksOut(Schema):
    weeks = fields.List(fields.String())
    series = fields.Dict(
        keys=fields.String(),
        values=fields.Dict(keys=fields.String(), values=fields.List(fields.Float(allow_none=True))),
    )


class ComparisonOut(Schema):
    pilot_id = fields.Integer()
    threshold = fields.Integer()
    groups = fields.List(fields.Nested(GroupOut))
    rows = fields.List(fields.Nested(ComparisonRowOut))
    weeks = fields.Nested(WeeksOut)
    questionnaires = fields.Nested(QuestionnairesOut)


class QuestionnairesSentOut(Schema):
    started = fields.Integer()
    instance_ids = fields.List(fields.Integer())
