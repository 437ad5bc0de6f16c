"""Wires the core together from Settings: database, clock, catalog, runtime, reports, directory."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.catalog import Catalog
from engine.config import Settings
from engine.directory import Directory, Policy
from engine.domain.clock import Clock, SimulatedClock, SystemClock
from engine.persistence.db import Database
from engine.reports import Reports
from engine.runtime import Runtime


@dataclass
class Platform:
    settings: Settings
    db: Database
    clock: Clock
    catalog: Catalog
    policy: Policy
    runtime: Runtime
    reports: Reports
    directory: Directory

    def close(self) -> None:
        self.db.dispose()


def build(settings: Settings, clock: Clock | None = None, migrate: bool = True) -> Platform:
    db = Database(settings.database_url)
    if migrate:
        db.upgrade()
    if clock is None:
        clock = (
            SimulatedClock(datetime.fromisoformat(settings.simulated_start))
            if settings.clock == "simulated"
            else SystemClock()
        )
    catalog = Catalog(settings.processes_dir if settings.processes_dir.is_dir() else None)
    policy = Policy(catalog)
    return Platform(
        settings,
        db,
        clock,
        catalog,
        policy,
        Runtime(db, clock, catalog, policy),
        Reports(db, catalog, policy),
        Directory(db),
    )
