"""Statistics and utilities: var, std, cumulative_sum, cumulative_prod, diff, all, any."""

from __future__ import annotations

import builtins
from typing import Any

from ..function import Function
from ..tensor import Tensor
from . import arguments as _arg
from . import nondiff
from .nondiff import conj as _conj
from .reduction import Axis, _expand

__all__ = ["all", "any", "cumulative_prod", "cumulative_sum", "diff", "std", "var"]


def _count(shape, axes):
    n = 1
    for a in axes:
        n *= shape[a]
    return n


class Var(Function):
    """(1/(n - correction)) Σ (x - mean)²; the gradient is 2 (x - mean) / (n - correction)."""

    owns_grads = True
    create_graph_safe = True  # x - mean is rebuilt from x under create_graph

    @staticmethod
    def forward(ctx, x, axes=(), correction=0.0, keepdims=False, root=False):
        xp = ctx.xp
        ctx.shape, ctx.axes, ctx.keepdims, ctx.root = x.shape, axes, keepdims, root
        ctx.dof = _count(x.shape, axes) - correction
        out = (xp.std if root else xp.var)(x, axis=axes, correction=correction, keepdims=keepdims)
        if ctx.needs_input_grad is not None:
            centred = x - xp.mean(x, axis=axes, keepdims=True)
            ctx.save_for_backward(centred, out)
        return out

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        centred, out = ctx.saved_tensors
        if ctx.create_graph:
            x = ctx.parents[0]
            centred = x - xp.mean(x, axis=ctx.axes, keepdims=True)
        g = _expand(xp, g, ctx.shape, ctx.axes, ctx.keepdims)
        if ctx.root:  # d std = d var / (2 std); 0 where std is 0 (PyTorch's choice: a subgradient, not nan)
            s = _expand(xp, out, ctx.shape, ctx.axes, ctx.keepdims)
            zero = s == 0
            return xp.where(zero, 0.0, g * centred / (ctx.dof * xp.where(zero, 1.0, s)))
        return g * centred * 2.0 / ctx.dof  # array / dof: nan or inf (not an exception) when n <= correction


class Std(Var):
    """√var; the gradient is (x - mean) / ((n - correction) std), 0 where std is 0."""


def _moments(name, x, axis, correction, keepdims, root):
    x = _arg.tensor(name, x)
    if not isinstance(correction, (int, float)) or isinstance(correction, bool):
        raise TypeError(f"{name}: correction must be a real number (0 for the population, 1 for the sample "
                        f"estimate), got {type(correction).__name__} ({correction!r})")
    if x.backend.is_complex(x.dtype):
        raise TypeError(f"{name}: x must have a real floating dtype, got {x.dtype}; take abs() or real() first")
    axes = _arg.axes(name, axis, x.ndim)
    return (Std if root else Var).apply(x, axes=axes, correction=correction, keepdims=keepdims, root=root)


def var(x: Tensor, /, axis: Axis = None, *, correction: int | float = 0.0, keepdims: bool = False) -> Tensor:
    """Variance Σ (x - mean)² / (n - correction) over ``axis``.

    ``correction=0`` is the population variance, ``correction=1`` the unbiased
    sample estimate (Bessel's correction). The gradient is 2 (x - mean) / (n - correction).

    >>> import xpgrad
    >>> xpgrad.var(xpgrad.tensor([1.0, 2.0, 3.0, 4.0])).item()
    1.25
    """
    return _moments("var", x, axis, correction, keepdims, root=False)


def std(x: Tensor, /, axis: Axis = None, *, correction: int | float = 0.0, keepdims: bool = False) -> Tensor:
    """Standard deviation √(Σ (x - mean)² / (n - correction)) over ``axis``.

    The gradient is (x - mean) / ((n - correction) std); where std is 0 (all
    entries equal) it is 0, as in PyTorch, instead of 0/0.

    >>> import xpgrad
    >>> xpgrad.std(xpgrad.tensor([1.0, 3.0])).item()
    1.0
    """
    return _moments("std", x, axis, correction, keepdims, root=True)


def _rev_cumsum(xp, a, axis):
    return xp.flip(xp.cumulative_sum(xp.flip(a, axis=axis), axis=axis), axis=axis)


def _trim_initial(xp, g, axis, include_initial):
    if not include_initial:
        return g
    index = [slice(None)] * g.ndim
    index[axis] = slice(1, None)
    return g[tuple(index)]


