"""Spreadsheet cells that cannot become formulas (CSV injection, OWASP "CSV Injection").

Every export (figures, pilots, the loggutdrag) puts staff-supplied text (a kommun's name, a task's name, a comment)
into cells that Excel and LibreOffice open. A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
(also after leading blanks, and in their full-width forms) would be read as a formula: such text is prefixed with an
apostrophe, which the spreadsheet shows as the text itself. Numbers stay numbers.
"""

from __future__ import annotations

FORMULA_STARTS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")


def neutralise(text: str) -> str:
    """`text` as it may stand in a spreadsheet cell: unchanged unless it could start a formula."""
    stripped = text.lstrip(" \u00a0")
    if stripped and (stripped[0] in FORMULA_STARTS or text[:1] in FORMULA_STARTS):
        return "'" + text
    return text
