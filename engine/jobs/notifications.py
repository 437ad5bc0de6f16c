"""In-app notifications of new and overdue tasks, and e-mail about them when SMTP is configured.

Filled from a read over the task index (no change to the service layer): for a user, every open task the user may
act on (the one access policy's `actionable_tasks`: the user's roles in the user's units, or handed to the user) that
appeared within NEW_WINDOW gets a `new` notice, and every such task past its due time an `overdue` notice; the unique
(username, task, kind) key makes each notice appear once however often it is synced. Overseeing roles get notices
only of tasks they act on themselves, not of every task they oversee: a missed deadline already reaches them as an
escalation task (the diagrams' deadline timers). A task claimed by someone else does not notify.

Page renders only read them (the header shows the unread count): the sync and the e-mail are a background job
(`notifications`, engine/jobs/queue.py) that the scheduler queues every minute and runs; signing in syncs the user's
own notices at once (a POST), so the first page's count is true; `samflode notify` queues the job and runs it at once
(for installations without a scheduler process, from cron).

Notices and e-mails name the task and the case number, never the person: e-mail is not a channel for patient data,
and the person is one click away on the task page, where need to know and the access log apply.

A notice is stored as its Swedish text, made from a template (engine/domain/text.py `Text`), and the pages show it in
the reader's language. An e-mail is written in the language its user chose (users.language, set by the pages'
language switch): its fixed texts are `Text`s and the stored notices are read back into their templates, both through
the `translate` the composition root hands in (webui/labels.py `mail_translator`, the pages' own catalogue: the engine
knows no Flask and no catalogue). Without one every e-mail is Swedish, as written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.commands.directory import Directory
from engine.domain.actors import Actor
from engine.domain.clock import STOCKHOLM, Clock
from engine.domain.text import DEFAULT_LANGUAGE, Text
from engine.jobs.mail import Mail, SmtpMailer
from engine.jobs.queue import ClaimedJob, JobQueue
from engine.persistence.db import Database
from engine.persistence.models import Notification, TaskIndex, User
from engine.reads.worklist import Worklist

log = logging.getLogger(__name__)
NEW_WINDOW = timedelta(hours=24)
KINDS = {"new": "Ny uppgift", "overdue": "Försenad uppgift"}
PAGE = 100
JOB_KIND = "notifications"

# A text of the engine (a `Text`, or a Swedish text stored from one) in a language ('sv', 'en').
Translate = Callable[[str, str], str]


def as_written(text: str, language: str) -> str:
    """No catalogue at hand: the Swedish as the engine wrote it."""
    return str(text)


class Notifications:
    def __init__(
        self,
        db: Database,
        worklist: Worklist,
        clock: Clock,
        mailer: SmtpMailer | None = None,
        translate: Translate | None = None,
    ):
        self.db = db
        self.worklist = worklist
        self.clock = clock
        self.mailer = mailer
        self.translate: Translate = translate or as_written

    def _text(self, kind: str, task: TaskIndex) -> str:
        if task.due_at is None:
            text = Text(
                "%(kind)s: %(task)s (ärende #%(id)s)", kind=Text(KINDS[kind]), task=task.name, id=task.instance_id
            )
        else:
            text = Text(
                "%(kind)s: %(task)s (ärende #%(id)s), frist %(at)s",
                kind=Text(KINDS[kind]),
                task=task.name,
                id=task.instance_id,
                at=f"{task.due_at.astimezone(STOCKHOLM):%Y-%m-%d %H:%M}",
            )
        return str(text)[:400]

    def _sync(self, session: Session, actor: Actor, now: datetime) -> int:
        scope = self.worklist.access.actionable_tasks(actor)
        free = or_(TaskIndex.claimed_by.is_(None), TaskIndex.claimed_by == actor.username)
        wanted: dict[str, Any] = {
            "new": TaskIndex.created_at >= now - NEW_WINDOW,
            "overdue": and_(TaskIndex.due_at.is_not(None), TaskIndex.due_at < now),
        }
        added = 0
        for kind, clause in wanted.items():
            known = exists().where(
                Notification.username == actor.username, Notification.task_id == TaskIndex.id, Notification.kind == kind
            )
            tasks = session.scalars(
                select(TaskIndex).where(scope, free, clause, ~known).order_by(TaskIndex.created_at).limit(PAGE)
            ).all()
            for task in tasks:
                session.add(
                    Notification(
                        username=actor.username,
                        kind=kind,
                        task_id=task.id,
                        instance_id=task.instance_id,
                        text=self._text(kind, task),
                        created_at=now,
                    )
                )
                added += 1
        return added

    def refresh(self, actor: Actor) -> int:
        """New notices for one user; a concurrent request that wrote the same notices first is not an error."""
        try:
            with self.db.unit_of_work() as session:
                return self._sync(session, actor, self.clock.now())
        except IntegrityError:
            return 0

    def refresh_all(self, directory: Directory) -> int:
        with self.db.read() as session:
            usernames = list(session.scalars(select(User.username).where(User.active.is_(True)).order_by(User.id)))
        return sum(self.refresh(directory.actor(u)) for u in usernames)

    def unread_count(self, username: str) -> int:
        with self.db.read() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(Notification)
                    .where(Notification.username == username, Notification.read_at.is_(None))
                )
                or 0
            )

    def recent(self, username: str, limit: int = PAGE) -> list[dict[str, Any]]:
        with self.db.read() as session:
            rows = session.execute(
                select(Notification, TaskIndex.id.is_not(None).label("open"))
                .outerjoin(TaskIndex, TaskIndex.id == Notification.task_id)
                .where(Notification.username == username)
                .order_by(Notification.read_at.is_not(None), Notification.created_at.desc(), Notification.id.desc())
                .limit(limit)
            ).all()
            return [
                {
                    "id": n.id,
                    "kind": n.kind,
                    "kind_text": KINDS.get(n.kind, n.kind),
                    "text": n.text,
                    "task_id": n.task_id,
                    "created_at": n.created_at,
                    "read": n.read_at is not None,
                    "open": bool(is_open),
                }
                for n, is_open in rows
            ]

    def mark_read(self, username: str, notification_id: int | None = None) -> None:
        query = update(Notification).where(Notification.username == username, Notification.read_at.is_(None))
        if notification_id is not None:
            query = query.where(Notification.id == notification_id)
        with self.db.unit_of_work() as session:
            session.execute(query.values(read_at=self.clock.now()))

    def send_email(self) -> int:
        """One e-mail per user with an address, listing the notices not yet e-mailed (nor read); marks them e-mailed
        only after the SMTP server accepted the batch, so a failure is retried next time."""
        if self.mailer is None:
            return 0
        with self.db.read() as session:
            rows = session.execute(
                select(Notification.id, Notification.text, User.username, User.email, User.language)
                .join(User, User.username == Notification.username)
                .where(
                    Notification.emailed_at.is_(None),
                    Notification.read_at.is_(None),
                    User.email.is_not(None),
                    User.email != "",
                    User.active.is_(True),
                )
                .order_by(User.username, Notification.id)
            ).all()
        by_user: dict[str, tuple[str, str, list[tuple[int, str]]]] = {}
        for row in rows:
            language = row.language or DEFAULT_LANGUAGE
            by_user.setdefault(row.username, (row.email, language, []))[2].append((row.id, row.text))
        mails = [
            self._mail(email, language, [text for _, text in items]) for email, language, items in by_user.values()
        ]
        if not mails:
            return 0
        self.mailer.send(mails)
        ids = [i for _, _, items in by_user.values() for i, _ in items]
        with self.db.unit_of_work() as session:
            session.execute(update(Notification).where(Notification.id.in_(ids)).values(emailed_at=self.clock.now()))
        return len(mails)

    def _mail(self, to: str, language: str, notices: list[str]) -> Mail:
        """One user's e-mail in the user's language: the fixed texts and each stored notice translated."""

        def say(text: str) -> str:
            return text if language == DEFAULT_LANGUAGE else self.translate(text, language)

        count = len(notices)
        subject = (
            Text("Samflöde: %(count)s ny notis", count=count)
            if count == 1
            else Text("Samflöde: %(count)s nya notiser", count=count)
        )
        lines = [
            say(Text("Hej!")),
            "",
            say(Text("Du har nya notiser i Samflöde:")),
            "",
            *(f"- {say(text)}" for text in notices),
            "",
            say(
                Text("Logga in i Samflöde för att se uppgifterna. Det här meddelandet innehåller inga personuppgifter.")
            ),
            "",
        ]
        return Mail(to=to, subject=say(subject), body="\n".join(lines))


class NotificationJob:
    """The `notifications` job: sync every user's notices, then send the e-mails. Idempotent (the unique key of a
    notice; e-mails marked sent only after the server took them), so a retry after a failure is safe."""

    def __init__(self, notifications: Notifications, directory: Directory):
        self.notifications = notifications
        self.directory = directory
        self.last: dict[str, int] = {}

    def __call__(self, job: ClaimedJob) -> str:
        added = self.notifications.refresh_all(self.directory)
        mailed = self.notifications.send_email()
        self.last = {"nya_notiser": added, "skickade_epost": mailed}
        return f"notiser:{added} epost:{mailed}"


def register(notifications: Notifications, jobs: JobQueue, directory: Directory) -> NotificationJob:
    handler = NotificationJob(notifications, directory)
    jobs.register(JOB_KIND, handler)
    return handler
