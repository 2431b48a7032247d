"""Checks of the non-tensor arguments of ops (operands, axes, shapes), done where the public functions take them.

The array libraries' own errors for these (``tuple index out of range``,
``unsupported operand type(s)``, ``integer modulo by zero``) name neither the
op nor the argument; these checks do, and cost a few hundred nanoseconds on
the happy path.
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Sequence
from typing import Any

from ..tensor import Tensor


class IndexOutOfRangeError(IndexError, ValueError):
    """An index outside its axis: an ``IndexError`` as Python's, and a ``ValueError`` like xpgrad's other refusals."""


def operand(op: str, x: Any, name: str = "x2") -> Any:
    """``x`` if it is a Tensor or a real Python/NumPy number; a TypeError naming ``op`` and ``name`` otherwise."""
    if isinstance(x, (Tensor, numbers.Real)):
        return x
    if hasattr(x, "shape") and hasattr(x, "dtype"):  # a raw array: the op's broadcasting and dtype rules decide
        return x
    raise TypeError(f"{op}: {name} must be a Tensor or a real number, got {type(x).__name__} ({_short(x)})")


def tensor(op: str, x: Any, name: str = "x") -> Tensor:
    """``x`` if it is a Tensor; a TypeError naming ``op`` and ``name`` otherwise."""
    if isinstance(x, Tensor):
        return x
    raise TypeError(f"{op}: {name} must be a Tensor, got {type(x).__name__} ({_short(x)}); make one with "
                    "xpgrad.tensor(...)")


def tensors(op: str, seq: Any) -> list[Tensor]:
    """A non-empty sequence of Tensors, as a list."""
    if isinstance(seq, Tensor) or not isinstance(seq, Sequence) or isinstance(seq, (str, bytes)):
        raise TypeError(f"{op}: expected a list or tuple of Tensors, got {type(seq).__name__}")
    if not seq:
        raise ValueError(f"{op}: needs at least one Tensor, got an empty {type(seq).__name__}")
    for i, t in enumerate(seq):
        tensor(op, t, f"entry {i}")
    return list(seq)


def index(op: str, value: Any, name: str) -> int:
    """``value`` as a Python int (ints and 0-d integer values; not bool or float)."""
    if isinstance(value, bool):
        raise TypeError(f"{op}: {name} must be an integer, got the bool {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{op}: {name} must be an integer, got {type(value).__name__} ({_short(value)})") from None


def axis(op: str, value: Any, ndim: int, *, new: bool = False) -> int:
    """One axis in ``[-n, n)`` as a non-negative int, where n is ``ndim`` (``ndim + 1`` for a new axis)."""
    n = ndim + 1 if new else ndim
    a = index(op, value, "axis")
    if not -n <= a < n:
        what = f"a tensor with {ndim} dimension{'s' if ndim != 1 else ''}"
        valid = f"[{-n}, {n})" if n else "no axis (the tensor is 0-d)"
        raise ValueError(f"{op}: axis {a} is out of range for {what}; valid: {valid}")
    return a % n


def axes(op: str, value: Any, ndim: int) -> tuple[int, ...]:
    """``None`` (every axis), one axis or a sequence of distinct axes, normalised to non-negative ints."""
    if value is None:
        return tuple(range(ndim))
    items = value if isinstance(value, (tuple, list)) else (value,)
    out = tuple(axis(op, a, ndim) for a in items)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: axis {tuple(value)} names an axis twice")
    return out


def shape(op: str, value: Any) -> tuple[int, ...]:
    """A shape: an int or a sequence of ints (each >= -1; -1 at most once for reshape to infer)."""
    items = (value,) if not isinstance(value, (tuple, list)) else value
    out = tuple(index(op, s, "shape entry") for s in items)
    if any(s < -1 for s in out) or out.count(-1) > 1:
        raise ValueError(f"{op}: shape {out} has a negative size (only one entry may be -1, to be inferred)")
    return out


def _short(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 40 else text[:37] + "..."
