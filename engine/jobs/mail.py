"""E-mail over SMTP when SAMFLODE_SMTP_HOST is set (docs/configuration.md). Plain smtplib: one connection per batch,
STARTTLS when asked for, a timeout so a dead mail server never hangs a request or the scheduler."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

from engine.config import Settings


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


class SmtpMailer:
    def __init__(
        self,
        host: str,
        port: int = 25,
        sender: str = "samflode@localhost",
        username: str = "",
        password: str = "",
        starttls: bool = False,
        timeout_seconds: float = 10.0,
    ):
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.starttls = username, password, starttls
        self.timeout_seconds = timeout_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpMailer | None:
        if not settings.smtp_host:
            return None
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            settings.smtp_username,
            settings.smtp_password,
            settings.smtp_starttls,
        )

    def send(self, mails: list[Mail]) -> None:
        if not mails:
            return
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password)
            for mail in mails:
                message = EmailMessage()
                message["From"] = self.sender
                message["To"] = mail.to
                message["Subject"] = mail.subject
                message.set_content(mail.body)
                smtp.send_message(message)
