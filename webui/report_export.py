"""The figures as files: CSV (semicolon-separated with decimal comma and a byte-order mark, as Swedish Excel opens
it; in English comma-separated with a decimal point, as English Excel opens it) and Excel (.xlsx, Office Open XML
written with zipfile: one sheet per table, numbers as numbers, shares with a percent format). Headers, labels and the
engine's texts are in the reader's language (the names of units and parties are data and stay). The same suppression
of small groups applies as on the page, to the total too; text that could start a formula is neutralised in both
(engine/domain/cells.py)."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape

from flask import has_request_context

from engine.domain.cells import neutralise
from engine.reads.figures import FIGURES, DeviationRow, FigureRow, suppress_small
from webui.i18n import current_language
from webui.i18n import gettext as _
from webui.labels import engine_text

Cell = str | int | float | None


def _label(key: str | None, group_label: str) -> str:
    return key if key is not None else (_("Totalt") if group_label else _("Alla"))


def figure_table(
    rows: Sequence[FigureRow], total: FigureRow, group_label: str, labels: Mapping[str, str] | None = None
) -> list[list[Cell]]:
    """Header and one row per group plus the total: cases, and per figure its value, numerator and denominator."""
    header: list[Cell] = [engine_text(group_label) if group_label else _("Urval"), _("Ärenden")]
    for figure in FIGURES:
        title = engine_text(figure.title)
        header += [title, _("%(title)s: täljare", title=title), _("%(title)s: nämnare", title=title)]
    table: list[list[Cell]] = [header]
    labels = labels or {}
    shown = (
        [(labels.get(item["key"]) or _label(item["key"], group_label), item) for item in suppress_small(rows)]
        if group_label
        else []
    )
    shown.append((_("Totalt"), suppress_small([total])[0]))
    for label, item in shown:
        line: list[Cell] = [label]
        if item["suppressed"]:
            line.append(_("färre än 5"))
            line += [None] * (3 * len(FIGURES))
        else:
            line.append(item["cases"])
            for figure in FIGURES:
                got = item["figures"].get(figure.id)
                line += [None, None, None] if got is None else [got.value, got.numerator, got.denominator]
        table.append(line)
    return table


def deviation_table(rows: Sequence[DeviationRow]) -> list[list[Cell]]:
    table: list[list[Cell]] = [[_("Part"), _("Orsak"), _("Antal")]]
    table += [[r.party or _("Okänd part"), engine_text(r.cause), r.count] for r in rows]
    return table


def definition_table() -> list[list[Cell]]:
    table: list[list[Cell]] = [[_("Nyckeltal"), _("Definition"), _("Källa")]]
    table += [[engine_text(f.title), engine_text(f.definition), f.source] for f in FIGURES]
    return table


def localized(table: Sequence[Sequence[Cell]]) -> list[list[Cell]]:
    """A table the engine made (the pilot comparison's rows) with its texts in the reader's language: each text
    through `engine_text` (its templates and fixed texts; data such as a unit's name stays); numbers stay numbers."""
    return [[engine_text(v) if isinstance(v, str) else v for v in line] for line in table]


def _english() -> bool:
    return has_request_context() and current_language() == "en"


def _csv_cell(value: Cell, decimal_comma: bool = True) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.6f}".rstrip("0").rstrip(".")
        return text.replace(".", ",") if decimal_comma else text
    if isinstance(value, int):
        return str(value)
    return neutralise(str(value))


def to_csv(table: Sequence[Sequence[Cell]]) -> str:
    """Swedish: semicolons and decimal comma; English (the reader's language): commas and decimal point."""
    english = _english()
    out = io.StringIO()
    writer = csv.writer(out, delimiter="," if english else ";", lineterminator="\r\n")
    for line in table:
        writer.writerow([_csv_cell(v, decimal_comma=not english) for v in line])
    return "\ufeff" + out.getvalue()


# --- xlsx ---------------------------------------------------------------------------------------------------------

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "{sheets}</Types>"
)
_SHEET_TYPE = (
    '<Override PartName="/xl/worksheets/sheet{n}.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>'
    "</fills>"
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="4" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    "</styleSheet>"
)


def _column(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _sheet_xml(table: Sequence[Sequence[Cell]]) -> str:
    rows = []
    for r, line in enumerate(table, start=1):
        cells = []
        for c, value in enumerate(line):
            ref = f"{_column(c)}{r}"
            style = ' s="1"' if r == 1 else ""
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                text = escape(neutralise(str(value)))
                cells.append(f'<c r="{ref}" t="inlineStr"{style}><is><t xml:space="preserve">{text}</t></is></c>')
            else:
                number_style = ' s="2"' if isinstance(value, float) and r > 1 else style
                cells.append(f'<c r="{ref}"{number_style}><v>{value!r}</v></c>')
        rows.append(f'<row r="{r}">{"".join(cells)}</row>')
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" state="frozen"/></sheetView>'
        f"</sheetViews><sheetData>{''.join(rows)}</sheetData></worksheet>"
    )


def to_xlsx(sheets: Sequence[tuple[str, Sequence[Sequence[Cell]]]]) -> bytes:
    """A workbook with one sheet per (name, table)."""
    names = [escape(name[:31].translate({ord(c): " " for c in "[]:*?/\\"})) for name, _ in sheets]
    workbook = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
        + "".join(f'<sheet name="{name}" sheetId="{i}" r:id="rId{i}"/>' for i, name in enumerate(names, start=1))
        + "</sheets></workbook>"
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        + "".join(
            f'<Relationship Id="rId{i}" '
            'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
            f'Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, len(sheets) + 1)
        )
        + f'<Relationship Id="rId{len(sheets) + 1}" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
        "</Relationships>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        sheet_types = "".join(_SHEET_TYPE.format(n=i) for i in range(1, len(sheets) + 1))
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES.format(sheets=sheet_types))
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr("xl/_rels/workbook.xml.rels", rels)
        archive.writestr("xl/styles.xml", _STYLES)
        for i, (_, table) in enumerate(sheets, start=1):
            archive.writestr(f"xl/worksheets/sheet{i}.xml", _sheet_xml(table))
    return buffer.getvalue()
