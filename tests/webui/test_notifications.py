# ruff: noqa: F811  (pytest fixtures imported from tests.webui.staff are parameters here)
"""In-app notifications of new and overdue tasks (a count in the header, a list page) and e-mail through SMTP,
tested against a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import Message

import pytest
from sqlalchemy import select, update

from engine.domain.actors import SYSTEM_ACTOR
from engine.jobs.mail import SmtpMailer
from engine.jobs.notifications import Notifications
from engine.persistence.models import Notification, User
from engine.reads.worklist import Worklist
from tests.webui.staff import advance_ward, demo, demo_app, page_token, sign_in, valid_data  # noqa: F401

ESTHER = 1


@pytest.fixture
def esther_notified(demo):
    task = advance_ward(demo, ESTHER)
    demo.runtime.complete_task(task["id"], valid_data(demo.catalog.form(task["form"]) or {}), SYSTEM_ACTOR)
    return demo


def unread(html: str) -> int:
    found = re.search(r'aria-label="(\d+) olästa"', html)
    return int(found.group(1)) if found else 0


def test_new_tasks_of_my_unit_become_notices_counted_in_the_header(esther_notified, demo_app):
    vilma = sign_in(demo_app, "vilma")
    # the acknowledgement, the check of an existing plan and the person's own task (the VC helps with it): the
    # receivers' duties and the planning start together after the inskrivningsmeddelande
    assert unread(vilma.get("/arbetslista").get_data(as_text=True)) == 3
    html = vilma.get("/notiser").get_data(as_text=True)
    assert "Ny uppgift: Kvittera inskrivningsmeddelande (vårdcentral) (ärende #1), frist 2026-01-13 08:00" in html
    assert "Esther" not in html.split("<main")[1]  # notices name the task and the case, never the person


def test_a_user_of_another_vardcentral_gets_no_notice(esther_notified, demo_app):
    otto = sign_in(demo_app, "otto")
    assert unread(otto.get("/arbetslista").get_data(as_text=True)) == 0
    assert "Inga notiser" in otto.get("/notiser").get_data(as_text=True)


def test_an_overdue_task_gives_one_notice_however_often_the_page_is_read(esther_notified, demo_app):
    vilma = sign_in(demo_app, "vilma")
    vilma.get("/arbetslista")
    esther_notified.clock.advance(timedelta(hours=25))
    vilma = sign_in(demo_app, "vilma")  # the next day: yesterday's session ended when she left it idle
    for _ in range(3):
        vilma.get("/arbetslista")
    with esther_notified.db.read() as session:
        kinds = session.scalars(select(Notification.kind).where(Notification.username == "vilma")).all()
    assert sorted(kinds) == ["new", "new", "new", "overdue"]
    assert "Försenad uppgift: Kvittera inskrivningsmeddelande" in vilma.get("/notiser").get_data(as_text=True)


def test_marking_notices_read_lowers_the_count(esther_notified, demo_app):
    vilma = sign_in(demo_app, "vilma")
    vilma.get("/arbetslista")
    with esther_notified.db.read() as session:
        first = session.scalars(select(Notification.id).where(Notification.username == "vilma")).first()
    token = page_token(vilma, "/notiser")
    assert vilma.post(f"/notiser/{first}/last", data={}).status_code == 400  # no CSRF token
    assert vilma.post(f"/notiser/{first}/last", data={"csrf_token": token}).status_code == 303
    assert unread(vilma.get("/arbetslista").get_data(as_text=True)) == 2
    vilma.post("/notiser/lasta", data={"csrf_token": token})
    assert unread(vilma.get("/arbetslista").get_data(as_text=True)) == 0


def test_someone_elses_notice_cannot_be_marked_read(esther_notified, demo_app):
    sign_in(demo_app, "vilma").get("/arbetslista")
    with esther_notified.db.read() as session:
        first = session.scalars(select(Notification.id).where(Notification.username == "vilma")).first()
    viktor = sign_in(demo_app, "viktor")
    viktor.post(f"/notiser/{first}/last", data={"csrf_token": page_token(viktor, "/notiser")})
    assert unread(sign_in(demo_app, "vilma").get("/arbetslista").get_data(as_text=True)) == 3


@pytest.fixture
def smtp_sink() -> Iterator[tuple[int, list[Message]]]:
    """A real SMTP server on a free loopback port that keeps what it receives."""
    from aiosmtpd.controller import Controller

    received: list[Message] = []

    class Sink:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
            received.append(message_from_bytes(envelope.content, policy=policy.default))
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()


def test_notices_are_emailed_once_through_smtp_without_patient_data(esther_notified, smtp_sink):
    port, received = smtp_sink
    p = esther_notified
    with p.db.unit_of_work() as session:
        session.execute(update(User).values(email=None))
        session.execute(update(User).where(User.username == "vilma").values(email="vilma@example.se"))
    worklist = Worklist(p.db, p.catalog, p.policy, p.clock)
    notifications = Notifications(p.db, worklist, p.clock, SmtpMailer("127.0.0.1", port, "samflode@example.se"))
    assert notifications.refresh_all(p.directory) > 0
    assert notifications.send_email() == 1  # only vilma has an address
    assert notifications.send_email() == 0  # sent once
    (mail,) = received
    assert mail["To"] == "vilma@example.se" and mail["From"] == "samflode@example.se"
    assert mail["Subject"] == "Samflöde: 3 nya notiser"
    body = mail.get_content()  # type: ignore[attr-defined]
    assert "Kvittera inskrivningsmeddelande (vårdcentral)" in body
    assert "Esther" not in body and "19380312" not in body


def test_without_smtp_settings_nothing_is_emailed(esther_notified):
    p = esther_notified
    notifications = Notifications(p.db, Worklist(p.db, p.catalog, p.policy, p.clock), p.clock, None)
    notifications.refresh_all(p.directory)
    assert notifications.send_email() == 0


def test_overseeing_roles_get_no_task_notices(esther_notified, demo_app):
    esther_notified.clock.advance(timedelta(days=3))
    assert unread(sign_in(demo_app, "cora").get("/arbetslista").get_data(as_text=True)) == 0


def test_the_notify_command_syncs_everyone_and_sends_the_emails(esther_notified, smtp_sink, monkeypatch, capsys):
    """`samflode notify` with SAMFLODE_SMTP_* set (run from cron in production, on the real clock): vilma, who has an
    address in the demo directory, gets one e-mail about Esther's acknowledgement (new or, by now, overdue)."""
    from webui.cli import main

    port, received = smtp_sink
    monkeypatch.setenv("DATABASE_URL", esther_notified.settings.database_url)
    monkeypatch.setenv("SAMFLODE_SCHEDULER", "off")
    monkeypatch.setenv("SAMFLODE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SAMFLODE_SMTP_PORT", str(port))
    monkeypatch.setenv("SAMFLODE_SMTP_FROM", "samflode@example.se")
    assert main(["notify"]) == 0
    assert '"skickade_epost": ' in capsys.readouterr().out
    vilma = [m for m in received if m["To"] == "vilma@example.invalid"]
    assert len(vilma) == 1 and "Kvittera inskrivningsmeddelande (vårdcentral)" in vilma[0].get_content()  # type: ignore[attr-defined]


