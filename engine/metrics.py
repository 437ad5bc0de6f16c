"""The engine's own Prometheus metrics (prometheus_client), observed where they happen; webui/ops.py serves them on
/metrics (a separate scheduler process with `samflode scheduler --metrics-port`)."""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import Counter, Histogram

# Multiprocess mode (gunicorn, webui/gunicorn_app.py): the samples go to files in this folder, which must exist
# before the first metric is made; every metric of the platform is made after this module is imported.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

TIMER_LATENESS = Histogram(
    "samflode_timer_lateness_seconds",
    "How long after its due time a timer fired (the scheduler's clock)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0),
)
TIMERS_FIRED = Counter("samflode_timers_fired_total", "Timers fired by this process's scheduler")
