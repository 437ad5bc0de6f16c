"""The sandbox in which diagram conditions, scripts and timer expressions run (conventions 10 and 16).

Two layers:
1. `check_source` — a static check at deploy: no imports, no names or attributes starting with `_`, no access to
   open/exec/eval/getattr and friends, no classes, generators or `with`, and no `except` that could catch the
   engine's limit error (only named ordinary exceptions such as ValueError may be caught). A diagram that fails it is
   refused with the element named.
2. `SandboxEnvironment` — the run-time: code compiled by RestrictedPython with our policy (every `*`, `**`, `+`,
   `<<` and `%` becomes a call of a guard that refuses a result that would be too large before it is made),
   a small allow-list of builtins, guarded attribute/item access (string methods that grow a text are bounded),
   and a budget per command: steps, wall time and allocation, shared by every expression and script of one command
   and by the engine's own steps (`CommandBudget`, opened by the service layer around each command's engine run).

The limits live outside the sandboxed code (convention 16). A limit that is hit raises `BudgetExceeded`, which
derives from BaseException: `except Exception` in a script does not catch it, and a handler that could (a bare
`except:`, `except BaseException`) is refused at deploy. The budget stays exhausted once hit: every further step,
guard or evaluation in the command raises again, and a watchdog thread raises it asynchronously in the evaluating
thread if the code is still running shortly after the deadline (a trace hook that raises is switched off by
Python, so the hook alone could be outlived). At the sandbox's edge it becomes `LimitReached`, an ordinary
exception that SpiffWorkflow attaches to the task: the step ends as an incident naming the element.

SpiffWorkflow's own `TaskDataEnvironment` is plain `eval`/`exec` and is never used: `engine.bpmn.workflow` sets this
environment on every workflow it creates or restores.
"""

from __future__ import annotations

import ast
import contextvars
import ctypes
import operator
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from types import CodeType, FrameType
from typing import Any

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)
from RestrictedPython.transformer import RestrictingNodeTransformer

from engine.domain import boundary
from engine.domain.text import Text

# One expression or script.
MAX_SECONDS = 1.0
MAX_STEPS = 200_000
# One command (every expression and script it runs, and the engine's own steps between them).
MAX_COMMAND_SECONDS = 3.0
MAX_COMMAND_STEPS = 1_000_000
MAX_ENGINE_STEPS = 500  # tasks the engine completes in one command (SpiffWorkflow stops silently at a depth of 1000)
MAX_COMMAND_ALLOCATION = 32_000_000  # characters and list items made by guarded operations in one command
# Single operations.
MAX_RANGE = 100_000
MAX_SEQUENCE = 100_000  # items of a list or tuple made by +, * or extend
MAX_STRING = 1_000_000  # characters of a text made by +, *, %, join, replace, padding or str()
MAX_INT_BITS = 10_000  # about 3 000 decimal digits (Python itself refuses int <-> str beyond 4 300)
WATCHDOG_GRACE_SECONDS = 0.25  # after the deadline, before the watchdog interrupts code that outlived its hook

FORBIDDEN_NAMES = frozenset(
    {
        "open",
        "exec",
        "eval",
        "compile",
        "globals",
        "locals",
        "vars",
        "getattr",
        "setattr",
        "delattr",
        "input",
        "breakpoint",
        "help",
        "memoryview",
        "type",
        "object",
        "super",
        "classmethod",
        "staticmethod",
        "property",
        "exit",
        "quit",
        "dir",
        "id",
        "print",
        "format",
        "bytearray",
        "__import__",
    }
)


class SandboxViolation(Exception):
    """Code that the sandbox refuses: raised at deploy (static check) or at run time (guard)."""


class BudgetExceeded(BaseException):  # noqa: N818 - the name says what happened
    """A limit was hit inside sandboxed code. BaseException, so that `except Exception` in a script cannot catch it;
    it never leaves the sandbox as such (see `LimitReached`)."""


class LimitReached(SandboxViolation):
    """A limit was hit (steps, time, allocation, a single operation): what the engine sees, an ordinary exception
    that SpiffWorkflow attaches to the running task, so the incident names the element. `task` is set when the
    engine's own step count ran out between tasks."""

    def __init__(self, message: str, task: Any = None):
        super().__init__(message)
        self.task = task


CATCHABLE_EXCEPTIONS = frozenset(
    {"Exception", "ValueError", "KeyError", "TypeError", "IndexError", "ZeroDivisionError", "ArithmeticError"}
)


