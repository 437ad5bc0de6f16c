"""`samflode simulate`: simulate a process version before a pilot from the command line
(engine/features/simulations.py).

The run is recorded like one started from /simuleringar (audited, listed there) and runs to its end in this process,
with its progress on standard error; the predicted figures are printed side by side (or as JSON with --json)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from engine.features.simulation import SimulationParams


def _pairs(text: str, kind: type) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for part in (text or "").split(","):
        if part.strip():
            key, _, value = part.partition("=")
            found[key.strip()] = kind(value.strip())
    return found


def cmd_simulate(args: argparse.Namespace) -> int:
    from webui.cli import CLI_ACTOR, _platform

    p = _platform()
    params = SimulationParams(
        process_id=args.process_id,
        candidate_version=args.candidate,
        baseline_version=args.baseline,
        cases_per_year=args.cases_per_year,
        days=args.days,
        sip_share=args.sip_share,
        seed=args.seed,
        capacity=_pairs(args.capacity, int),
        durations_hours=_pairs(args.duration, float),
        default_hours=args.default_hours,
    )
    folder = Path(args.out) if args.out else p.settings.simulation_dir
    # queued as a job and run here: if this command is killed, a scheduler takes the run over (docs/simulation.md)
    service = p.simulations_in(folder, args.workers)
    run_id = service.create(params, CLI_ACTOR)

    def show(done: int, total: int) -> None:
        print(f"\rSimulerar: {done}/{total} fall", end="", file=sys.stderr, flush=True)

    service.run_here(run_id, on_progress=show)
    print(file=sys.stderr)
    run = service.get(run_id, CLI_ACTOR)
    if run["status"] != "done":
        print(f"Simuleringen misslyckades: {run['error']}", file=sys.stderr)
        return 1
    result = run["result"]
    if args.json:
        print(json.dumps(run, ensure_ascii=False, indent=2, default=str))
        return 0
    versions = result["versions"]
    print(f"Simulering {run_id}: {result['arrivals']} fall per version ({params.days} dagar)")
    header = "".join(
        f"{'v' + str(v['version']) + (' (kandidat)' if v['role'] == 'candidate' else ''):>22}" for v in versions
    )
    print(f"{'nyckeltal':<32}{header}")
    for key in versions[0]["figures"]:
        cells = []
        for v in versions:
            value = v["figures"][key]["value"]
            cells.append(f"{'–' if value is None else round(value, 3):>22}")
        print(f"{key:<32}{''.join(cells)}")
    roles = sorted({role for v in versions for role in v["workload"]})
    for role in roles:
        cells = []
        for v in versions:
            stats = v["workload"].get(role, {})
            cells.append(f"{str(stats.get('tasks', 0)) + ' upp / ' + str(stats.get('busy_hours', 0)) + ' h':>22}")
        print(f"{'arbete ' + role:<32}{''.join(cells)}")
    for v in versions:
        print(
            f"v{v['version']}: {v['wall_seconds']} s, {v['steps']} steg, {v['completed']} avslutade, "
            f"{v['stuck']} fastnade, {v['incidents']} incidenter; {v['database']}"
        )
    return 0


def add_commands(sub: Any) -> None:
    sim = sub.add_parser("simulate", help="simulera en processversion mot en syntetisk ström av fall")
    sim.add_argument("process_id", nargs="?", default="in_utskrivning")
    sim.add_argument("--candidate", type=int, required=True, help="versionen som ska provas")
    sim.add_argument("--baseline", type=int, default=None, help="nuvarande version att jämföra med")
    sim.add_argument("--cases-per-year", type=float, default=12644.0)
    sim.add_argument("--days", type=int, default=365)
    sim.add_argument("--sip-share", type=float, default=0.37)
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--capacity", default="", help="roll=antal,... personal per roll och enhet")
    sim.add_argument("--duration", default="", help="element-id=timmar,... handläggningstider för hand")
    sim.add_argument("--default-hours", type=float, default=8.0)
    sim.add_argument("--workers", type=int, default=2, help="processer som simulerar kommungrupperna samtidigt")
    sim.add_argument("--out", default=None, help="mapp för simuleringsdatabaserna (annars SAMFLODE_SIMULATION_DIR)")
    sim.add_argument("--json", action="store_true", help="skriv resultatet som JSON")
    sim.set_defaults(func=cmd_simulate)
