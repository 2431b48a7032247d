"""Elementwise selection: ``maximum``, ``minimum``, ``clip`` and ``where`` (re-exported by ``elementwise``).

Each picks, element by element, one of its inputs; the gradient goes back to
the input that was picked (ties of ``maximum``/``minimum`` share it half and
half, ``clip`` keeps it on ``x`` at a bound).
"""

from __future__ import annotations

import numbers
from typing import Any

from ..function import Function
from ..tensor import Tensor
from . import arguments as _arg

__all__ = ["clip", "maximum", "minimum", "where"]

Operand = Any  # a Tensor, a Python scalar or a raw backend array
_FAST = (Tensor, float, int, complex)


def operand(op: str, x: Any, name: str) -> Any:
    """``x`` if it is a Tensor, a Python or NumPy number (complex included) or a raw array; a TypeError otherwise."""
    if isinstance(x, _FAST) or isinstance(x, numbers.Number):
        return x
    return _arg.operand(op, x, name)


class Maximum(Function):
    """Ties send half the gradient to each side (so the result stays symmetric)."""

    owns_grads = True

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.xp.maximum(a, b)

    @staticmethod
    def backward(ctx, g):
        return _route_minmax(ctx, g, greater=True)


class Minimum(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.xp.minimum(a, b)

    @staticmethod
    def backward(ctx, g):
        return _route_minmax(ctx, g, greater=False)


def _route_minmax(ctx, g, greater):
    xp = ctx.xp
    a, b = ctx.saved_tensors
    wins = a > b if greater else a < b
    share = xp.astype(wins, g.dtype) + 0.5 * xp.astype(a == b, g.dtype)
    na, nb = ctx.needs_input_grad
    return (g * share if na else None), (g * (1.0 - share) if nb else None)


class Clip(Function):
    """``min(max(x, lo), hi)``: the gradient goes to whichever of x, lo, hi the result is (x at a tie)."""

    owns_grads = True

    @staticmethod
    def forward(ctx, a, lo=None, hi=None):
        ctx.save_for_backward(a, lo, hi)
        return ctx.xp.clip(a, lo, hi)

    @staticmethod
    def backward(ctx, g):
        a, lo, hi = ctx.saved_tensors
        xp = ctx.xp
        _, nlo, nhi = ctx.needs_input_grad
        below = above = None
        if lo is not None:
            below = a < lo
        if hi is not None:
            above = (a if lo is None else xp.maximum(a, lo)) > hi
            if below is not None:
                below = below & ~above
        outside = below if above is None else above if below is None else below | above
        ga = g if outside is None else xp.where(outside, 0.0, g)
        glo = xp.where(below, g, 0.0) if nlo else None
        ghi = xp.where(above, g, 0.0) if nhi else None
        return ga, glo, ghi


class Where(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        return ctx.xp.where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved_tensors
        _, na, nb = ctx.needs_input_grad
        xp = ctx.xp
        return None, (xp.where(cond, g, 0.0) if na else None), (xp.where(cond, 0.0, g) if nb else None)


def maximum(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise max(x1, x2); the gradient goes to the larger input (half to each on a tie).

    >>> import xpgrad
    >>> xpgrad.maximum(xpgrad.tensor([-1.0, 2.0]), 0.0).tolist()
    [0.0, 2.0]
    """
    return Maximum.apply(operand("maximum", x1, "x1"), operand("maximum", x2, "x2"))


def minimum(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise min(x1, x2); the gradient goes to the smaller input (half to each on a tie).

    >>> import xpgrad
    >>> xpgrad.minimum(xpgrad.tensor([-1.0, 2.0]), 0.0).tolist()
    [-1.0, 0.0]
    """
    return Minimum.apply(operand("minimum", x1, "x1"), operand("minimum", x2, "x2"))


def clip(x: Tensor, /, min: Operand | None = None, max: Operand | None = None) -> Tensor:
    """Elementwise clamp ``min(max(x, min), max)``, in ``x``'s dtype.

    The bounds are ``None`` (no bound), numbers, or tensors broadcastable
    against ``x``. The gradient goes to ``x`` where ``min <= x <= max`` and to
    the bound that the result equals elsewhere (tensor bounds get gradients too).

    >>> import xpgrad
    >>> xpgrad.clip(xpgrad.tensor([-2.0, 0.5, 2.0]), -1.0, 1.0).tolist()
    [-1.0, 0.5, 1.0]
    """
    x = _arg.tensor("clip", x)
    lo = None if min is None else _real_bound(min, "min")
    hi = None if max is None else _real_bound(max, "max")
    return Clip.apply(x, lo, hi)


def _real_bound(bound: Any, name: str) -> Any:
    if isinstance(bound, complex) or (isinstance(bound, numbers.Number) and not isinstance(bound, numbers.Real)):
        raise TypeError(f"clip: {name} must be a real number or a Tensor, got the complex number {bound!r}")
    return _arg.operand("clip", bound, name)


def where(condition: Tensor, x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise ``x1 if condition else x2``; each branch gets the gradient where it was chosen.

    ``x1`` and ``x2`` may be tensors or Python scalars (not both scalars);
    the result's dtype follows type promotion between them.

    >>> import xpgrad
    >>> x = xpgrad.tensor([-1.0, 2.0])
    >>> xpgrad.where(x > 0, x, 0.0).tolist()
    [0.0, 2.0]
    """
    if not isinstance(condition, Tensor):
        raise TypeError(f"where: condition must be a boolean Tensor, got {type(condition).__name__}")
    if not condition.backend.xp.isdtype(condition.dtype, "bool"):
        raise TypeError(f"where: condition must be a boolean Tensor, got dtype {condition.dtype}; compare first, "
                        "e.g. where(x > 0, ...)")
    x1, x2 = operand("where", x1, "x1"), operand("where", x2, "x2")
    if isinstance(x1, numbers.Number) and isinstance(x2, numbers.Number):
        raise TypeError(f"where: at least one of x1 and x2 must be a Tensor, got {type(x1).__name__} and "
                        f"{type(x2).__name__}; make one a tensor, e.g. xpgrad.asarray({x1!r})")
    return Where.apply(condition, x1, x2)