class CumulativeSum(Function):
    @staticmethod
    def forward(ctx, x, axis=0, dtype=None, include_initial=False):
        ctx.axis, ctx.initial, ctx.zero_d = axis, include_initial, x.ndim == 0
        xp = ctx.xp
        if ctx.zero_d:
            x = xp.reshape(x, (1,))
        out = xp.cumulative_sum(x, axis=axis, dtype=dtype, include_initial=include_initial)
        return out

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        grad = _rev_cumsum(xp, _trim_initial(xp, g, ctx.axis, ctx.initial), ctx.axis)
        return xp.reshape(grad, ()) if ctx.zero_d else grad


class CumulativeProd(Function):
    """Running products; the gradient is exact where entries are 0 (an O(n²) path used only then)."""

    owns_grads = True

    @staticmethod
    def forward(ctx, x, axis=0, dtype=None, include_initial=False):
        ctx.axis, ctx.initial, ctx.zero_d = axis, include_initial, x.ndim == 0
        xp = ctx.xp
        if ctx.zero_d:
            x = xp.reshape(x, (1,))
        out = xp.cumulative_prod(x, axis=axis, dtype=dtype, include_initial=include_initial)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        x, out = ctx.saved_tensors
        axis = ctx.axis
        g = _trim_initial(xp, g, axis, ctx.initial)
        out = xp.astype(_trim_initial(xp, out, axis, ctx.initial), g.dtype)
        x = xp.astype(x, g.dtype)
        if not xp.any(x == 0):
            grad = _rev_cumsum(xp, g * _conj(ctx, out), axis) / _conj(ctx, x)
        else:
            grad = _cumprod_grad_with_zeros(ctx, x, g, axis)
        return xp.reshape(grad, ()) if ctx.zero_d else grad


def _cumprod_grad_with_zeros(ctx, x, g, axis):
    """grad_j = Σ_{k≥j} g_k conj(Π_{i≤k, i≠j} x_i), from a (…, n, n) table with x_j replaced by 1 in row j."""
    xp = ctx.xp
    x, g = xp.moveaxis(x, axis, -1), xp.moveaxis(g, axis, -1)
    n = x.shape[-1]
    eye = xp.eye(n, dtype=xp.bool, device=x.device)
    rows = xp.where(eye, xp.ones((), dtype=x.dtype, device=x.device), xp.expand_dims(x, axis=-2))  # rows[..., j, i]
    table = xp.cumulative_prod(rows, axis=-1)  # table[..., j, k] = Π_{i≤k, i≠j} x_i
    upper = xp.astype(xp.triu(xp.ones((n, n), dtype=xp.bool, device=x.device)), x.dtype)  # k ≥ j
    grad = xp.sum(_conj(ctx, table) * upper * xp.expand_dims(g, axis=-2), axis=-1)
    return xp.moveaxis(grad, -1, axis)


def _cumulative(name, fn, x, axis, dtype, include_initial):
    x = _arg.tensor(name, x)
    if axis is None:
        if x.ndim > 1:
            raise ValueError(f"{name}: axis is required for a tensor with {x.ndim} dimensions "
                             f"(shape {tuple(x.shape)}); pass axis=")
        axis = 0
    else:
        axis = _arg.axis(name, axis, x.ndim or 1)
    dt = None if dtype is None else x.backend.dtype(dtype)
    return fn.apply(x, axis=axis, dtype=dt, include_initial=bool(include_initial))


def cumulative_sum(x: Tensor, /, axis: int | None = None, *, dtype: Any = None,
                   include_initial: bool = False) -> Tensor:
    """Running sums out_k = Σ_{i≤k} x_i along ``axis`` (optional for 1-D tensors).

    ``include_initial=True`` prepends the empty sum 0 (one more entry along
    ``axis``). The gradient is the reversed running sum of the upstream gradient.

    >>> import xpgrad
    >>> xpgrad.cumulative_sum(xpgrad.tensor([1.0, 2.0, 3.0]), include_initial=True).tolist()
    [0.0, 1.0, 3.0, 6.0]
    """
    return _cumulative("cumulative_sum", CumulativeSum, x, axis, dtype, include_initial)


def cumulative_prod(x: Tensor, /, axis: int | None = None, *, dtype: Any = None,
                    include_initial: bool = False) -> Tensor:
    """Running products out_k = Π_{i≤k} x_i along ``axis`` (optional for 1-D tensors).

    ``include_initial=True`` prepends the empty product 1. The gradient is
    exact when entries are 0 (it does not divide by them).

    >>> import xpgrad
    >>> x = xpgrad.tensor([2.0, 0.0, 3.0], requires_grad=True)
    >>> y = xpgrad.cumulative_prod(x)
    >>> y.tolist()
    [2.0, 0.0, 0.0]
    >>> xpgrad.sum(y).backward()
    >>> x.grad.tolist()
    [1.0, 8.0, 0.0]
    """
    return _cumulative("cumulative_prod", CumulativeProd, x, axis, dtype, include_initial)


