"""The roles that are not lane roles (the lanes' roles come from processes/lanes.json). Who of them sees which cases
is need to know, decided in one place: engine/reads/policy.py. Pure data: engine/domain/actors.py (actors, Policy) and
engine/domain/organisation.py (the directory import) both read it, so neither imports the other for it."""

from __future__ import annotations

DIRECTORY_ROLES = frozenset(
    {"admin", "process_owner", "coordinator", "system", "auditor", "implementation_team", "manager"}
)
