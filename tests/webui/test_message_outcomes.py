# ruff: noqa: F811  (pytest fixtures imported from tests.webui.staff are parameters here)
"""Issue 15: what became of a case's messages (received: started the case or delivered to it; thrown: delivered,
started another case, or reached none) is shown on the case's monitoring page in words in the reader's language, not
as the engine's codes (`started`, `delivered`); the API's codes stay as they are."""

from __future__ import annotations

import re
from html import unescape

from flask_babel import force_locale

from engine.domain.actors import SYSTEM_ACTOR
from tests.webui.staff import advance_ward, demo, demo_app, page_token, sign_in, valid_data  # noqa: F401
from webui.labels import LABELS, outcome_text

ESTHER = 1
OUTCOME = re.compile(r"<li>[^<]*· [^<]*: [^<]* <small>\(([^)]*)\)</small></li>")


def _outcomes(client) -> list[str]:  # type: ignore[no-untyped-def]
    html = unescape(client.get(f"/overvakning/instans/{ESTHER}").get_data(as_text=True))
    section = html[html.index("<h2>Messages</h2>" if "<h2>Messages</h2>" in html else "<h2>Meddelanden</h2>") :]
    return OUTCOME.findall(section[: section.index("</section>")])


def test_the_case_page_shows_message_outcomes_in_words_in_both_languages(demo_app, demo):
    task = advance_ward(demo, ESTHER)  # the ward sends the inskrivningsmeddelande: a message thrown by the case
    demo.runtime.complete_task(task["id"], valid_data(demo.catalog.form(task["form"]) or {}), SYSTEM_ACTOR)
    cora = sign_in(demo_app, "cora")
    swedish = _outcomes(cora)
    assert len(swedish) >= 2 and "startade ett ärende" in swedish  # the inskrivning that started the case
    cora.post("/sprak", data={"csrf_token": page_token(cora), "lang": "en"})
    english = _outcomes(cora)
    assert len(english) == len(swedish) and "started a case" in english
    assert any(s.startswith("No instance waits for 'inskrivningsmeddelande'") for s in english)  # a refusal kept
    html = unescape(cora.get(f"/overvakning/instans/{ESTHER}").get_data(as_text=True))
    assert ">started<" not in html and "(started)" not in html and "(delivered)" not in html
    codes = set(LABELS["outcome"])
    for shown in swedish + english:
        assert shown not in codes, shown
    assert english != swedish


def test_every_outcome_has_words_in_both_languages(demo_app):
    with demo_app.test_request_context():
        swedish = {code: outcome_text(code) for code in LABELS["outcome"]}
        with force_locale("en"):
            english = {code: outcome_text(code) for code in LABELS["outcome"]}
            assert outcome_text("Instansen är redan avbruten") == "The instance is already cancelled"  # a refusal
    for code in LABELS["outcome"]:
        assert swedish[code] not in (code, english[code]) and english[code] != code, code
    assert swedish["delivered"] == "levererat till ett väntande ärende" and english["started"] == "started a case"
