"""The tables. Instance state is kept apart from the diagram: a definition's XML is stored once, the state without it.

Every change of schema comes with an Alembic migration in `migrations/versions/`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (no zone support) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use the clock")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JsonType = JSON().with_variant(JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JsonType, list[Any]: JsonType}


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    hsa_id: Mapped[str | None] = mapped_column(String(31))
    roles: Mapped[list[Any]] = mapped_column(default=list)
    units: Mapped[list[Any]] = mapped_column(default=list)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    email: Mapped[str | None] = mapped_column(String(200))
    # The language the user chose for the pages ('sv', 'en'); the notices' e-mail is written in it (migration 0024).
    language: Mapped[str] = mapped_column(String(5), default="sv", server_default="sv")


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ProcessDefinition(Base):
    __tablename__ = "process_definitions"
    __table_args__ = (
        UniqueConstraint("process_id", "version", name="uq_process_definitions_process_version"),
        UniqueConstraint("process_id", "content_hash", name="uq_process_definitions_process_hash"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(300))
    filename: Mapped[str | None] = mapped_column(String(300))
    xml: Mapped[bytes] = mapped_column(LargeBinary)
    content_hash: Mapped[str] = mapped_column(String(64))
    executable: Mapped[bool] = mapped_column(Boolean)
    diagnostics: Mapped[list[Any]] = mapped_column(default=list)
    elements: Mapped[dict[str, Any]] = mapped_column(default=dict)
    lanes: Mapped[list[Any]] = mapped_column(default=list)
    start_messages: Mapped[list[Any]] = mapped_column(default=list)
    dependencies: Mapped[dict[str, Any]] = mapped_column(default=dict)  # called process id -> definition id
    forms: Mapped[dict[str, Any]] = mapped_column(default=dict)  # form name -> JSON Schema, frozen at deploy
    deployed_by: Mapped[str] = mapped_column(String(100))
    deployed_at: Mapped[datetime]
    comment: Mapped[str] = mapped_column(Text, default="")


ACTIVE_STAY = "status IN ('running', 'waiting', 'incident') AND stay_key IS NOT NULL"


class ProcessInstance(Base):
    __tablename__ = "process_instances"
    __table_args__ = (
        Index("ix_process_instances_status_process", "status", "process_id"),
        Index("ix_process_instances_process_version", "process_id", "version"),  # the monitoring list and heat map
        # One case per stay (migration 0015): a case a journal message started keeps the digest of its correlation
        # in stay_key; while it is going, no second case of that process may hold the same key.
        Index(
            "uq_process_instances_active_stay",
            "process_id",
            "stay_key",
            unique=True,
            sqlite_where=text(ACTIVE_STAY),
            postgresql_where=text(ACTIVE_STAY),
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"), index=True)
    process_id: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    business_key: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(20))  # running | waiting | incident | completed | cancelled
    started_at: Mapped[datetime] = mapped_column(index=True)  # the monitoring list's "started between"
    ended_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    started_by: Mapped[str] = mapped_column(String(100))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Loaded only when needed: a command whose workflow is in the flow cache never reads the (large) state.
    state: Mapped[str] = mapped_column(Text, deferred=True)
    serializer_version: Mapped[str] = mapped_column(String(40))
    # Indexed (0022): a case's children, read with every case view.
    parent_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"), index=True)
    # Called processes the definition left to run time (not deployed when it was): called process id -> the
    # definition id this case resolved it to when it first ran, so the case keeps that version (migration 0016).
    called_versions: Mapped[dict[str, Any] | None] = mapped_column(JsonType, nullable=True)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    # The case's units as its data says (CASE_UNIT_KEYS), kept current on every save: monitoring filters, figures per
    # kommun / vårdcentral / ward and pilot routing read these columns instead of the JSON data.
    kommun: Mapped[str | None] = mapped_column(String(100), index=True)
    vardcentral: Mapped[str | None] = mapped_column(String(100), index=True)
    avdelning: Mapped[str | None] = mapped_column(String(100), index=True)
    # Which version the case runs and why (engine/features/pilots.py): routing is default | pilot | explicit |
    # promotion,
    # pilot_id the pilot that put it on its version, route_reason the sentence shown on the instance.
    routing: Mapped[str] = mapped_column(String(20), default="default", server_default="default")
    pilot_id: Mapped[int | None] = mapped_column(ForeignKey("pilots.id", ondelete="SET NULL"), index=True)
    route_reason: Mapped[str] = mapped_column(String(300), default="", server_default="")
    stay_key: Mapped[str | None] = mapped_column(String(64))

    __mapper_args__ = {"version_id_col": lock_version}


class Pilot(Base):
    """A process version run for some units during a period (engine/features/pilots.py): Eksjö kommun, Eksjö
    vårdcentral and
    Höglandssjukhuset Medicin/geriatrik on the new SVPL routine while the rest of the county keeps the old one."""

    __tablename__ = "pilots"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(200), index=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20))  # planned | running | paused | ended
    mixed_rule: Mapped[str] = mapped_column(String(20))  # engine.features.pilots.MIXED_RULES
    start_date: Mapped[date] = mapped_column(Date)  # first day, Europe/Stockholm
    end_date: Mapped[date] = mapped_column(Date)  # last day (inclusive), Europe/Stockholm
    kommuner: Mapped[list[Any]] = mapped_column(default=list)
    vardcentraler: Mapped[list[Any]] = mapped_column(default=list)
    avdelningar: Mapped[list[Any]] = mapped_column(default=list)
    staff_questionnaire: Mapped[bool] = mapped_column(Boolean, default=False)
    person_questionnaire: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    promoted_at: Mapped[datetime | None]


class DefaultVersion(Base):
    """The version new cases of a process start on when no pilot takes them: process-wide (unit_kind and unit empty)
    or for one unit after a stepwise promotion (spridning). Without any row, the newest executable version."""

    __tablename__ = "default_versions"
    __table_args__ = (UniqueConstraint("process_id", "unit_kind", "unit", name="uq_default_versions_process_unit"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(200), index=True)
    unit_kind: Mapped[str] = mapped_column(String(20), default="")  # '' | kommun | vardcentral | avdelning
    unit: Mapped[str] = mapped_column(String(100), default="")
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"))
    pilot_id: Mapped[int | None] = mapped_column(ForeignKey("pilots.id", ondelete="SET NULL"))
    set_by: Mapped[str] = mapped_column(String(100))
    set_at: Mapped[datetime]


class InstanceCorrelation(Base):
    """Correlation keys of an instance (personnummer, vardtillfalle_id), so messages find it without loading state."""

    __tablename__ = "instance_correlations"
    __table_args__ = (Index("ix_instance_correlations_name_value", "name", "value"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(String(200))


class MessageSubscription(Base):
    """A message name an instance waits for right now; rewritten on every save of the instance."""

    __tablename__ = "message_subscriptions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"), index=True)
    message_name: Mapped[str] = mapped_column(String(200), index=True)


class TaskIndex(Base):
    """One row per READY human task, so that worklists never deserialize a workflow."""

    __tablename__ = "task_index"
    __table_args__ = (Index("ix_task_index_lane_due", "lane", "due_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # SpiffWorkflow task uuid
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"), index=True)
    process_id: Mapped[str] = mapped_column(String(200))
    business_key: Mapped[str] = mapped_column(String(200))
    element_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(300))
    lane: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(100), index=True)  # an overseer's own tasks (API worklist)
    form: Mapped[str | None] = mapped_column(String(200))
    unit: Mapped[str | None] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime]
    due_at: Mapped[datetime | None] = mapped_column(index=True)
    claimed_by: Mapped[str | None] = mapped_column(String(100), index=True)
    claimed_at: Mapped[datetime | None]
    # Shown with the task when the case has moved past the point it belongs to (a diagram's `flagga` property):
    # e.g. a planning task still open when the UK notice went out. It stays open; the flag says so.
    flag: Mapped[str | None] = mapped_column(String(200))


class Timer(Base):
    """A waiting timer; written in the transaction that makes it wait, removed in the one that fires or cancels it."""

    __tablename__ = "timers"
    __table_args__ = (UniqueConstraint("instance_id", "task_id", name="uq_timers_instance_task"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    boundary: Mapped[bool] = mapped_column(Boolean, default=False)
    due_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime]
    # A firing that raised (not an incident of the case's own: the command itself failed) is tried again after
    # next_attempt_at; after MAX_TIMER_ATTEMPTS the timer waits for a coordinator (an open incident).
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True)
    last_error: Mapped[str | None] = mapped_column(Text)


class HistoryEntry(Base):
    """Our own record of what happened (who submitted what, when), independent of SpiffWorkflow's task data."""

    __tablename__ = "history"
    __table_args__ = (
        Index("ix_history_instance_at", "instance_id", "id"),
        Index("ix_history_kind_at", "kind", "at"),  # the heat map: completions of a period
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(40))
    element_id: Mapped[str | None] = mapped_column(String(200))
    task_id: Mapped[str | None] = mapped_column(String(36), index=True)  # a task's creation, claims, completion
    actor: Mapped[str | None] = mapped_column(String(100))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # On a task_completed row: when the task was created and first taken (claimed or reassigned), so that the heat
    # map reads the time in a step and the wait before it from the completion row alone.
    task_created_at: Mapped[datetime | None]
    task_claimed_at: Mapped[datetime | None]


