from __future__ import annotations

import pytest

from webui import create_app

USERS = {
    "agnes": (["process_owner"], []),
    "cora": (["coordinator"], ["SE2321000057-REGION"]),
    "journal": (["system"], ["SE2321000057-REGION"]),
    "vera": (["vardplanerare"], ["SE2321000057-ward1"]),
    "vilma": (["vardsamordnare"], ["SE2321000057-vc1"]),
    "otto": (["vardsamordnare"], ["SE2321000057-vc2"]),
    "admin": (["admin"], []),
}


@pytest.fixture
def app(platform):
    app = create_app({"TESTING": True}, platform=platform)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tokens(platform) -> dict[str, dict[str, str]]:
    """An Authorization header per demo user."""
    headers = {}
    with platform.db.unit_of_work() as session:
        for username, (roles, units) in USERS.items():
            platform.directory.create_user(session, username, username.title(), roles, units, at=platform.clock.now())
            token = platform.directory.create_token(session, username, at=platform.clock.now())
            headers[username] = {"Authorization": f"Bearer {token}"}
    return headers


def server_session(app, username: str) -> str:  # type: ignore[no-untyped-def]
    """A signed-in session for `username` as sign-in makes it (engine/commands/sessions.py): the token for the
    cookie."""
    from engine.commands.sessions import WebSessions

    platform = app.extensions["samflode"]
    return WebSessions(platform.db, platform.clock).start(username)


# The demo platform (the real processes and the Jönköping directory) for every test of the pages.
from tests.webui.staff import demo, demo_app  # noqa: E402,F401
