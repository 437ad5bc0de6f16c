"""Issue 16: the platform builds every service once (engine/platform.py); the web app and the CLI use the platform's,
never build their own (a service built per request was a cost and a second source of configuration)."""

from __future__ import annotations

import ast
from pathlib import Path

from engine.config import PROJECT_ROOT, Settings
from engine.platform import build
from webui import create_app, shared

SERVICES = {
    "Accounts",
    "Drafts",
    "Migrations",
    "Monitoring",
    "Notifications",
    "PilotComparison",
    "Pilots",
    "PoisonedCases",
    "Questionnaires",
    "Runtime",
    "Simulations",
    "WebSessions",
    "Worklist",
}


def constructed(path: Path) -> set[str]:
    """The service classes a module calls by name (`Pilots(...)`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in SERVICES
    }


def test_no_web_module_or_command_builds_a_service() -> None:
    webui = PROJECT_ROOT / "webui"
    found = {str(p.relative_to(PROJECT_ROOT)): names for p in sorted(webui.rglob("*.py")) if (names := constructed(p))}
    assert found == {}


def test_the_app_uses_the_services_its_platform_built(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'w.db'}", scheduler=False).checked()
    platform = build(settings)
    try:
        app = create_app({"TESTING": True}, platform=platform)
        with app.test_request_context("/"):
            assert shared.platform() is platform
            assert shared.pilots() is platform.pilots
            assert shared.simulations() is platform.simulations
            assert shared.accounts() is platform.accounts
            assert shared.web_sessions() is platform.sessions
            assert platform.accounts.sessions is platform.sessions  # signing out ends the configured sessions
            assert platform.notifications.worklist is platform.worklist
        with app.test_request_context("/"):
            assert shared.pilots() is platform.pilots  # the same on the next request
        assert platform.simulations_in(settings.simulation_dir, settings.simulation_workers) is platform.simulations
        other = platform.simulations_in(tmp_path / "elsewhere", 2)
        assert other is not platform.simulations and (other.folder, other.workers) == (tmp_path / "elsewhere", 2)
    finally:
        platform.close()