_BIG_WIDTH = re.compile(r"\d{4,}|\*")  # a format width or precision of 1000 or more, or one taken from the data


class _Checker(ast.NodeVisitor):
    def __init__(self) -> None:
        self.problems: list[str] = []

    def _bad(self, node: ast.AST, message: str) -> None:
        line = getattr(node, "lineno", None)
        self.problems.append(Text("%(message)s (rad %(line)s)", message=message, line=line) if line else message)

    def _bound_name(self, node: ast.AST, name: str | None) -> None:
        """A name the code binds (assignment, loop variable, argument, `except ... as`) may not hide a builtin: an
        `except ValueError` must mean the real ValueError."""
        if name is not None and name in _BUILTINS:
            self._bad(node, Text("namnet %(name)r är reserverat och kan inte ges ett nytt värde", name=name))

    def visit_Import(self, node: ast.Import) -> None:
        self._bad(node, "import är inte tillåtet")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self._bad(node, "import är inte tillåtet")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id.startswith("_"):
            self._bad(node, Text("namnet %(id)r är inte tillåtet (börjar med _)", id=node.id))
        elif node.id in FORBIDDEN_NAMES:
            self._bad(node, Text("%(id)r är inte tillåtet", id=node.id))
        elif not isinstance(node.ctx, ast.Load):
            self._bound_name(node, node.id)
        self.generic_visit(node)

    def visit_arg(self, node: ast.arg) -> None:
        self._bound_name(node, node.arg)
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("_"):
            self._bad(node, Text("attributet %(attr)r är inte tillåtet (börjar med _)", attr=node.attr))
        elif node.attr in {"format", "format_map", "mro", "gi_frame", "f_globals"}:
            self._bad(node, Text("attributet %(attr)r är inte tillåtet", attr=node.attr))
        self.generic_visit(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        caught = node.type
        names = caught.elts if isinstance(caught, ast.Tuple) else [caught] if caught is not None else []
        if caught is None:
            self._bad(node, "except utan undantagstyp är inte tillåtet (ange t.ex. except ValueError)")
        for name in names:
            if not (isinstance(name, ast.Name) and name.id in CATCHABLE_EXCEPTIONS):
                allowed = ", ".join(sorted(CATCHABLE_EXCEPTIONS))
                self._bad(node, Text("except får bara fånga %(allowed)s", allowed=allowed))
        self._bound_name(node, node.name)
        self.generic_visit(node)

    def visit_TryStar(self, node: ast.AST) -> None:
        self._bad(node, "except* är inte tillåtet")

    def visit_With(self, node: ast.With) -> None:
        self._bad(node, "with är inte tillåtet")

    def visit_AsyncWith(self, node: ast.AsyncWith) -> None:
        self._bad(node, "async är inte tillåtet")

    def visit_FormattedValue(self, node: ast.FormattedValue) -> None:
        spec = node.format_spec
        if spec is not None:
            parts = spec.values if isinstance(spec, ast.JoinedStr) else [spec]
            for part in parts:
                if not (isinstance(part, ast.Constant) and isinstance(part.value, str)):
                    self._bad(node, "formatet i en f-sträng måste vara fast text")
                elif _BIG_WIDTH.search(part.value):
                    self._bad(node, "formatet i en f-sträng har för stor bredd eller precision")
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._bad(node, "klasser är inte tillåtna")

    def visit_Global(self, node: ast.Global) -> None:
        self._bad(node, "global är inte tillåtet")

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self._bad(node, "nonlocal är inte tillåtet")

    def visit_Yield(self, node: ast.Yield) -> None:
        self._bad(node, "yield är inte tillåtet")

    def visit_YieldFrom(self, node: ast.YieldFrom) -> None:
        self._bad(node, "yield är inte tillåtet")

    def visit_Await(self, node: ast.Await) -> None:
        self._bad(node, "await är inte tillåtet")

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._bad(node, "async är inte tillåtet")


_BINOPS = {
    ast.Add: "+",
    ast.Mult: "*",
    ast.Pow: "**",
    ast.LShift: "<<",
    ast.Mod: "%",
}


class _BoundingPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy, plus: the operators that can make a huge value in one step (`+ * ** << %`) become
    calls of `_binop_`, and every value formatted into an f-string passes `_fmt_`, both of which look at the
    operands' sizes before Python builds the result."""

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = self.node_contents_visit(node)
        symbol = _BINOPS.get(type(node.op))
        if symbol is None:
            return node
        call = ast.Call(
            func=ast.Name("_binop_", ast.Load()), args=[ast.Constant(symbol), node.left, node.right], keywords=[]
        )
        return ast.fix_missing_locations(ast.copy_location(call, node))

    def visit_FormattedValue(self, node: ast.FormattedValue) -> Any:
        node = self.node_contents_visit(node)
        node.value = ast.fix_missing_locations(
            ast.copy_location(ast.Call(func=ast.Name("_fmt_", ast.Load()), args=[node.value], keywords=[]), node.value)
        )
        return node


def _restricted(source: str, mode: str) -> Any:
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    return compiler(source, policy=_BoundingPolicy)


def check_source(source: str, mode: str) -> list[str]:
    """Problems with `source` as an expression (mode 'eval') or a script (mode 'exec'); empty when it is allowed."""
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as exc:
        return [Text("syntaxfel: %(msg)s (rad %(lineno)s)", msg=exc.msg, lineno=exc.lineno)]
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes; nesting too deep for the parser
        return [Text("koden kan inte tolkas: %(kind)s", kind=exc.__class__.__name__)]
    checker = _Checker()
    try:
        checker.visit(tree)
    except RecursionError:
        return ["koden är för djupt nästlad"]
    if checker.problems:
        return checker.problems
    try:
        result = _restricted(source, mode)
    except RecursionError:
        return ["koden är för djupt nästlad"]
    return list(result.errors)


@lru_cache(maxsize=4096)
def _compile(source: str, mode: str) -> CodeType:
    problems = check_source(source, mode)
    if problems:
        raise SandboxViolation("; ".join(problems))
    result = _restricted(source, mode)
    assert result.code is not None
    return result.code


# --- the budget -------------------------------------------------------------------------------------------------


@dataclass
class CommandBudget:
    """What one command may spend in sandboxed code and engine steps. Once `exhausted` is set it stays set: every
    later step, guard or evaluation in the command raises again."""

    deadline: float
    steps_left: int = MAX_COMMAND_STEPS
    engine_steps_left: int = MAX_ENGINE_STEPS
    allocation_left: int = MAX_COMMAND_ALLOCATION
    exhausted: str | None = None

    @classmethod
    def start(
        cls,
        max_seconds: float = MAX_COMMAND_SECONDS,
        max_steps: int = MAX_COMMAND_STEPS,
        max_engine_steps: int = MAX_ENGINE_STEPS,
        max_allocation: int = MAX_COMMAND_ALLOCATION,
    ) -> CommandBudget:
        return cls(time.monotonic() + max_seconds, max_steps, max_engine_steps, max_allocation)

    def exhaust(self, reason: str) -> BudgetExceeded:
        if self.exhausted is None:
            self.exhausted = reason
        return BudgetExceeded(self.exhausted)


_command: contextvars.ContextVar[CommandBudget | None] = contextvars.ContextVar("samflode_budget", default=None)


@contextmanager
def command_budget(budget: CommandBudget | None = None) -> Iterator[CommandBudget]:
    """The budget of one command's engine run (Runtime._advance opens it around the command's action)."""
    budget = budget or CommandBudget.start()
    token = _command.set(budget)
    try:
        yield budget
    finally:
        _command.reset(token)


def charge_engine_step(task: Any) -> None:
    """Called by the engine after every task it completes: a diagram that loops (script tasks and gateways round
    and round) ends as an incident at the element where the budget ran out, with the workflow in a consistent
    state (between two tasks)."""
    budget = _command.get()
    if budget is None:
        return
    if budget.exhausted is None:
        budget.engine_steps_left -= 1
        if budget.engine_steps_left < 0:
            budget.exhausted = Text(
                "processen tog för många steg i ett kommando (högst %(max_engine_steps)s)",
                max_engine_steps=MAX_ENGINE_STEPS,
            )
        elif time.monotonic() > budget.deadline:
            budget.exhausted = Text(
                "kommandot tog för lång tid (högst %(max_command_seconds)g s)", max_command_seconds=MAX_COMMAND_SECONDS
            )
    if budget.exhausted is not None:
        raise LimitReached(budget.exhausted, task)


class _Evaluation:
    """The budget of one evaluation (an expression or a script) inside its command's: a trace hook counts steps and
    watches the clock; the guards charge what they allocate."""

    def __init__(self, command: CommandBudget, max_seconds: float, max_steps: int):
        self.command = command
        self.deadline = min(time.monotonic() + max_seconds, command.deadline)
        self.steps_left = min(max_steps, command.steps_left)
        self.max_steps = self.steps_left
        self.trusted = 0  # > 0 while the platform's own helper code runs (`trusted_call`): not the diagram's time

    def fail(self, reason: str) -> BudgetExceeded:
        return self.command.exhaust(reason)

    def __call__(self, frame: FrameType, event: str, arg: Any) -> Any:
        if self.command.exhausted is not None:
            raise BudgetExceeded(self.command.exhausted)
        self.steps_left -= 1
        if self.steps_left <= 0:
            raise self.fail("koden tog för många steg")
        if self.steps_left % 256 == 0 and time.monotonic() > self.deadline:
            raise self.fail("koden tog för lång tid")
        return self

    def charge(self, amount: int) -> None:
        command = self.command
        if command.exhausted is not None:
            raise BudgetExceeded(command.exhausted)
        command.allocation_left -= amount
        if command.allocation_left < 0:
            raise self.fail(
                Text(
                    "koden skapade för mycket data (högst %(max_command_allocation)s tecken/element)",
                    max_command_allocation=MAX_COMMAND_ALLOCATION,
                )
            )

    def close(self) -> None:
        self.command.steps_left -= self.max_steps - max(self.steps_left, 0)


_evaluation: contextvars.ContextVar[_Evaluation | None] = contextvars.ContextVar("samflode_evaluation", default=None)


class _Watchdog:
    """One daemon thread that interrupts evaluations still running shortly after their deadline: it raises
    BudgetExceeded in the evaluating thread (PyThreadState_SetAsyncExc), again and again until the evaluation ends.
    That reaches code that caught the first error or outlived the trace hook; a single C-level operation is not
    interrupted, which is why single operations are bounded by the guards."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active: dict[int, tuple[int, _Evaluation]] = {}  # thread id -> (token, evaluation)
        self._next_token = 0
        self._thread: threading.Thread | None = None
        self._wake_at: float | None = None  # when the thread wakes next (None: it waits until told)
        self.interrupts = 0

    def register(self, evaluation: _Evaluation) -> int:
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="samflode-sandbox-watchdog", daemon=True)
                self._thread.start()
            self._next_token += 1
            self._active[threading.get_ident()] = (self._next_token, evaluation)
            due = evaluation.deadline + WATCHDOG_GRACE_SECONDS
            if self._wake_at is None or due < self._wake_at:
                self._cond.notify()  # only when the thread would wake too late: not a thread switch per evaluation
            return self._next_token

    def unregister(self, token: int) -> None:
        ident = threading.get_ident()
        with self._cond:
            current = self._active.get(ident)
            if current is not None and current[0] == token:
                del self._active[ident]
        # An interrupt set just before is delivered at the next Python call: here, where the caller still turns it
        # into LimitReached, not later in the engine's own code. (Clearing it with PyThreadState_SetAsyncExc(id,
        # NULL) instead leaves CPython 3.11's eval breaker set, which slows the thread to a crawl.)
        _deliver_pending_interrupt()

    def _run(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                wait: float | None = None
                for ident, (_token, evaluation) in list(self._active.items()):
                    due = evaluation.deadline + WATCHDOG_GRACE_SECONDS
                    if evaluation.trusted:
                        due = max(due, now + WATCHDOG_GRACE_SECONDS)  # look again after the trusted code
                    elif now >= due:
                        evaluation.command.exhaust("koden tog för lång tid")
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(
                            ctypes.c_ulong(ident), ctypes.py_object(BudgetExceeded)
                        )
                        self.interrupts += 1
                        due = now + WATCHDOG_GRACE_SECONDS
                    wait = due - now if wait is None else min(wait, due - now)
                self._wake_at = None if wait is None else now + wait
                self._cond.wait(timeout=wait)


@contextmanager
def trusted_call() -> Iterator[None]:
    """Run the platform's own helper code (deadline(), deadline_at(): loading a year's holidays is tens of thousands
    of Python steps) from inside an evaluation without charging it to the diagram: no trace hook, the watchdog
    holds off, and the time it took is added to the evaluation's and the command's deadlines."""
    evaluation = _evaluation.get()
    previous = sys.gettrace()
    sys.settrace(None)
    started = time.monotonic()
    if evaluation is not None:
        evaluation.trusted += 1
    try:
        yield
    finally:
        if evaluation is not None:
            spent = time.monotonic() - started
            evaluation.deadline += spent
            evaluation.command.deadline += spent
            evaluation.trusted -= 1
        sys.settrace(previous)


def _deliver_pending_interrupt() -> None:
    """A Python call: where CPython delivers an asynchronous exception that is pending."""


_WATCHDOG = _Watchdog()


def _run_bounded(func: Callable[[], Any], max_seconds: float, max_steps: int) -> Any:
    command = _command.get() or CommandBudget.start(max_seconds=max_seconds, max_steps=max_steps)
    if command.exhausted is not None:
        raise LimitReached(command.exhausted)
    evaluation = _Evaluation(command, max_seconds, max_steps)
    previous_trace = sys.gettrace()
    outer = _evaluation.set(evaluation)
    token = _WATCHDOG.register(evaluation)
    try:
        try:
            sys.settrace(evaluation)
            try:
                return func()
            finally:
                sys.settrace(previous_trace)
                _WATCHDOG.unregister(token)
        except BudgetExceeded as exc:
            _WATCHDOG.unregister(token)  # again: an interrupt may have cut the first call short
            raise LimitReached(command.exhausted or str(exc) or "koden tog för lång tid") from None
        except RecursionError:
            raise LimitReached("koden anropar sig själv för djupt") from None
        except MemoryError:
            raise LimitReached("koden tog för mycket minne") from None
    finally:
        evaluation.close()
        _evaluation.reset(outer)


# --- guards for single operations ---------------------------------------------------------------------------------


def _current() -> _Evaluation | None:
    return _evaluation.get()


def _refuse(reason: str) -> BudgetExceeded:
    evaluation = _current()
    return evaluation.fail(reason) if evaluation is not None else BudgetExceeded(reason)


def _charge(amount: int) -> None:
    evaluation = _current()
    if evaluation is not None:
        evaluation.charge(amount)


def _size_of(value: Any, cap: int) -> int:
    """The length a value would have as text (str() of it), counted only up to `cap`: str() of a list that holds
    one big text a hundred thousand times is refused without building it."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item) + 2
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            stack.extend(item)
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 + 2
        else:
            total += 24
        if total > cap:
            return total
    return total


