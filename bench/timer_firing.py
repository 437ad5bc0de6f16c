"""CPU per timer firing, in process: the cost of `TimerLoop.run_due` firing one timer at a time, without a scheduler
process's start-up, APScheduler or sleeping. Prints figures; not a timed test.

    .venv/bin/python bench/timer_firing.py                       # this tree
    .venv/bin/python bench/timer_firing.py --compare /work/main  # this tree and another, alternately, in one run
    .venv/bin/python bench/timer_firing.py --profile 30          # cProfile of the firings, the 30 costliest functions

The workload is bench/timers.py's: instances each waiting on 10 parallel timeDate timers behind a parallel gateway
(`bench.timers.diagram(10)`), on SQLite, on a simulated clock. Timer j is due 10 ms after timer j - 1 and belongs to
instance j mod M, so the instances fire round-robin as in bench/timers.py. The clock steps to each due moment and
`run_due` fires the one timer due there; `time.process_time` is summed over those calls only. The workflows stay in
the flow cache (started in this process), as in a scheduler that read them ahead.

With --compare each tree is measured in its own child process (its own `engine` on sys.path), alternately, `--rounds`
times; the medians of each tree's ms CPU per firing are printed with their ratio.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def measure(root: Path, instances: int, profile: int) -> dict[str, float]:
    """ms CPU per firing of the tree at `root` (imported from there)."""
    # bench.timers imports tests.conftest, which makes every dump compare itself with a full serialization (a test
    # setting): a scheduler does not.
    os.environ["SAMFLODE_VERIFY_DUMPS"] = "0"
    sys.path.insert(0, str(root))
    from sqlalchemy import func, select

    from engine.config import Settings
    from engine.domain.actors import Actor
    from engine.domain.clock import SimulatedClock
    from engine.persistence.models import HistoryEntry, Timer
    from engine.platform import build

    sys.path.insert(0, str(HERE))
    from bench.timers import diagram

    owner = Actor("agnes", frozenset({"process_owner"}))
    system = Actor("journal", frozenset({"system"}))
    start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    clock = SimulatedClock(start)
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            database_url=f"sqlite:///{folder}/firing.db",
            clock="simulated",
            scheduler=False,
            processes_dir=root / "processes",
        )
        p = build(settings.checked(), clock=clock)
        p.runtime.deploy(diagram(10), owner)
        t0 = start + timedelta(seconds=10)
        step = timedelta(milliseconds=10)
        for n in range(instances):
            dates = {f"t{k}": (t0 + (k * instances + n) * step).isoformat() for k in range(10)}
            p.runtime.start_instance("bench_timers", f"bk-{n}", dates, system)
        loop = p.timers  # the platform's TimerLoop
        profiler = cProfile.Profile() if profile else None
        cpu = 0.0
        fired = 0
        for j in range(instances * 10):
            clock.set(t0 + j * step)
            if profiler is not None:
                profiler.enable()
            began = time.process_time()
            fired += loop.run_due().fired
            cpu += time.process_time() - began
            if profiler is not None:
                profiler.disable()
        with p.db.read() as session:
            left = session.scalar(select(func.count()).select_from(Timer)) or 0
            recorded = session.scalar(
                select(func.count()).select_from(HistoryEntry).where(HistoryEntry.kind == "timer_fired")
            )
        p.close()
    if profiler is not None:
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(profile)
        stats.sort_stats("tottime").print_stats(profile)
        profiler.dump_stats(str(Path(tempfile.gettempdir()) / "timer_firing.prof"))
    assert fired == instances * 10 == recorded and not left, (fired, recorded, left)
    return {"fired": fired, "ms_per_firing": cpu * 1000 / fired, "per_cpu_second": fired / cpu}


def compare(trees: list[Path], rounds: int, instances: int) -> None:
    results: dict[Path, list[float]] = {tree: [] for tree in trees}
    for r in range(rounds):
        for tree in trees if r % 2 == 0 else list(reversed(trees)):
            out = subprocess.run(
                [sys.executable, __file__, "--root", str(tree), "--instances", str(instances), "--json"],
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONHASHSEED": "0"},
            )
            figure = json.loads(out.stdout.strip().splitlines()[-1])["ms_per_firing"]
            results[tree].append(figure)
            print(f"  round {r + 1}: {tree}: {figure:.2f} ms CPU per firing", flush=True)
    medians = {tree: statistics.median(v) for tree, v in results.items()}
    for tree, median in medians.items():
        print(f"{tree}: median {median:.2f} ms CPU per firing, {1000 / median:.0f} firings per CPU-second")
    first, *others = trees
    for other in others:
        print(f"{other} / {first}: {medians[other] / medians[first]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=HERE, help="the tree whose engine is measured")
    parser.add_argument("--instances", type=int, default=100, help="instances, 10 timers each")
    parser.add_argument("--compare", type=Path, nargs="*", help="other trees, measured alternately with --root")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, help="print cProfile's N costliest functions (stderr)")
    parser.add_argument("--json", action="store_true", help="one JSON line (for --compare)")
    args = parser.parse_args()
    if args.compare:
        compare([args.root.resolve(), *(t.resolve() for t in args.compare)], args.rounds, args.instances)
        return
    began = time.perf_counter()
    r = measure(args.root.resolve(), args.instances, args.profile)
    if args.json:
        print(json.dumps(r))
        return
    print(
        f"{args.root}: {r['fired']} firings, {r['ms_per_firing']:.2f} ms CPU per firing "
        f"({r['per_cpu_second']:.0f} firings per CPU-second); {time.perf_counter() - began:.0f} s in all"
    )


if __name__ == "__main__":
    main()
