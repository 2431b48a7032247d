"""Trigonometric and hyperbolic functions and their inverses: forward and backward side by side.

Each is holomorphic, so a complex input gets ``g * conj(f'(z))`` back (PyTorch's
convention: for a real loss the gradient is dL/dx + i dL/dy); on real dtypes
``conj`` costs nothing. The derivatives use the principal branches the forward
functions use, so they hold off the branch cuts.
"""

from __future__ import annotations

from ..function import Function
from ..tensor import Tensor
from . import arguments as _arg
from .nondiff import conj as _conj

__all__ = ["acos", "acosh", "asin", "asinh", "atan", "atanh", "cos", "cosh", "sin", "sinh", "tan"]


class Sin(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.sin(a)

    @staticmethod
    def backward(ctx, g):
        return g * _conj(ctx, ctx.xp.cos(ctx.saved_tensors[0]))


class Cos(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.cos(a)

    @staticmethod
    def backward(ctx, g):
        return -g * _conj(ctx, ctx.xp.sin(ctx.saved_tensors[0]))


class Tan(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        out = ctx.xp.tan(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * _conj(ctx, 1.0 + out * out)  # d tan = 1 + tan²


class Asin(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.asin(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / _conj(ctx, ctx.xp.sqrt(1.0 - a * a))


class Acos(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.acos(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return -g / _conj(ctx, ctx.xp.sqrt(1.0 - a * a))


class Atan(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.atan(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / _conj(ctx, 1.0 + a * a)


class Sinh(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.sinh(a)

    @staticmethod
    def backward(ctx, g):
        return g * _conj(ctx, ctx.xp.cosh(ctx.saved_tensors[0]))


class Cosh(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.cosh(a)

    @staticmethod
    def backward(ctx, g):
        return g * _conj(ctx, ctx.xp.sinh(ctx.saved_tensors[0]))


class Asinh(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.asinh(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / _conj(ctx, ctx.xp.sqrt(a * a + 1.0))


class Acosh(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.acosh(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        xp = ctx.xp
        # √(z-1)·√(z+1) rather than √(z²-1): the same on reals > 1, and the principal branch's derivative off them
        return g / _conj(ctx, xp.sqrt(a - 1.0) * xp.sqrt(a + 1.0))


class Atanh(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.atanh(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / _conj(ctx, 1.0 - a * a)


# -- public functions (array API names) -------------------------------------------------------

def sin(x: Tensor, /) -> Tensor:
    """Elementwise sine of ``x`` (radians); d/dx sin x = cos x.

    >>> import xpgrad
    >>> xpgrad.sin(xpgrad.tensor([0.0])).tolist()
    [0.0]
    """
    return Sin.apply(_arg.tensor("sin", x))


def cos(x: Tensor, /) -> Tensor:
    """Elementwise cosine of ``x`` (radians); d/dx cos x = -sin x.

    >>> import xpgrad
    >>> xpgrad.cos(xpgrad.tensor([0.0])).tolist()
    [1.0]
    """
    return Cos.apply(_arg.tensor("cos", x))


def tan(x: Tensor, /) -> Tensor:
    """Elementwise tangent of ``x`` (radians); d/dx tan x = 1 + tan² x.

    >>> import xpgrad
    >>> xpgrad.tan(xpgrad.tensor([0.0])).tolist()
    [0.0]
    """
    return Tan.apply(_arg.tensor("tan", x))


def asin(x: Tensor, /) -> Tensor:
    """Elementwise inverse sine (principal value, in [-π/2, π/2] for real -1 <= x <= 1); d/dx = 1/√(1 - x²).

    >>> import xpgrad
    >>> round(xpgrad.asin(xpgrad.tensor(1.0)).item(), 4)
    1.5708
    """
    return Asin.apply(_arg.tensor("asin", x))


def acos(x: Tensor, /) -> Tensor:
    """Elementwise inverse cosine (principal value, in [0, π] for real -1 <= x <= 1); d/dx = -1/√(1 - x²).

    >>> import xpgrad
    >>> xpgrad.acos(xpgrad.tensor([1.0])).tolist()
    [0.0]
    """
    return Acos.apply(_arg.tensor("acos", x))


def atan(x: Tensor, /) -> Tensor:
    """Elementwise inverse tangent (principal value, in (-π/2, π/2) for real x); d/dx = 1/(1 + x²).

    >>> import xpgrad
    >>> round(xpgrad.atan(xpgrad.tensor(1.0)).item(), 4)
    0.7854
    """
    return Atan.apply(_arg.tensor("atan", x))


def sinh(x: Tensor, /) -> Tensor:
    """Elementwise hyperbolic sine (eˣ - e⁻ˣ)/2; d/dx sinh x = cosh x.

    >>> import xpgrad
    >>> xpgrad.sinh(xpgrad.tensor([0.0])).tolist()
    [0.0]
    """
    return Sinh.apply(_arg.tensor("sinh", x))


def cosh(x: Tensor, /) -> Tensor:
    """Elementwise hyperbolic cosine (eˣ + e⁻ˣ)/2; d/dx cosh x = sinh x.

    >>> import xpgrad
    >>> xpgrad.cosh(xpgrad.tensor([0.0])).tolist()
    [1.0]
    """
    return Cosh.apply(_arg.tensor("cosh", x))


def asinh(x: Tensor, /) -> Tensor:
    """Elementwise inverse hyperbolic sine log(x + √(x² + 1)); d/dx = 1/√(x² + 1).

    >>> import xpgrad
    >>> xpgrad.asinh(xpgrad.tensor([0.0])).tolist()
    [0.0]
    """
    return Asinh.apply(_arg.tensor("asinh", x))


def acosh(x: Tensor, /) -> Tensor:
    """Elementwise inverse hyperbolic cosine log(x + √(x² - 1)), real for x >= 1; d/dx = 1/√(x² - 1).

    For complex z the derivative is taken as 1/(√(z - 1)·√(z + 1)), which
    matches the principal branch.

    >>> import xpgrad
    >>> xpgrad.acosh(xpgrad.tensor([1.0])).tolist()
    [0.0]
    """
    return Acosh.apply(_arg.tensor("acosh", x))


def atanh(x: Tensor, /) -> Tensor:
    """Elementwise inverse hyperbolic tangent ½·log((1 + x)/(1 - x)), real for -1 < x < 1; d/dx = 1/(1 - x²).

    >>> import xpgrad
    >>> xpgrad.atanh(xpgrad.tensor([0.0])).tolist()
    [0.0]
    """
    return Atanh.apply(_arg.tensor("atanh", x))
