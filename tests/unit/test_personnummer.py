import pytest

from engine.domain import personnummer


def test_valid_personnummer_is_normalised_to_twelve_digits_with_dash():
    assert personnummer.normalise("191212121212") == "19121212-1212"
    assert personnummer.normalise(" 19121212-1212 ") == "19121212-1212"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("19121212-1213", "kontrollsiffran"),
        ("121212-1212", "fyra siffror"),
        ("19121312-1211", "födelsedatumet"),
        ("abc", "ÅÅÅÅMMDD"),
    ],
)
def test_invalid_personnummer_is_refused_with_a_reason(value, reason):
    with pytest.raises(ValueError, match=reason):
        personnummer.normalise(value)


def test_samordningsnummer_day_plus_sixty_is_accepted():
    serial = "238"
    digits = "7010" + "72" + serial  # 1970-10-12 + 60
    number = f"19{digits[:6]}-{serial}{personnummer.luhn_digit(digits)}"
    assert personnummer.is_valid(number)


def test_hsa_id_shape():
    assert personnummer.is_hsa_id("SE2321000057-VCEKSJO")
    assert not personnummer.is_hsa_id("SE232100005-X")
    assert not personnummer.is_hsa_id("SE2321000057-" + "A" * 30)


def test_a_unit_kind_has_one_spelling_whichever_way_it_is_written() -> None:
    """Issue 15: "vardcentral" (the case columns, pilots, filters) and "vårdcentral" (the directory) are one kind."""
    from engine.domain.organisation import UNIT_KINDS, UnitKind

    assert UnitKind.parse("vardcentral") is UnitKind.parse("Vårdcentral") is UnitKind.VARDCENTRAL
    assert UnitKind.parse("socialtjanst") is UnitKind.SOCIALTJANST and UnitKind.parse("ward") is None
    assert UnitKind.VARDCENTRAL.case_column == "vardcentral" and UnitKind.HEMSJUKVARD.case_column is None
    assert UNIT_KINDS == ("region", "kommun", "avdelning", "vårdcentral", "hemsjukvård", "socialtjänst")
