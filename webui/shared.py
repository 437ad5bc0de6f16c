"""What the API (webui/api) and the staff pages (webui/views) both need, so that neither imports the other: the app's
platform and its services, the signed-in user of a browser session, the CSRF names, starting a simulation.

Every service is built once by the platform (engine/platform.py); `overridable` lets a test hand an app its own
instance under the app's extension key (tests/webui/staff.py: accounts with a fast hasher)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

from flask import Flask, current_app, g, session

from engine.commands.accounts import Accounts
from engine.commands.sessions import WebSessions
from engine.domain.actors import Actor
from engine.features.pilot_comparison import PilotComparison, Questionnaires
from engine.features.pilots import Pilots
from engine.features.simulation import SimulationParams
from engine.features.simulations import JOB_KIND as SIMULATION_JOB
from engine.features.simulations import Simulations
from engine.platform import Platform

T = TypeVar("T")

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def platform() -> Platform:
    return cast(Platform, current_app.extensions["samflode"])


def platform_of(app: Flask) -> Platform:
    return cast(Platform, app.extensions["samflode"])


def overridable(key: str, default: Callable[[Platform], T]) -> T:
    """The app's own instance under `key` when one was handed in (tests), else the platform's."""
    found = current_app.extensions.get(key)
    return cast(T, found) if found is not None else default(platform())


def web_sessions() -> WebSessions:
    """Signed-in sessions, kept on the server (engine/commands/sessions.py), with the configured idle time and
    lifetime."""
    return platform().sessions


def accounts() -> Accounts:
    return overridable("samflode_accounts", lambda p: p.accounts)


def pilots() -> Pilots:
    return platform().pilots


def comparison() -> PilotComparison:
    return platform().pilot_comparison


def questionnaires() -> Questionnaires:
    return platform().questionnaires


def simulations() -> Simulations:
    """The platform's, built once; its runs are queued on the platform's job queue."""
    return overridable("samflode_simulations", lambda p: p.simulations)


def start_simulation(params: SimulationParams, who: Actor) -> int:
    service = simulations()
    run_id = service.create(params, who)
    if current_app.config.get("SAMFLODE_SIMULATE_INLINE"):  # tests: run to the end before answering
        if service.jobs is not None:
            service.jobs.run_available([SIMULATION_JOB])
        else:
            service.execute(run_id)
    return run_id  # otherwise queued: the scheduler is woken when the job commits


def current_actor_or_none() -> Actor | None:
    """The signed-in user of this request, if the session is alive on the server (not signed out, not idle longer
    than allowed, within its lifetime) and the user is active."""
    if "web_actor" in g:
        return cast(Actor | None, g.web_actor)
    found: Actor | None = None
    token = session.get("sid")
    if token:
        seen = session.get("seen")
        username, found = web_sessions().signed_in(
            str(token), float(seen) if isinstance(seen, int | float) else None, platform().directory
        )
        if username is not None and found is None:  # the user is gone or no longer active
            web_sessions().end(str(token), "user")
        if found is None:
            session.clear()
        else:
            session["seen"] = platform().clock.now().timestamp()
    elif "user" in session:
        session.clear()  # a cookie from before server-side sessions: sign in again
    g.web_actor = found
    return found
