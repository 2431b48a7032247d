"""Searching: argmax, argmin, count_nonzero, nonzero, searchsorted (integer results that record nothing)."""

from __future__ import annotations

from typing import Literal

from ..tensor import Tensor
from . import arguments as _arg
from . import nondiff
from .reduction import Axis

__all__ = ["argmax", "argmin", "count_nonzero", "nonzero", "searchsorted"]


def _arg_extreme(name: str, x: Tensor, axis: int | None, keepdims: bool) -> Tensor:
    x = _arg.tensor(name, x)
    if axis is not None:
        axis = _arg.axis(name, axis, x.ndim)
        empty = x.shape[axis] == 0
    else:
        empty = x.size == 0
    if empty:
        raise ValueError(f"{name}: cannot search an empty {'axis' if axis is not None else 'tensor'} "
                         f"(x has shape {tuple(x.shape)}); there is no entry to point at")
    if x.backend.is_complex(x.dtype):
        raise TypeError(f"{name}: complex numbers have no order; x has dtype {x.dtype} (take abs() or real() first)")
    return nondiff.call(name, x, axis=axis, keepdims=keepdims)


def argmax(x: Tensor, /, axis: int | None = None, *, keepdims: bool = False) -> Tensor:
    """Index of the first maximal entry along ``axis`` (of the flattened tensor when None); records nothing.

    >>> import xpgrad
    >>> xpgrad.argmax(xpgrad.tensor([[1.0, 5.0, 5.0], [7.0, 0.0, 2.0]]), axis=1).tolist()
    [1, 0]
    """
    return _arg_extreme("argmax", x, axis, keepdims)


def argmin(x: Tensor, /, axis: int | None = None, *, keepdims: bool = False) -> Tensor:
    """Index of the first minimal entry along ``axis`` (of the flattened tensor when None); records nothing.

    >>> import xpgrad
    >>> xpgrad.argmin(xpgrad.tensor([3.0, -1.0, -1.0])).item()
    1
    """
    return _arg_extreme("argmin", x, axis, keepdims)


def count_nonzero(x: Tensor, /, axis: Axis = None, *, keepdims: bool = False) -> Tensor:
    """Number of non-zero entries over ``axis``, in the default integer dtype; records nothing.

    >>> import xpgrad
    >>> xpgrad.count_nonzero(xpgrad.tensor([[0.0, 2.0], [3.0, 4.0]]), axis=0).tolist()
    [1, 2]
    """
    x = _arg.tensor("count_nonzero", x)
    axes = None if axis is None else _arg.axes("count_nonzero", axis, x.ndim)
    return nondiff.call("count_nonzero", x, axis=axes, keepdims=keepdims)


def nonzero(x: Tensor, /) -> tuple[Tensor, ...]:
    """The indices of the non-zero entries: one integer tensor per dimension, in row-major order.

    The result's length depends on the data, so it needs a backend with
    data-dependent shapes; 0-d tensors are refused, as the standard asks.

    >>> import xpgrad
    >>> rows, cols = xpgrad.nonzero(xpgrad.tensor([[0.0, 1.0], [2.0, 0.0]]))
    >>> rows.tolist(), cols.tolist()
    ([0, 1], [1, 0])
    """
    x = _arg.tensor("nonzero", x)
    if x.ndim == 0:
        raise ValueError("nonzero: x must have at least one dimension, got a 0-d tensor; reshape it to (1,) "
                         "or compare it directly")
    return tuple(nondiff.call("nonzero", x))


def searchsorted(x1: Tensor, x2: Tensor, /, *, side: Literal["left", "right"] = "left",
                 sorter: Tensor | None = None) -> Tensor:
    """Insertion points: for each value v of ``x2``, the index i into the sorted 1-D ``x1`` that keeps it sorted.

    ``side="left"`` gives the first such i (x1[i-1] < v <= x1[i]), ``"right"``
    the last (x1[i-1] <= v < x1[i]). ``sorter`` holds indices that sort an
    unsorted ``x1``. The result records nothing.

    >>> import xpgrad
    >>> x1 = xpgrad.tensor([1.0, 2.0, 2.0, 5.0])
    >>> xpgrad.searchsorted(x1, xpgrad.tensor([2.0, 6.0])).tolist()
    [1, 4]
    >>> xpgrad.searchsorted(x1, xpgrad.tensor([2.0]), side="right").tolist()
    [3]
    """
    x1 = _arg.tensor("searchsorted", x1, "x1")
    if x1.ndim != 1:
        raise ValueError(f"searchsorted: x1 must be 1-D (a sorted sequence), got shape {tuple(x1.shape)}")
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    if not isinstance(x2, Tensor):  # a Python scalar (2024.12 allows it): a 0-d tensor of x1's kind
        x2 = _arg.tensor("searchsorted", Tensor._make(x1.backend.xp.asarray(x2, dtype=x1.data.dtype), x1.backend)
                         if isinstance(x2, (int, float)) and not isinstance(x2, bool) else x2, "x2")
    if sorter is not None:
        sorter = _arg.tensor("searchsorted", sorter, "sorter")
        nondiff.find_backend("searchsorted", (x1, x2, sorter))
        return nondiff.call("searchsorted", x1, x2, side=side, sorter=sorter.data)
    return nondiff.call("searchsorted", x1, x2, side=side)
