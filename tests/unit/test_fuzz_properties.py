"""Issue 13: property-based tests (Hypothesis, the fixed profile in tests/conftest.py) over the data boundary, the
timer parser and the sandbox. Whatever they are given, they answer with a value or their own refusal, quickly:
never another exception, never a hang."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from engine.bpmn.sandbox import LimitReached, SandboxEnvironment, SandboxViolation, check_source
from engine.bpmn.timers import TimerRefused, timer_problem, validate_timer_value
from engine.domain import boundary

# --- the data boundary ---------------------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**17), max_value=10**17)
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15)
    | st.text(max_size=50).filter(lambda t: "\x00" not in t)
)
keys = st.text(max_size=20).filter(lambda k: k not in boundary.RESERVED_KEYS and "\x00" not in k)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5), max_leaves=40
)
anything = st.recursive(
    json_scalars
    | st.floats()
    | st.integers()
    | st.binary(max_size=10)
    | st.text(max_size=10)
    | st.sampled_from([float("nan"), float("inf"), range(3), {1, 2}, (1, 2), 1j, object()]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=12) | st.integers() | st.sampled_from(["typename"]), inner, max_size=4)
        | st.tuples(inner, inner)
    ),
    max_leaves=30,
)


@given(json_values)
def test_json_values_within_bounds_pass_and_survive_a_json_round_trip(value):
    checked = boundary.check_value(value, normalise=True)
    assert json.loads(json.dumps(checked, allow_nan=False)) == checked


@given(anything)
def test_the_boundary_answers_anything_with_the_value_or_a_refusal(value):
    try:
        checked = boundary.check_value(value, normalise=True)
    except boundary.DataRefused as exc:
        assert exc.reason
        return
    json.dumps(checked, allow_nan=False)  # whatever passed is storable JSON


@given(json_values, st.sampled_from([float("nan"), float("inf"), -float("inf")]))
def test_a_non_finite_number_anywhere_is_refused(value, bad):
    with pytest.raises(boundary.DataRefused):
        boundary.check_value({"a": [value, {"b": bad}]})


@given(anything)
def test_scrubbed_data_passes_the_boundary(value):
    scrubbed = boundary.scrub({"x": value})
    try:
        boundary.check_value(scrubbed)
    except boundary.DataRefused as exc:
        assert "för" in exc.reason  # only size and count limits remain (too large to repair automatically)


@given(st.integers(min_value=boundary.MAX_DEPTH + 1, max_value=2000))
def test_nesting_beyond_the_bound_is_refused(depth):
    value: Any = 1
    for _ in range(depth):
        value = [value]
    with pytest.raises(boundary.DataRefused):
        boundary.check_value(value)


# --- the timer parser ----------------------------------------------------------------------------------------------

iso_like = st.from_regex(r"\AR?\d{0,3}/?P(\d{1,12}Y)?(\d{1,4}M)?(\d{1,5}D)?(T(\d{1,6}H)?(\d{1,6}M)?(\d{1,6}S)?)?\Z")
dates = st.from_regex(r"\A\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?)?\Z")


@given(st.sampled_from(["duration", "date", "cycle"]), iso_like | dates | st.text(max_size=40) | st.integers())
def test_timer_values_are_answered_quickly_with_ok_or_a_refusal(kind, value):
    started = time.monotonic()
    try:
        validate_timer_value(kind, value)
    except TimerRefused as exc:
        assert str(exc)
    assert time.monotonic() - started < 0.5


@given(st.integers(min_value=1, max_value=36_000))
def test_durations_within_the_horizon_are_accepted_and_beyond_refused(days):
    assert timer_problem("duration", f"P{days}D") is None
    assert timer_problem("duration", f"P{days + 36_525}D") is not None


@given(st.sampled_from(["PT0S", "PT0M", "P0D", "PT0H0M0S"]), st.sampled_from(["R", "R5", "R10"]))
def test_cycles_with_no_period_are_refused(period, repeat):
    assert timer_problem("cycle", f"{repeat}/{period}") is not None


# --- the sandbox ---------------------------------------------------------------------------------------------------

numbers = st.integers(min_value=-(10**6), max_value=10**12).map(str) | st.sampled_from(["10**9", "2**64", "0", "1.5"])
texts = st.sampled_from(["'x'", "'ab'", "''", "'%d'", "'%999999d'", "'\\t'"])
atoms = numbers | texts | st.sampled_from(["[1, 2]", "[0]", "a", "s", "l"])
operators = st.sampled_from(["+", "*", "**", "<<", "%", "-", "//", "==", "<"])


@st.composite
def expressions(draw: Any, depth: int = 3) -> str:
    if depth == 0 or draw(st.booleans()):
        return draw(atoms)
    left = draw(expressions(depth - 1))
    right = draw(expressions(depth - 1))
    form = draw(st.sampled_from(["binop", "call", "method"]))
    if form == "binop":
        return f"({left} {draw(operators)} {right})"
    if form == "call":
        return f"{draw(st.sampled_from(['str', 'len', 'sum', 'range', 'list', 'sorted', 'int', 'abs']))}({left})"
    return f"{left}.{draw(st.sampled_from(['join', 'center', 'replace', 'zfill', 'upper', 'split']))}({right})"


ALLOWED = (
    LimitReached,
    SandboxViolation,
    ArithmeticError,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    AttributeError,
    NameError,
)


@given(expressions())
def test_generated_expressions_end_quickly_with_a_value_or_an_error_of_their_own(expression):
    assume(not check_source(expression, "eval"))
    env = SandboxEnvironment()
    started = time.monotonic()
    try:
        result = env.evaluate(expression, {"a": 7, "s": "text", "l": [1, 2, 3]})
    except ALLOWED:
        result = None
    assert time.monotonic() - started < 2.0, expression
    if isinstance(result, str | list):
        assert len(result) <= 1_000_000
    if isinstance(result, int):
        assert result.bit_length() <= 10_000


@given(
    st.sampled_from(
        ["while True:\n    x = 1\n", "for i in range(99999):\n    for j in range(99999):\n        x = i\n"]
    ),
    st.sampled_from(["except Exception", "except ValueError", "except (TypeError, ValueError)"]),
)
def test_no_allowed_handler_keeps_a_runaway_script_alive(loop, handler):
    script = "while True:\n    try:\n" + "".join("        " + line + "\n" for line in loop.splitlines())
    script += f"    {handler}:\n        x = 0\n"
    assert check_source(script, "exec") == []
    started = time.monotonic()
    with pytest.raises(LimitReached):
        SandboxEnvironment(max_seconds=0.1).execute(script, {})
    assert time.monotonic() - started < 2.0
