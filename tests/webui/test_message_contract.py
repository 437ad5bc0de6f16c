"""docs/messages.md cannot drift: every example in it is posted, in order, through the JSON API against the real
diagrams, and the answer must be the one the page shows."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from engine.config import PROJECT_ROOT
from tests.bpmn.conftest import ESTHER, Walker, process_platform, process_settings  # noqa: F401 (fixtures)
from tests.bpmn.test_in_utskrivning import PLANNING
from tests.conftest import instance_list
from webui import create_app

DOC = PROJECT_ROOT / "docs" / "messages.md"
EXAMPLE = re.compile(
    r"^### (?P<title>.+?)\n.*?Request:\n```json\n(?P<request>.*?)\n```\nResponse `(?P<status>\d{3})`:\n```json\n"
    r"(?P<response>.*?)\n```",
    re.S | re.M,
)
GUNNAR = {**ESTHER, "personnummer": "19450921-4823", "vardcentral_hsa_id": "SE2321000057-VCRASLATT"}


def examples() -> list[tuple[str, dict[str, Any], int, dict[str, Any]]]:
    found = [
        (m["title"], json.loads(m["request"]), int(m["status"]), json.loads(m["response"]))
        for m in EXAMPLE.finditer(DOC.read_text(encoding="utf-8"))
    ]
    assert len(found) >= 9
    return found


def esther(walk: Walker) -> int:
    found = instance_list(walk.p, process="in_utskrivning", limit=500)["items"]
    [instance] = [i["id"] for i in found if walk.data(i["id"]).get("vardtillfalle_id") == "VT-1001"]
    return instance


def before_planned_date(walk: Walker) -> None:
    """Only the admission steps: every party's planning is still open when the journal's messages come."""
    instance = esther(walk)
    for element in ("registrera_inskrivning", "bedoma_behov_efter_utskrivning", "fraga_samtycke"):
        walk.complete(instance, element, **PLANNING.get(element, {}))
    walk.complete(instance, "skicka_inskrivningsmeddelande")
    assert {"paborja_utskrivningsplanering", "kvittera_inskrivningsmeddelande_kommun"} <= set(walk.active(instance))


def before_withdrawal(walk: Walker) -> None:
    walk.complete(esther(walk), "skicka_meddelande_utskrivningsklar")


def before_discharge(walk: Walker) -> None:
    instance = esther(walk)
    walk.complete(instance, "meddela_atertagande")
    walk.complete(instance, "besluta_ny_utskrivningsklar")
    walk.complete(instance, "skicka_nytt_meddelande_utskrivningsklar")


def two_open_stays(walk: Walker) -> None:
    for stay in ("VT-2001", "VT-2002"):
        instance = walk.admit({**GUNNAR, "vardtillfalle_id": stay})
        walk.run_except(instance, {"besluta_utskrivningsklar"}, PLANNING)


PREPARE: dict[str, Callable[[Walker], None]] = {
    "planerat_utskrivningsdatum": before_planned_date,
    "aterkallad_utskrivningsklar": before_withdrawal,
    "utskriven": before_discharge,
    "Two instances match": two_open_stays,
}


def test_every_example_of_the_message_contract_gets_the_documented_answer(process_platform):  # noqa: F811
    with process_platform.db.unit_of_work() as session:
        process_platform.directory.create_user(
            session, "journal", "Journalsystemet", ["system"], [], at=process_platform.clock.now()
        )
        token = process_platform.directory.create_token(session, "journal", at=process_platform.clock.now())
    client = create_app({"TESTING": True}, platform=process_platform).test_client()
    walk = Walker(process_platform)
    names = set()
    for title, request, status, expected in examples():
        prepare = next((f for key, f in PREPARE.items() if title.startswith(key)), None)
        if prepare is not None:
            prepare(walk)
        response = client.post("/api/v1/messages", json=request, headers={"Authorization": f"Bearer {token}"})
        assert (response.status_code, response.get_json()) == (status, expected), title
        walk.runtime.forget_cached_flows()
        names.add(request["name"])
    assert names >= {
        "inskrivning",
        "planerat_utskrivningsdatum",
        "utskrivningsklar",
        "aterkallad_utskrivningsklar",
        "utskriven",
        "avliden",
    }
    view = walk.view(esther(walk))
    assert view["status"] == "completed" and view["data"]["avslutsorsak"] == "avliden"


def test_the_contract_documents_each_refusal_and_the_repeated_message():
    found = examples()
    assert {404, 409} <= {status for _, _, status, _ in found}
    assert [response.get("duplicate") for _, _, _, response in found].count(True) == 1