def test_the_email_is_in_the_language_each_user_chose(esther_notified, smtp_sink):
    """Issue 15: a user who chose English gets the e-mail in English, with no Swedish of the user interface left (the
    task's name comes from the diagram and stays as written); a user who never chose gets it in Swedish as before."""
    from tests.webui.test_language import _data_phrases, _swedish_in, _ui_swedish
    from webui.labels import mail_translator

    port, received = smtp_sink
    p = esther_notified
    with p.db.unit_of_work() as session:
        session.execute(update(User).values(email=None))
        session.execute(update(User).where(User.username == "vilma").values(email="vilma@example.se", language="en"))
        session.execute(update(User).where(User.username == "viktor").values(email="viktor@example.se"))
    worklist = Worklist(p.db, p.catalog, p.policy, p.clock)
    mailer = SmtpMailer("127.0.0.1", port, "samflode@example.se")
    notifications = Notifications(p.db, worklist, p.clock, mailer, translate=mail_translator())
    assert notifications.refresh_all(p.directory) > 0
    p.clock.advance(timedelta(days=3))  # overdue notices too: "Försenad uppgift ..., frist ..."
    assert notifications.refresh_all(p.directory) > 0
    assert notifications.send_email() == 2
    mails = {m["To"]: m for m in received}
    english = mails["vilma@example.se"]
    body = english.get_content().replace("\r\n", "\n")  # type: ignore[attr-defined]
    assert re.fullmatch(r"Samflöde: \d+ new notices?", english["Subject"]), english["Subject"]
    assert body.startswith("Hello!\n\nYou have new notices in Samflöde:\n\n- ")
    assert "New task: Kvittera inskrivningsmeddelande (vårdcentral) (case #1)" in body
    assert re.search(r"Overdue task: .+ \(case #1\), due \d{4}-\d{2}-\d{2} \d{2}:\d{2}", body), body
    assert "Sign in to Samflöde to see the tasks. This message contains no personal data." in body
    assert _swedish_in(english["Subject"] + "\n" + body, _data_phrases(p), _ui_swedish()) == []
    swedish = mails["viktor@example.se"]
    text = swedish.get_content().replace("\r\n", "\n")  # type: ignore[attr-defined]
    assert re.fullmatch(r"Samflöde: (1 ny notis|\d+ nya notiser)", swedish["Subject"]), swedish["Subject"]
    assert text.startswith("Hej!\n\nDu har nya notiser i Samflöde:\n\n- ")
    assert "(ärende #1)" in text and "case #" not in text
    assert text.endswith("\n\nLogga in i Samflöde för att se uppgifterna. Det här meddelandet innehåller inga"
                         " personuppgifter.\n")  # fmt: skip