def _check_text(length: int) -> None:
    if length > MAX_STRING:
        raise _refuse(
            Text(
                "texten skulle bli för lång (%(length)s tecken, högst %(max_string)s)",
                length=length,
                max_string=MAX_STRING,
            )
        )
    _charge(length)


def _check_sequence(length: int) -> None:
    if length > MAX_SEQUENCE:
        raise _refuse(
            Text(
                "listan skulle bli för lång (%(length)s element, högst %(max_sequence)s)",
                length=length,
                max_sequence=MAX_SEQUENCE,
            )
        )
    _charge(length)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_int_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise _refuse(Text("talet skulle bli för stort (mer än %(max_int_bits)s bitar)", max_int_bits=MAX_INT_BITS))


def _repeat_length(a: Any, b: Any) -> tuple[Any, int] | None:
    for seq, count in ((a, b), (b, a)):
        if isinstance(seq, str | bytes | list | tuple) and _is_int(count):
            return seq, len(seq) * max(count, 0)
    return None


def _binop(symbol: str, a: Any, b: Any) -> Any:
    if symbol == "*":
        repeated = _repeat_length(a, b)
        if repeated is not None:
            seq, length = repeated
            (_check_text if isinstance(seq, str | bytes) else _check_sequence)(length)
        elif _is_int(a) and _is_int(b):
            _check_int_bits(a.bit_length() + b.bit_length())
        return a * b
    if symbol == "+":
        if isinstance(a, str | bytes) and isinstance(b, str | bytes):
            _check_text(len(a) + len(b))
        elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
            _check_sequence(len(a) + len(b))
        return a + b
    if symbol == "**":
        if _is_int(a) and _is_int(b) and b > 0 and abs(a) > 1:
            _check_int_bits(a.bit_length() * b)
        return a**b
    if symbol == "<<":
        if _is_int(a) and _is_int(b) and a != 0:
            _check_int_bits(a.bit_length() + b)
        return a << b
    if symbol == "%":
        if isinstance(a, str | bytes):
            text = a if isinstance(a, str) else a.decode("latin-1")
            if re.search(r"%[-#0 +]*(\*|\d{4,}|\d*\.(\*|\d{4,}))", text):
                raise _refuse("formatet med % har för stor bredd eller precision")
            _check_text(len(a) + _size_of(b, MAX_STRING + 1))
        return a % b
    raise SandboxViolation(Text("operatorn %(symbol)s är inte tillåten", symbol=symbol))


