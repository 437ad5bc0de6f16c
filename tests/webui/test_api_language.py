"""Issue 15: a bearer-token caller that sends no Accept-Language gets the API's texts for people in its user's
language (users.language, chosen on the pages); Accept-Language, when sent, still decides (docs/api.md, Language)."""

from __future__ import annotations

from typing import Any


def _titles(response: Any) -> dict[str, str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    rules = [r for d in response.get_json()["deadlines"] for r in d["rules"]]
    return {r["anchor"]: r["anchor_title"] for r in rules}


def test_a_token_caller_without_accept_language_gets_its_users_language(platform, client, tokens):
    swedish = _titles(client.get("/api/v1/catalog", headers=tokens["agnes"]))
    assert swedish["inskrivning"] == "inskrivningen"
    assert platform.accounts.set_language("agnes", "en")
    english = _titles(client.get("/api/v1/catalog", headers=tokens["agnes"]))
    assert english["inskrivning"] == "the admission" and english["uppgift"] == "the task being created"
    assert _titles(client.get("/api/v1/catalog", headers=tokens["vera"])) == swedish  # another user, not chosen
    # The errors of an authenticated caller follow it too: the English beside the Swedish message.
    missing = client.get("/api/v1/instances/987654", headers=tokens["agnes"]).get_json()
    assert missing["error"] == "not_found" and missing["message"] == "Instansen 987654 finns inte"
    assert missing["text"] == "The instance 987654 does not exist"
    assert "text" not in client.get("/api/v1/instances/987654", headers=tokens["vera"]).get_json()


def test_accept_language_still_decides_when_sent(platform, client, tokens):
    assert platform.accounts.set_language("agnes", "en")
    english = _titles(client.get("/api/v1/catalog", headers=tokens["agnes"]))
    sv = _titles(client.get("/api/v1/catalog", headers={**tokens["agnes"], "Accept-Language": "sv"}))
    assert sv["inskrivning"] == "inskrivningen"
    assert _titles(client.get("/api/v1/catalog", headers={**tokens["vera"], "Accept-Language": "en"})) == english
    # A header that names neither language is Swedish, as before (docs/api.md).
    other = _titles(client.get("/api/v1/catalog", headers={**tokens["agnes"], "Accept-Language": "de"}))
    assert other == sv


def test_a_refused_token_is_answered_in_the_default_language(platform, client, tokens):
    assert platform.accounts.set_language("agnes", "en")
    refused = client.get("/api/v1/catalog", headers={"Authorization": "Bearer sfl_nope"})
    assert refused.status_code == 401 and "text" not in refused.get_json()
