"""Comparisons, logic, bitwise operations and floating-point tests of the array API standard.

Their results are boolean or integer, so they record nothing in the graph
(a tensor that requires grad goes in, a plain tensor comes out). Binary ones
take a Python scalar on one side, weak in type promotion (2024.12).
"""

from __future__ import annotations

import numbers
from typing import Any

from .. import tracing as _tracing
from ..function import LIBRARY_ERRORS
from ..tensor import Tensor
from . import arguments as _arg
from . import nondiff as _nd

__all__ = ["bitwise_and", "bitwise_invert", "bitwise_left_shift", "bitwise_or", "bitwise_right_shift",
           "bitwise_xor", "equal", "greater", "greater_equal", "isfinite", "isinf", "isnan", "less", "less_equal",
           "logical_and", "logical_not", "logical_or", "logical_xor", "not_equal", "signbit"]

Operand = Any  # a Tensor, a Python scalar (bool, int, float, complex) or a raw backend array
_SCALARS = (bool, int, float, complex)
_make = Tensor._make


def _binary(name: str, x1: Any, x2: Any) -> Tensor:
    """``xp.<name>(x1, x2)`` on the tensors' backend, unrecorded; one Python scalar side allowed."""
    # Fast path (comparisons run in every accuracy computation): one tensor and a Python scalar, or two
    # tensors of one single-device backend. Anything else, and every error, goes through nondiff.call.
    if isinstance(x1, Tensor):
        backend = x1._backend
        if isinstance(x2, Tensor):
            fast = x2._backend is backend and not backend.multi_device
            y = x2.data
        else:
            fast, y = isinstance(x2, _SCALARS), x2
        if fast:
            try:
                out = _make(getattr(backend.xp, name)(x1.data, y), backend)
            except LIBRARY_ERRORS:  # redone below, for an error that names the op and the inputs
                pass
            else:
                if _tracing.active is not None:  # xpgrad.compile: a replay computes it again
                    _tracing.record_call(getattr(backend.xp, name), (x1, x2), {}, out)
                return out
    elif isinstance(x2, Tensor) and isinstance(x1, _SCALARS):
        backend = x2._backend
        try:
            out = _make(getattr(backend.xp, name)(x1, x2.data), backend)
        except LIBRARY_ERRORS:
            pass
        else:
            if _tracing.active is not None:
                _tracing.record_call(getattr(backend.xp, name), (x1, x2), {}, out)
            return out
    return _nd.call(name, _operand(name, x1, "x1"), _operand(name, x2, "x2"))


def _operand(op: str, x: Any, name: str) -> Any:
    if isinstance(x, (Tensor, numbers.Number)):
        return x
    if hasattr(x, "shape") and hasattr(x, "dtype"):  # a raw array: the library's rules decide
        return x
    raise TypeError(f"{op}: {name} must be a Tensor or a Python number, got {type(x).__name__} ({x!r:.40})")


def _unary(name: str, x: Any) -> Tensor:
    if isinstance(x, Tensor):
        try:
            out = _make(getattr(x._backend.xp, name)(x.data), x._backend)
        except LIBRARY_ERRORS:  # redone below, for an error that names the op and the input
            pass
        else:
            if _tracing.active is not None:
                _tracing.record_call(getattr(x._backend.xp, name), (x,), {}, out)
            return out
    return _nd.call(name, _arg.tensor(name, x))


# -- comparisons ----------------------------------------------------------------------------------

