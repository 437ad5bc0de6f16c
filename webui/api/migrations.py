"""/api/v1/migrations: move running cases onto another version (preview, run, list, get, revert).

The implementation team only (Policy.can_manage_pilots); the service is engine/features/migration.py."""

from __future__ import annotations

from typing import Any

from flask import Response

from engine.features.migration import Migrations, Selection
from webui.api import actor, documented, load_body, load_query, platform
from webui.api.migration_schemas import (
    MigrationRunIn,
    MigrationSelectionIn,
    PreviewOut,
    RevertIn,
    RevertOut,
    RunOut,
    RunsOut,
    RunsQueryIn,
)
from webui.api.routes import _json


def _service() -> Migrations:
    return platform().migrations


def selection_of(body: dict[str, Any]) -> Selection:
    return Selection(
        process_id=body["process_id"],
        target_version=body["target_version"],
        instance_ids=tuple(body.get("instance_ids") or ()),
        from_version=body.get("from_version"),
        kommun=body.get("kommun") or None,
        vardcentral=body.get("vardcentral") or None,
        avdelning=body.get("avdelning") or None,
    )


@documented(
    "POST",
    "/migrations/preview",
    "Förhandsgranska en migrering: för varje vald pågående instans vilka aktiva uppgifter och väntande timrar som "
    "matchar på element-id, vilka som behöver en mappning (omdöpta eller ersatta element, med förslag) och vad som "
    "blockerar (borttaget element utan mappning, data som en ny grind eller ett nytt uttryck läser). Ändrar inget",
    body=MigrationSelectionIn,
    response=PreviewOut,
)
def preview_migration() -> Response:
    who = actor()
    body = load_body(MigrationSelectionIn)
    return _json(PreviewOut().dump(_service().preview(selection_of(body), body["mapping"], who)))


@documented(
    "POST",
    "/migrations",
    "Migrera de valda instanserna till målversionen med mappningen, var och en i sin egen transaktion; en som inte "
    "kan migreras redovisas med skäl och stoppar inte de andra. Timrar sätts om efter målversionens definitioner",
    body=MigrationRunIn,
    response=RunOut,
    status=201,
)
def run_migration() -> Response:
    who = actor()
    body = load_body(MigrationRunIn)
    service = _service()
    run_id = service.run(selection_of(body), body["mapping"], who, comment=body["comment"])
    return _json(RunOut().dump(service.get(run_id, who)), 201)


@documented(
    "GET", "/migrations", "Migreringskörningar, senaste först (?process_id=)", query=RunsQueryIn, response=RunsOut
)
def list_migrations() -> Response:
    who = actor()
    query = load_query(RunsQueryIn)
    return _json(RunsOut().dump({"items": _service().runs(who, query["process_id"])}))


@documented("GET", "/migrations/{id}", "En migreringskörning med resultatet per instans", response=RunOut)
def get_migration(id: int) -> Response:  # noqa: A002 - the path parameter's name
    who = actor()
    return _json(RunOut().dump(_service().get(id, who)))


@documented(
    "POST",
    "/migrations/{id}/revert",
    "Återställ migrerade instanser i en körning (alla, eller instance_ids) till läget före: tillstånd, version, "
    "uppgifter och timrar. Bara om inget har hänt i instansen sedan; annars redovisas den som vägrad",
    body=RevertIn,
    response=RevertOut,
)
def revert_migration(id: int) -> Response:  # noqa: A002
    who = actor()
    body = load_body(RevertIn)
    return _json(RevertOut().dump(_service().revert(id, who, body["instance_ids"] or None)))
