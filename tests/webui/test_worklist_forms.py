# ruff: noqa: F811  (pytest fixtures imported from tests.webui.staff are parameters here)
"""Issue 15: the worklist's forms (POST /arbetslista/sok, POST /arbetslista/filter) refuse a view or filter the list
cannot show as the page does (GET /arbetslista: a 400 that says why), instead of quietly going to the unfiltered list:
back to the list with the refusal as a flash message in the reader's language (the search typed kept), or for htmx
the refusal alone with its 400. Nothing is saved from a refused filter."""

from __future__ import annotations

from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.webui.staff import advance_ward, demo, demo_app, page_token, sign_in  # noqa: F401

BAD_FIELDS = (
    ({"kommun": "x" * 201}, "Filtret kommun är för långt", "The filter municipality is too long"),
    ({"vy": "xyz"}, "Okänd vy 'xyz'", "Unknown view 'xyz'"),
)
FORMS = (("/arbetslista/sok", {"sok": "Esther"}), ("/arbetslista/filter", {"name": "Mitt filter"}))


def _query(answer: Any) -> dict[str, list[str]]:
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return parse_qs(urlsplit(answer.headers["Location"]).query)


def _saved(demo, username: str) -> int:  # type: ignore[no-untyped-def]
    return len(demo.worklist.saved_filters(username))


def test_a_bad_filter_in_a_worklist_form_is_refused_with_a_message_not_dropped(demo_app, demo):
    advance_ward(demo, 1)
    vera = sign_in(demo_app, "vera")
    token = page_token(vera)
    for path, fields in FORMS:
        for bad, swedish, _english in BAD_FIELDS:
            answer = vera.post(path, data={"csrf_token": token, "vy": "forsenade", **fields, **bad})
            query = _query(answer)
            assert set(query) == {"vy"}, (path, bad)  # the list the form came from cannot be shown: no filters
            assert query["vy"] == ["forsenade" if "vy" not in bad else "enhet"], (path, bad)
            page = unescape(vera.get(answer.headers["Location"]).get_data(as_text=True))
            assert f'<p class="flash error" role="alert">{swedish}</p>' in page, (path, bad)
            if path == "/arbetslista/sok":  # the search typed is kept (in the session, never in the address)
                assert 'name="sok" type="search" maxlength="100" value="Esther"' in page
    assert _saved(demo, "vera") == 0
    vera.post("/sprak", data={"csrf_token": token, "lang": "en"})
    for path, fields in FORMS:
        for bad, _swedish, english in BAD_FIELDS:
            answer = vera.post(path, data={"csrf_token": token, **fields, **bad})
            page = unescape(vera.get(answer.headers["Location"]).get_data(as_text=True))
            assert f'<p class="flash error" role="alert">{english}</p>' in page, (path, bad)
    assert _saved(demo, "vera") == 0


def test_htmx_gets_the_refusal_alone_with_a_400(demo_app, demo):
    vera = sign_in(demo_app, "vera")
    token = page_token(vera)
    for path, fields in FORMS:
        for bad, swedish, _english in BAD_FIELDS:
            answer = vera.post(path, data={"csrf_token": token, **fields, **bad}, headers={"HX-Request": "true"})
            assert answer.status_code == 400 and "Location" not in answer.headers, (path, bad)
            assert unescape(answer.get_data(as_text=True)) == swedish, (path, bad)
    assert _saved(demo, "vera") == 0


def test_the_forms_keep_a_filter_the_list_can_show(demo_app, demo):
    vera = sign_in(demo_app, "vera")
    token = page_token(vera)
    kept = {"vy": ["idag"], "kommun": ["Eksjö"]}
    assert (
        _query(vera.post("/arbetslista/sok", data={"csrf_token": token, "sok": "a", "vy": "idag", "kommun": "Eksjö"}))
        == kept
    )
    # A filter without a name is not saved, and the list stays the one the user was looking at.
    unnamed = vera.post("/arbetslista/filter", data={"csrf_token": token, "vy": "idag", "kommun": "Eksjö"})
    assert _query(unnamed) == kept and _saved(demo, "vera") == 0
    assert "Ge filtret ett namn" in vera.get(unnamed.headers["Location"]).get_data(as_text=True)
    named = vera.post(
        "/arbetslista/filter", data={"csrf_token": token, "name": "Eksjö", "vy": "idag", "kommun": "Eksjö"}
    )
    assert _query(named) == kept and _saved(demo, "vera") == 1
