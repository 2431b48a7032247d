"""Elementwise arithmetic and math: forward and backward side by side.

Binary ops accept a Python scalar on either side; the engine sums gradients
back to each input's shape after broadcasting.
"""

from __future__ import annotations

import math

from ..function import Function
from ..tensor import Tensor
from . import arguments as _arg

__all__ = ["abs", "add", "clip", "divide", "exp", "log", "log1p", "maximum", "minimum", "multiply", "negative",
           "pow", "sqrt", "subtract", "tanh", "where"]


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
        # d(a**b)/da = b a**(b-1), taken as 0 where b == 0 (a**0 is constant; the formula gives 0 * inf at a == 0)
        if not na:
            ga = None
        elif isinstance(b, (int, float)):
            ga = g * b * a ** (b - 1) if b != 0 else xp.zeros_like(g * a)
        else:
            ga = g * b * a ** xp.where(b == 0, 1.0, b - 1)  # exponent 1 where b == 0: b * a**1 is then 0
        # d(a**b)/db = a**b log a, taken as 0 where a == 0 (the limit from the right).
        if nb:
            if isinstance(a, (int, float)):
                log_a = math.log(a) if a > 0 else 0.0
            else:
                log_a = xp.log(xp.where(a > 0, a, 1.0))
            gb = g * out * log_a
        else:
            gb = None
        return ga, gb


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
        return g * ctx.saved_tensors[0]


