"""Unary math of the array API: exponentials and logarithms, powers, rounding, sign and complex parts.

Holomorphic functions send ``g * conj(f'(z))`` back for a complex input
(PyTorch's convention); ``real``, ``imag``, ``conj`` and the complex ``sign``
have their own formulas. Rounding and the real ``sign`` are piecewise constant:
they record a node whose gradient is zero, as PyTorch and JAX do. The
trigonometric and hyperbolic functions live in :mod:`.unary_trig` and are
re-exported here.
"""

from __future__ import annotations

import math

from ..function import Function
from ..tensor import Tensor
from . import arguments as _arg
from .nondiff import conj as _conj
from .nondiff import is_complex as _is_complex
from .unary_trig import acos, acosh, asin, asinh, atan, atanh, cos, cosh, sin, sinh, tan

__all__ = ["acos", "acosh", "asin", "asinh", "atan", "atanh", "ceil", "conj", "cos", "cosh", "expm1", "floor", "imag",
           "log2", "log10", "positive", "real", "reciprocal", "round", "sign", "sin", "sinh", "square", "tan",
           "trunc"]

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


class Expm1(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        out = _complex_expm1(ctx.xp, a) if _is_complex(ctx, a) else ctx.xp.expm1(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        return g * _conj(ctx, ctx.saved_tensors[0] + 1.0)  # d(eˣ - 1) = eˣ


def _complex_expm1(xp, z):
    """eᶻ - 1 for complex z = a + ib, accurate near 0 and with the standard's special cases.

    Near 0 (|a|, |b| < 1): (expm1(a)·cos b - 2 sin²(b/2)) + i·eᵃ sin b, the parts put together exactly
    (the sign of a zero imaginary part kept); elsewhere exp(z) - 1, whose infinities and NaNs follow C99's cexp.
    """
    a, b = xp.real(z), xp.imag(z)
    near = (xp.abs(a) < 1.0) & (xp.abs(b) < 1.0)
    a, b = xp.where(near, a, 0.0), xp.where(near, b, 0.0)
    half = xp.sin(b / 2.0)
    re = xp.expm1(a) * xp.cos(b) - 2.0 * half * half
    im = xp.exp(a) * xp.sin(b)
    parts = xp.astype(re, z.dtype) + xp.astype(xp.abs(im), z.dtype) * 1j  # (x + 0j)·1j would drop a -0 of im
    parts = xp.where(xp.signbit(im), xp.conj(parts), parts)
    return xp.where(near, parts, xp.exp(z) - 1.0)


class Log2(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.log2(a)

    @staticmethod
    def backward(ctx, g):
        return g / (_conj(ctx, ctx.saved_tensors[0]) * _LN2)


class Log10(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.log10(a)

    @staticmethod
    def backward(ctx, g):
        return g / (_conj(ctx, ctx.saved_tensors[0]) * _LN10)


class Square(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.square(a)

    @staticmethod
    def backward(ctx, g):
        return 2.0 * g * _conj(ctx, ctx.saved_tensors[0])


class Reciprocal(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        out = ctx.xp.reciprocal(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return -g * _conj(ctx, out * out)  # d(1/x) = -1/x²


class Positive(Function):
    @staticmethod
    def forward(ctx, a):
        return ctx.xp.positive(a)

    @staticmethod
    def backward(ctx, g):
        return g


class Conj(Function):
    @staticmethod
    def forward(ctx, a):
        return ctx.xp.conj(a)

    @staticmethod
    def backward(ctx, g):
        return _conj(ctx, g)  # conj is anti-holomorphic: the gradient is conj(g)


class Real(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.in_dtype = a.dtype
        return ctx.xp.real(a)

    @staticmethod
    def backward(ctx, g):
        if not ctx.backend.is_complex(ctx.in_dtype):
            return g
        return ctx.xp.astype(g, ctx.in_dtype)  # d Re(x + iy) = dx: g on the real part (as complex)


class Imag(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        ctx.in_dtype = a.dtype
        return ctx.xp.imag(a)

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        if not ctx.backend.is_complex(ctx.in_dtype):
            return xp.zeros_like(g)  # the imaginary part of a real array is the constant 0
        return xp.astype(g, ctx.in_dtype) * 1j  # d Im(x + iy) = dy: g on the imaginary part


class _Flat(Function):
    """A piecewise-constant function: its gradient is zero wherever it exists (and taken as zero elsewhere)."""

    owns_grads = True

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.zeros_like(g)


class Ceil(_Flat):
    @staticmethod
    def forward(ctx, a):
        return ctx.xp.ceil(a)


class Floor(_Flat):
    @staticmethod
    def forward(ctx, a):
        return ctx.xp.floor(a)


class Trunc(_Flat):
    @staticmethod
    def forward(ctx, a):
        return ctx.xp.trunc(a)


class Round(_Flat):
    @staticmethod
    def forward(ctx, a):
        return ctx.xp.round(a)


class Sign(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a):
        xp = ctx.xp
        if _is_complex(ctx, a):  # z/|z| and +0 + 0j at zero (signed zeros included), without a 0/0 warning
            zero = a == 0
            out = xp.where(zero, 0j, a / xp.where(zero, 1.0, xp.abs(a)))
        else:
            out = xp.sign(a)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, s = ctx.saved_tensors
        xp = ctx.xp
        if not _is_complex(ctx, a):
            return xp.zeros_like(g)
        # sign(z) = z/|z|: d/dz = 1/(2|z|), d/dz̄ = -z²/(2|z|³); the gradient g·conj(d/dz) + conj(g)·d/dz̄ is
        # (g - sign(z)²·conj(g)) / (2|z|), taken as 0 at z = 0 (where sign is 0).
        m = xp.abs(a)
        zero = m == 0
        return xp.where(zero, 0.0, (g - s * s * xp.conj(g)) / (2.0 * xp.where(zero, 1.0, m)))


# -- public functions (array API names) -------------------------------------------------------

def expm1(x: Tensor, /) -> Tensor:
    """Elementwise eˣ - 1, accurate for small x; d/dx = eˣ.

    >>> import xpgrad
    >>> xpgrad.expm1(xpgrad.tensor([0.0])).tolist()
    [0.0]
    """
    return Expm1.apply(_arg.tensor("expm1", x))


def log2(x: Tensor, /) -> Tensor:
    """Elementwise base-2 logarithm log(x)/log(2); d/dx = 1/(x·ln 2).

    >>> import xpgrad
    >>> xpgrad.log2(xpgrad.tensor([1.0, 8.0])).tolist()
    [0.0, 3.0]
    """
    return Log2.apply(_arg.tensor("log2", x))


def log10(x: Tensor, /) -> Tensor:
    """Elementwise base-10 logarithm log(x)/log(10); d/dx = 1/(x·ln 10).

    >>> import xpgrad
    >>> xpgrad.log10(xpgrad.tensor([1.0, 100.0])).tolist()
    [0.0, 2.0]
    """
    return Log10.apply(_arg.tensor("log10", x))


def square(x: Tensor, /) -> Tensor:
    """Elementwise x·x; d/dx = 2x.

    >>> import xpgrad
    >>> xpgrad.square(xpgrad.tensor([-3.0, 0.5])).tolist()
    [9.0, 0.25]
    """
    return Square.apply(_arg.tensor("square", x))


def reciprocal(x: Tensor, /) -> Tensor:
    """Elementwise 1/x; d/dx = -1/x².

    >>> import xpgrad
    >>> xpgrad.reciprocal(xpgrad.tensor([2.0, -4.0])).tolist()
    [0.5, -0.25]
    """
    return Reciprocal.apply(_arg.tensor("reciprocal", x))


def positive(x: Tensor, /) -> Tensor:
    """Elementwise +x (the values unchanged, as a new tensor); d/dx = 1.

    >>> import xpgrad
    >>> xpgrad.positive(xpgrad.tensor([-1.0, 2.0])).tolist()
    [-1.0, 2.0]
    """
    return Positive.apply(_arg.tensor("positive", x))


def conj(x: Tensor, /) -> Tensor:
    """Elementwise complex conjugate: x - iy for z = x + iy (real inputs come back unchanged).

    The gradient is the conjugate of the incoming gradient.

    >>> import xpgrad
    >>> z = xpgrad.tensor([1 + 2j], dtype="complex64")
    >>> xpgrad.conj(z).tolist()
    [(1-2j)]
    """
    return Conj.apply(_arg.tensor("conj", x))


def real(x: Tensor, /) -> Tensor:
    """Elementwise real part x of z = x + iy, in the matching real dtype (real inputs come back unchanged).

    The gradient with respect to z is the incoming gradient g, as a complex
    number (g + 0i).

    >>> import xpgrad
    >>> z = xpgrad.tensor([1 + 2j], dtype="complex64")
    >>> xpgrad.real(z).tolist()
    [1.0]
    """
    return Real.apply(_arg.tensor("real", x))


def imag(x: Tensor, /) -> Tensor:
    """Elementwise imaginary part y of z = x + iy, in the matching real dtype.

    The gradient with respect to z is i·g (it reaches the imaginary part only).
    The standard defines ``imag`` for complex inputs; a real input is passed
    to the backend as it is (NumPy gives zeros, array-api-strict refuses).

    >>> import xpgrad
    >>> z = xpgrad.tensor([1 + 2j], dtype="complex64")
    >>> xpgrad.imag(z).tolist()
    [2.0]
    """
    return Imag.apply(_arg.tensor("imag", x))


def ceil(x: Tensor, /) -> Tensor:
    """Elementwise smallest integer >= x (same dtype); piecewise constant, so its gradient is 0.

    >>> import xpgrad
    >>> xpgrad.ceil(xpgrad.tensor([-1.5, 1.2])).tolist()
    [-1.0, 2.0]
    """
    return Ceil.apply(_arg.tensor("ceil", x))


def floor(x: Tensor, /) -> Tensor:
    """Elementwise largest integer <= x (same dtype); piecewise constant, so its gradient is 0.

    >>> import xpgrad
    >>> xpgrad.floor(xpgrad.tensor([-1.5, 1.2])).tolist()
    [-2.0, 1.0]
    """
    return Floor.apply(_arg.tensor("floor", x))


def trunc(x: Tensor, /) -> Tensor:
    """Elementwise x rounded toward zero (same dtype); piecewise constant, so its gradient is 0.

    >>> import xpgrad
    >>> xpgrad.trunc(xpgrad.tensor([-1.5, 1.7])).tolist()
    [-1.0, 1.0]
    """
    return Trunc.apply(_arg.tensor("trunc", x))


def round(x: Tensor, /) -> Tensor:
    """Elementwise x rounded to the nearest integer, halves to even (complex: each part); gradient 0.

    >>> import xpgrad
    >>> xpgrad.round(xpgrad.tensor([0.5, 1.5, -2.7])).tolist()
    [0.0, 2.0, -3.0]
    """
    return Round.apply(_arg.tensor("round", x))


def sign(x: Tensor, /) -> Tensor:
    """Elementwise sign: -1, 0 or 1 for real x (gradient 0); ``z/|z|`` for complex z (0 at 0).

    For complex inputs the gradient is the true one of ``z/|z|`` (PyTorch's
    ``sgn``): ``(g - sign(z)²·conj(g)) / (2|z|)``, taken as 0 at z = 0.

    >>> import xpgrad
    >>> xpgrad.sign(xpgrad.tensor([-2.0, 0.0, 3.0])).tolist()
    [-1.0, 0.0, 1.0]
    """
    return Sign.apply(_arg.tensor("sign", x))
