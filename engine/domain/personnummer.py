"""Swedish personnummer and samordningsnummer (Skatteverket): YYYYMMDD-NNNC, C a Luhn digit over YYMMDDNNN."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

_PATTERN = re.compile(r"^(\d{2})?(\d{2})(\d{2})(\d{2})([-+]?)(\d{3})(\d)$")
HSA_ID = re.compile(r"^SE\d{10}-[A-Za-z0-9]+$")


def luhn_digit(nine_digits: str) -> int:
    total = 0
    for index, char in enumerate(nine_digits):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


def normalise(value: str) -> str:
    """Return the canonical 12-digit form YYYYMMDD-NNNC or raise ValueError with a readable reason."""
    text = value.strip().replace(" ", "")
    match = _PATTERN.match(text)
    if not match:
        raise ValueError("personnumret ska skrivas ÅÅÅÅMMDD-NNNN")
    century, yy, mm, dd, sep, serial, check = match.groups()
    if century is None:
        raise ValueError("personnumret ska ha fyra siffror för året (ÅÅÅÅMMDD-NNNN)")
    if luhn_digit(f"{yy}{mm}{dd}{serial}") != int(check):
        raise ValueError("kontrollsiffran stämmer inte")
    day = int(dd)
    if day > 60:  # samordningsnummer: day of birth + 60
        day -= 60
    try:
        date(int(century + yy), int(mm), day)
    except ValueError as exc:
        raise ValueError("födelsedatumet finns inte") from exc
    return f"{century}{yy}{mm}{dd}-{serial}{check}"


def is_valid(value: str) -> bool:
    try:
        normalise(value)
    except ValueError:
        return False
    return True


def is_hsa_id(value: str) -> bool:
    return len(value) <= 31 and bool(HSA_ID.match(value))


def birth_date(personnummer: Any) -> date | None:
    """The date of birth in a personnummer or samordningsnummer (day + 60) written YYYYMMDD-NNNN, or None."""
    if not isinstance(personnummer, str):
        return None
    digits = personnummer.replace("-", "").replace("+", "").strip()
    if len(digits) != 12 or not digits.isdigit():
        return None
    day = int(digits[6:8])
    if day > 60:
        day -= 60
    try:
        return date(int(digits[0:4]), int(digits[4:6]), day)
    except ValueError:
        return None