def _fmt(value: Any) -> Any:
    if not isinstance(value, int | float | bool | type(None)):
        _check_text(_size_of(value, MAX_STRING + 1))
    elif isinstance(value, int) and not isinstance(value, bool):
        _check_int_bits(value.bit_length())
    return value


def _bounded_range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_RANGE:
        raise _refuse(
            Text("range med %(count)s element är för stort (högst %(max_range)s)", count=len(r), max_range=MAX_RANGE)
        )
    return r


def _bounded_str(*args: Any) -> str:
    if args:
        _fmt(args[0])
    return str(*args)


def _bounded_sum(values: Any, start: Any = 0) -> Any:
    if not isinstance(start, int | float):
        raise SandboxViolation("sum() summerar bara tal")
    total = start
    for value in values:
        if not isinstance(value, int | float):
            raise SandboxViolation("sum() summerar bara tal")
        total = _binop("+", total, value)
    return total


def _bounded_join(separator: str | bytes) -> Callable[[Any], Any]:
    def join(items: Any) -> Any:
        items = list(items)
        _check_sequence(len(items))
        _check_text(sum(len(i) if isinstance(i, str | bytes) else 0 for i in items) + len(separator) * len(items))
        return separator.join(items)

    return join


def _bounded_pad(text: str | bytes, name: str) -> Callable[..., Any]:
    method = getattr(text, name)

    def pad(width: Any, *rest: Any) -> Any:
        if _is_int(width):
            _check_text(width)
        return method(width, *rest)

    return pad


