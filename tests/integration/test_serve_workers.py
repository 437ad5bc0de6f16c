"""`samflode serve --workers 2` (gunicorn): the web processes share nothing in memory that matters. A session signed
in on one is valid on the other (database sessions, one signing key made for all workers), the CSRF token of a
page from one is accepted by the other, /metrics sums the workers' samples (multiprocess mode), and with the
scheduler on in every worker exactly the configured number (1) holds a scheduler slot."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.jobs.heartbeat import slot_states
from engine.persistence.db import Database
from engine.persistence.models import SchedulerSlot
from webui.demo import DEMO_PASSWORD

SAMFLODE = Path(sys.executable).with_name("samflode")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="gunicorn runs on Linux")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_gunicorn_workers_share_sessions_csrf_metrics_and_one_scheduler(tmp_path):
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    env = {k: v for k, v in os.environ.items() if k not in ("SAMFLODE_SECRET_KEY", "PROMETHEUS_MULTIPROC_DIR")}
    env.update(
        DATABASE_URL=url,
        SAMFLODE_CLOCK="real",
        SAMFLODE_SCHEDULER="on",
        SAMFLODE_SCHEDULERS="1",
    )
    demo = subprocess.run([str(SAMFLODE), "demo"], env=env, capture_output=True, text=True)
    assert demo.returncode == 0, demo.stderr[-2000:]
    port = free_port()
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")  # made (empty) by serve --workers
    server = subprocess.Popen(
        [str(SAMFLODE), "serve", "--port", str(port), "--workers", "2", "--threads", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/livez", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("gunicorn did not start")
                time.sleep(0.3)

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(base + "/logga-in").read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode({"username": "vera", "password": DEMO_PASSWORD, "csrf_token": token})
        opener.open(base + "/logga-in", data=form.encode()).read()
        # Many fresh connections: the kernel hands them to either worker; every one knows the session.
        for _ in range(20):
            answer = opener.open(base + "/arbetslista")
            assert answer.status == 200 and answer.url.endswith("/arbetslista"), answer.url
        page = opener.open(base + "/arbetslista").read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        for _ in range(6):  # a form posted with the token of a page another worker may have rendered
            posted = opener.open(
                base + "/sprak", data=urllib.parse.urlencode({"lang": "sv", "csrf_token": token}).encode()
            )
            assert posted.status == 200

        metrics = urllib.request.urlopen(base + "/metrics").read().decode()
        counted = [
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("samflode_http_request_duration_seconds_count") and 'route="/arbetslista"' in line
        ]
        assert sum(counted) >= 21  # both workers' requests, summed

        db = Database(url)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(s.alive for s in slot_states(db)):
            time.sleep(0.3)
        time.sleep(1)
        with db.read() as session:
            holders = [h for h in session.scalars(select(SchedulerSlot.holder)) if h]
        db.dispose()
        assert len(holders) == 1  # two workers asked; one holds the only slot, the other stands by
        ready = urllib.request.urlopen(base + "/readyz")
        assert ready.status == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_a_scheduler_stopped_by_systemd_gives_its_slot_back(tmp_path):
    """SIGTERM (systemctl stop) ends `samflode scheduler` cleanly: exit 0 and its slot free for the next at once."""
    url = f"sqlite:///{tmp_path / 'sched.db'}"
    env = {**os.environ, "DATABASE_URL": url, "SAMFLODE_CLOCK": "real", "SAMFLODE_SCHEDULERS": "1"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    subprocess.run([str(SAMFLODE), "init-db"], env=env, check=True, capture_output=True)
    log = tmp_path / "scheduler.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(SAMFLODE), "scheduler"], env=env, stdout=out, stderr=out)
    db = Database(url)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(s.alive for s in slot_states(db)):
            time.sleep(0.2)
        assert any(s.alive for s in slot_states(db)), "the scheduler never took its slot"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, log.read_text()[-2000:]
        with db.read() as session:
            assert [h for h in session.scalars(select(SchedulerSlot.holder))] == [None]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        db.dispose()