def test_the_language_chosen_on_the_pages_is_kept_for_the_next_sign_in_and_the_email(
    esther_notified, demo_app, smtp_sink, monkeypatch, capsys
):
    """The switch in the header stores a signed-in user's choice (users.language): the next sign-in opens in it, and
    `samflode notify` (the scheduler's job, from the CLI without a web app) writes the user's e-mail in it."""
    from webui.cli import main

    port, received = smtp_sink
    vilma = sign_in(demo_app, "vilma")
    vilma.post("/sprak", data={"csrf_token": page_token(vilma), "lang": "en"})
    with esther_notified.db.read() as session:
        assert session.scalar(select(User.language).where(User.username == "vilma")) == "en"
        assert session.scalar(select(User.language).where(User.username == "vera")) == "sv"  # never chose
    again = sign_in(demo_app, "vilma").get("/arbetslista").get_data(as_text=True)
    assert '<html lang="en">' in again
    assert '<html lang="sv">' in sign_in(demo_app, "vera").get("/arbetslista").get_data(as_text=True)
    monkeypatch.setenv("DATABASE_URL", esther_notified.settings.database_url)
    monkeypatch.setenv("SAMFLODE_SCHEDULER", "off")
    monkeypatch.setenv("SAMFLODE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SAMFLODE_SMTP_PORT", str(port))
    monkeypatch.setenv("SAMFLODE_SMTP_FROM", "samflode@example.se")
    assert main(["notify"]) == 0
    capsys.readouterr()
    (mail,) = [m for m in received if m["To"] == "vilma@example.invalid"]
    body = mail.get_content()  # type: ignore[attr-defined]
    assert "new notice" in mail["Subject"] and body.startswith("Hello!") and "(case #1)" in body
    # Back to Swedish on the pages: the next e-mail is Swedish again.
    vilma.post("/sprak", data={"csrf_token": page_token(vilma), "lang": "sv"})
    with esther_notified.db.read() as session:
        assert session.scalar(select(User.language).where(User.username == "vilma")) == "sv"


def test_a_language_chosen_on_the_sign_in_page_is_the_users_choice(esther_notified, demo_app):
    from tests.webui.staff import DEMO_PASSWORD, csrf_of

    client = demo_app.test_client()
    token = csrf_of(client.get("/logga-in").get_data(as_text=True))
    client.post("/sprak", data={"csrf_token": token, "lang": "en"})
    signed = client.post("/logga-in", data={"csrf_token": token, "username": "hanna", "password": DEMO_PASSWORD})
    assert signed.status_code == 303
    assert '<html lang="en">' in client.get("/arbetslista").get_data(as_text=True)
    with esther_notified.db.read() as session:
        assert session.scalar(select(User.language).where(User.username == "hanna")) == "en"
