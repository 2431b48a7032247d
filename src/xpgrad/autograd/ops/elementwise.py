"""Elementwise arithmetic and math: forward and backward side by side.

Binary ops accept a Python scalar (``bool``, ``int``, ``float``, ``complex``)
on either side, weak in type promotion as the array API standard says; the
engine sums gradients back to each input's shape after broadcasting and casts
them to each input's dtype.

Complex inputs follow PyTorch's convention (the conjugate Wirtinger
derivative): a holomorphic ``f`` sends ``g * conj(f'(z))`` back. The backward
bodies ask once whether the incoming gradient is complex (a cached dtype
lookup) and take conjugates only then, so real training steps pay nothing.

``maximum``, ``minimum``, ``clip`` and ``where`` live in
:mod:`~xpgrad.autograd.ops.elementwise_select` and are re-exported here.
"""

from __future__ import annotations

import cmath
import math
from typing import Any

from ..function import Function
from ..tensor import Tensor
from . import arguments as _arg
from .elementwise_select import Clip, Maximum, Minimum, Where, clip, maximum, minimum, operand, where  # noqa: F401
from .nondiff import conj as _conj

__all__ = ["abs", "add", "clip", "divide", "exp", "log", "log1p", "maximum", "minimum", "multiply", "negative",
           "pow", "sqrt", "subtract", "tanh", "where"]

Operand = Any  # a Tensor, a Python scalar (bool, int, float, complex) or a raw backend array


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, g):
        return g, -g


