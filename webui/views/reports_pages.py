"""The figures (`/rapporter`): period, grouping and unit filters, charts with their tables, every figure's definition,
CSV and Excel export. Coordinators, process owners, admins and managers (Policy.can_read_figures). Groups of fewer
than five cases show neither figures nor exact counts (docs/reports.md)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, render_template, request
from markupsafe import Markup, escape

from engine.domain.clock import STOCKHOLM
from engine.reads.figures import GROUPING_LABELS
from webui.i18n import gettext as _
from webui.i18n import grouped_text
from webui.report_charts import bar_chart, line_chart, number_text
from webui.report_export import definition_table, deviation_table, figure_table, to_csv, to_xlsx
from webui.report_query import ReportRequest, build_report, parse_request
from webui.views import platform
from webui.views.auth import current_actor, current_actor_or_none, login_required

bp = Blueprint("reports", __name__)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _denied() -> tuple[str, int]:
    return (
        render_template(
            "error.html",
            title="Ingen behörighet",
            message="Nyckeltalen visas för samordnare, processägare, chefer och administratörer.",
        ),
        403,
    )


def _request() -> tuple[ReportRequest, dict[str, list[str]]]:
    today = platform().clock.now().astimezone(STOCKHOLM).date()
    lists = {key: request.args.getlist(key) for key in ("kommun", "vardcentral", "avdelning")}
    return parse_request(request.args.to_dict(), lists, today)


def _allowed() -> bool:
    return platform().policy.can_read_figures(current_actor())


@bp.get("/rapporter")
@login_required
def index() -> Any:
    if not _allowed():
        return _denied()
    wanted, errors = _request()
    report = build_report(platform().figures, wanted)
    units = platform().figures.units()
    month_labels = [m for m, _ in report["months"]]
    charts = {
        "uk_days": line_chart(
            "Utskrivningsklara dagar per månad (medel)",
            month_labels,
            [("Utskrivningsklara dagar", report["trend"]["uk_days"])],
            "mean_days",
        ),
        "shares": line_chart("Andel i tid per månad", month_labels, report["trend"]["shares"], "share"),
        "per_kommun": bar_chart(
            "Betalningsansvarsdagar per kommun", report["per_kommun"]["labels"], report["per_kommun"]["days"], "days"
        ),
    }
    return (
        render_template(
            "reports.html",
            report=report,
            charts=charts,
            all_figures=_all_figures(report),
            errors=errors,
            groupings=GROUPING_LABELS,
            units=units,
            unit_names=platform().figures.unit_names(units["vardcentral"] + units["avdelning"]),
            args=wanted.query_args(),
            number_text=number_text,
        ),
        400 if errors else 200,
    )


def _cell(got: Any, unit: str) -> Markup:
    """One figure as the wide table shows it: the value, and for a share or mean what it is counted from."""
    if got is None or got.value is None:
        return Markup("–")
    text = escape(number_text(got.value, unit))
    if got.denominator and unit == "share":
        text += Markup(' <small class="meta">(%s)</small>') % _(
            "%(a)s av %(b)s", a=grouped_text(got.numerator), b=grouped_text(got.denominator)
        )
    elif got.denominator and unit == "mean_days":
        text += Markup(' <small class="meta">(%s)</small>') % _(
            "%(days)s dagar, %(n)s utskrivna", days=grouped_text(got.numerator), n=grouped_text(got.denominator)
        )
    return text


def _all_figures(report: dict[str, Any]) -> list[tuple[Any, list[Markup]]]:
    """Every figure (rows) per group and in total (columns), formatted here: a table of hundreds of cells renders
    faster from strings than through template macros."""
    total = report["total"]
    out = []
    for definition in report["definitions"]:
        cells = [
            Markup("–") if row["suppressed"] else _cell(row["figures"].get(definition.id), definition.unit)
            for row in report["rows"]
        ]
        shown = total.cases and not total.small
        cells.append(_cell(total.figures.get(definition.id), definition.unit) if shown else Markup("–"))
        out.append((definition, cells))
    return out


def _tables() -> tuple[ReportRequest, list[tuple[str, Any]]]:
    wanted, _errors = _request()
    report = build_report(platform().figures, wanted)
    return wanted, [
        (_("Nyckeltal"), figure_table(report["raw_rows"], report["total"], report["group_label"], report["labels"])),
        (_("Avvikelser"), deviation_table(report["deviations"])),
        (_("Definitioner"), definition_table()),
    ]


def _filename(wanted: ReportRequest, ext: str) -> str:
    return f"nyckeltal-{wanted.start:%Y%m%d}-{wanted.until:%Y%m%d}-{wanted.group_by}.{ext}"


@bp.get("/rapporter/nyckeltal.csv")
@login_required
def export_csv() -> Any:
    if not _allowed():
        return _denied()
    wanted, tables = _tables()
    return Response(
        to_csv(tables[0][1]),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{_filename(wanted, "csv")}"'},
    )


@bp.get("/rapporter/nyckeltal.xlsx")
@login_required
def export_xlsx() -> Any:
    if not _allowed():
        return _denied()
    wanted, tables = _tables()
    return Response(
        to_xlsx(tables),
        mimetype=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{_filename(wanted, "xlsx")}"'},
    )


def register(app: Flask) -> None:
    """The report pages and `can_read_figures` for the menu."""
    app.register_blueprint(bp)

    @app.context_processor
    def _can_read_figures() -> dict[str, Any]:
        user = current_actor_or_none()
        return {"can_read_figures": user is not None and platform().policy.can_read_figures(user)}