class Incident(Base):
    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"), index=True)
    element_id: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    # What failed, for the coordinator (issue 15): the expression or script line, and the values of the names it
    # used as the failing step saw them (a name that was not there: {"missing": true}).
    expression: Mapped[str | None] = mapped_column(Text)
    seen_values: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    # How many times the step failed while this incident was open: a retry that fails again keeps the incident
    # open and counts here, instead of marking it resolved and opening a twin.
    failures: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class Deviation(Base):
    """Avvikelse i samverkan: a missed deadline or another breach, per party and cause."""

    __tablename__ = "deviations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"), index=True)
    element_id: Mapped[str | None] = mapped_column(String(200))
    party: Mapped[str | None] = mapped_column(String(200))
    cause: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]


class ReceivedMessage(Base):
    """Outside systems deliver at least once: a message id seen before is acknowledged and changes nothing."""

    __tablename__ = "received_messages"
    message_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id", ondelete="SET NULL"))
    outcome: Mapped[str] = mapped_column(String(20))  # started | delivered
    received_at: Mapped[datetime]


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(100))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ClockState(Base):
    """The simulated clock's current time, shared by every process of one installation (SAMFLODE_CLOCK=simulated).
    One row (id 1); never used with the real clock."""

    __tablename__ = "clock_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    now: Mapped[datetime]
    updated_at: Mapped[datetime]