def equal(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise ``x1 == x2`` (a boolean tensor; NaN equals nothing).

    >>> import xpgrad
    >>> xpgrad.equal(xpgrad.tensor([1.0, 2.0]), 2.0).tolist()
    [False, True]
    """
    return _binary("equal", x1, x2)


def not_equal(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise ``x1 != x2`` (a boolean tensor; NaN differs from everything).

    >>> import xpgrad
    >>> xpgrad.not_equal(xpgrad.tensor([1.0, 2.0]), 2.0).tolist()
    [True, False]
    """
    return _binary("not_equal", x1, x2)


def greater(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise ``x1 > x2`` on real values (a boolean tensor).

    >>> import xpgrad
    >>> xpgrad.greater(xpgrad.tensor([1.0, 2.0]), 1.0).tolist()
    [False, True]
    """
    return _binary("greater", x1, x2)


def greater_equal(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise ``x1 >= x2`` on real values (a boolean tensor).

    >>> import xpgrad
    >>> xpgrad.greater_equal(xpgrad.tensor([0.0, 1.0]), 1.0).tolist()
    [False, True]
    """
    return _binary("greater_equal", x1, x2)


def less(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise ``x1 < x2`` on real values (a boolean tensor).

    >>> import xpgrad
    >>> xpgrad.less(xpgrad.tensor([0.0, 1.0]), 1.0).tolist()
    [True, False]
    """
    return _binary("less", x1, x2)


def less_equal(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise ``x1 <= x2`` on real values (a boolean tensor).

    >>> import xpgrad
    >>> xpgrad.less_equal(xpgrad.tensor([1.0, 2.0]), 1.0).tolist()
    [True, False]
    """
    return _binary("less_equal", x1, x2)


# -- logic ----------------------------------------------------------------------------------------

def logical_and(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise ``x1 AND x2`` of boolean tensors (or a Python bool on one side).

    >>> import xpgrad
    >>> a = xpgrad.tensor([1.0, 2.0, 3.0])
    >>> xpgrad.logical_and(a > 1.0, a < 3.0).tolist()
    [False, True, False]
    """
    return _binary("logical_and", x1, x2)


def logical_or(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise ``x1 OR x2`` of boolean tensors (or a Python bool on one side).

    >>> import xpgrad
    >>> a = xpgrad.tensor([1.0, 2.0, 3.0])
    >>> xpgrad.logical_or(a < 2.0, a > 2.0).tolist()
    [True, False, True]
    """
    return _binary("logical_or", x1, x2)


def logical_xor(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise ``x1 XOR x2`` (true where exactly one is true) of boolean tensors.

    >>> import xpgrad
    >>> a = xpgrad.tensor([1.0, 2.0, 3.0])
    >>> xpgrad.logical_xor(a > 1.0, a > 2.0).tolist()
    [False, True, False]
    """
    return _binary("logical_xor", x1, x2)


def logical_not(x: Tensor, /) -> Tensor:
    """Elementwise ``NOT x`` of a boolean tensor.

    >>> import xpgrad
    >>> xpgrad.logical_not(xpgrad.tensor([1.0, 2.0]) > 1.0).tolist()
    [True, False]
    """
    return _unary("logical_not", x)


# -- bitwise (integer and boolean tensors) ----------------------------------------------------------

def bitwise_and(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise bitwise ``x1 & x2`` of integer or boolean tensors.

    >>> import xpgrad
    >>> xpgrad.bitwise_and(xpgrad.tensor([12, 10]), 6).tolist()
    [4, 2]
    """
    return _binary("bitwise_and", x1, x2)


def bitwise_or(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise bitwise ``x1 | x2`` of integer or boolean tensors.

    >>> import xpgrad
    >>> xpgrad.bitwise_or(xpgrad.tensor([12, 10]), 6).tolist()
    [14, 14]
    """
    return _binary("bitwise_or", x1, x2)


def bitwise_xor(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise bitwise ``x1 ^ x2`` of integer or boolean tensors.

    >>> import xpgrad
    >>> xpgrad.bitwise_xor(xpgrad.tensor([12, 10]), 6).tolist()
    [10, 12]
    """
    return _binary("bitwise_xor", x1, x2)


def bitwise_invert(x: Tensor, /) -> Tensor:
    """Elementwise bitwise ``~x`` (two's complement: ``~x == -x - 1``; logical NOT for booleans).

    >>> import xpgrad
    >>> xpgrad.bitwise_invert(xpgrad.tensor([0, 5])).tolist()
    [-1, -6]
    """
    return _unary("bitwise_invert", x)


def bitwise_left_shift(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise ``x1 << x2`` (``x1 * 2**x2``) of integer tensors; ``x2`` must be non-negative.

    >>> import xpgrad
    >>> xpgrad.bitwise_left_shift(xpgrad.tensor([1, 3]), 2).tolist()
    [4, 12]
    """
    return _binary("bitwise_left_shift", x1, x2)


def bitwise_right_shift(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise ``x1 >> x2`` (``floor(x1 / 2**x2)``) of integer tensors; ``x2`` must be non-negative.

    >>> import xpgrad
    >>> xpgrad.bitwise_right_shift(xpgrad.tensor([16, -16]), 2).tolist()
    [4, -4]
    """
    return _binary("bitwise_right_shift", x1, x2)


# -- floating-point tests -------------------------------------------------------------------------

def isfinite(x: Tensor, /) -> Tensor:
    """Elementwise: true where ``x`` is neither infinite nor NaN (both parts, for complex ``x``).

    >>> import xpgrad
    >>> xpgrad.isfinite(xpgrad.tensor([1.0, float("inf"), float("nan")])).tolist()
    [True, False, False]
    """
    return _unary("isfinite", x)


def isinf(x: Tensor, /) -> Tensor:
    """Elementwise: true where ``x`` is +∞ or -∞ (either part, for complex ``x``).

    >>> import xpgrad
    >>> xpgrad.isinf(xpgrad.tensor([1.0, float("-inf"), float("nan")])).tolist()
    [False, True, False]
    """
    return _unary("isinf", x)


def isnan(x: Tensor, /) -> Tensor:
    """Elementwise: true where ``x`` is NaN (either part, for complex ``x``).

    >>> import xpgrad
    >>> xpgrad.isnan(xpgrad.tensor([1.0, float("inf"), float("nan")])).tolist()
    [False, False, True]
    """
    return _unary("isnan", x)


def signbit(x: Tensor, /) -> Tensor:
    """Elementwise: true where the sign bit of real ``x`` is set (negative values, -0.0 and negative NaNs).

    >>> import xpgrad
    >>> xpgrad.signbit(xpgrad.tensor([-1.0, -0.0, 0.0, 2.0])).tolist()
    [True, True, False, False]
    """
    return _unary("signbit", x)
