"""The sandbox in which diagram conditions, scripts and timer expressions run (convention 10).

Two layers:
1. `check_source` — a static check at deploy: no imports, no names or attributes starting with `_`, no access to
   open/exec/eval/getattr and friends, no classes or generators. A diagram that fails it is refused with the element
   named.
2. `SandboxEnvironment` — the run-time: code compiled by RestrictedPython, a small allow-list of builtins, guarded
   attribute/item access, a bounded `range`, and a line/call budget with a wall-time limit enforced by a trace hook.

SpiffWorkflow's own `TaskDataEnvironment` is plain `eval`/`exec` and is never used: `engine.bpmn.workflow` sets this
environment on every workflow it creates or restores.
"""

from __future__ import annotations

import ast
import operator
import sys
import time
from collections.abc import Callable, Mapping
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

MAX_SECONDS = 1.0
MAX_RANGE = 100_000
MAX_STEPS = 200_000

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
    """Code that the sandbox refuses: raised at deploy (static check) or at run time (budget, guard)."""


class BudgetExceeded(SandboxViolation):
    pass


class _Checker(ast.NodeVisitor):
    def __init__(self) -> None:
        self.problems: list[str] = []

    def _bad(self, node: ast.AST, message: str) -> None:
        line = getattr(node, "lineno", None)
        self.problems.append(f"{message} (rad {line})" if line else message)

    def visit_Import(self, node: ast.Import) -> None:
        self._bad(node, "import är inte tillåtet")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self._bad(node, "import är inte tillåtet")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id.startswith("_"):
            self._bad(node, f"namnet {node.id!r} är inte tillåtet (börjar med _)")
        elif node.id in FORBIDDEN_NAMES:
            self._bad(node, f"{node.id!r} är inte tillåtet")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("_"):
            self._bad(node, f"attributet {node.attr!r} är inte tillåtet (börjar med _)")
        elif node.attr in {"format", "format_map", "mro", "gi_frame", "f_globals"}:
            self._bad(node, f"attributet {node.attr!r} är inte tillåtet")
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


def check_source(source: str, mode: str) -> list[str]:
    """Problems with `source` as an expression (mode 'eval') or a script (mode 'exec'); empty when it is allowed."""
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as exc:
        return [f"syntaxfel: {exc.msg} (rad {exc.lineno})"]
    checker = _Checker()
    checker.visit(tree)
    if checker.problems:
        return checker.problems
    result = (compile_restricted_eval if mode == "eval" else compile_restricted_exec)(source)
    return list(result.errors)


@lru_cache(maxsize=4096)
def _compile(source: str, mode: str) -> CodeType:
    problems = check_source(source, mode)
    if problems:
        raise SandboxViolation("; ".join(problems))
    result = (compile_restricted_eval if mode == "eval" else compile_restricted_exec)(source)
    assert result.code is not None
    return result.code


def _bounded_range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_RANGE:
        raise BudgetExceeded(f"range med {len(r)} element är för stort (högst {MAX_RANGE})")
    return r


_INPLACE = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "|=": operator.ior,
    "&=": operator.iand,
}


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    func = _INPLACE.get(op)
    if func is None:
        raise SandboxViolation(f"operatorn {op} är inte tillåten")
    return func(x, y)


_BUILTINS: dict[str, Any] = {
    "None": None,
    "True": True,
    "False": False,
    "len": len,
    "min": min,
    "max": max,
    "sum": sum,
    "sorted": sorted,
    "any": any,
    "all": all,
    "str": str,
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
    "Exception": Exception,
}

_GUARDS: dict[str, Any] = {
    "_getattr_": safer_getattr,
    "_getitem_": default_guarded_getitem,
    "_getiter_": default_guarded_getiter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": full_write_guard,
    "_inplacevar_": _inplacevar,
}


class _Budget:
    """A trace hook that stops runaway code: too many steps or too much wall time."""

    def __init__(self, max_seconds: float, max_steps: int):
        self.deadline = time.monotonic() + max_seconds
        self.steps_left = max_steps

    def __call__(self, frame: FrameType, event: str, arg: Any) -> Any:
        self.steps_left -= 1
        if self.steps_left <= 0:
            raise BudgetExceeded("koden tog för många steg")
        if self.steps_left % 256 == 0 and time.monotonic() > self.deadline:
            raise BudgetExceeded("koden tog för lång tid")
        return self


def _run_bounded(func: Callable[[], Any], max_seconds: float, max_steps: int) -> Any:
    previous = sys.gettrace()
    budget = _Budget(max_seconds, max_steps)
    sys.settrace(budget)
    try:
        return func()
    finally:
        sys.settrace(previous)


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
        code = _compile(script, "exec")
        namespace = self._namespace(context, external_context)
        before = set(namespace)
        injected = set(_GUARDS) | {"__builtins__"} | set(self._functions(context)) | set(external_context or {})
        _run_bounded(lambda: exec(code, namespace), self.max_seconds, self.max_steps)  # noqa: S102
        for key in list(context):
            if key in before and key not in namespace and not key.startswith("_"):
                del context[key]
        for key, value in namespace.items():
            if key.startswith("_") or key in injected or callable(value):
                continue
            context[key] = value
        return True

    def call_service(self, context: Any, **kwargs: Any) -> Any:
        raise SandboxViolation("tjänsteanrop (service tasks) stöds inte")
