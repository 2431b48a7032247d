"""Sorting and sets: sort (differentiable), argsort; unique_values/_counts/_inverse/_all (values differentiable)."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..function import Function
from ..tensor import Tensor
from . import arguments as _arg
from . import nondiff

__all__ = ["argsort", "sort", "unique_all", "unique_counts", "unique_inverse", "unique_values"]


class Sort(Function):
    """Values in sorted order: a gather by the sorting permutation; backward scatters the gradient back."""

    @staticmethod
    def forward(ctx, x, axis=-1, descending=False, stable=True):
        xp = ctx.xp
        if x.ndim == 0:
            ctx.order = None
            return xp.asarray(x, copy=True)
        order = xp.argsort(x, axis=axis, descending=descending, stable=stable)
        ctx.order, ctx.axis = order, axis
        return xp.take_along_axis(x, order, axis=axis)

    @staticmethod
    def backward(ctx, g):
        if ctx.order is None:
            return g
        return ctx.backend.add_along_axis(ctx.xp.zeros_like(g), ctx.order, g, ctx.axis)


def _sort_args(name: str, x: Any, axis: Any) -> tuple[Tensor, int]:
    x = _arg.tensor(name, x)
    if x.backend.is_complex(x.dtype):
        raise TypeError(f"{name}: complex numbers have no order; x has dtype {x.dtype} (sort abs() or real())")
    return x, (_arg.axis(name, axis, x.ndim) if x.ndim else 0)


def sort(x: Tensor, /, axis: int = -1, *, descending: bool = False, stable: bool = True) -> Tensor:
    """``x`` sorted along ``axis`` (ascending, or descending), NaNs last; differentiable.

    Each sorted entry's gradient goes back to the position it came from (the
    permutation's inverse); ties keep their order when ``stable``.

    >>> import xpgrad
    >>> x = xpgrad.tensor([3.0, 1.0, 2.0], requires_grad=True)
    >>> y = xpgrad.sort(x, descending=True)
    >>> y.tolist()
    [3.0, 2.0, 1.0]
    >>> (y * xpgrad.tensor([1.0, 10.0, 100.0])).sum().backward()
    >>> x.grad.tolist()
    [1.0, 100.0, 10.0]
    """
    x, axis = _sort_args("sort", x, axis)
    return Sort.apply(x, axis=axis, descending=bool(descending), stable=bool(stable))


def argsort(x: Tensor, /, axis: int = -1, *, descending: bool = False, stable: bool = True) -> Tensor:
    """The indices that sort ``x`` along ``axis`` (default integer dtype); records nothing.

    >>> import xpgrad
    >>> xpgrad.argsort(xpgrad.tensor([3.0, 1.0, 2.0])).tolist()
    [1, 2, 0]
    """
    x, axis = _sort_args("argsort", x, axis)
    if x.ndim == 0:
        return nondiff.wrap(x.backend.xp.zeros((), dtype=x.backend.xp.int64, device=x.device), x.backend)
    return nondiff.call("argsort", x, axis=axis, descending=bool(descending), stable=bool(stable))


class UniqueAllResult(NamedTuple):
    values: Tensor
    indices: Tensor
    inverse_indices: Tensor
    counts: Tensor


class UniqueCountsResult(NamedTuple):
    values: Tensor
    counts: Tensor


class UniqueInverseResult(NamedTuple):
    values: Tensor
    inverse_indices: Tensor


class Unique(Function):
    """The distinct values, sorted; the gradient of each is summed back to every entry equal to it (as JAX)."""

    @staticmethod
    def forward(ctx, x, kind="values", extras=None):
        xp = ctx.xp
        wanted = "inverse" if kind == "values" and ctx.needs_input_grad is not None else kind
        out = getattr(xp, f"unique_{wanted}")(x)
        if wanted == "values":
            return out
        if extras is not None:
            extras.update(out._asdict())
        if ctx.needs_input_grad is not None:
            ctx.shape, ctx.inverse = x.shape, xp.reshape(out.inverse_indices, (-1,))
        return out.values

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.reshape(ctx.xp.take(g, ctx.inverse, axis=0), ctx.shape)


def _unique(name: str, x: Any, kind: str) -> tuple[Tensor, dict]:
    x = _arg.tensor(name, x)
    extras: dict = {}
    # Gradients need the inverse indices: ask for every result when x requires grad.
    need = kind if kind != "counts" or not x.requires_grad else "all"
    return Unique.apply(x, kind=need, extras=extras), {k: nondiff.wrap(v, x.backend) for k, v in extras.items()}


def unique_values(x: Tensor, /) -> Tensor:
    """The distinct values of ``x``, sorted, as a 1-D tensor (each NaN counts as distinct).

    Differentiable: the gradient of a value is summed back to every entry of
    ``x`` equal to it (as JAX does; PyTorch's unique has no gradient).

    >>> import xpgrad
    >>> xpgrad.unique_values(xpgrad.tensor([[2.0, 1.0], [2.0, 3.0]])).tolist()
    [1.0, 2.0, 3.0]
    """
    return _unique("unique_values", x, "values")[0]


def unique_counts(x: Tensor, /) -> UniqueCountsResult:
    """The distinct values (differentiable as in :func:`unique_values`) and how often each occurs.

    >>> import xpgrad
    >>> values, counts = xpgrad.unique_counts(xpgrad.tensor([2.0, 1.0, 2.0]))
    >>> values.tolist(), counts.tolist()
    ([1.0, 2.0], [1, 2])
    """
    values, extras = _unique("unique_counts", x, "counts")
    return UniqueCountsResult(values, extras["counts"])


def unique_inverse(x: Tensor, /) -> UniqueInverseResult:
    """The distinct values and, for each entry of ``x``, the index of its value (shaped like ``x``).

    ``values[inverse_indices]`` rebuilds ``x``. The values are differentiable
    as in :func:`unique_values`.

    >>> import xpgrad
    >>> values, inverse = xpgrad.unique_inverse(xpgrad.tensor([2.0, 1.0, 2.0]))
    >>> values.tolist(), inverse.tolist()
    ([1.0, 2.0], [1, 0, 1])
    """
    values, extras = _unique("unique_inverse", x, "inverse")
    return UniqueInverseResult(values, extras["inverse_indices"])


def unique_all(x: Tensor, /) -> UniqueAllResult:
    """Distinct values, the index of the first occurrence of each, the inverse indices and the counts.

    Only ``values`` is differentiable (as in :func:`unique_values`).

    >>> import xpgrad
    >>> r = xpgrad.unique_all(xpgrad.tensor([2.0, 1.0, 2.0]))
    >>> r.values.tolist(), r.indices.tolist(), r.inverse_indices.tolist(), r.counts.tolist()
    ([1.0, 2.0], [1, 0], [1, 0, 1], [1, 2])
    """
    values, extras = _unique("unique_all", x, "all")
    return UniqueAllResult(values, extras["indices"], extras["inverse_indices"], extras["counts"])
