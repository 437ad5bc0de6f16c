"""`samflode serve --workers N`: N web processes under gunicorn (Linux; waitress stays the embedded default).

The processes share nothing in memory that matters: sessions live in the database (engine/commands/sessions.py), the
CSRF
token in the signed session cookie, and every cache (workflows, parsed diagrams) is keyed by a row version or an
immutable id. What they must share is the key that signs the cookies: SAMFLODE_SECRET_KEY, or else one generated
here for all the workers of this server (set it yourself for several hosts and for restarts that keep sessions).
Prometheus metrics run in multiprocess mode (PROMETHEUS_MULTIPROC_DIR, made empty at each start). With
SAMFLODE_SCHEDULER=on each worker asks for a scheduler slot: only SAMFLODE_SCHEDULERS of them fire timers.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

from engine.config import Settings


def gunicorn_environment(settings: Settings, environ: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if environ is None else environ)
    if not env.get("SAMFLODE_SECRET_KEY"):
        env["SAMFLODE_SECRET_KEY"] = secrets.token_hex(32)  # one key for every worker of this server
    folder = env.get("PROMETHEUS_MULTIPROC_DIR") or str(Path(tempfile.gettempdir()) / f"samflode-metrics-{os.getpid()}")
    shutil.rmtree(folder, ignore_errors=True)
    Path(folder).mkdir(parents=True, exist_ok=True)
    env["PROMETHEUS_MULTIPROC_DIR"] = folder
    return env


def gunicorn_command(host: str, port: int, workers: int, threads: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread",
        "--config",
        "python:webui.gunicorn_conf",
        "webui.wsgi:app",
    ]


def serve_with_gunicorn(settings: Settings, host: str, port: int, workers: int, threads: int) -> int:
    if sys.platform == "win32":
        print("Fel: --workers kräver Linux (gunicorn); kör utan --workers på Windows", file=sys.stderr)
        return 2
    env = gunicorn_environment(settings)
    print(f"Samflöde lyssnar på http://{host}:{port}/ med {workers} processer (gunicorn)", flush=True)
    # A fresh interpreter: prometheus_client chooses its multiprocess storage when first imported.
    os.execve(sys.executable, gunicorn_command(host, port, workers, threads), env)
    return 0  # not reached
