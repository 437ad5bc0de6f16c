"""When a deadline falls: the one definition that task due times, timers and the figures all use.

Every agreed deadline (processes/agreements.json) names its anchor event: the recorded event the law or the
agreement counts from (admission, the inskrivningsmeddelande sent, the notice of utskrivningsklar, the discharge, or a
date in the plan). The deadline is the absolute moment `rule.due(anchor)` under the agreement's calendar, whenever the
task that must meet it was created and whenever the figure is computed. Until the anchor event is recorded the
deadline has no moment (a timer waits for it; a figure cannot count the step late).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from engine.domain.calendar import DeadlineRule
from engine.domain.clock import STOCKHOLM
from engine.domain.text import Text

# Anchor name (as written in agreements.json) -> the recorded moment it reads (a CaseFacts field derived from the
# case's history by processes/milestones.json).
ANCHORS: Mapping[str, str] = {
    "inskrivning": "admitted_at",
    "inskrivningsmeddelande": "inskrivningsmeddelande_at",
    "utskrivningsklar": "uk_at",
    "senaste_utskrivningsklar": "last_uk_at",
    "utskrivning": "discharged_at",
}
ANCHOR_TITLES: Mapping[str, str] = {
    "inskrivning": "inskrivningen",
    "inskrivningsmeddelande": "att inskrivningsmeddelandet skickades",
    "utskrivningsklar": "det första meddelandet om utskrivningsklar",
    "senaste_utskrivningsklar": "det senaste meddelandet om utskrivningsklar",
    "utskrivning": "utskrivningen",
}
PLAN_PREFIX = "plan:"  # "plan:planerat_utskrivningsdatum": a date or date-time in the case data
# The step's own service level ("answer by noon the next working day"), counted from when its task or timer is
# created: named explicitly, never a default; the law's and the agreements' deadlines name their event instead.
TASK_ANCHOR = "uppgift"


# The case data field that says the stay is under psykiatrisk tvångsvård (LPT or LRV): then the payment clock follows
# the agreement's `psykiatrisk_tvangsvard` block (its own rule, or the law's) instead of its general deadline.
TVANGSVARD_FIELD = "psykiatrisk_tvangsvard"
TVANGSVARD_VALUES = ("LPT", "LRV")
PAYMENT_DEADLINE = "betalningsansvar"


def under_tvangsvard(data: Mapping[str, Any] | None) -> bool:
    """Whether the case data says the stay is under LPT or LRV (`psykiatrisk_tvangsvard`: true, "LPT" or "LRV")."""
    value = (data or {}).get(TVANGSVARD_FIELD)
    if isinstance(value, str):
        return value.strip().upper() in TVANGSVARD_VALUES
    return value is True


def tvangsvard_rule(block: Mapping[str, Any] | None, general: DeadlineRule) -> DeadlineRule | None:
    """The payment clock under LPT/LRV from an agreement's `psykiatrisk_tvangsvard` block: its days after the UK
    notice in its calendar, counted from the general rule's anchor. None when the agreement has no such block."""
    if not block or block.get("days_after_uk_notice") is None:
        return None
    days = int(block["days_after_uk_notice"])
    return DeadlineRule(f"P{days}D", str(block.get("calendar", general.calendar)), None, general.anchor)


def check_anchor(anchor: Any) -> str:
    """The anchor name when it is one the platform records, else ValueError (Swedish) naming the choices."""
    if isinstance(anchor, str):
        if anchor in ANCHORS or anchor == TASK_ANCHOR:
            return anchor
        if anchor.startswith(PLAN_PREFIX) and anchor[len(PLAN_PREFIX) :].strip():
            return anchor
    choices = ", ".join([*ANCHORS, PLAN_PREFIX + "<fält>", TASK_ANCHOR])
    raise ValueError(
        Text(
            "okänd ankarhändelse %(anchor)r: tidsfristen måste räknas från en av %(choices)s",
            anchor=anchor,
            choices=choices,
        )
    )


def counts_from_event(rule: DeadlineRule) -> bool:
    """Whether the deadline counts from a recorded event of the case (else from its task's or timer's creation)."""
    return rule.anchor is not None and rule.anchor != TASK_ANCHOR


def anchor_title(anchor: str | None) -> str:
    if anchor is None or anchor == TASK_ANCHOR:
        return Text("att uppgiften skapas")
    if anchor.startswith(PLAN_PREFIX):
        return Text("datumet %(field)s i planen", field=anchor[len(PLAN_PREFIX) :])
    title = ANCHOR_TITLES.get(anchor)
    return Text(title) if title else anchor


def parse_moment(value: Any) -> datetime | None:
    """An ISO date-time (or date) from form, message or anchor data as an aware datetime; local Stockholm time when
    the text has no offset. None for anything else."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=STOCKHOLM)


def anchor_moment(anchor: str, anchors: Mapping[str, Any], data: Mapping[str, Any]) -> datetime | None:
    """The recorded moment of the anchor event: from the case's recorded anchors, or a date in the case data."""
    if anchor.startswith(PLAN_PREFIX):
        return parse_moment(data.get(anchor[len(PLAN_PREFIX) :]))
    return parse_moment(anchors.get(anchor))


def due_moment(
    rule: DeadlineRule, anchors: Mapping[str, Any], data: Mapping[str, Any] | None = None
) -> datetime | None:
    """The absolute moment the deadline falls for a case: the agreement's rule counted from its anchor event's
    recorded time; None while that event is not recorded. A rule without an anchor (an ISO duration written on a
    task) has no moment here: the caller counts it from the task's creation."""
    if rule.anchor is None or not counts_from_event(rule):
        return None
    start = anchor_moment(rule.anchor, anchors, data or {})
    return rule.due(start) if start is not None else None
