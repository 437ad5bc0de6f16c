"""/api/v1/simulations: simulate a process version before a pilot (start, list, progress and result).

The implementation team only; the work is a durable background job (engine/jobs/queue.py) that the scheduler process
runs (engine/features/simulations.py), on its own SQLite files."""

from __future__ import annotations

from typing import cast

from flask import Response

from engine.features.simulation import SimulationParams
from webui.api import actor, documented, load_body
from webui.api.routes import _json
from webui.api.simulation_schemas import SimulationIn, SimulationOut, SimulationsOut
from webui.shared import simulations
from webui.shared import start_simulation as start


@documented(
    "POST",
    "/simulations",
    "Starta en simulering: en syntetisk ström av fall (ankomster per år, andel med SIP, handläggningstider från "
    "historiken eller angivna, personal per roll och enhet) körs mot kandidatversionen och den nuvarande, på en egen "
    "databas, snabbare än realtid. Svarar 202; följ förloppet med GET /simulations/{id}",
    body=SimulationIn,
    response=SimulationOut,
    status=202,
    errors=(400, 401, 403, 404, 422),
)
def start_simulation() -> Response:
    who = actor()
    params = cast(SimulationParams, load_body(SimulationIn))
    run_id = start(params, who)
    return _json(SimulationOut().dump(simulations().get(run_id, who)), 202)


@documented("GET", "/simulations", "Simuleringar, senaste först", response=SimulationsOut)
def list_simulations() -> Response:
    who = actor()
    return _json(SimulationsOut().dump({"items": simulations().runs(who)}))


@documented(
    "GET",
    "/simulations/{id}",
    "En simulering: status, förlopp (procent) och, när den är klar, förutsagda nyckeltal och arbetsbelastning per "
    "roll för kandidatversionen bredvid den nuvarande",
    response=SimulationOut,
)
def get_simulation(id: int) -> Response:  # noqa: A002 - the path parameter's name
    who = actor()
    return _json(SimulationOut().dump(simulations().get(id, who)))
