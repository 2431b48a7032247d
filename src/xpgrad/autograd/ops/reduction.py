"""Reductions: sum, mean, prod, max/min (the max gate), logsumexp."""

from __future__ import annotations

from typing import Any

from ..function import Function
from ..tensor import Tensor
from . import arguments as _arg
from .nondiff import conj as _conj

__all__ = ["logsumexp", "max", "mean", "min", "prod", "sum"]

Axis = int | tuple[int, ...] | None


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < (ndim or 1):
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(a % ndim if ndim else 0)
    return tuple(out)


def _kept_shape(shape, axes):
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _expand(xp, g, in_shape, axes, keepdims):
    """Reshape the reduced gradient so it broadcasts against the input."""
    return g if keepdims else xp.reshape(g, _kept_shape(in_shape, axes))


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False, dtype=None):
        ctx.shape, ctx.axes, ctx.keepdims = x.shape, _axes(axis, x.ndim), keepdims
        if dtype is None:
            return ctx.xp.sum(x, axis=ctx.axes, keepdims=keepdims)
        return ctx.xp.sum(x, axis=ctx.axes, keepdims=keepdims, dtype=dtype)

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.broadcast_to(_expand(ctx.xp, g, ctx.shape, ctx.axes, ctx.keepdims), ctx.shape)


class Mean(Function):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        ctx.shape, ctx.axes, ctx.keepdims = x.shape, _axes(axis, x.ndim), keepdims
        ctx.count = 1
        for a in ctx.axes:
            ctx.count *= x.shape[a]
        return ctx.xp.mean(x, axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        g = _expand(ctx.xp, g, ctx.shape, ctx.axes, ctx.keepdims) / ctx.count
        return ctx.xp.broadcast_to(g, ctx.shape)


def _last(xp, x, axes):
    """``x`` with the ``axes`` moved to the end and flattened into one; also the permutation and moved shape."""
    keep = [i for i in range(x.ndim) if i not in axes]
    perm = (*keep, *sorted(axes))
    moved = xp.permute_dims(x, perm)
    n = 1
    for a in axes:
        n *= x.shape[a]
    return xp.reshape(moved, (*moved.shape[:len(keep)], n)), perm, moved.shape


def _exclusive_cumprod(xp, x, reverse=False):
    """Products of the entries strictly before (``reverse``: after) each entry along the last axis."""
    if reverse:
        x = xp.flip(x, axis=-1)
    out = xp.cumulative_prod(x, axis=-1, include_initial=True)[..., :-1]
    return xp.flip(out, axis=-1) if reverse else out


class Prod(Function):
    """The product; each entry's gradient is the product of the others (exact with zeros)."""

    owns_grads = True

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False, dtype=None):
        ctx.shape, ctx.axes, ctx.keepdims = x.shape, _axes(axis, x.ndim), keepdims
        ctx.save_for_backward(x)
        if dtype is None:
            return ctx.xp.prod(x, axis=ctx.axes, keepdims=keepdims)
        return ctx.xp.prod(x, axis=ctx.axes, keepdims=keepdims, dtype=dtype)

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        (x,) = ctx.saved_tensors
        if not ctx.axes:
            return g * xp.ones_like(x)
        flat, perm, moved_shape = _last(xp, x, ctx.axes)
        others = _exclusive_cumprod(xp, flat) * _exclusive_cumprod(xp, flat, reverse=True)
        others = xp.permute_dims(xp.reshape(others, moved_shape), tuple(perm.index(i) for i in range(x.ndim)))
        return _conj(ctx, others) * _expand(xp, g, ctx.shape, ctx.axes, ctx.keepdims)


class Max(Function):
    """The max gate: the gradient goes to the maximal entries, split evenly among ties."""

    owns_grads = True
    create_graph_safe = True  # the saved maximum is only compared with x

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        return _extreme_forward(ctx, x, axis, keepdims, ctx.xp.max)

    @staticmethod
    def backward(ctx, g):
        return _extreme_backward(ctx, g)


class Min(Function):
    owns_grads = True
    create_graph_safe = True  # the saved minimum is only compared with x

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        return _extreme_forward(ctx, x, axis, keepdims, ctx.xp.min)

    @staticmethod
    def backward(ctx, g):
        return _extreme_backward(ctx, g)


def _extreme_forward(ctx, x, axis, keepdims, reduce):
    xp = ctx.xp
    ctx.shape, ctx.axes, ctx.keepdims = x.shape, _axes(axis, x.ndim), keepdims
    if 0 in [x.shape[a] for a in ctx.axes]:
        raise ValueError(f"cannot take {reduce.__name__} over an empty axis of a tensor of shape {tuple(x.shape)} "
                         "(the maximum/minimum of nothing is undefined); reduce over non-empty axes")
    m = reduce(x, axis=ctx.axes, keepdims=True)
    ctx.save_for_backward(x, m)
    return m if keepdims else xp.reshape(m, tuple(n for i, n in enumerate(x.shape) if i not in ctx.axes))


def _extreme_backward(ctx, g):
    xp = ctx.xp
    x, m = ctx.saved_tensors
    hit = xp.astype(x == m, g.dtype)
    count = xp.sum(hit, axis=ctx.axes, keepdims=True)
    return hit * (_expand(xp, g, ctx.shape, ctx.axes, ctx.keepdims) / count)


