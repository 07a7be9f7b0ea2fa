"""Arithmetic expressions over event fields, for histogram axes in a run config.

``FatJet.pfn.probs_top / (FatJet.pfn.probs_top + FatJet.pfn.probs_QCD)`` is
parsed once (Python's :mod:`ast`, never ``eval``) into a tree of numbers,
dotted field paths, ``+ - * / **``, unary minus and a few numpy functions
(:data:`FUNCTIONS`); anything else is refused with the offending piece named.
Evaluation works on awkward or numpy arrays of any jaggedness; a 0/0 gives
NaN, which ``hist`` puts in the overflow bin.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ExpressionError

__all__ = ["FUNCTIONS", "Expression", "ExpressionError", "parse_expression"]

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": np.abs,
    "sqrt": np.sqrt,
    "log": np.log,
    "log10": np.log10,
    "exp": np.exp,
    "minimum": np.minimum,
    "maximum": np.maximum,
}
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}


def _path(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _path(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


@dataclass(frozen=True)
class Expression:
    """A parsed expression; :attr:`fields` lists the dotted paths it reads."""

    text: str
    tree: ast.expr
    fields: tuple[str, ...]

    def evaluate(self, resolve: Callable[[str], Any]) -> Any:
        """Value of the expression, with each field path looked up by ``resolve``."""

        def ev(node: ast.AST) -> Any:
            path = _path(node)
            if path is not None:
                return resolve(path)
            if isinstance(node, ast.Constant):
                return node.value
            if isinstance(node, ast.UnaryOp):
                value = ev(node.operand)
                return -value if isinstance(node.op, ast.USub) else value
            if isinstance(node, ast.BinOp):
                return _BINARY[type(node.op)](ev(node.left), ev(node.right))
            assert isinstance(node, ast.Call)
            assert isinstance(node.func, ast.Name)
            return FUNCTIONS[node.func.id](*(ev(a) for a in node.args))

        with np.errstate(divide="ignore", invalid="ignore"):
            return ev(self.tree)


def parse_expression(text: str) -> Expression:
    """Parse and check ``text``; raises :class:`ExpressionError` naming what is wrong."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as e:
        msg = f"{text!r} is not an arithmetic expression ({e.msg})"
        raise ExpressionError(msg) from None
    fields: list[str] = []

    def check(node: ast.AST) -> None:
        path = _path(node)
        if path is not None:
            if path in FUNCTIONS:
                msg = f"{text!r}: {path!r} is a function; call it, e.g. {path}(x)"
                raise ExpressionError(msg)
            fields.append(path)
            return
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            if isinstance(node.value, bool):
                msg = f"{text!r}: booleans are not numbers here"
                raise ExpressionError(msg)
            return
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            check(node.operand)
            return
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            check(node.left)
            check(node.right)
            return
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in FUNCTIONS
            and not node.keywords
        ):
            for arg in node.args:
                check(arg)
            return
        msg = (
            f"{text!r}: {ast.unparse(node)!r} is not allowed "
            f"(numbers, field paths, + - * / **, and {', '.join(sorted(FUNCTIONS))})"
        )
        raise ExpressionError(msg)

    check(tree)
    if not fields:
        msg = f"{text!r} reads no field"
        raise ExpressionError(msg)
    return Expression(text, tree, tuple(dict.fromkeys(fields)))