class OrgUnit(Base):
    """A unit of the organisation (region, kommun, ward, vårdcentral, hemsjukvård area, socialtjänst unit).

    Tasks keep the raw case field as their unit (an HSA-id, or a kommun name for the kommun's lanes); a user linked to
    a unit of a kommun's kind (hemsjukvård, socialtjänst, kommun) therefore also answers for that kommun's name."""

    __tablename__ = "org_units"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hsa_id: Mapped[str] = mapped_column(String(31), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # one of engine.domain.organisation.UNIT_KINDS
    kommun: Mapped[str | None] = mapped_column(String(100), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SignInState(Base):
    """Failed sign-ins per username (slow-down and lock-out); a row per username that ever failed."""

    __tablename__ = "sign_in_state"
    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]


class WebSession(Base):
    """A signed-in browser session, kept on the server so that signing out ends it for every copy of its cookie
    (engine/commands/sessions.py). The cookie carries a random token; only its SHA-256 is stored."""

    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie's token
    username: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]  # the absolute lifetime, whatever the activity
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(20))  # signed_out | idle | expired | password | user
    address: Mapped[str | None] = mapped_column(String(64))


class SavedFilter(Base):
    """A worklist filter a user saved under a name."""

    __tablename__ = "saved_filters"
    __table_args__ = (UniqueConstraint("username", "name", name="uq_saved_filters_username_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(100))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class TaskDraft(Base):
    """A form saved as a draft (one per task and user); removed when the task is completed."""

    __tablename__ = "task_drafts"
    __table_args__ = (UniqueConstraint("task_id", "username", name="uq_task_drafts_task_username"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"), index=True)
    username: Mapped[str] = mapped_column(String(100))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    saved_at: Mapped[datetime]


class AccessLogEntry(Base):
    """Patientdatalagen 4 kap. 3 §: every view of a person's data and every change, with user, unit, time, action
    and person. Append-only from the application (nothing updates or deletes these rows)."""

    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_person_at", "personnummer", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    username: Mapped[str] = mapped_column(String(100), index=True)
    user_name: Mapped[str] = mapped_column(String(200), default="")
    unit: Mapped[str] = mapped_column(String(200), default="")
    action: Mapped[str] = mapped_column(String(40))
    personnummer: Mapped[str] = mapped_column(String(13))
    instance_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(String(300), default="")


class Notification(Base):
    """An in-app notice to one user (a new task for the user's unit, a task now overdue)."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("username", "task_id", "kind", name="uq_notifications_username_task_kind"),
        Index("ix_notifications_username_read", "username", "read_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # new | overdue
    task_id: Mapped[str] = mapped_column(String(36))
    instance_id: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]
    emailed_at: Mapped[datetime | None]


class CaseFact(Base):
    """One row per in_utskrivning case: the milestones and figures-to-be of the case, derived from its history by
    engine/domain/facts.py (a pure function, driven by processes/milestones.json) and rewritten by the facts projector
    after each step. The figures (engine/reads/figures.py) are SQL aggregations over this table, never over loaded
    workflows."""

    __tablename__ = "case_facts"
    __table_args__ = (
        Index("ix_case_facts_process_ref_date", "process_id", "ref_date"),
        Index("ix_case_facts_kommun_ref_month", "kommun", "ref_month"),
    )
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instances.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    definition_id: Mapped[int] = mapped_column(Integer, index=True)
    process_id: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    kommun: Mapped[str | None] = mapped_column(String(100))
    vardcentral: Mapped[str | None] = mapped_column(String(100), index=True)
    avdelning: Mapped[str | None] = mapped_column(String(100), index=True)
    avtal: Mapped[str | None] = mapped_column(String(40))
    age_at_admission: Mapped[int | None] = mapped_column(Integer)
    # The case's reference moment is its admission; its Europe/Stockholm date, month (YYYY-MM) and ISO week
    # (YYYY-Www) are kept so that bucketing is the same on SQLite and PostgreSQL.
    admitted_at: Mapped[datetime]
    ref_date: Mapped[date] = mapped_column(Date)
    ref_month: Mapped[str] = mapped_column(String(7))
    ref_week: Mapped[str] = mapped_column(String(8))
    inskrivningsmeddelande_at: Mapped[datetime | None]
    inskrivningsmeddelande_on_time: Mapped[bool | None] = mapped_column(Boolean)
    uk_at: Mapped[datetime | None]  # the first notice of utskrivningsklar
    last_uk_at: Mapped[datetime | None]  # the notice the discharge followed
    uk_notices: Mapped[int] = mapped_column(Integer, default=0)
    uk_withdrawals: Mapped[int] = mapped_column(Integer, default=0)
    planned_date_moves: Mapped[int] = mapped_column(Integer, default=0)
    discharged_at: Mapped[datetime | None]
    uk_days: Mapped[int | None] = mapped_column(Integer)  # calendar days utskrivningsklar, summed over UK periods
    payable_days: Mapped[int | None] = mapped_column(Integer)  # days the individual rule of the agreement charges
    # When the payment clock of the latest UK period falls due: the moment the betalningsansvar timer fires.
    payable_from: Mapped[datetime | None]
    home_at: Mapped[datetime | None]
    home_within_24h: Mapped[bool | None] = mapped_column(Boolean)
    sip_offered_at: Mapped[datetime | None]
    sip_accepted: Mapped[bool | None] = mapped_column(Boolean)
    sip_called_at: Mapped[datetime | None]
    sip_call_on_time: Mapped[bool | None] = mapped_column(Boolean)
    sip_held_at: Mapped[datetime | None]
    sip_held_in_home: Mapped[bool | None] = mapped_column(Boolean)
    svpl_on_time: Mapped[bool | None] = mapped_column(Boolean)
    # Information transfer (overfora_information) and whether it met deadline('informationsoverforing').
    information_transferred_at: Mapped[datetime | None]
    information_on_time: Mapped[bool | None] = mapped_column(Boolean)
    readmission: Mapped[bool] = mapped_column(Boolean, default=False)
    fokuspatient: Mapped[bool] = mapped_column(Boolean, default=False)
    # Deviations (avvikelser i samverkan) registered in the case, counted from the deviations table on every save.
    deviations: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime]


class MigrationRun(Base):
    """One batch migration of running instances onto a target version (engine/features/migration.py): who, when, the
    mapping of old to new element ids, what was chosen, and how it went. Its per-instance results keep the state
    before, so each instance can be reverted while nothing has happened in it since."""

    __tablename__ = "migration_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(200), index=True)
    target_definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"))
    target_version: Mapped[int] = mapped_column(Integer)
    mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)  # old element id -> new element id
    selection: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the instance ids or the filter chosen
    comment: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    migrated: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    reverted: Mapped[int] = mapped_column(Integer, default=0)


class MigrationResult(Base):
    """How one instance of a migration run went. `before` holds what revert restores (definition, data, status,
    task index rows with their claims, timer rows); `state_before` the serialized workflow."""

    __tablename__ = "migration_results"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("migration_runs.id", ondelete="CASCADE"), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"), index=True)
    from_definition_id: Mapped[int | None] = mapped_column(Integer)
    from_version: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(20))  # migrated | failed | reverted
    reason: Mapped[str] = mapped_column(Text, default="")
    before: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state_before: Mapped[str | None] = mapped_column(Text)
    lock_version_after: Mapped[int | None] = mapped_column(Integer)
    history_id_after: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime]
    reverted_at: Mapped[datetime | None]
    reverted_by: Mapped[str | None] = mapped_column(String(100))


class ModelDraft(Base):
    """A process owner's unsaved work in the modeller: one draft per user and process, autosaved while editing and
    discarded when the diagram is deployed. Only its owner sees it."""

    __tablename__ = "model_drafts"
    __table_args__ = (UniqueConstraint("username", "process_id", name="uq_model_drafts_username_process_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), index=True)
    process_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(300))
    base_version: Mapped[int | None] = mapped_column(Integer)  # the deployed version the draft started from
    xml: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SimulationRun(Base):
    """A simulation before a pilot (engine/features/simulation.py): its parameters, progress and predicted figures. The
    simulated cases themselves live in their own SQLite files under `folder`, never in this database."""

    __tablename__ = "simulation_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(200), index=True)
    candidate_version: Mapped[int] = mapped_column(Integer)
    baseline_version: Mapped[int | None] = mapped_column(Integer)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20))  # queued | running | done | failed
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    folder: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class SchedulerSlot(Base):
    """One of the configured scheduler slots (SAMFLODE_SCHEDULERS, engine/jobs/heartbeat.py): a scheduler process
    holds a
    slot while its heartbeat is recent, so that exactly the configured number of schedulers fire timers and a
    readiness probe can tell that they live. Times are the real clock's, whatever the installation's clock."""

    __tablename__ = "scheduler_slots"
    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    holder: Mapped[str | None] = mapped_column(String(100))  # host:pid:random of the process holding it
    started_at: Mapped[datetime | None]
    beat_at: Mapped[datetime | None]


class Job(Base):
    """A durable background job (engine/jobs/queue.py): simulations and the notifications' sync and e-mail run as rows
    claimed by the scheduler process, so that a restart loses nothing and a job whose process died is claimed again.
    `created_at`/`started_at`/`finished_at` are the installation's clock; `run_after` and `claimed_until` (the lease)
    are the real clock's, like the scheduler heartbeats, since a simulated clock does not move by itself.
    `unique_key` is set while a job is queued or running, so that one kind of periodic work is queued once."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_run_after", "status", "run_after"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20))  # queued | running | done | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    unique_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    run_after: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    result_ref: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