class LogSumExp(Function):
    owns_grads = True
    create_graph_safe = True  # e / s is rebuilt from x under create_graph

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        xp = ctx.xp
        ctx.shape, ctx.axes, ctx.keepdims = x.shape, _axes(axis, x.ndim), keepdims
        m = xp.max(x, axis=ctx.axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0.0)  # all -inf rows stay -inf instead of nan
        e = xp.exp(x - m)
        s = xp.sum(e, axis=ctx.axes, keepdims=True)
        out = xp.log(s) + m
        ctx.save_for_backward(e, s)
        return out if keepdims else xp.reshape(out, tuple(n for i, n in enumerate(x.shape) if i not in ctx.axes))

    @staticmethod
    def backward(ctx, g):
        e, s = ctx.saved_tensors
        if ctx.create_graph:  # softmax of x along the axes, from the argument itself
            xp, x = ctx.xp, ctx.parents[0]
            m = xp.max(x, axis=ctx.axes, keepdims=True)
            e = xp.exp(x - xp.where(xp.isfinite(m), m, 0.0))
            s = xp.sum(e, axis=ctx.axes, keepdims=True)
        return (e / s) * _expand(ctx.xp, g, ctx.shape, ctx.axes, ctx.keepdims)


def sum(x: Tensor, /, axis: Axis = None, *, dtype: Any = None, keepdims: bool = False) -> Tensor:
    """Σ x over ``axis`` (all axes by default); the gradient is copied to every summed entry.

    ``dtype`` sets the accumulation and result dtype (the gradient comes back
    in ``x``'s dtype). Without it, floating inputs keep their dtype and
    integer inputs sum in the default integer dtype. The sum of nothing is 0.

    >>> import xpgrad
    >>> xpgrad.sum(xpgrad.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=0).tolist()
    [4.0, 6.0]
    """
    x = _arg.tensor("sum", x)
    if dtype is None:
        return Sum.apply(x, axis=_arg.axes("sum", axis, x.ndim), keepdims=keepdims)
    return Sum.apply(x, axis=_arg.axes("sum", axis, x.ndim), keepdims=keepdims, dtype=x.backend.dtype(dtype))


def mean(x: Tensor, /, axis: Axis = None, *, keepdims: bool = False) -> Tensor:
    """Arithmetic mean (1/n) Σ x over ``axis``; each entry gets 1/n of the gradient.

    >>> import xpgrad
    >>> xpgrad.mean(xpgrad.tensor([1.0, 2.0, 3.0])).item()
    2.0
    """
    x = _arg.tensor("mean", x)
    return Mean.apply(x, axis=_arg.axes("mean", axis, x.ndim), keepdims=keepdims)


def prod(x: Tensor, /, axis: Axis = None, *, dtype: Any = None, keepdims: bool = False) -> Tensor:
    """Π x over ``axis`` (all axes by default); the product of nothing is 1.

    The gradient of each entry is the product of the other entries (conjugated
    for complex inputs), computed from prefix and suffix products, so it is
    exact when some entries are 0. ``dtype`` works as for :func:`sum`.

    >>> import xpgrad
    >>> x = xpgrad.tensor([2.0, 0.0, 3.0], requires_grad=True)
    >>> xpgrad.prod(x).backward()
    >>> x.grad.tolist()
    [0.0, 6.0, 0.0]
    """
    x = _arg.tensor("prod", x)
    dt = None if dtype is None else x.backend.dtype(dtype)
    return Prod.apply(x, axis=_arg.axes("prod", axis, x.ndim), keepdims=keepdims, dtype=dt)


def max(x: Tensor, /, axis: Axis = None, *, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis`` (the max gate): the gradient flows only to the maximal entries.

    When several entries tie for the maximum, the gradient is split evenly
    among them, so it still sums to the upstream gradient. Reducing an
    empty axis raises a ValueError.

    >>> import xpgrad
    >>> x = xpgrad.tensor([1.0, 3.0, 3.0], requires_grad=True)
    >>> xpgrad.max(x).backward()
    >>> x.grad.tolist()
    [0.0, 0.5, 0.5]
    """
    x = _arg.tensor("max", x)
    return Max.apply(x, axis=_arg.axes("max", axis, x.ndim), keepdims=keepdims)


def min(x: Tensor, /, axis: Axis = None, *, keepdims: bool = False) -> Tensor:
    """Minimum over ``axis``; the gradient flows to the minimal entries, split evenly among ties.

    >>> import xpgrad
    >>> xpgrad.min(xpgrad.tensor([[1.0, -3.0]]), axis=1).tolist()
    [-3.0]
    """
    x = _arg.tensor("min", x)
    return Min.apply(x, axis=_arg.axes("min", axis, x.ndim), keepdims=keepdims)


def logsumexp(x: Tensor, /, axis: Axis = None, *, keepdims: bool = False) -> Tensor:
    """log Σ exp(x) over ``axis``, computed stably as m + log Σ exp(x - m) with m = max x.

    Its gradient is softmax(x) along ``axis``.

    >>> import xpgrad
    >>> round(xpgrad.logsumexp(xpgrad.tensor([1e4, 1e4])).item(), 3)
    10000.693
    """
    x = _arg.tensor("logsumexp", x)
    return LogSumExp.apply(x, axis=_arg.axes("logsumexp", axis, x.ndim), keepdims=keepdims)