def _bounded_replace(text: str | bytes) -> Callable[..., Any]:
    def replace(old: Any, new: Any, count: int = -1) -> Any:
        if isinstance(old, str | bytes) and isinstance(new, str | bytes):
            hits = text.count(old) if old else len(text) + 1  # type: ignore[arg-type]
            if count >= 0:
                hits = min(hits, count)
            _check_text(len(text) + hits * max(len(new) - len(old), 0))
        return text.replace(old, new, count)

    return replace


def _bounded_expandtabs(text: str | bytes) -> Callable[..., Any]:
    def expandtabs(tabsize: int = 8) -> Any:
        if _is_int(tabsize):
            _check_text(len(text) + text.count("\t" if isinstance(text, str) else b"\t") * max(tabsize, 0))  # type: ignore[arg-type]
        return text.expandtabs(tabsize)

    return expandtabs


def _bounded_extend(target: list[Any]) -> Callable[[Any], None]:
    def extend(items: Any) -> None:
        items = list(items)
        _check_sequence(len(target) + len(items))
        target.extend(items)

    return extend


def _guarded_getattr(obj: Any, name: str, *default: Any) -> Any:
    """safer_getattr, with the text and list methods that can grow a value bounded like the operators."""
    if isinstance(obj, str | bytes):
        if name == "join":
            return _bounded_join(obj)
        if name in ("center", "ljust", "rjust", "zfill"):
            return _bounded_pad(obj, name)
        if name == "replace":
            return _bounded_replace(obj)
        if name == "expandtabs":
            return _bounded_expandtabs(obj)
    if isinstance(obj, list) and name == "extend":
        return _bounded_extend(obj)
    return safer_getattr(obj, name, *default)


