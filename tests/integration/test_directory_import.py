"""The organisation model: units and users imported from CSV and JSON, all or nothing, bad rows named by line."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from engine.commands.directory import import_directory
from engine.config import PROJECT_ROOT
from engine.domain.catalog import Catalog
from engine.domain.errors import ValidationFailed
from engine.domain.organisation import known_roles
from engine.persistence.models import OrgUnit, User
from webui.demo import DEMO_DIRECTORY

UNITS_CSV = (
    "hsa_id,name,kind,kommun,parent_hsa_id\n"
    "SE2321000057-REGION,Region Jönköpings län,region,,\n"
    "SE2321000057-VCEKSJO,Vårdcentralen Eksjö,vårdcentral,Eksjö,SE2321000057-REGION\n"
    "SE2120000002-HSV,Hemsjukvården Eksjö,hemsjukvård,Eksjö,\n"
)


ROLES = known_roles(Catalog(PROJECT_ROOT / "processes"))


def run_import(platform, content: str, filename: str):
    with platform.db.unit_of_work() as session:
        return import_directory(session, content.encode("utf-8"), filename, platform.clock.now(), ROLES)


def count(platform, model) -> int:
    with platform.db.read() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_units_import_from_csv_with_parents(platform):
    report = run_import(platform, UNITS_CSV, "enheter.csv")
    assert report.units_created == 3
    with platform.db.read() as session:
        vc = session.scalar(select(OrgUnit).where(OrgUnit.hsa_id == "SE2321000057-VCEKSJO"))
        region = session.scalar(select(OrgUnit).where(OrgUnit.hsa_id == "SE2321000057-REGION"))
        assert vc is not None and region is not None
        assert vc.parent_id == region.id and vc.kind == "vårdcentral" and vc.kommun == "Eksjö"


def test_a_bad_csv_row_is_reported_with_its_line_and_nothing_is_imported(platform):
    bad = UNITS_CSV + "SE99,Trasig,avdelning,,\nSE2321000057-X,Okänd typ,sjukhus,,\n"
    with pytest.raises(ValidationFailed) as caught:
        run_import(platform, bad, "enheter.csv")
    problems = caught.value.details["problems"]
    assert any(p.startswith("rad 5:") and "HSA-id" in p for p in problems)
    assert any(p.startswith("rad 6:") and "sjukhus" in p for p in problems)
    assert count(platform, OrgUnit) == 0


def test_a_bad_json_entry_is_reported_with_its_line_and_nothing_is_imported(platform):
    doc = {
        "units": [{"hsa_id": "SE2321000057-VCEKSJO", "name": "VC Eksjö", "kind": "vårdcentral", "kommun": "Eksjö"}],
        "users": [
            {"username": "vilma", "name": "Vilma", "roles": ["vardsamordnare"], "units": ["SE2321000057-VCEKSJO"]},
            {"username": "otto", "name": "Otto", "roles": ["trollkarl"], "units": ["SE2321000057-OKAND"]},
        ],
    }
    text = json.dumps(doc, ensure_ascii=False, indent=2)
    with pytest.raises(ValidationFailed) as caught:
        run_import(platform, text, "katalog.json")
    problems = caught.value.details["problems"]
    otto_line = text.splitlines().index("    {", text.splitlines().index('  "users": [') + 3) + 1
    assert any(f"users[1] (rad {otto_line})" in p and "trollkarl" in p for p in problems), problems
    assert any("SE2321000057-OKAND" in p for p in problems)
    assert count(platform, OrgUnit) == 0 and count(platform, User) == 0


def test_a_kommun_unit_makes_its_users_answer_for_the_kommun_name(platform):
    run_import(platform, UNITS_CSV, "enheter.csv")
    users = "username,name,hsa_id,roles,units,email\nhanna,Hanna,,sjukskoterska_hemsjukvard,SE2120000002-HSV,\n"
    run_import(platform, users, "anvandare.csv")
    actor = platform.directory.actor("hanna")
    assert actor.units == frozenset({"SE2120000002-HSV", "Eksjö"})


def test_importing_the_same_file_again_updates_and_duplicates_nothing(platform):
    run_import(platform, UNITS_CSV, "enheter.csv")
    report = run_import(platform, UNITS_CSV.replace("Vårdcentralen Eksjö", "VC Eksjö"), "enheter.csv")
    assert (report.units_created, report.units_updated) == (0, 3)
    assert count(platform, OrgUnit) == 3


def test_the_demo_directory_covers_the_thirteen_kommuner_of_jonkoping_county(platform):
    report = run_import(platform, DEMO_DIRECTORY.read_text(encoding="utf-8"), DEMO_DIRECTORY.name)
    assert report.units_created > 50
    with platform.db.read() as session:
        kommuner = set(session.scalars(select(OrgUnit.kommun).where(OrgUnit.kind == "kommun")))
        wards = list(session.scalars(select(OrgUnit.name).where(OrgUnit.kind == "avdelning")))
    assert kommuner == {
        "Aneby", "Eksjö", "Gislaved", "Gnosjö", "Habo", "Jönköping", "Mullsjö",
        "Nässjö", "Sävsjö", "Tranås", "Vaggeryd", "Vetlanda", "Värnamo",
    }  # fmt: skip
    assert any("Höglandssjukhuset" in w for w in wards) and any("Ryhov" in w for w in wards)


def test_an_import_may_give_a_users_language_and_otherwise_keeps_it(platform):
    """Issue 15: the optional column `language` (sv, en) sets the language of the user's e-mail and pages; a file
    without it keeps what the user chose; an unknown language is a problem of its row and nothing is imported."""
    run_import(platform, UNITS_CSV, "enheter.csv")
    header = "username,name,hsa_id,roles,units,email,language\n"
    run_import(platform, header + "hanna,Hanna,,sjukskoterska_hemsjukvard,SE2120000002-HSV,,en\n", "a.csv")
    run_import(platform, header + "bosse,Bosse,,sjukskoterska_hemsjukvard,SE2120000002-HSV,,\n", "b.csv")

    def languages() -> dict[str, str]:
        with platform.db.read() as session:
            return {name: language for name, language in session.execute(select(User.username, User.language))}

    assert languages() == {"hanna": "en", "bosse": "sv"}
    plain = "username,name,hsa_id,roles,units,email\nhanna,Hanna H,,sjukskoterska_hemsjukvard,SE2120000002-HSV,\n"
    run_import(platform, plain, "c.csv")
    assert languages()["hanna"] == "en"
    with pytest.raises(ValidationFailed) as caught:
        run_import(platform, header + "otto,Otto,,sjukskoterska_hemsjukvard,SE2120000002-HSV,,de\n", "d.csv")
    assert any(p.startswith("rad 2:") and "'de'" in p for p in caught.value.details["problems"])
    assert "otto" not in languages()
