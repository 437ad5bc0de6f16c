"""Configuration, from environment variables only: SAMFLODE_* and DATABASE_URL, each documented in
docs/configuration.md (the one place; keep it in step with `Settings.from_env`)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    pass


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(env.get(name, str(default)))
    except ValueError as exc:
        raise ConfigError(f"{name} ska vara ett heltal") from exc


@dataclass(frozen=True)
class Settings:
    database_url: str
    env: str = "development"
    clock: str = "real"
    simulated_start: str = "2026-01-12T08:00:00+01:00"
    processes_dir: Path = PROJECT_ROOT / "processes"
    secret_key: str = ""
    max_upload_bytes: int = 5 * 1024 * 1024
    scheduler: bool = True
    scheduler_safety_seconds: float = 30.0
    flow_cache_size: int = 2000
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "samflode@localhost"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    simulation_dir: Path = PROJECT_ROOT / "instance" / "simulations"
    simulation_workers: int = 2
    session_idle_minutes: float = 30.0
    session_hours: float = 8.0
    schedulers: int = 1  # scheduler slots: exactly this many scheduler processes fire timers (engine/jobs/heartbeat.py)
    log_format: str = "text"  # text | json (one JSON object a line, with the request id)
    migrate: bool = True  # off where the processes run as the application's role (docs/privacy.md)
    metrics_token: str = ""  # /metrics asks for it (Bearer); without one, /metrics answers only on this host

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        default_db = f"sqlite:///{PROJECT_ROOT / 'instance' / 'samflode.db'}"
        settings = cls(
            database_url=env.get("DATABASE_URL", default_db),
            env=env.get("SAMFLODE_ENV", "development"),
            clock=env.get("SAMFLODE_CLOCK", "real"),
            simulated_start=env.get("SAMFLODE_SIMULATED_START", cls.simulated_start),
            processes_dir=Path(env.get("SAMFLODE_PROCESSES_DIR", str(PROJECT_ROOT / "processes"))),
            secret_key=env.get("SAMFLODE_SECRET_KEY", ""),
            max_upload_bytes=int(env.get("SAMFLODE_MAX_UPLOAD_BYTES", str(5 * 1024 * 1024))),
            scheduler=env.get("SAMFLODE_SCHEDULER", "on").lower() not in ("off", "0", "false", "no"),
            scheduler_safety_seconds=float(env.get("SAMFLODE_SCHEDULER_SAFETY_SECONDS", "30")),
            flow_cache_size=int(env.get("SAMFLODE_FLOW_CACHE_SIZE", "2000")),
            smtp_host=env.get("SAMFLODE_SMTP_HOST", ""),
            smtp_port=int(env.get("SAMFLODE_SMTP_PORT", "25")),
            smtp_from=env.get("SAMFLODE_SMTP_FROM", cls.smtp_from),
            smtp_username=env.get("SAMFLODE_SMTP_USERNAME", ""),
            smtp_password=env.get("SAMFLODE_SMTP_PASSWORD", ""),
            smtp_starttls=env.get("SAMFLODE_SMTP_STARTTLS", "off").lower() in ("on", "1", "true", "yes"),
            simulation_dir=Path(env.get("SAMFLODE_SIMULATION_DIR", str(PROJECT_ROOT / "instance" / "simulations"))),
            simulation_workers=int(env.get("SAMFLODE_SIMULATION_WORKERS", "2")),
            session_idle_minutes=float(env.get("SAMFLODE_SESSION_IDLE_MINUTES", "30")),
            session_hours=float(env.get("SAMFLODE_SESSION_HOURS", "8")),
            schedulers=_int(env, "SAMFLODE_SCHEDULERS", 1),
            log_format=env.get("SAMFLODE_LOG_FORMAT", "text").lower(),
            migrate=env.get("SAMFLODE_MIGRATE", "on").lower() not in ("off", "0", "false", "no"),
            metrics_token=env.get("SAMFLODE_METRICS_TOKEN", ""),
        )
        return settings.checked()

    def checked(self) -> Settings:
        if self.clock not in ("real", "simulated"):
            raise ConfigError("SAMFLODE_CLOCK ska vara real eller simulated")
        if self.env == "production":
            if self.clock != "real":
                raise ConfigError("Simulerad klocka är inte tillåten i produktion")
            if not self.secret_key:
                raise ConfigError("SAMFLODE_SECRET_KEY måste sättas i produktion")
        try:
            start = datetime.fromisoformat(self.simulated_start)
        except ValueError as exc:
            raise ConfigError("SAMFLODE_SIMULATED_START ska vara en ISO 8601-tidpunkt med tidszon") from exc
        if start.tzinfo is None:
            raise ConfigError("SAMFLODE_SIMULATED_START måste ha tidszon")
        if not 0 < self.session_idle_minutes <= self.session_hours * 60:
            raise ConfigError("SAMFLODE_SESSION_IDLE_MINUTES ska vara större än 0 och högst SAMFLODE_SESSION_HOURS")
        if not 0 < self.session_hours <= 24:
            raise ConfigError("SAMFLODE_SESSION_HOURS ska vara större än 0 och högst 24")
        if self.schedulers < 1:
            raise ConfigError("SAMFLODE_SCHEDULERS ska vara minst 1")
        if self.log_format not in ("text", "json"):
            raise ConfigError("SAMFLODE_LOG_FORMAT ska vara text eller json")
        if not self.secret_key:
            return replace(self, secret_key=secrets.token_hex(32))
        return self
