"""Discrete Fourier transforms, differentiable (the standard's ``fft`` extension).

Every transform is linear: ``y = A x`` with ``A`` a scaled DFT matrix (after
zero-padding or cropping the input to the transform length). The gradient of
a real loss follows PyTorch's convention (conjugate Wirtinger), so it is the
adjoint applied to the output's gradient, ``A^H g``: the transform in the
other direction with the opposite norm (``'backward'`` <-> ``'forward'``,
``'ortho'`` stays), then the padding undone (crop) or the cropping undone
(zero-pad). The real transforms add one step each:

* real -> half spectrum (``rfft``, ``rfftn``, ``ihfft``): the dropped bins get
  zero gradient, so ``g`` is zero-padded to the full length, sent through the
  full complex adjoint, and its real part kept (the input is real);
* half spectrum -> real (``irfft``, ``irfftn``, ``hfft``): each bin other
  than DC and Nyquist stands for itself and its mirror image, so it receives
  twice the adjoint transform's value.

Backward bodies use only ``ctx.xp`` (its ``fft`` extension included).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from ... import backend as _backend
from ..function import Function
from ..tensor import Tensor
from . import arguments as _arg
from .fft_shift import fftfreq, fftshift, ifftshift, rfftfreq

__all__ = ["fft", "fftfreq", "fftn", "fftshift", "hfft", "ifft", "ifftn", "ifftshift", "ihfft", "irfft", "irfftn",
           "rfft", "rfftfreq", "rfftn"]

Norm = Literal["backward", "ortho", "forward"]
_OPPOSITE = {"backward": "forward", "ortho": "ortho", "forward": "backward"}
_COMPLEX = {"float32": "complex64", "float64": "complex128"}
# The adjoint of each transform (up to the norm, which is swapped): used by the backward bodies.
_ADJOINT = {"fft": "ifft", "ifft": "fft", "fftn": "ifftn", "ifftn": "fftn", "rfft": "ifft", "rfftn": "ifftn",
            "ihfft": "fft", "irfft": "rfft", "irfftn": "rfftn", "hfft": "ihfft"}


# -- helpers on backend arrays (forward and backward) -----------------------------------------------------------
def _transform(xp: Any, name: str, x: Any, sizes: tuple[int, ...], axes: tuple[int, ...], norm: str) -> Any:
    """``xp.fft.<name>`` of ``x`` over ``axes`` with lengths ``sizes`` (the 1-D functions take ``n`` and ``axis``)."""
    f = getattr(xp.fft, name)
    if name in ("fftn", "ifftn", "rfftn", "irfftn"):
        return f(x, s=sizes, axes=axes, norm=norm)
    return f(x, n=sizes[0], axis=axes[0], norm=norm)


def _resize(xp: Any, a: Any, axis: int, size: int) -> Any:
    """``a`` cropped or zero-padded (at the end) to ``size`` along ``axis``."""
    have = a.shape[axis]
    if have > size:
        return a[(slice(None),) * axis + (slice(0, size), Ellipsis)]
    if have < size:
        shape = a.shape[:axis] + (size - have,) + a.shape[axis + 1:]
        return xp.concat([a, xp.zeros(shape, dtype=a.dtype, device=a.device)], axis=axis)
    return a


def _resize_all(xp: Any, a: Any, axes: tuple[int, ...], sizes: tuple[int, ...]) -> Any:
    for axis, size in zip(axes, sizes, strict=True):
        a = _resize(xp, a, axis, size)
    return a


def _mirror_weights(xp: Any, a: Any, axis: int, n: int) -> Any:
    """``a`` (a half spectrum of length ``n // 2 + 1`` along ``axis``) with every bin but DC and Nyquist doubled."""
    k = xp.arange(a.shape[axis], device=a.device)
    k = xp.reshape(k, (a.shape[axis],) + (1,) * (a.ndim - axis - 1))
    return xp.where((k > 0) & (2 * k < n), 2 * a, a)


class _Complex(Function):
    """fft, ifft, fftn, ifftn: ``y = c F x``; the gradient is ``c F^H g``, the other direction with the other norm."""

    @staticmethod
    def forward(ctx, x, *, op, sizes, axes, norm, cast):
        if cast is not None:
            x = ctx.xp.astype(x, cast)
        ctx.args = (op, sizes, axes, norm, tuple(x.shape[a] for a in axes))
        return _transform(ctx.xp, op, x, sizes, axes, norm)

    @staticmethod
    def backward(ctx, g):
        op, sizes, axes, norm, have = ctx.args
        return _resize_all(ctx.xp, _transform(ctx.xp, _ADJOINT[op], g, sizes, axes, _OPPOSITE[norm]), axes, have)


class _RealToHalf(Function):
    """rfft, rfftn, ihfft: a real input to the first ``n // 2 + 1`` bins; the other bins' gradient is zero."""

    @staticmethod
    def forward(ctx, x, *, op, sizes, axes, norm, cast):
        ctx.args = (op, sizes, axes, norm, tuple(x.shape[a] for a in axes))
        return _transform(ctx.xp, op, x, sizes, axes, norm)

    @staticmethod
    def backward(ctx, g):
        op, sizes, axes, norm, have = ctx.args
        xp = ctx.xp
        full = _resize(xp, g, axes[-1], sizes[-1])  # the dropped bins: zero gradient
        return _resize_all(xp, xp.real(_transform(xp, _ADJOINT[op], full, sizes, axes, _OPPOSITE[norm])), axes, have)


class _HalfToReal(Function):
    """irfft, irfftn, hfft: a half spectrum to a real signal; bins other than DC and Nyquist count twice."""

    @staticmethod
    def forward(ctx, x, *, op, sizes, axes, norm, cast):
        if cast is not None:
            x = ctx.xp.astype(x, cast)
        ctx.args = (op, sizes, axes, norm, tuple(x.shape[a] for a in axes))
        return _transform(ctx.xp, op, x, sizes, axes, norm)

    @staticmethod
    def backward(ctx, g):
        op, sizes, axes, norm, have = ctx.args
        xp = ctx.xp
        half = _mirror_weights(xp, _transform(xp, _ADJOINT[op], g, sizes, axes, _OPPOSITE[norm]), axes[-1], sizes[-1])
        return _resize_all(xp, half, axes, have)


# -- argument checks ----------------------------------------------------------------------------------------
def _input(op: str, x: Any, *, real: bool) -> tuple[Tensor, Any]:
    """The tensor ``x`` and the complex dtype to cast it to first (None: none needed), after checking its dtype."""
    x = _arg.tensor(op, x)
    b, dt = x.backend, x.dtype
    name = _backend.dtype_name(dt)
    if b.is_complex(dt) and not real:
        return x, None
    if name in _COMPLEX:
        return x, (None if real else b.dtype(_COMPLEX[name]))
    need = "a real floating dtype (float32 or float64)" if real else "a complex or real floating dtype"
    fix = "take xpgrad.real(x) first, or use fft for complex input" if b.is_complex(dt) else \
        "convert it with astype(x, 'float64')" if real else "convert it with astype(x, 'complex128')"
    raise TypeError(f"{op}: x must have {need}, got {name}; {fix}")


def _norm(op: str, norm: Any) -> str:
    if norm is None:
        return "backward"
    if isinstance(norm, str) and norm in _OPPOSITE:
        return norm
    raise ValueError(f"{op}: norm must be 'backward', 'ortho' or 'forward', got {norm!r}")


def _length(op: str, value: Any, name: str) -> int:
    n = _arg.index(op, value, name)
    if n < 1:
        raise ValueError(f"{op}: {name} must be a positive transform length, got {n}")
    return n


def _one_axis(op: str, x: Tensor, n: Any, axis: Any, half: bool) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``((n,), (axis,))`` normalised; ``half``: n counts the output, default ``2 * (m - 1)``."""
    ax = _arg.axis(op, axis, x.ndim)
    if n is not None:
        return (_length(op, n, "n"),), (ax,)
    m = x.shape[ax]
    if half and m < 2:
        raise ValueError(f"{op}: x has {m} element along axis {ax}, so the default output length 2 * (m - 1) is 0; "
                         "pass n")
    return (2 * (m - 1) if half else m,), (ax,)


def _many_axes(op: str, x: Tensor, s: Any, axes: Any, half: bool) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(s, axes)`` normalised: every axis when both are None, the last ``len(s)`` axes when only ``s`` is given."""
    if s is not None and (isinstance(s, (str, bytes)) or not isinstance(s, Sequence)):
        raise TypeError(f"{op}: s must be a sequence of transform lengths, got {type(s).__name__} ({s!r})")
    if axes is None and s is not None:
        if len(s) > x.ndim:
            raise ValueError(f"{op}: s={tuple(s)} has {len(s)} entries but x has only {x.ndim} dimensions")
        axes = tuple(range(x.ndim - len(s), x.ndim))
    ax = _arg.axes(op, axes, x.ndim)
    if not ax:
        raise ValueError(f"{op}: needs at least one axis to transform, got axes={axes!r}")
    if s is not None and len(s) != len(ax):
        raise ValueError(f"{op}: s={tuple(s)} and axes={ax} must have the same length (one length per axis)")
    lengths = (-1,) * len(ax) if s is None else s
    sizes = [x.shape[a] if _arg.index(op, v, "s entry") == -1 else _length(op, v, "s entry")
             for a, v in zip(ax, lengths, strict=True)]
    if half and (s is None or _arg.index(op, s[-1], "s entry") == -1):
        if sizes[-1] < 2:
            raise ValueError(f"{op}: x has {sizes[-1]} element along axis {ax[-1]}, so the default output length "
                             "2 * (m - 1) is 0; pass s")
        sizes[-1] = 2 * (sizes[-1] - 1)
    return tuple(sizes), ax


def _one(fn: type[Function], op: str, x: Any, n: Any, axis: Any, norm: Any, *, real: bool, half: bool) -> Tensor:
    x, cast = _input(op, x, real=real)
    sizes, axes = _one_axis(op, x, n, axis, half)
    return fn.apply(x, op=op, sizes=sizes, axes=axes, norm=_norm(op, norm), cast=cast)


def _many(fn: type[Function], op: str, x: Any, s: Any, axes: Any, norm: Any, *, real: bool, half: bool) -> Tensor:
    x, cast = _input(op, x, real=real)
    sizes, ax = _many_axes(op, x, s, axes, half)
    return fn.apply(x, op=op, sizes=sizes, axes=ax, norm=_norm(op, norm), cast=cast)


# -- the standard's functions ---------------------------------------------------------------------------------
def fft(x: Tensor, /, n: int | None = None, axis: int = -1, norm: Norm = "backward") -> Tensor:
    """One-dimensional discrete Fourier transform: ``y[k] = c * sum_j x[j] exp(-2 pi i j k / n)``.

    ``c`` is 1 (``norm='backward'``), ``1/sqrt(n)`` (``'ortho'``) or ``1/n``
    (``'forward'``). ``x`` is cropped or zero-padded to ``n`` along ``axis``
    first. A real floating input is taken as complex of the same precision.

    >>> import xpgrad
    >>> x = xpgrad.tensor([1.0, 2.0, 3.0, 4.0], dtype="complex64")
    >>> xpgrad.fft.fft(x).tolist()
    [(10+0j), (-2+2j), (-2+0j), (-2-2j)]
    """
    return _one(_Complex, "fft", x, n, axis, norm, real=False, half=False)


def ifft(x: Tensor, /, n: int | None = None, axis: int = -1, norm: Norm = "backward") -> Tensor:
    """One-dimensional inverse transform: ``y[j] = c * sum_k x[k] exp(2 pi i j k / n)``.

    ``c`` is ``1/n`` (``norm='backward'``), ``1/sqrt(n)`` (``'ortho'``) or 1
    (``'forward'``), so ``ifft(fft(x))`` is ``x`` for the same ``norm``.

    >>> import xpgrad
    >>> x = xpgrad.tensor([10.0, -2 + 2j, -2.0, -2 - 2j], dtype="complex64")
    >>> xpgrad.fft.ifft(x).tolist()
    [(1+0j), (2+0j), (3+0j), (4+0j)]
    """
    return _one(_Complex, "ifft", x, n, axis, norm, real=False, half=False)


def fftn(x: Tensor, /, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
         norm: Norm = "backward") -> Tensor:
    """N-dimensional transform: :func:`fft` along each of ``axes`` (all by default), with lengths ``s``.

    The norm's ``n`` is the product of the lengths. When only ``s`` is given it
    applies to the last ``len(s)`` axes.

    >>> import xpgrad
    >>> x = xpgrad.tensor([[1.0, 2.0], [3.0, 4.0]], dtype="complex64")
    >>> xpgrad.fft.fftn(x).tolist()
    [[(10+0j), (-2+0j)], [(-4+0j), 0j]]
    """
    return _many(_Complex, "fftn", x, s, axes, norm, real=False, half=False)


def ifftn(x: Tensor, /, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
          norm: Norm = "backward") -> Tensor:
    """N-dimensional inverse transform: :func:`ifft` along each of ``axes`` (all by default), with lengths ``s``.

    >>> import xpgrad
    >>> x = xpgrad.tensor([[10.0, -2.0], [-4.0, 0.0]], dtype="complex64")
    >>> xpgrad.fft.ifftn(x).tolist()
    [[(1+0j), (2+0j)], [(3+0j), (4+0j)]]
    """
    return _many(_Complex, "ifftn", x, s, axes, norm, real=False, half=False)


def rfft(x: Tensor, /, n: int | None = None, axis: int = -1, norm: Norm = "backward") -> Tensor:
    """Transform of a real signal: the first ``n // 2 + 1`` bins of :func:`fft` (the rest mirror them).

    ``y[k] = c * sum_j x[j] exp(-2 pi i j k / n)`` for ``k <= n // 2``; the result
    is complex of ``x``'s precision.

    >>> import xpgrad
    >>> xpgrad.fft.rfft(xpgrad.tensor([1.0, 2.0, 3.0, 4.0])).tolist()
    [(10+0j), (-2+2j), (-2+0j)]
    """
    return _one(_RealToHalf, "rfft", x, n, axis, norm, real=True, half=False)


def irfft(x: Tensor, /, n: int | None = None, axis: int = -1, norm: Norm = "backward") -> Tensor:
    """Inverse of :func:`rfft`: the real signal of length ``n`` (default ``2 * (m - 1)``) whose half spectrum is ``x``.

    ``y[j] = c * sum_k X[k] exp(2 pi i j k / n)`` over the full spectrum, where
    ``X[n - k] = conj(x[k])``; the imaginary parts of the DC and Nyquist bins
    are ignored.

    >>> import xpgrad
    >>> x = xpgrad.tensor([10.0, -2 + 2j, -2.0], dtype="complex64")
    >>> xpgrad.fft.irfft(x).tolist()
    [1.0, 2.0, 3.0, 4.0]
    """
    return _one(_HalfToReal, "irfft", x, n, axis, norm, real=False, half=True)


def rfftn(x: Tensor, /, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
          norm: Norm = "backward") -> Tensor:
    """N-dimensional transform of a real signal: :func:`fftn`, keeping ``s[-1] // 2 + 1`` bins on the last axis.

    >>> import xpgrad
    >>> xpgrad.fft.rfftn(xpgrad.tensor([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [[(10+0j), (-2+0j)], [(-4+0j), 0j]]
    """
    return _many(_RealToHalf, "rfftn", x, s, axes, norm, real=True, half=False)


def irfftn(x: Tensor, /, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
           norm: Norm = "backward") -> Tensor:
    """Inverse of :func:`rfftn`: :func:`ifftn` on the leading axes, then :func:`irfft` on the last of ``axes``.

    The last output length defaults to ``2 * (m - 1)``.

    >>> import xpgrad
    >>> x = xpgrad.tensor([[10.0, -2.0], [-4.0, 0.0]], dtype="complex64")
    >>> xpgrad.fft.irfftn(x).tolist()
    [[1.0, 2.0], [3.0, 4.0]]
    """
    return _many(_HalfToReal, "irfftn", x, s, axes, norm, real=False, half=True)


def hfft(x: Tensor, /, n: int | None = None, axis: int = -1, norm: Norm = "backward") -> Tensor:
    """Transform of a Hermitian-symmetric signal given by its first half ``x``: a real spectrum of length ``n``.

    ``y[k] = c * sum_j X[j] exp(-2 pi i j k / n)`` with ``X[n - j] = conj(x[j])``,
    ``c`` as in :func:`fft`; ``n`` defaults to ``2 * (m - 1)``.

    >>> import xpgrad
    >>> xpgrad.fft.hfft(xpgrad.tensor([1.0, 2.0, 3.0], dtype="complex64")).tolist()
    [8.0, -2.0, 0.0, -2.0]
    """
    return _one(_HalfToReal, "hfft", x, n, axis, norm, real=False, half=True)


def ihfft(x: Tensor, /, n: int | None = None, axis: int = -1, norm: Norm = "backward") -> Tensor:
    """Inverse of :func:`hfft`: ``y[k] = c * sum_j x[j] exp(2 pi i j k / n)`` for ``k <= n // 2``, ``x`` real.

    ``c`` is as in :func:`ifft`; the result is complex of ``x``'s precision.

    >>> import xpgrad
    >>> xpgrad.fft.ihfft(xpgrad.tensor([8.0, -2.0, 0.0, -2.0])).tolist()
    [(1-0j), (2-0j), (3-0j)]
    """
    return _one(_RealToHalf, "ihfft", x, n, axis, norm, real=True, half=False)