class Diff(Function):
    """n-th forward difference along ``axis`` of concat(prepend, x, append)."""

    @staticmethod
    def forward(ctx, x, prepend=None, append=None, axis=-1, n=1):
        xp = ctx.xp
        parts = [p for p in (prepend, x, append) if p is not None]
        ctx.axis, ctx.n = axis, n
        ctx.sizes = [p.shape[axis] if p is not None else 0 for p in (prepend, x, append)]
        y = xp.concat(parts, axis=axis) if len(parts) > 1 else x
        for _ in range(n):
            y = _take(y, axis, 1, None) - _take(y, axis, 0, -1)
        return y

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        axis = ctx.axis
        for _ in range(ctx.n):  # adjoint of y_k = x_{k+1} - x_k: [0, g] - [g, 0]
            pad = xp.zeros((*g.shape[:axis], 1, *g.shape[axis + 1:]), dtype=g.dtype, device=g.device)
            g = xp.concat([pad, g], axis=axis) - xp.concat([g, pad], axis=axis)
        p, m, _ = ctx.sizes
        grads = (_take(g, axis, 0, p) if p else None, _take(g, axis, p, p + m), _take(g, axis, p + m, None))
        return grads[1], grads[0], (grads[2] if ctx.sizes[2] else None)


def _take(a, axis, start, stop):
    index = [slice(None)] * a.ndim
    index[axis] = slice(start, stop)
    return a[tuple(index)]


def diff(x: Tensor, /, axis: int = -1, *, n: int = 1, prepend: Tensor | None = None,
         append: Tensor | None = None) -> Tensor:
    """The n-th forward difference out_k = y_{k+1} - y_k (applied ``n`` times) along ``axis``.

    ``y`` is ``x`` with ``prepend`` before and ``append`` after it along
    ``axis`` (tensors whose other dimensions match ``x``). Gradients reach
    all three. ``n=0`` returns ``x``'s values, as NumPy does.

    >>> import xpgrad
    >>> xpgrad.diff(xpgrad.tensor([1.0, 4.0, 9.0, 16.0])).tolist()
    [3.0, 5.0, 7.0]
    >>> xpgrad.diff(xpgrad.tensor([1.0, 4.0, 9.0, 16.0]), n=2).tolist()
    [2.0, 2.0]
    """
    x = _arg.tensor("diff", x)
    if x.ndim == 0:
        raise ValueError("diff: x must have at least one dimension, got a 0-d tensor; reshape it to (1,) first")
    axis = _arg.axis("diff", axis, x.ndim)
    n = _arg.index("diff", n, "n")
    if n < 0:
        raise ValueError(f"diff: n must be >= 0 (the number of times to difference), got {n}")
    extra = []
    for name, p in (("prepend", prepend), ("append", append)):
        if p is not None:
            p = _arg.tensor("diff", p, name)
            if p.ndim != x.ndim or builtins.any(p.shape[i] != x.shape[i] for i in range(x.ndim) if i != axis):
                raise ValueError(f"diff: {name} of shape {tuple(p.shape)} must match x's shape {tuple(x.shape)} "
                                 f"in every dimension except axis {axis}")
        extra.append(p)
    if n == 0:  # as NumPy: nothing is differenced, and prepend/append are not used
        extra = [None, None]
    # Past the length along axis the result stays empty (without slicing out of bounds, which the standard leaves open).
    n = builtins.min(n, x.shape[axis] + builtins.sum(p.shape[axis] for p in extra if p is not None))
    return Diff.apply(x, extra[0], extra[1], axis=axis, n=n)


def all(x: Tensor, /, axis: Axis = None, *, keepdims: bool = False) -> Tensor:
    """Whether every entry is true (non-zero) over ``axis``: a boolean tensor that records nothing.

    The ``all`` of nothing is True.

    >>> import xpgrad
    >>> xpgrad.all(xpgrad.tensor([1.0, 0.0])).item()
    False
    """
    x = _arg.tensor("all", x)
    return nondiff.call("all", x, axis=_axis_arg("all", axis, x.ndim), keepdims=keepdims)


def any(x: Tensor, /, axis: Axis = None, *, keepdims: bool = False) -> Tensor:
    """Whether some entry is true (non-zero) over ``axis``: a boolean tensor that records nothing.

    The ``any`` of nothing is False.

    >>> import xpgrad
    >>> xpgrad.any(xpgrad.tensor([[1.0, 0.0], [0.0, 0.0]]), axis=1).tolist()
    [True, False]
    """
    x = _arg.tensor("any", x)
    return nondiff.call("any", x, axis=_axis_arg("any", axis, x.ndim), keepdims=keepdims)


def _axis_arg(name, axis, ndim):
    return None if axis is None else _arg.axes(name, axis, ndim)
