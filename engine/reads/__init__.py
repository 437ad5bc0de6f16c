"""The read layer (convention 13): one module per aggregate (cases, tasks, persons, the access log), each returning
typed results (frozen dataclasses carrying codes, not labels), each applying the one access policy
(`engine.reads.policy`) as SQL and writing the access-log row itself, so that no entry point can forget either.

`Reads` is built once per platform (engine/platform.py); the API and the pages call it and never query the tables
themselves. Aggregated figures without persons are in engine/reads/figures.py (small groups suppressed there).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.domain.actors import Policy
from engine.domain.catalog import Catalog
from engine.domain.clock import Clock
from engine.persistence.db import Database
from engine.reads.access_log import AccessLogReads
from engine.reads.cases import CaseReads
from engine.reads.log import AccessLogWriter
from engine.reads.persons import PersonReads
from engine.reads.policy import AccessPolicy
from engine.reads.tasks import TaskReads


@dataclass(frozen=True)
class Reads:
    access: AccessPolicy
    log: AccessLogWriter
    cases: CaseReads
    tasks: TaskReads
    persons: PersonReads
    access_log: AccessLogReads

    @classmethod
    def build(cls, db: Database, catalog: Catalog, policy: Policy, clock: Clock, access: AccessPolicy) -> Reads:
        log = AccessLogWriter(db, clock)
        return cls(
            access,
            log,
            CaseReads(db, policy, access, clock, log),
            TaskReads(db, catalog, access, clock, log),
            PersonReads(db, access, clock, log),
            AccessLogReads(db, clock, policy, log),
        )
