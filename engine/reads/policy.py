"""Need to know, once (convention 13; Patientdatalagen 4 kap.): for an actor, the SQL clause of the cases they may
see and of the tasks they may act on. Every read of patient data (engine/reads) and every command on a task
(engine/commands/runtime.py) asks this module, and nothing else decides.

The rules, in one place (docs/privacy.md explains them):

* **Care staff** (a lane role: vårdplanerare, vårdsamordnare, sjuksköterska i hemsjukvården, ...) act on the tasks of
  their role in their own units (a task without a unit is nobody's: it fails closed), and on a task handed over to
  them by name. They see a case while their unit takes part in it (the case's ward, vårdcentral or kommun for a lane
  of their role), while a task of the case is theirs to act on, or when they did a step in it; a case that ended
  more than `RECENT` ago drops out of their sight.
* **Overseeing roles** (`OVERSEEING_ROLES`: coordinator, auditor, the journal system's account, admin) see the cases
  of their own organisation, of any age: the vårdgivare named by the organisation number in their units' HSA-ids
  (a region's coordinator sees the cases on its wards and vårdcentraler) and the kommuner among their units. They act
  on no task by role; coordinators repair (reassign, cancel, retry) within the same sight.
* **Everyone else** (process owner, implementation team, manager) sees no case: they read aggregated figures.
* **No unit means nothing unit-scoped**: a user with roles but no units sees no case and no task.
* The platform itself (`Actor.internal`: the scheduler, the demo loader) is not a person and is not limited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, func, literal, or_, select, true
from sqlalchemy.orm import Session, aliased

from engine.domain.actors import Actor
from engine.domain.catalog import Catalog
from engine.domain.personnummer import is_hsa_id
from engine.domain.routing import UNIT_COLUMN_OF_KEY
from engine.persistence.models import HistoryEntry, ProcessInstance, TaskIndex

RECENT = timedelta(days=30)
OVERSEEING_ROLES = frozenset({"admin", "coordinator", "auditor", "system"})
REPAIRING_ROLES = frozenset({"admin", "coordinator"})


def organisation_number(hsa_id: str) -> str | None:
    """The vårdgivare's (or kommun's) organisation number in an HSA-id: SE + 10 digits + '-' + the unit."""
    return hsa_id[2:12] if is_hsa_id(hsa_id) else None


@dataclass(frozen=True)
class Scope:
    """What one actor's need to know reaches, worked out from roles and units."""

    username: str
    roles: frozenset[str]
    units: frozenset[str]  # unit keys: HSA-ids, and kommun names for kommun units (domain.organisation.unit_keys)
    lanes: frozenset[str]  # lanes whose roles the actor holds
    unit_columns: frozenset[str]  # process_instances columns that name a unit of those lanes
    overseer: bool
    organisations: frozenset[str]  # organisation numbers an overseer sees
    kommuner: frozenset[str]  # kommun names an overseer sees
    internal: bool = False

    @property
    def sees_nothing(self) -> bool:
        return not self.internal and not self.units


# Marks a lane in `_role_match`'s one expression; no role name begins with it.
_LANE_KEY = "lane:"


