"""gunicorn settings for `samflode serve --workers N` (webui/gunicorn_app.py)."""

from __future__ import annotations

from typing import Any

timeout = 60
# Longer than a load balancer's or a client's idle time, so that the server is not the one closing a kept-alive
# connection just as the client sends on it (seen as "connection reset" under load).
keepalive = 75
graceful_timeout = 20
accesslog = None  # requests are logged by the app (SAMFLODE_LOG_FORMAT=json) with their request id


def child_exit(server: Any, worker: Any) -> None:
    """A worker that ended leaves its live gauges behind in the multiprocess folder: mark them dead."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
