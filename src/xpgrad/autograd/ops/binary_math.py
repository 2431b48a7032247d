"""Binary math of the array API standard, differentiable: atan2, hypot, logaddexp, copysign, remainder,
floor_divide and nextafter.

Each accepts a Python scalar on one side (weak in type promotion). They are
defined on real inputs; ``floor_divide`` and ``nextafter`` are piecewise
constant and send zero gradients back (as PyTorch and JAX do), and so do
``remainder``'s and ``floor_divide``'s integer forms (integer tensors record
nothing).
"""

from __future__ import annotations

from typing import Any

from ..function import Function
from ..tensor import Tensor
from . import arguments as _arg

__all__ = ["atan2", "copysign", "floor_divide", "hypot", "logaddexp", "nextafter", "remainder"]

Operand = Any  # a Tensor, a real Python scalar or a raw backend array


class Atan2(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.xp.atan2(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        xp = ctx.xp
        r2 = a * a + b * b
        scale = g / xp.where(r2 == 0, 1.0, r2)  # 0 at the origin, where the angle has no derivative
        na, nb = ctx.needs_input_grad
        return (scale * b if na else None), (-scale * a if nb else None)


class Hypot(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a, b):
        out = ctx.xp.hypot(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        scale = g / ctx.xp.where(out == 0, 1.0, out)  # subgradient 0 at the origin
        na, nb = ctx.needs_input_grad
        return (scale * a if na else None), (scale * b if nb else None)


class LogAddExp(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a, b):
        out = ctx.xp.logaddexp(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        xp = ctx.xp
        na, nb = ctx.needs_input_grad
        # The softmax weights e^(a - out), e^(b - out).
        return (g * _weight(xp, a, out) if na else None), (g * _weight(xp, b, out) if nb else None)


def _weight(xp, a, out):
    """e^(a - out), with exponent 0 where ``a`` is the result (so inf - inf never happens: both inputs infinite)."""
    top = out == a
    return xp.exp(xp.where(top, 0.0, a - xp.where(top, 0.0, out)))


class CopySign(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a, b):
        out = ctx.xp.copysign(a, b)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        xp = ctx.xp
        na, nb = ctx.needs_input_grad
        # d/dx1 = +1 where the result keeps x1's sign, -1 where it flips it (0 at x1 == 0); x2 only gives a sign.
        ga = xp.where(a == 0, 0.0, xp.where(xp.signbit(a) == xp.signbit(out), g, -g)) if na else None
        return ga, (xp.zeros_like(g) if nb else None)


class Remainder(Function):

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.xp.remainder(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        # x1 - x2 * floor(x1 / x2): d/dx1 = 1, d/dx2 = -floor(x1 / x2)
        return (g if na else None), (-g * (a // b) if nb else None)


class _ZeroGrad(Function):
    """A piecewise-constant function of floats: a node whose backward sends zeros to every input."""

    owns_grads = True

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        return tuple(xp.zeros_like(g) if n else None for n in ctx.needs_input_grad)


class FloorDivide(_ZeroGrad):
    @staticmethod
    def forward(ctx, a, b):
        xp = ctx.xp
        out = xp.floor_divide(a, b)
        if not ctx.backend.is_floating(out.dtype):
            return out
        # Where an operand is infinite the standard asks for floor(x1 / x2) (inf // 2 is inf, -1 // inf is -0);
        # NumPy pairs // with % there instead (nan, -1).
        a = a if hasattr(a, "dtype") else xp.asarray(a, dtype=out.dtype)
        b = b if hasattr(b, "dtype") else xp.asarray(b, dtype=out.dtype)
        inf = xp.isinf(a) | xp.isinf(b)
        return xp.where(inf, xp.floor(xp.where(inf, a, 0.0) / xp.where(inf, b, 1.0)), out)


class NextAfter(_ZeroGrad):
    @staticmethod
    def forward(ctx, a, b):
        return ctx.xp.nextafter(a, b)


def _operands(op: str, x1: Any, x2: Any) -> tuple[Any, Any]:
    return _arg.operand(op, x1, "x1"), _arg.operand(op, x2, "x2")


def atan2(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise angle of the point (x2, x1) in radians, in [-π, π] (the quadrant-aware arctan(x1/x2)).

    d/dx1 = x2 / (x1² + x2²) and d/dx2 = -x1 / (x1² + x2²), taken as 0 at the origin.

    >>> import xpgrad
    >>> [round(v, 4) for v in xpgrad.atan2(xpgrad.tensor([1.0, -1.0]), -1.0).tolist()]
    [2.3562, -2.3562]
    """
    return Atan2.apply(*_operands("atan2", x1, x2))


def hypot(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise √(x1² + x2²), without overflow in the squares; d/dx1 = x1 / hypot, d/dx2 = x2 / hypot (0 at 0).

    >>> import xpgrad
    >>> xpgrad.hypot(xpgrad.tensor([3.0, 5.0]), 4.0).tolist()
    [5.0, 6.403124332427979]
    """
    return Hypot.apply(*_operands("hypot", x1, x2))


def logaddexp(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise log(e^x1 + e^x2), computed without overflow.

    The gradient is the two-way softmax: d/dx1 = e^(x1 - out), d/dx2 = e^(x2 - out).

    >>> import xpgrad
    >>> xpgrad.logaddexp(xpgrad.tensor([0.0, 1000.0]), 0.0).tolist()
    [0.6931471824645996, 1000.0]
    """
    return LogAddExp.apply(*_operands("logaddexp", x1, x2))


def copysign(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise ``|x1|`` with the sign (sign bit) of ``x2``.

    d/dx1 = +1 where the result keeps x1's sign and -1 where it flips it (0 at
    x1 = 0); d/dx2 = 0.

    >>> import xpgrad
    >>> xpgrad.copysign(xpgrad.tensor([1.5, -2.0]), -1.0).tolist()
    [-1.5, -2.0]
    """
    return CopySign.apply(*_operands("copysign", x1, x2))


def remainder(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise ``x1 - x2 * floor(x1 / x2)``: the remainder with the sign of ``x2`` (Python's ``%``).

    d/dx1 = 1 and d/dx2 = -floor(x1 / x2) (the jumps have no derivative).

    >>> import xpgrad
    >>> xpgrad.remainder(xpgrad.tensor([5.5, -5.5]), 2.0).tolist()
    [1.5, 0.5]
    """
    return Remainder.apply(*_operands("remainder", x1, x2))


def floor_divide(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise ``floor(x1 / x2)`` (Python's ``//``); piecewise constant, so its gradients are zero.

    >>> import xpgrad
    >>> xpgrad.floor_divide(xpgrad.tensor([5.5, -5.5]), 2.0).tolist()
    [2.0, -3.0]
    """
    return FloorDivide.apply(*_operands("floor_divide", x1, x2))


def nextafter(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise the next representable floating-point value after ``x1`` towards ``x2``; zero gradients.

    >>> import xpgrad
    >>> x = xpgrad.tensor([1.0], dtype="float64")
    >>> xpgrad.nextafter(x, 2.0).tolist()
    [1.0000000000000002]
    """
    return NextAfter.apply(*_operands("nextafter", x1, x2))
