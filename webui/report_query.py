"""What a report asks for (period, grouping, units), read from the page's query string or the API's, checked with
Swedish messages, and what the page shows for it (built from engine/reads/figures.py; no query here)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from engine.reads.figures import (
    FIGURES,
    GROUPING_LABELS,
    GROUPINGS,
    SMALL_GROUP,
    FigureRow,
    Figures,
    FigureScope,
    suppress_small,
    with_suppression,
)
from webui.i18n import gettext

MAX_DAYS = 3 * 366 + 1  # a report covers at most about three years
SHARES = ("inskrivningsmeddelande_24h", "sip_kallelse_3d", "hem_24h", "svpl_3d", "informationsoverforing_i_tid")


@dataclass(frozen=True)
class ReportRequest:
    start: date
    until: date  # inclusive (the page's "till och med")
    group_by: str
    kommuner: tuple[str, ...] = ()
    vardcentraler: tuple[str, ...] = ()
    avdelningar: tuple[str, ...] = ()

    def scope(self) -> FigureScope:
        return FigureScope(
            self.start,
            self.until + timedelta(days=1),
            kommuner=frozenset(self.kommuner) or None,
            vardcentraler=frozenset(self.vardcentraler) or None,
            avdelningar=frozenset(self.avdelningar) or None,
        )

    def query_args(self) -> dict[str, Any]:
        """The request as query arguments again (export links, the chart's own month view)."""
        return {
            "fran": self.start.isoformat(),
            "till": self.until.isoformat(),
            "gruppering": self.group_by,
            "kommun": list(self.kommuner),
            "vardcentral": list(self.vardcentraler),
            "avdelning": list(self.avdelningar),
        }


def default_period(today: date) -> tuple[date, date]:
    """From the first day of the month eleven months back to today: a year of months including this one."""
    month = today.month - 11
    year = today.year
    while month < 1:
        month += 12
        year -= 1
    return date(year, month, 1), today


def _units(values: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        for part in str(value).split(","):
            part = part.strip()[:100]
            if part and part not in out:
                out.append(part)
    return tuple(out[:50])


def parse_request(
    single: Mapping[str, str], lists: Mapping[str, list[str]], today: date
) -> tuple[ReportRequest, dict[str, list[str]]]:
    """The report asked for, and problems per field (Swedish). A bad field falls back to its default so the page
    still shows something beside the message."""
    errors: dict[str, list[str]] = {}
    default_start, default_until = default_period(today)
    dates: dict[str, date] = {}
    for key, fallback in (("fran", default_start), ("till", default_until)):
        text = (single.get(key) or "").strip()
        if not text:
            dates[key] = fallback
            continue
        try:
            dates[key] = date.fromisoformat(text)
        except ValueError:
            errors[key] = [gettext("Ange datumet som ÅÅÅÅ-MM-DD")]
            dates[key] = fallback
    start, until = dates["fran"], dates["till"]
    if until < start:
        errors.setdefault("till", []).append(gettext("Slutdatumet ligger före startdatumet"))
        start, until = default_start, default_until
    elif (until - start).days > MAX_DAYS:
        errors.setdefault("fran", []).append(gettext("Perioden får vara högst tre år"))
        start = until - timedelta(days=MAX_DAYS)
    group_by = (single.get("gruppering") or "month").strip()
    if group_by not in GROUPINGS:
        choices = ", ".join(gettext(g) for g in GROUPING_LABELS.values())
        errors["gruppering"] = [gettext("Välj en av: %(choices)s", choices=choices)]
        group_by = "month"
    return (
        ReportRequest(
            start,
            until,
            group_by,
            _units(lists.get("kommun", [])),
            _units(lists.get("vardcentral", [])),
            _units(lists.get("avdelning", [])),
        ),
        errors,
    )


def group_label(group_by: str, key: str, names: Mapping[str, str]) -> str:
    """A group's key as people read it: a unit's name with its HSA-id, "version 2"."""
    if group_by == "version":
        return gettext("version %(v)s", v=key)
    if key in names:
        return f"{names[key]} ({key})"
    return key


def _value(row: FigureRow | None, figure: str) -> float | None:
    if row is None or row.small:
        return None
    got = row.figures.get(figure)
    return got.value if got is not None else None


def months_between(start: date, until: date) -> list[str]:
    months = []
    year, month = start.year, start.month
    while (year, month) <= (until.year, until.month):
        months.append(f"{year:04d}-{month:02d}")
        month += 1
        if month > 12:
            year, month = year + 1, 1
    return months


def build_report(figures: Figures, request: ReportRequest) -> dict[str, Any]:
    """Everything the report page (and its exports) shows, as plain data."""
    scope = request.scope()
    computed = figures.compute_many(scope, (None, request.group_by, "month", "kommun"))
    [total] = computed[None]
    rows = computed[request.group_by]
    # Months and kommuner are shown beside the total: hidden exactly as suppress_small hides groups
    # (engine/reads/figures.py).
    monthly = {r.key: r for r in with_suppression(computed["month"])}
    per_kommun = with_suppression(computed["kommun"])
    months = months_between(request.start, request.until)
    years = sorted({int(m[:4]) for m in months})
    prices = [
        (agreement, figures.daily_price(agreement, year))
        for agreement in sorted(figures.catalog.agreements)
        for year in years
    ]
    keys = [r.key for r in rows if r.key is not None]
    names = figures.unit_names(keys) if request.group_by in ("vardcentral", "avdelning") else {}
    return {
        "request": request,
        "labels": {key: group_label(request.group_by, key, names) for key in keys},
        "total": total,
        "rows": suppress_small(rows),
        "raw_rows": rows,
        "group_label": GROUPING_LABELS[request.group_by],
        "definitions": FIGURES,
        "months": [(m, monthly.get(m)) for m in months],
        "kommuner": [(r.key or gettext("Okänd kommun"), r) for r in per_kommun],
        "trend": {
            "uk_days": [_value(monthly.get(m), "utskrivningsklara_dagar") for m in months],
            "shares": [(f.title, [_value(monthly.get(m), f.id) for m in months]) for f in FIGURES if f.id in SHARES],
        },
        "per_kommun": {
            "labels": [r.key or gettext("Okänd") for r in per_kommun],
            "days": [_value(r, "betalningsansvarsdagar") for r in per_kommun],
        },
        "deviations": figures.deviations(scope),
        "prices": prices,
        "small_group": SMALL_GROUP,
    }
