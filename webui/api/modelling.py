"""Routes for process owners' modelling work: dry-run check, versions of a process, diff of two versions, and the
catalogue (forms, lanes and roles, agreed deadlines) that the modeller's properties panel offers.

Deploying (and documentation-only import) is POST /definitions in routes.py; these sit beside it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Response

from engine.bpmn.catalog_check import known_roles
from engine.domain.deadlines import anchor_title
from engine.domain.errors import BadRequest
from webui.api import actor, documented, load_query, localized, localized_diagnostics, platform
from webui.api.modelling_schemas import CatalogOut, CheckOut, DeployQueryIn, DiffIn, DiffOut, VersionsOut
from webui.api.routes import _json, _uploaded_bpmn


@documented(
    "POST",
    "/definitions/check",
    "Kontrollera ett BPMN-diagram utan att lagra något: samma fynd som vid driftsättning (parsning, sandlåda, "
    "okända roller och körfält, formulär, timrar, onåbara element, grindar utan standardflöde, uppgifter utanför "
    "körfält). Svarar 200 också när filen inte är BPMN; fynden säger varför",
    query=DeployQueryIn,
    response=CheckOut,
    errors=(400, 401, 403, 413, 415),
    content="application/xml",
)
def check_definition() -> Response:
    who = actor()
    xml, _filename, _options = _uploaded_bpmn()
    result = platform().runtime.check_diagram(xml, who)
    return _json(
        CheckOut().dump(
            {
                "process_id": result.process_id,
                "name": result.name,
                "executable": result.executable,
                "errors": result.errors,
                "warnings": result.warnings,
                "diagnostics": localized_diagnostics([d.as_dict() for d in result.diagnostics]),
            }
        )
    )


@documented(
    "GET",
    "/definitions/{process_id}/versions",
    "Versionerna av en process, nyast först: vem, när, kommentar och hur många instanser som kör på var och en",
    response=VersionsOut,
)
def definition_versions(process_id: str) -> Response:
    actor()
    items = platform().reports.versions(process_id)
    return _json(VersionsOut().dump({"process_id": process_id, "items": items}))


@documented(
    "GET",
    "/definitions/{process_id}/diff",
    "Skillnaden mellan två versioner (?from=1&to=2): tillagda, borttagna och ändrade element med vad som ändrats, "
    "och detsamma för sekvensflöden (källa, mål, namn, villkor, standardflöde)",
    query=DiffIn,
    response=DiffOut,
)
def definition_diff(process_id: str) -> Response:
    actor()
    q = load_query(DiffIn)
    if q["from_version"] == q["to_version"]:
        raise BadRequest("Välj två olika versioner (from och to)")
    diff = platform().reports.definition_diff(process_id, q["from_version"], q["to_version"])
    payload: dict[str, Any] = {
        "process_id": process_id,
        "from_version": q["from_version"],
        "to_version": q["to_version"],
        "added": diff.added,
        "removed": diff.removed,
        "changed": [asdict(c) for c in diff.changed],
        "flows_added": diff.flows_added,
        "flows_removed": diff.flows_removed,
        "flows_changed": [asdict(c) for c in diff.flows_changed],
    }
    return _json(DiffOut().dump(payload))


@documented(
    "GET",
    "/catalog",
    "Katalogen som diagrammen hänvisar till: formulären (egenskapen form), körfälten med sina roller (lanes.json), "
    "rollerna, och de avtalade tidsfristerna med kalenderslag per avtal (due och deadline('<nyckel>'))",
    response=CatalogOut,
)
def catalog_for_modelling() -> Response:
    actor()
    catalog = platform().catalog
    deadlines: dict[str, list[dict[str, Any]]] = {}
    for agreement in catalog.agreements.values():
        for key, rule in agreement.deadlines.items():
            deadlines.setdefault(key, []).append(
                {
                    "agreement": agreement.key,
                    "agreement_name": agreement.name,
                    "duration": rule.duration,
                    "calendar": rule.calendar,
                    "before": rule.before,
                    "anchor": rule.anchor,
                    "anchor_title": localized(anchor_title(rule.anchor)),
                }
            )
    payload = {
        "forms": [
            {"name": name, "title": schema.get("title"), "description": schema.get("description")}
            for name, schema in sorted(catalog.forms.items())
        ],
        "lanes": [
            {"name": name, "roles": list(rule.roles), "unit_from": rule.unit_from}
            for name, rule in catalog.lanes.items()
        ],
        "roles": [{"key": key, "name": catalog.role_names.get(key)} for key in sorted(known_roles(catalog))],
        "deadlines": [{"key": key, "rules": rules} for key, rules in sorted(deadlines.items())],
    }
    return _json(CatalogOut().dump(payload))