class AccessPolicy:
    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    # --- who the actor is, for need to know ---------------------------------------------------------------------
    def scope(self, actor: Actor) -> Scope:
        lanes = frozenset(lane for lane, rule in self.catalog.lanes.items() if set(rule.roles) & actor.roles)
        columns = frozenset(
            UNIT_COLUMN_OF_KEY[rule.unit_from]
            for lane, rule in self.catalog.lanes.items()
            if lane in lanes and rule.unit_from in UNIT_COLUMN_OF_KEY
        )
        overseer = bool(actor.roles & OVERSEEING_ROLES)
        organisations = frozenset(o for u in actor.units if (o := organisation_number(u))) if overseer else frozenset()
        kommuner = frozenset(u for u in actor.units if not is_hsa_id(u)) if overseer else frozenset()
        return Scope(
            actor.username,
            actor.roles,
            actor.units,
            lanes,
            columns,
            overseer,
            organisations,
            kommuner,
            actor.internal,
        )

    def is_overseer(self, actor: Actor) -> bool:
        return bool(actor.roles & OVERSEEING_ROLES)

    def may_repair(self, actor: Actor) -> bool:
        """Reassign, cancel, retry, move a token, fire a timer now: coordinators (and admins), within their sight."""
        return actor.internal or bool(actor.roles & REPAIRING_ROLES)

    # --- tasks ---
    @staticmethod
    def _role_match(scope: Scope, task: Any = TaskIndex) -> ColumnElement[bool]:
        """The task's own role is one of the actor's or, a task without a role, its lane is one of the actor's
        lanes: one expression, `coalesce(role, LANE || lane) IN (roles, LANE || lanes)`, not an OR of two indexed
        columns. The unit (or the claimant) is what narrows a worklist; given `role IN ... OR lane IN ...`,
        PostgreSQL combined the lane index's bitmap (every open task of the lane: 197 000 rows at 100 000 cases)
        with the unit's 1 500 rows, 14 ms of each worklist query and of each count."""
        wanted = sorted(scope.roles) + [_LANE_KEY + lane for lane in sorted(scope.lanes)]
        return func.coalesce(task.role, literal(_LANE_KEY) + task.lane).in_(wanted)

    def actionable_tasks(self, actor: Actor, task: Any = TaskIndex, case: Any = None) -> ColumnElement[bool]:
        """The tasks the actor may claim, hand over and complete: the actor's role (the lane's, or the task's own)
        in one of the actor's units, or handed to the actor by name with the role. A task without a unit is
        nobody's until a coordinator gives it to someone. A task for an overseeing role (an escalation to the
        coordinator) is for the overseers of the case's organisation. `task` may be an alias of TaskIndex; `case`,
        the task's ProcessInstance when the query joins it already (then no subquery per row: PostgreSQL hashed that
        subquery over every instance, 150 ms of the coordinator's worklist at 100 000 cases)."""
        scope = self.scope(actor)
        if scope.internal:
            return true()
        if scope.sees_nothing:
            return false()
        in_unit = and_(task.unit.is_not(None), task.unit.in_(sorted(scope.units)))
        care = and_(self._role_match(scope, task), or_(in_unit, task.claimed_by == scope.username))
        overseeing = sorted(scope.roles & OVERSEEING_ROLES)
        if not overseeing:
            return care
        if case is not None:
            return or_(care, and_(task.role.in_(overseeing), self.overseen_instances(actor, case)))
        other = aliased(ProcessInstance)
        oversight = and_(
            task.role.in_(overseeing),
            exists().where(other.id == task.instance_id, self.overseen_instances(actor, other)),
        )
        return or_(care, oversight)

    def assignable(self, target: Actor, task: TaskIndex) -> bool:
        """May a coordinator give this task to `target`? The task's role, and its unit unless it has none."""
        scope = self.scope(target)
        roles = (task.role,) if task.role else self.catalog.roles_for_lane(task.lane)
        if not set(roles) & scope.roles:
            return False
        return task.unit is None or task.unit in scope.units

    # --- cases --------------------------------------------------------------------------------------------------
    def overseen_instances(self, actor: Actor, case: Any = ProcessInstance) -> ColumnElement[bool]:
        """The cases of the overseer's organisation: a ward or vårdcentral of its vårdgivare, or one of its kommuner.
        Nothing for an actor without an overseeing role or without units. `case` may be an alias."""
        scope = self.scope(actor)
        if scope.internal:
            return true()
        if not scope.overseer:
            return false()
        clauses: list[ColumnElement[bool]] = []
        for number in sorted(scope.organisations):
            prefix = f"SE{number}-"
            clauses.append(case.avdelning.startswith(prefix, autoescape=True))
            clauses.append(case.vardcentral.startswith(prefix, autoescape=True))
        if scope.kommuner:
            clauses.append(case.kommun.in_(sorted(scope.kommuner)))
        return or_(*clauses) if clauses else false()

    def visible_instances(self, actor: Actor, now: datetime) -> ColumnElement[bool]:
        """The cases whose patient data the actor may read (see the module's docstring)."""
        scope = self.scope(actor)
        if scope.internal:
            return true()
        if scope.sees_nothing:
            return false()
        overseen = self.overseen_instances(actor) if scope.overseer else false()
        takes_part: list[ColumnElement[bool]] = [
            getattr(ProcessInstance, column).in_(sorted(scope.units)) for column in sorted(scope.unit_columns)
        ]
        mine = aliased(TaskIndex)
        task_of_mine = exists().where(mine.instance_id == ProcessInstance.id, self.actionable_tasks(actor, mine))
        step = aliased(HistoryEntry)
        did_a_step = exists().where(step.instance_id == ProcessInstance.id, step.actor == scope.username)
        recent = or_(ProcessInstance.ended_at.is_(None), ProcessInstance.ended_at >= now - RECENT)
        care = and_(recent, or_(*takes_part, task_of_mine, did_a_step)) if scope.roles - OVERSEEING_ROLES else false()
        return or_(overseen, care)

    def visible_tasks(self, actor: Actor, now: datetime) -> ColumnElement[bool]:
        """Tasks the actor sees in a list: those to act on, and for overseers every open task of the cases they
        oversee (read-only, or to repair). Needs ProcessInstance joined on the task's instance."""
        if self.is_overseer(actor):
            return or_(self.actionable_tasks(actor, TaskIndex, ProcessInstance), self.overseen_instances(actor))
        return self.actionable_tasks(actor)

    # --- single checks, by the same SQL -------------------------------------------------------------------------
    def may_see_instance(self, session: Session, actor: Actor, instance_id: int, now: datetime) -> bool:
        return (
            session.scalar(
                select(ProcessInstance.id).where(ProcessInstance.id == instance_id, self.visible_instances(actor, now))
            )
            is not None
        )

    def may_act_on_task(self, session: Session, actor: Actor, task_id: str) -> bool:
        return (
            session.scalar(select(TaskIndex.id).where(TaskIndex.id == task_id, self.actionable_tasks(actor)))
            is not None
        )

    def may_repair_instance(self, session: Session, actor: Actor, instance_id: int) -> bool:
        """A repair (reassign, cancel, retry, move, fire now) by a coordinator on a case of their organisation."""
        if not self.may_repair(actor):
            return False
        return (
            session.scalar(
                select(ProcessInstance.id).where(ProcessInstance.id == instance_id, self.overseen_instances(actor))
            )
            is not None
        )
