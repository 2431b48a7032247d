"""Indexing: ``x[key]`` and ``x[key] = value``, with their scatter-style backwards."""

from __future__ import annotations

from ..function import Function

__all__ = ["getitem"]


class GetItem(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, x, key=None):
        ctx.shape = x.shape
        ctx.key = tuple(k for k in key if k is not None)  # setitem takes no new axes
        out = x[key]
        ctx.picked_shape = out.shape if len(ctx.key) == len(key) else x[ctx.key].shape
        return out

    @staticmethod
    def backward(ctx, g):
        out = ctx.xp.zeros(ctx.shape, dtype=g.dtype)
        out[ctx.key] = ctx.xp.reshape(g, ctx.picked_shape)  # basic indexing never repeats an element
        return out


def getitem(x, key):
    """Basic indexing with ints, slices, ``None`` and ``...``; see :func:`take` for integer arrays.

    >>> import xpgrad
    >>> xpgrad.arange(6).reshape((2, 3))[1, 1:].tolist()
    [4, 5]
    """
    parts = key if isinstance(key, tuple) else (key,)
    for k in parts:
        if not (k is None or k is Ellipsis or isinstance(k, (int, slice))) or isinstance(k, bool):
            raise TypeError(f"tensor indexing takes ints, slices, None and ...; got {type(k).__name__}. "
                            "Use xpgrad.take(x, indices, axis) or take_along_axis for integer arrays and "
                            "xpgrad.where for masks")
    if Ellipsis not in parts and sum(k is not None for k in parts) < x.ndim:
        parts = (*parts, Ellipsis)  # the standard wants every axis named; NumPy pads implicitly
    return GetItem.apply(x, key=parts)
