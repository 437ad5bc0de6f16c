import pytest

from engine.bpmn.timers import is_plain_iso, normalise_timer_expression


@pytest.mark.parametrize("text", ["PT24H", "P3D", "R/PT12H", "R3/2026-01-01T08:00/P1W", "2026-03-01T12:00", "P1W"])
def test_plain_iso_as_modellers_write_it(text):
    assert is_plain_iso(text)
    assert normalise_timer_expression(text) == repr(text)


@pytest.mark.parametrize("text", ["deadline('kallelse_sip')", "'PT24H'", "uppfoljningsdatum", "P3X", ""])
def test_expressions_are_left_as_expressions(text):
    assert not is_plain_iso(text)
