"""Demo data: the three processes, a small directory of Jönköping county staff, API tokens and a few cases.

Idempotent: running it again keeps what is there (same diagram = same version, users are not duplicated) and only
starts demo cases when none exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import func, select

from engine.commands.directory import import_directory
from engine.domain.actors import SYSTEM_ACTOR, Actor
from engine.domain.errors import Conflict, DeployRejected, SamflodeError
from engine.domain.organisation import known_roles
from engine.domain.personnummer import luhn_digit
from engine.persistence.models import ProcessInstance, User
from engine.platform import Platform

PROCESS_ORDER = ("sip", "in_utskrivning", "mobilt_team")

REGION = "SE2321000057-REGION"  # Region Jönköpings län: the vårdgivare its coordinator and journal system oversee
UNITS = {
    "hs_medger": "SE2321000057-HSMEDGER",
    "ryhov_med": "SE2321000057-RYMED1",
    "vc_eksjo": "SE2321000057-VCEKSJO",
    "vc_raslatt": "SE2321000057-VCRASLATT",
}

USERS: list[dict[str, Any]] = [
    {"username": "admin", "name": "Administratör", "roles": ["admin"], "units": []},
    {"username": "agnes", "name": "Agnes Processägare", "roles": ["process_owner"], "units": []},
    {
        "username": "cora",
        "name": "Cora Samverkanskoordinator",
        "roles": ["coordinator"],
        "units": ["SE2321000057-REGION"],
    },
    {
        "username": "journal",
        "name": "Journalsystemet (integration)",
        "roles": ["system"],
        "units": ["SE2321000057-REGION"],
    },
    {
        "username": "vera",
        "name": "Vera Vårdplanerare",
        "roles": ["vardplanerare", "lakare_slutenvard"],
        "units": [UNITS["hs_medger"]],
    },
    {"username": "rut", "name": "Rut Vårdplanerare", "roles": ["vardplanerare"], "units": [UNITS["ryhov_med"]]},
    {
        "username": "vilma",
        "name": "Vilma Vårdsamordnare",
        "roles": ["vardsamordnare", "lakare_primarvard"],
        "units": [UNITS["vc_eksjo"]],
    },
    {"username": "otto", "name": "Otto Vårdsamordnare", "roles": ["vardsamordnare"], "units": [UNITS["vc_raslatt"]]},
    {
        "username": "hanna",
        "name": "Hanna Sjuksköterska",
        "roles": ["sjukskoterska_hemsjukvard", "rehab"],
        "units": ["Eksjö"],
    },
    {"username": "bosse", "name": "Bosse Biståndshandläggare", "roles": ["bistandshandlaggare"], "units": ["Eksjö"]},
]


def personnummer(birth: str, serial: str) -> str:
    """A valid (Luhn) personnummer for demo use, from YYYYMMDD and three serial digits."""
    return f"{birth}-{serial}{luhn_digit(birth[2:] + serial)}"


CASES = [
    {
        "personnummer": personnummer("19380312", "238"),
        "namn": "Esther Andersson",
        "vardtillfalle_id": "VT-1001",
        "avdelning_hsa_id": UNITS["hs_medger"],
        "kommun": "Eksjö",
        "vardcentral_hsa_id": UNITS["vc_eksjo"],
    },
    {
        "personnummer": personnummer("19450921", "482"),
        "namn": "Gunnar Ek",
        "vardtillfalle_id": "VT-1002",
        "avdelning_hsa_id": UNITS["ryhov_med"],
        "kommun": "Jönköping",
        "vardcentral_hsa_id": UNITS["vc_raslatt"],
    },
    {
        "personnummer": personnummer("19310507", "164"),
        "namn": "Maj Lind",
        "vardtillfalle_id": "VT-1003",
        "avdelning_hsa_id": UNITS["hs_medger"],
        "kommun": "Eksjö",
        "vardcentral_hsa_id": UNITS["vc_eksjo"],
    },
]


DEMO_KEYS = [f"{c['personnummer']}/{c['vardtillfalle_id']}" for c in CASES]  # as a message-started case is keyed


def deploy_processes(p: Platform, actor: Actor = SYSTEM_ACTOR) -> list[dict[str, Any]]:
    folder = p.settings.processes_dir
    files = sorted(folder.glob("*.bpmn"), key=lambda f: (PROCESS_ORDER + (f.stem,)).index(f.stem))
    out = []
    for path in files:
        try:
            result = p.runtime.deploy(path.read_bytes(), actor, comment="demo", filename=path.name)
            out.append({"process_id": result.process_id, "version": result.version, "created": result.created})
        except DeployRejected as exc:
            out.append({"file": path.name, "error": [d.as_dict() for d in exc.diagnostics]})
    return out


DEMO_DIRECTORY = Path(__file__).parent / "demo_directory.json"
DEMO_PASSWORD = "samflode-demo"  # every demo user's password, only for demo installations


def load_directory(p: Platform, hasher: PasswordHasher | None = None) -> dict[str, Any]:
    """The Jönköping county demo directory (units and users) through the same importer as any directory file; demo
    users without a password get DEMO_PASSWORD."""
    hasher = hasher or PasswordHasher()
    now = p.clock.now()
    with p.db.unit_of_work() as session:
        report = import_directory(
            session, DEMO_DIRECTORY.read_bytes(), DEMO_DIRECTORY.name, now, known_roles(p.catalog)
        )
        demo_hash = None
        for user in session.scalars(select(User).where(User.password_hash.is_(None))):
            demo_hash = demo_hash or hasher.hash(DEMO_PASSWORD)
            user.password_hash = demo_hash
    return report.as_dict()


def load_demo(p: Platform, hasher: PasswordHasher | None = None, start_cases: bool = True) -> dict[str, Any]:
    summary: dict[str, Any] = {"processes": deploy_processes(p), "users": [], "tokens": {}, "cases": []}
    now = p.clock.now()
    summary["directory"] = load_directory(p, hasher)
    summary["password"] = DEMO_PASSWORD
    with p.db.unit_of_work() as session:
        for spec in USERS:
            if session.scalar(select(User).where(User.username == spec["username"])) is None:
                p.directory.create_user(session, spec["username"], spec["name"], spec["roles"], spec["units"], at=now)
                summary["users"].append(spec["username"])
        for username in ("admin", "journal", "cora", "vera", "vilma"):
            summary["tokens"][username] = p.directory.create_token(session, username, at=now, label="demo")
    with p.db.read() as session:  # the demo's own cases (a demo with history has others before them)
        has_cases = (
            session.scalar(
                select(func.count()).select_from(ProcessInstance).where(ProcessInstance.business_key.in_(DEMO_KEYS))
            )
            or 0
        ) > 0
    if start_cases and not has_cases and any(d.get("process_id") == "in_utskrivning" for d in summary["processes"]):
        for index, case in enumerate(CASES):
            data = {**case, "inskrivningstid": now.isoformat(), "avtal": "jonkoping"}
            try:
                result = p.runtime.send_message(
                    "inskrivning",
                    f"demo-inskrivning-{index}",
                    {"personnummer": case["personnummer"], "vardtillfalle_id": case["vardtillfalle_id"]},
                    data,
                    SYSTEM_ACTOR,
                )
                summary["cases"].append({"instance_id": result.instance_id, "namn": case["namn"]})
            except (Conflict, SamflodeError) as exc:
                summary["cases"].append({"namn": case["namn"], "error": exc.message})
    return summary
