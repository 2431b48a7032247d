"""The FFT extension's helpers: sample frequencies (new arrays, outside the graph) and the spectrum shifts.

``fftshift`` and ``ifftshift`` are rolls by half of each axis; each one's
gradient is the other (the inverse permutation).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

from ... import backend as _backend
from ..filled import check_device
from ..function import Function
from ..tensor import Tensor
from . import arguments as _arg

__all__ = ["fftfreq", "fftshift", "ifftshift", "rfftfreq"]


def _frequencies(op: str, n: Any, d: Any, dtype: Any, device: Any) -> Tensor:
    count = _arg.index(op, n, "n")
    if count < 1:
        raise ValueError(f"{op}: n must be a positive window length, got {count}")
    if isinstance(d, bool) or not isinstance(d, numbers.Real):
        raise TypeError(f"{op}: d must be a real number (the sample spacing), got {type(d).__name__} ({d!r})")
    if d == 0:
        raise ValueError(f"{op}: d must be a non-zero sample spacing, got {d!r}")
    b = _backend.current()
    dt = b.dtype(_backend.get_default_dtype() if dtype is None else dtype)
    if not b.is_floating(dt):
        raise TypeError(f"{op}: dtype must be a real floating dtype (float32 or float64), got "
                        f"{_backend.dtype_name(dt)}")
    out = getattr(b.xp.fft, op)(count, d=float(d), dtype=dt, device=check_device(op, b, device))
    return Tensor._make(out, b)


def fftfreq(n: int, /, d: float = 1.0, *, dtype: Any = None, device: Any = None) -> Tensor:
    """Sample frequencies of an ``n``-point transform: ``[0, 1, ..., -2, -1] / (d * n)``, on the current backend.

    Bins ``0 .. (n - 1) // 2`` are the non-negative frequencies and the rest the
    negative ones, in :func:`fft`'s order. ``dtype`` defaults to xpgrad's
    default float; the result records nothing.

    >>> import xpgrad
    >>> xpgrad.fft.fftfreq(4).tolist()
    [0.0, 0.25, -0.5, -0.25]
    """
    return _frequencies("fftfreq", n, d, dtype, device)


def rfftfreq(n: int, /, d: float = 1.0, *, dtype: Any = None, device: Any = None) -> Tensor:
    """Sample frequencies of :func:`rfft`'s bins: ``[0, 1, ..., n // 2] / (d * n)``, on the current backend.

    >>> import xpgrad
    >>> xpgrad.fft.rfftfreq(4, d=0.5).tolist()
    [0.0, 0.5, 1.0]
    """
    return _frequencies("rfftfreq", n, d, dtype, device)


class _Shift(Function):
    """``y = roll(x, +-(m // 2))`` along each axis; the gradient is the opposite shift."""

    @staticmethod
    def forward(ctx, x, *, axes, inverse):
        ctx.args = (axes, inverse)
        return (ctx.xp.fft.ifftshift if inverse else ctx.xp.fft.fftshift)(x, axes=axes)

    @staticmethod
    def backward(ctx, g):
        axes, inverse = ctx.args
        return (ctx.xp.fft.fftshift if inverse else ctx.xp.fft.ifftshift)(g, axes=axes)


def _shift(op: str, x: Any, axes: Any, inverse: bool) -> Tensor:
    x = _arg.tensor(op, x)
    if not (axes is None or isinstance(axes, (tuple, list)) or hasattr(axes, "__index__")):
        raise TypeError(f"{op}: axes must be None, an integer or a sequence of integers, got "
                        f"{type(axes).__name__} ({axes!r})")
    ax = _arg.axes(op, axes, x.ndim)
    return _Shift.apply(x, axes=ax, inverse=inverse)


def fftshift(x: Tensor, /, axes: int | Sequence[int] | None = None) -> Tensor:
    """Move the zero-frequency bin to the centre: a roll by ``m // 2`` along each of ``axes`` (all by default).

    Differentiable: the gradient is :func:`ifftshift` of the output's gradient.

    >>> import xpgrad
    >>> xpgrad.fft.fftshift(xpgrad.fft.fftfreq(4)).tolist()
    [-0.5, -0.25, 0.0, 0.25]
    """
    return _shift("fftshift", x, axes, False)


def ifftshift(x: Tensor, /, axes: int | Sequence[int] | None = None) -> Tensor:
    """Undo :func:`fftshift`: a roll by ``-(m // 2)`` along each of ``axes`` (all by default).

    >>> import xpgrad
    >>> xpgrad.fft.ifftshift(xpgrad.tensor([-2.0, -1.0, 0.0, 1.0, 2.0])).tolist()
    [0.0, 1.0, 2.0, -2.0, -1.0]
    """
    return _shift("ifftshift", x, axes, True)
