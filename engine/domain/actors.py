"""Who is acting and what they may do: the actor (a user, a system or the platform itself) and the role rules.

Roles that are not lane roles:
- `admin`: everything;
- `process_owner` (processägare): deploys diagrams;
- `coordinator` (övergripande vårdsamordnare / samverkanskoordinator): reads every instance, retries incidents,
  cancels, moves tokens, fires stuck timers, reassigns (the monitoring pages, `/overvakning`);
- `system`: an outside system (the patient record): starts instances and sends messages;
- `auditor`: reads the audit log and the access log (only this role, `Policy.can_audit`);
- `implementation_team` (implementeringsteam): creates, starts, pauses, ends, extends and promotes pilots
  (`Policy.can_manage_pilots`, engine/features/pilots.py) and reads their comparison figures;
- `manager` (verksamhetschef / verksamhetsledning): reads the figures (`Policy.can_read_figures`, /rapporter).
Lane roles (vardplanerare, vardsamordnare, ...) come from processes/lanes.json and own the tasks of their lanes.
Who may see which case (need to know) is the one access policy of engine/reads/policy.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from engine.domain.catalog import Catalog
from engine.domain.errors import Forbidden
from engine.domain.roles import DIRECTORY_ROLES


class RoutedTask(Protocol):
    """What the role rules read of a task: its own role, or its lane's."""

    @property
    def role(self) -> str | None: ...
    @property
    def lane(self) -> str | None: ...


@dataclass(frozen=True)
class Actor:
    username: str
    roles: frozenset[str] = field(default_factory=frozenset)
    units: frozenset[str] = field(default_factory=frozenset)
    name: str = ""
    # The platform itself (scheduler, demo loader, migrations of the platform's own making): not a person, so not
    # limited by need to know. Never built from a user row: no sign-in or token can yield it.
    internal: bool = False

    def has(self, *roles: str) -> bool:
        return "admin" in self.roles or any(r in self.roles for r in roles)


SYSTEM_ACTOR = Actor("samflode", frozenset({"admin"}), name="Samflöde", internal=True)


class Policy:
    """Who may do what. One place, so that web, API and CLI answer alike."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    def require(self, allowed: bool, message: str) -> None:
        if not allowed:
            raise Forbidden(message)

    def can_deploy(self, actor: Actor) -> bool:
        return actor.has("process_owner")

    def can_start(self, actor: Actor) -> bool:
        return actor.has("system", "coordinator") or bool(actor.roles - DIRECTORY_ROLES)

    def can_send_message(self, actor: Actor) -> bool:
        return actor.has("system", "coordinator") or bool(actor.roles - DIRECTORY_ROLES)

    def can_manage_instances(self, actor: Actor) -> bool:
        return actor.has("coordinator")

    def can_read_figures(self, actor: Actor) -> bool:
        """The figures (`/rapporter`, engine/reads/figures.py): aggregated, no person in them; coordinators, process
        owners,
        admins and managers (`manager`, read-only). Groups of fewer than five cases are hidden where shown."""
        return actor.has("coordinator", "process_owner", "manager")

    # --- monitoring (issue 6): who sees the instance list, instance pages and heat maps, and who repairs ---------
    def can_monitor(self, actor: Actor) -> bool:
        """The instance list and the instance page (diagram, timeline, timers, incidents): coordinators act on
        them, auditors read them (what happened in a case?); each within their own organisation (need to know,
        engine/reads/policy.py), and every view is in the access log. Process owners read the heat map and the
        figures, which name nobody."""
        return actor.has("coordinator", "auditor")

    def can_search_instances_by_person(self, actor: Actor) -> bool:
        """Finding a person's cases by personnummer in the instance list: coordinators, and the journal system
        (finding its own cases); the search is logged and finds only cases the searcher may see."""
        return actor.has("coordinator", "system")

    def can_view_heatmap(self, actor: Actor) -> bool:
        """Times per element of a process version: no person in it; coordinators and process owners (and auditors)."""
        return actor.has("coordinator", "process_owner", "auditor")

    def can_retry_incident(self, actor: Actor) -> bool:
        return actor.has("coordinator")

    def can_cancel_instance(self, actor: Actor) -> bool:
        return actor.has("coordinator")

    def can_move_token(self, actor: Actor) -> bool:
        """Repair: a token moved by hand. Coordinators only, never a lane role: it skips or redoes steps of others."""
        return actor.has("coordinator")

    def can_fire_timer_now(self, actor: Actor) -> bool:
        return actor.has("coordinator")

    def can_reassign_task(self, actor: Actor) -> bool:
        """Hand a task to a named user with a reason (a colleague may also hand over their own task: owns_task)."""
        return actor.has("coordinator")

    def can_audit(self, actor: Actor) -> bool:
        """Search the access log and take out a person's loggutdrag: the auditor role only. Not `admin` either:
        reading who looked at whom is kept apart from running the system (separation of duties)."""
        return "auditor" in actor.roles

    def can_manage_pilots(self, actor: Actor) -> bool:
        """Create, start, pause, end, extend and promote pilots: the implementation team (and admin)."""
        return actor.has("implementation_team")

    def can_view_pilots(self, actor: Actor) -> bool:
        """Pilot pages and their comparison figures (counts, no patient data)."""
        return actor.has("implementation_team", "process_owner", "coordinator")

    def task_roles(self, task: RoutedTask) -> tuple[str, ...]:
        if task.role:
            return (task.role,)
        return self.catalog.roles_for_lane(task.lane)