_INPLACE = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "|=": operator.ior,
    "&=": operator.iand,
    "**=": operator.ipow,
    "<<=": operator.ilshift,
}


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    func = _INPLACE.get(op)
    if func is None:
        raise SandboxViolation(Text("operatorn %(op)s är inte tillåten", op=op))
    if op in ("+=", "*=", "**=", "<<=", "%="):
        symbol = op[:-1]
        if isinstance(x, list) and symbol == "+":  # list += stays in place (another name may hold the list)
            _check_sequence(len(x) + len(y) if hasattr(y, "__len__") else MAX_SEQUENCE + 1)
            return func(x, y)
        if isinstance(x, list) and symbol == "*":
            _binop("*", x, y)  # checks the length only for a list; the list itself is changed in place below
            return func(x, y)
        return _binop(symbol, x, y)
    return func(x, y)


_BUILTINS: dict[str, Any] = {
    "None": None,
    "True": True,
    "False": False,
    "len": len,
    "min": min,
    "max": max,
    "sum": _bounded_sum,
    "sorted": sorted,
    "any": any,
    "all": all,
    "str": _bounded_str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list,
    "dict": dict,
    "set": set,
    "tuple": tuple,
    "round": round,
    "abs": abs,
    "range": _bounded_range,
    "enumerate": enumerate,
    "zip": zip,
    "reversed": reversed,
    "isinstance": isinstance,
    "divmod": divmod,
    "ValueError": ValueError,
    "KeyError": KeyError,
    "TypeError": TypeError,
    "IndexError": IndexError,
    "ZeroDivisionError": ZeroDivisionError,
    "ArithmeticError": ArithmeticError,
    "Exception": Exception,
}

