"""Routes of the modeller's drafts: each process owner's unsaved diagrams, autosaved by the modeller page.

A draft is its owner's alone: another user's draft id answers 404, exactly as one that does not exist."""

from __future__ import annotations

from flask import Response

from engine.commands.drafts import Drafts
from webui.api import actor, documented, load_body, platform
from webui.api.modelling_schemas import DraftIn, DraftOut, DraftsOut
from webui.api.routes import _json


def drafts() -> Drafts:
    return platform().modeller_drafts


@documented("GET", "/drafts", "Mina utkast i modelleraren, senast sparat först (utan XML)", response=DraftsOut)
def list_drafts() -> Response:
    return _json(DraftsOut().dump({"items": drafts().list(actor())}))


@documented(
    "POST",
    "/drafts",
    "Spara ett utkast: skapar mitt utkast av processen, eller skriver över det om jag redan har ett (201 / 200)",
    body=DraftIn,
    response=DraftOut,
    status=201,
    errors=(400, 401, 403, 413, 415, 422),
)
def create_draft() -> Response:
    who = actor()
    body = load_body(DraftIn)
    draft, created = drafts().save(who, body["process_id"], body["xml"], body["base_version"], body["name"])
    return _json(DraftOut().dump(draft), 201 if created else 200)


@documented("GET", "/drafts/{id}", "Ett av mina utkast, med XML", response=DraftOut)
def get_draft(id: int) -> Response:  # noqa: A002 - the path parameter's name
    return _json(DraftOut().dump(drafts().get(actor(), id)))


@documented(
    "PUT",
    "/drafts/{id}",
    "Autospara i ett av mina utkast (XML, process-id, namn, version det utgår från)",
    body=DraftIn,
    response=DraftOut,
    errors=(400, 401, 403, 404, 409, 413, 415, 422),
)
def update_draft(id: int) -> Response:  # noqa: A002
    who = actor()
    body = load_body(DraftIn)
    draft = drafts().update(who, id, body["process_id"], body["xml"], body["base_version"], body["name"])
    return _json(DraftOut().dump(draft))


@documented("DELETE", "/drafts/{id}", "Kasta ett av mina utkast", status=204)
def delete_draft(id: int) -> Response:  # noqa: A002
    drafts().discard(actor(), id)
    return Response(status=204)
