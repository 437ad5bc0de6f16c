"""Simulation benchmark (issue 8): a simulated county-year of in_utskrivning on SQLite.

Deploys the real processes into a temporary SQLite database (the "real" one, only read by the simulator), then
simulates Jönköping's 12 644 inskrivningsmeddelanden of a year (the default) on one version with the default model
(docs/simulation.md), and prints: wall time, cases per second, engine steps per second, peak memory (resident, of
this process and of the worker processes), cases completed, and a few predicted figures. Goal: under 10 minutes on
the 2-core machine. `--step-cost` also times a short in-memory run with SpiffWorkflow's own tree walk
(engine.bpmn.workflow.FlowFactory) against the scanning workflows the simulator uses (engine/bpmn/simulated.py).

Usage: .venv/bin/python bench/simulate.py [--cases 12644] [--days 365] [--workers 2] [--seed 1] [--step-cost]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.config import PROJECT_ROOT, Settings  # noqa: E402
from engine.domain.actors import Actor  # noqa: E402
from engine.features.simulation import SimulationParams, run_simulation  # noqa: E402
from engine.platform import build  # noqa: E402

OWNER = Actor("bench", frozenset({"process_owner"}))


def rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # kilobytes on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=float, default=12644.0, help="admissions per year")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--step-cost", action="store_true")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="samflode-bench-sim-"))
    settings = Settings(
        database_url=f"sqlite:///{folder / 'real.db'}",
        clock="simulated",
        processes_dir=PROJECT_ROOT / "processes",
        scheduler=False,
    ).checked()
    platform = build(settings)
    for name in ("sip", "in_utskrivning", "mobilt_team"):
        platform.runtime.deploy((PROJECT_ROOT / "processes" / f"{name}.bpmn").read_bytes(), OWNER)
    params = SimulationParams(candidate_version=1, cases_per_year=args.cases, days=args.days, seed=args.seed)

    if args.step_cost:
        step_cost(platform, params, folder)

    print(f"Simulating {args.cases:.0f} cases/year for {args.days} days on in_utskrivning v1, {args.workers} worker(s)")
    tracemalloc.start()
    started = time.perf_counter()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 30 or done == total:
            last[0] = now
            print(f"  {done}/{total} cases after {now - started:.0f} s", flush=True)

    result = run_simulation(platform.db, platform.catalog, params, folder / "sim", progress, args.workers)
    wall = time.perf_counter() - started
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    version = result["versions"][0]
    figures = version["figures"]

    def value(key: str) -> str:
        found = figures.get(key, {}).get("value")
        return "-" if found is None else f"{found:.3f}"

    print(
        f"cases:               {version['cases']} ({version['completed']} completed, {version['stuck']} stuck, "
        f"{version['incidents']} incidents)"
    )
    print(f"wall time:           {wall:.1f} s ({wall / 60:.1f} min)")
    print(f"cases per second:    {version['cases'] / wall:.1f}")
    print(f"engine steps:        {version['steps']} ({version['steps'] / wall:.0f} per second)")
    print(
        f"peak memory:         parent {rss_mb(resource.RUSAGE_SELF):.0f} MB resident "
        f"(Python heap {traced_peak / 2**20:.0f} MB), largest worker {rss_mb(resource.RUSAGE_CHILDREN):.0f} MB"
    )
    print(f"simulation database: {Path(version['database']).stat().st_size / 2**20:.0f} MB")
    print(
        f"figures:             utskrivningsklara dagar {value('utskrivningsklara_dagar')}, "
        f"inskrivningsmeddelande 24 h {value('inskrivningsmeddelande_24h')}, "
        f"SIP-kallelse 3 d {value('sip_kallelse_3d')}, betalningsansvarsdagar {value('betalningsansvarsdagar')}"
    )
    print(f"goal (< 600 s):      {'met' if wall < 600 else 'NOT met'}")
    platform.close()


def step_cost(platform, params: SimulationParams, folder: Path) -> None:  # type: ignore[no-untyped-def]
    """A short run both ways in this process: SpiffWorkflow's classes vs the scanning ones."""
    from engine.features import simulation

    small = SimulationParams(candidate_version=1, cases_per_year=1200, days=30, seed=params.seed)
    timings = {}
    original = simulation.simulated_flow
    scanning, tree = "scanning workflows", "SpiffWorkflow's tree walk"
    for label, maker in ((scanning, original), (tree, lambda f, s, subs, data: f.new(s, subs, data))):
        simulation.simulated_flow = maker  # type: ignore[assignment]
        begun = time.perf_counter()
        result = run_simulation(platform.db, platform.catalog, small, folder / label.split()[0], None, 1)
        seconds = time.perf_counter() - begun
        steps = result["versions"][0]["steps"]
        timings[label] = seconds / steps * 1000
        print(f"  {label:<28} {steps} steps in {seconds:.1f} s: {timings[label]:.2f} ms per step")
    simulation.simulated_flow = original
    print(f"  tree walk / scanning: {timings[tree] / timings[scanning]:.2f}")


if __name__ == "__main__":
    main()