class Mul(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        if ctx.backend.is_complex(g.dtype):  # a real g means real inputs: no conjugates
            a, b = _conj(ctx, a), _conj(ctx, b)
        return (g * b if na else None), (g * a if nb else None)


class Div(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        if ctx.backend.is_complex(g.dtype):
            a, b = _conj(ctx, a), _conj(ctx, b)
        gb = -g * a / (b * b) if nb else None
        return (g / b if na else None), gb


class Pow(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a, b):
        out = a ** b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        xp = ctx.xp
        cplx = ctx.backend.is_complex(g.dtype)
        # d(a**b)/da = b a**(b-1), taken as 0 where b == 0 (a**0 is constant; the formula gives 0 * inf at a == 0)
        if not na:
            ga = None
        elif isinstance(b, (int, float, complex)):
            ga = g * _conj(ctx, b * a ** (b - 1)) if b != 0 else xp.zeros_like(g * a)
        else:
            da = b * a ** xp.where(b == 0, 1.0, b - 1)  # exponent 1 where b == 0: b * a**1 is then 0
            ga = g * (_conj(ctx, da) if cplx else da)
        # d(a**b)/db = a**b log a, taken as 0 where a == 0 (the limit from the right; for real a also where a < 0).
        if nb:
            gb = g * _conj(ctx, out * _safe_log(ctx, a))
        else:
            gb = None
        return ga, gb


def _safe_log(ctx, a):
    """log(a), with 0 where the logarithm of the base does not exist (a == 0; a < 0 for real a)."""
    if isinstance(a, complex):
        return cmath.log(a) if a != 0 else 0.0
    if isinstance(a, (int, float)):
        return math.log(a) if a > 0 else 0.0
    xp = ctx.xp
    if ctx.backend.is_complex(a.dtype):
        return xp.where(a == 0, 0.0, xp.log(xp.where(a == 0, 1.0, a)))
    return xp.log(xp.where(a > 0, a, 1.0))


class Neg(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


class Exp(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        out = ctx.xp.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        return g * _conj(ctx, ctx.saved_tensors[0])


class Log(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.log(a)

    @staticmethod
    def backward(ctx, g):
        return g / _conj(ctx, ctx.saved_tensors[0])


class Log1p(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.log1p(a)

    @staticmethod
    def backward(ctx, g):
        return g / _conj(ctx, 1.0 + ctx.saved_tensors[0])


class Sqrt(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        out = ctx.xp.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        return g / (2.0 * _conj(ctx, ctx.saved_tensors[0]))


class Tanh(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        xp = ctx.xp
        out = xp.tanh(a)
        if ctx.backend.is_complex(out.dtype):
            # tanh(±inf + iy) = ±1 + 0j for finite y > 0 (the standard); NumPy gives -0j when sin(2y) < 0
            re, im = xp.real(a), xp.imag(a)
            out = xp.where(xp.isinf(re) & xp.isfinite(im) & (im > 0), xp.astype(xp.sign(re), out.dtype), out)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * _conj(ctx, 1.0 - out * out)


class Abs(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.abs(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        xp = ctx.xp
        if ctx.backend.is_complex(a.dtype):  # z/|z| (0 at 0): dL/dx + i dL/dy for a real loss L
            r = xp.abs(a)
            return g * (a / xp.where(r == 0, 1.0, r))
        return g * xp.sign(a)  # subgradient 0 at 0


# -- public functions (array API names) -------------------------------------------------------

def add(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise ``x1 + x2`` with broadcasting; d/dx1 = d/dx2 = 1 (the add gate).

    >>> import xpgrad
    >>> xpgrad.add(xpgrad.tensor([1.0, 2.0]), 1.0).tolist()
    [2.0, 3.0]
    """
    return Add.apply(operand("add", x1, "x1"), operand("add", x2, "x2"))


def subtract(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise ``x1 - x2``; d/dx1 = 1, d/dx2 = -1.

    >>> import xpgrad
    >>> xpgrad.subtract(xpgrad.tensor([3.0]), 1.0).tolist()
    [2.0]
    """
    return Sub.apply(operand("subtract", x1, "x1"), operand("subtract", x2, "x2"))


def multiply(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise ``x1 * x2``; d/dx1 = x2, d/dx2 = x1 (the mul gate swaps its inputs; conjugated for complex).

    >>> import xpgrad
    >>> xpgrad.multiply(xpgrad.tensor([3.0]), 2.0).tolist()
    [6.0]
    """
    return Mul.apply(operand("multiply", x1, "x1"), operand("multiply", x2, "x2"))


def divide(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise ``x1 / x2``; d/dx1 = 1/x2, d/dx2 = -x1/x2².

    >>> import xpgrad
    >>> xpgrad.divide(xpgrad.tensor([3.0]), 2.0).tolist()
    [1.5]
    """
    return Div.apply(operand("divide", x1, "x1"), operand("divide", x2, "x2"))


def pow(x1: Operand, x2: Operand, /) -> Tensor:
    """Elementwise ``x1 ** x2``; d/dx1 = x2·x1^(x2-1), d/dx2 = x1^x2·log x1 (0 where x1 = 0).

    >>> import xpgrad
    >>> xpgrad.pow(xpgrad.tensor([3.0]), 2.0).tolist()
    [9.0]
    """
    return Pow.apply(operand("pow", x1, "x1"), operand("pow", x2, "x2"))


def negative(x: Tensor, /) -> Tensor:
    """Elementwise ``-x``; d/dx = -1.

    >>> import xpgrad
    >>> xpgrad.negative(xpgrad.tensor([3.0])).tolist()
    [-3.0]
    """
    return Neg.apply(_arg.tensor("negative", x))


def exp(x: Tensor, /) -> Tensor:
    """Elementwise eˣ; its derivative is eˣ.

    >>> import xpgrad
    >>> round(xpgrad.exp(xpgrad.tensor(1.0)).item(), 4)
    2.7183
    """
    return Exp.apply(_arg.tensor("exp", x))


def log(x: Tensor, /) -> Tensor:
    """Elementwise natural logarithm ln x; d/dx = 1/x.

    >>> import xpgrad
    >>> xpgrad.log(xpgrad.tensor([1.0])).tolist()
    [0.0]
    """
    return Log.apply(_arg.tensor("log", x))


def log1p(x: Tensor, /) -> Tensor:
    """Elementwise ln(1 + x), accurate for small x; d/dx = 1/(1 + x).

    >>> import xpgrad
    >>> xpgrad.log1p(xpgrad.tensor([0.0])).tolist()
    [0.0]
    """
    return Log1p.apply(_arg.tensor("log1p", x))


def sqrt(x: Tensor, /) -> Tensor:
    """Elementwise √x (the principal root for complex x); d/dx = 1/(2√x).

    >>> import xpgrad
    >>> xpgrad.sqrt(xpgrad.tensor([4.0])).tolist()
    [2.0]
    """
    return Sqrt.apply(_arg.tensor("sqrt", x))


def tanh(x: Tensor, /) -> Tensor:
    """Elementwise tanh x; d/dx = 1 - tanh² x.

    >>> import xpgrad
    >>> xpgrad.tanh(xpgrad.tensor([0.0])).tolist()
    [0.0]
    """
    return Tanh.apply(_arg.tensor("tanh", x))


def abs(x: Tensor, /) -> Tensor:
    """Elementwise absolute value ``|x|``; d/dx = sign(x) (0 at 0), and ``z/|z|`` for complex z.

    >>> import xpgrad
    >>> xpgrad.abs(xpgrad.tensor([-2.0, 3.0])).tolist()
    [2.0, 3.0]
    """
    return Abs.apply(_arg.tensor("abs", x))
