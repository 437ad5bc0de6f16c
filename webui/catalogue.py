"""The activity catalogue as a web page: /processer/<process_id>/aktiviteter.

Process documentation without patient data, rendered from the newest deployed version of the diagram
(engine/features/catalogue_doc.py), so it is readable without signing in.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template

from engine.domain.errors import NotFound
from engine.features.catalogue_doc import catalogue

pages = Blueprint("catalogue", __name__)


@pages.get("/processer/<process_id>/aktiviteter")
def activities(process_id: str) -> str:
    reports = current_app.extensions["samflode"].reports
    try:
        definition = reports.definition(process_id)
        xml = reports.definition_xml(process_id, definition["version"])
    except NotFound:
        abort(404)
    return render_template("catalogue.html", catalogue=catalogue(definition, xml), version=definition["version"])
