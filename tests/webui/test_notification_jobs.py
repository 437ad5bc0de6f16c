# ruff: noqa: F811  (pytest fixtures imported from tests.webui.staff are parameters here)
"""Notices are delivered by the `notifications` background job (engine/jobs/notifications.py): the scheduler queues
it every minute and runs it; a user who has not signed in finds the notices waiting; an SMTP server that is away
makes the job retry and, after its attempts, end failed with the error."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from engine.domain.actors import SYSTEM_ACTOR
from engine.domain.clock import SimulatedClock
from engine.jobs.mail import SmtpMailer
from engine.jobs.notifications import JOB_KIND, Notifications, register
from engine.jobs.queue import JobQueue
from engine.persistence.models import Job, Notification, User
from engine.platform import NOTIFY_EVERY_SECONDS
from engine.reads.worklist import Worklist
from tests.webui.staff import advance_ward, demo, demo_app, sign_in, valid_data  # noqa: F401
from tests.webui.test_notifications import ESTHER, unread


def notices_of(p, username: str) -> list[str]:  # type: ignore[no-untyped-def]
    with p.db.read() as session:
        return list(session.scalars(select(Notification.kind).where(Notification.username == username)))


def test_the_platform_queues_the_notifications_job_every_minute(demo):
    assert [(job.kind, job.every_seconds) for job in demo.jobs.periodic] == [(JOB_KIND, NOTIFY_EVERY_SECONDS)]
    assert JOB_KIND in demo.jobs.kinds and "simulation" in demo.jobs.kinds


def test_the_job_writes_the_notices_a_user_finds_after_signing_in(demo, demo_app):
    task = advance_ward(demo, ESTHER)
    demo.runtime.complete_task(task["id"], valid_data(demo.catalog.form(task["form"]) or {}), SYSTEM_ACTOR)
    assert notices_of(demo, "vilma") == []
    assert demo.jobs.queue_periodic() == 1  # what the scheduler does every minute
    assert demo.jobs.run_available() == 1
    assert sorted(notices_of(demo, "vilma")) == ["new", "new", "new"]
    (job,) = demo.jobs.recent(kind=JOB_KIND)
    assert job["status"] == "done" and job["result_ref"].startswith("notiser:")
    assert unread(sign_in(demo_app, "vilma").get("/arbetslista").get_data(as_text=True)) == 3


def test_an_smtp_server_that_is_away_makes_the_job_retry_and_then_fail(demo):
    task = advance_ward(demo, ESTHER)
    demo.runtime.complete_task(task["id"], valid_data(demo.catalog.form(task["form"]) or {}), SYSTEM_ACTOR)
    with demo.db.unit_of_work() as session:
        session.execute(update(User).where(User.username == "vilma").values(email="vilma@example.se"))
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    lease_clock = SimulatedClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    queue = JobQueue(demo.db, demo.clock, lease_clock=lease_clock, worker="mailer")
    worklist = Worklist(demo.db, demo.catalog, demo.policy, demo.clock)
    register(
        Notifications(demo.db, worklist, demo.clock, SmtpMailer("127.0.0.1", port, "s@example.se")),
        queue,
        demo.directory,
    )
    job_id = queue.submit(JOB_KIND)
    for attempt in range(1, 4):
        assert queue.run_available() == 1
        with demo.db.read() as session:
            row = session.get(Job, job_id)
            assert row is not None and row.attempts == attempt and row.last_error
            status, run_after = row.status, row.run_after
        lease_clock.set(run_after + timedelta(seconds=1))
    assert status == "failed"
    assert notices_of(demo, "vilma")  # the notices were written; only the e-mail failed (and is retried next time)
    with demo.db.read() as session:
        assert session.scalar(select(Notification.emailed_at).where(Notification.username == "vilma")) is None