class Log(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.log(a)

    @staticmethod
    def backward(ctx, g):
        return g / ctx.saved_tensors[0]


class Log1p(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.log1p(a)

    @staticmethod
    def backward(ctx, g):
        return g / (1.0 + ctx.saved_tensors[0])


class Sqrt(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        out = ctx.xp.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        return g / (2.0 * ctx.saved_tensors[0])


class Tanh(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        out = ctx.xp.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (1.0 - out * out)


class Abs(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.abs(a)

    @staticmethod
    def backward(ctx, g):
        return g * ctx.xp.sign(ctx.saved_tensors[0])  # subgradient 0 at 0


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
    owns_grads = True

    @staticmethod
    def forward(ctx, a, min=None, max=None):
        ctx.save_for_backward(a)
        ctx.bounds = (min, max)
        return ctx.xp.clip(a, min, max)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        lo, hi = ctx.bounds
        inside = ctx.xp.ones(a.shape, dtype=ctx.xp.bool)
        if lo is not None:
            inside = inside & (a >= lo)
        if hi is not None:
            inside = inside & (a <= hi)
        return ctx.xp.where(inside, g, 0.0)


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


class Cast(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a, dtype=None):
        ctx.in_dtype = a.dtype
        return ctx.xp.astype(a, dtype)

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.astype(g, ctx.in_dtype)


# -- public functions (array API names) -------------------------------------------------------

def add(x1, x2):
    """Elementwise ``x1 + x2`` with broadcasting; d/dx1 = d/dx2 = 1 (the add gate).

    >>> import xpgrad
    >>> xpgrad.add(xpgrad.tensor([1.0, 2.0]), 1.0).tolist()
    [2.0, 3.0]
    """
    return Add.apply(_arg.operand("add", x1, "x1"), _arg.operand("add", x2, "x2"))


def subtract(x1, x2):
    """Elementwise ``x1 - x2``; d/dx1 = 1, d/dx2 = -1.

    >>> import xpgrad
    >>> xpgrad.subtract(xpgrad.tensor([3.0]), 1.0).tolist()
    [2.0]
    """
    return Sub.apply(_arg.operand("subtract", x1, "x1"), _arg.operand("subtract", x2, "x2"))


def multiply(x1, x2):
    """Elementwise ``x1 * x2``; d/dx1 = x2, d/dx2 = x1 (the mul gate swaps its inputs).

    >>> import xpgrad
    >>> xpgrad.multiply(xpgrad.tensor([3.0]), 2.0).tolist()
    [6.0]
    """
    return Mul.apply(_arg.operand("multiply", x1, "x1"), _arg.operand("multiply", x2, "x2"))


def divide(x1, x2):
    """Elementwise ``x1 / x2``; d/dx1 = 1/x2, d/dx2 = -x1/x2².

    >>> import xpgrad
    >>> xpgrad.divide(xpgrad.tensor([3.0]), 2.0).tolist()
    [1.5]
    """
    return Div.apply(_arg.operand("divide", x1, "x1"), _arg.operand("divide", x2, "x2"))


def pow(x1, x2):
    """Elementwise ``x1 ** x2``; d/dx1 = x2·x1^(x2-1), d/dx2 = x1^x2·log x1.

    >>> import xpgrad
    >>> xpgrad.pow(xpgrad.tensor([3.0]), 2.0).tolist()
    [9.0]
    """
    return Pow.apply(_arg.operand("pow", x1, "x1"), _arg.operand("pow", x2, "x2"))


def negative(x):
    """Elementwise ``-x``.

    >>> import xpgrad
    >>> xpgrad.negative(xpgrad.tensor([3.0])).tolist()
    [-3.0]
    """
    return Neg.apply(x)


def exp(x):
    """Elementwise eˣ; its derivative is eˣ.

    >>> import xpgrad
    >>> round(xpgrad.exp(xpgrad.tensor(1.0)).item(), 4)
    2.7183
    """
    return Exp.apply(x)


def log(x):
    """Elementwise natural logarithm; d/dx = 1/x.

    >>> import xpgrad
    >>> xpgrad.log(xpgrad.tensor([1.0])).tolist()
    [0.0]
    """
    return Log.apply(x)


def log1p(x):
    """Elementwise log(1 + x), accurate for small x; d/dx = 1/(1 + x).

    >>> import xpgrad
    >>> xpgrad.log1p(xpgrad.tensor([0.0])).tolist()
    [0.0]
    """
    return Log1p.apply(x)


def sqrt(x):
    """Elementwise √x; d/dx = 1/(2√x).

    >>> import xpgrad
    >>> xpgrad.sqrt(xpgrad.tensor([4.0])).tolist()
    [2.0]
    """
    return Sqrt.apply(x)


def tanh(x):
    """Elementwise tanh x; d/dx = 1 - tanh² x.

    >>> import xpgrad
    >>> xpgrad.tanh(xpgrad.tensor([0.0])).tolist()
    [0.0]
    """
    return Tanh.apply(x)


def abs(x):
    """Elementwise absolute value ``|x|``; d/dx = sign(x), taken as 0 at 0.

    >>> import xpgrad
    >>> xpgrad.abs(xpgrad.tensor([-2.0, 3.0])).tolist()
    [2.0, 3.0]
    """
    return Abs.apply(x)


def maximum(x1, x2):
    """Elementwise max(x1, x2); the gradient goes to the larger input (half to each on a tie).

    >>> import xpgrad
    >>> xpgrad.maximum(xpgrad.tensor([-1.0, 2.0]), 0.0).tolist()
    [0.0, 2.0]
    """
    return Maximum.apply(_arg.operand("maximum", x1, "x1"), _arg.operand("maximum", x2, "x2"))


def minimum(x1, x2):
    """Elementwise min(x1, x2); the gradient goes to the smaller input (half to each on a tie).

    >>> import xpgrad
    >>> xpgrad.minimum(xpgrad.tensor([-1.0, 2.0]), 0.0).tolist()
    [-1.0, 0.0]
    """
    return Minimum.apply(_arg.operand("minimum", x1, "x1"), _arg.operand("minimum", x2, "x2"))


def clip(x, min=None, max=None):
    """Elementwise clamp to ``[min, max]``; the gradient passes where ``min <= x <= max``, else 0.

    The bounds are numbers or tensors broadcastable against ``x``; they are
    constants here (no gradient flows into them).

    >>> import xpgrad
    >>> xpgrad.clip(xpgrad.tensor([-2.0, 0.5, 2.0]), -1.0, 1.0).tolist()
    [-1.0, 0.5, 1.0]
    """
    return Clip.apply(x, min=_constant(x, min, "min"), max=_constant(x, max, "max"))


def _constant(x, bound, name):
    """A keyword bound as a raw array on ``x``'s backend (keyword arguments are not graph inputs)."""
    if not isinstance(bound, Tensor):
        return bound
    if bound._backend is not x._backend:
        raise ValueError(f"clip: {name} lives on backend {bound.backend!r} but x on {x.backend!r}; "
                         f"move it with .to({x.backend!r})")
    return bound.data


def where(condition, x1, x2):
    """Elementwise ``x1 if condition else x2``; each branch gets the gradient where it was chosen.

    >>> import xpgrad
    >>> x = xpgrad.tensor([-1.0, 2.0])
    >>> xpgrad.where(x > 0, x, 0.0).tolist()
    [0.0, 2.0]
    """
    if not isinstance(condition, Tensor):
        raise TypeError(f"where(): condition must be a boolean Tensor, got {type(condition).__name__}")
    if not condition.backend.xp.isdtype(condition.dtype, "bool"):
        raise TypeError(f"where(): condition must be a boolean Tensor, got dtype {condition.dtype}; compare first, "
                        "e.g. where(x > 0, ...)")
    return Where.apply(condition, x1, x2)