_GUARDS: dict[str, Any] = {
    "_getattr_": _guarded_getattr,
    "_getitem_": default_guarded_getitem,
    "_getiter_": default_guarded_getiter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": full_write_guard,
    "_inplacevar_": _inplacevar,
    "_binop_": _binop,
    "_fmt_": _fmt,
}


FunctionsFactory = Callable[[Mapping[str, Any]], dict[str, Callable[..., Any]]]


class SandboxEnvironment:
    """The script environment handed to SpiffWorkflow's PythonScriptEngine.

    `functions` builds the helper functions (deadline(), deadline_at(), ...) for one evaluation, given the task data,
    so that they can read the case's agreement.
    """

    def __init__(
        self,
        functions: FunctionsFactory | None = None,
        max_seconds: float = MAX_SECONDS,
        max_steps: int = MAX_STEPS,
    ):
        self._functions = functions or (lambda data: {})
        self.max_seconds = max_seconds
        self.max_steps = max_steps
        # SpiffWorkflow reads .globals in a few places (e.g. when checking for overwritten names).
        self.globals: dict[str, Any] = {}

    def _namespace(self, context: Mapping[str, Any], external_context: Mapping[str, Any] | None) -> dict[str, Any]:
        namespace: dict[str, Any] = {"__builtins__": _BUILTINS}
        namespace.update(_GUARDS)
        namespace.update(self._functions(context))
        for key, value in (external_context or {}).items():
            if not key.startswith("_"):
                namespace[key] = value
        for key, value in context.items():
            if not key.startswith("_"):
                namespace[key] = value
        return namespace

    def evaluate(self, expression: str, context: Mapping[str, Any], external_context: Any = None) -> Any:
        code = _compile(expression.strip(), "eval")
        namespace = self._namespace(context, external_context)
        return _run_bounded(lambda: eval(code, namespace), self.max_seconds, self.max_steps)  # noqa: S307

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        """Run a script task's script; what it leaves in its variables becomes task data only if every value passes
        the data boundary (engine/domain/boundary.py). Otherwise nothing is written and the step fails (an incident
        naming the variable): a range, bytes, a circular list or a 5 000-digit number is never stored."""
        code = _compile(script, "exec")
        namespace = self._namespace(context, external_context)
        before = set(namespace)
        injected = set(_GUARDS) | {"__builtins__"} | set(self._functions(context)) | set(external_context or {})
        _run_bounded(lambda: exec(code, namespace), self.max_seconds, self.max_steps)  # noqa: S102
        results: dict[str, Any] = {}
        for key, value in namespace.items():
            if key.startswith("_") or key in injected or callable(value):
                continue
            if key in context and value is context[key]:
                continue  # unchanged (the same object: lists changed in place are checked below with the rest)
            results[key] = value
        for key in context:
            if key in namespace and key not in results and isinstance(context[key], list | dict):
                results[key] = namespace[key]  # a list or dict changed in place
        try:
            checked = {key: boundary.check_value(value, f"{key}", normalise=True) for key, value in results.items()}
            boundary.check_data({**context, **checked}, "data")
        except boundary.DataRefused as exc:
            raise SandboxViolation(
                Text("skriptets resultat kan inte lagras: %(path)s: %(reason)s", path=exc.path, reason=exc.reason)
            ) from None
        for key in list(context):
            if key in before and key not in namespace and not key.startswith("_"):
                del context[key]
        context.update(checked)
        return True

    def call_service(self, context: Any, **kwargs: Any) -> Any:
        raise SandboxViolation("tjänsteanrop (service tasks) stöds inte")
