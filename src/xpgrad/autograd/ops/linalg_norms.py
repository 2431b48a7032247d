"""The ``linalg`` extension, part 3: vector_norm and matrix_norm with their (sub)gradients.

Where a norm is not differentiable the gradient is PyTorch's subgradient:
0 for the 2-norm at x = 0, |x|'s derivative sgn(x) = x/|x| (0 at 0), and for
max/min norms an even split between tied entries. Complex inputs: the norm is
real and the gradient is ``g * d‖x‖/dRe x + i g * d‖x‖/dIm x``.
"""

from __future__ import annotations

import math
from typing import Any

from ..function import Function
from ..tensor import Tensor
from . import arguments as _arg
from .linalg_ext import matrices

__all__ = ["matrix_norm", "vector_norm"]


def _sgn(ctx: Any, x: Any, ax: Any) -> Any:
    """x / |x| (the sign for reals), 0 where x = 0; ``ax`` is |x|."""
    xp = ctx.xp
    return x / xp.where(ax == 0, xp.ones_like(ax), ax)


def _ties(ctx: Any, ax: Any, best: Any, axis: Any) -> Any:
    """The indicator of entries of ``ax`` equal to ``best`` (kept dims), divided by how many there are."""
    xp = ctx.xp
    hit = xp.astype(ax == best, ax.dtype)
    return hit / xp.sum(hit, axis=axis, keepdims=True)


class VectorNorm(Function):
    """‖x‖_p over ``axis`` (a tuple), computed with kept dimensions then squeezed when not ``keepdims``."""

    create_graph_safe = True  # the kept-dimensions norm is rebuilt from x under create_graph

    @staticmethod
    def forward(ctx, a, axis=(), keepdims=False, ord=2):
        xp = ctx.xp
        n = xp.linalg.vector_norm(a, axis=axis if a.ndim else None, keepdims=True, ord=ord)
        ctx.save_for_backward(a, n)
        ctx.axis, ctx.ord = axis, ord
        return n if keepdims else xp.reshape(n, tuple(s for i, s in enumerate(n.shape) if i not in axis))

    @staticmethod
    def backward(ctx, g):
        a, n = ctx.saved_tensors
        xp, p, axis = ctx.xp, ctx.ord, ctx.axis
        if ctx.create_graph:
            n = xp.linalg.vector_norm(a, axis=axis if a.ndim else None, keepdims=True, ord=p)
        g = xp.reshape(g, n.shape)
        ax = xp.abs(a)
        if p == 0:  # counts non-zeros: piecewise constant
            return xp.zeros_like(a)
        sgn = _sgn(ctx, a, ax)
        if p == 1:
            return g * sgn
        if p in (math.inf, -math.inf):
            return g * sgn * _ties(ctx, ax, n, axis)
        safe = xp.where(n == 0, xp.ones_like(n), n)
        if p == 2:
            return g * a / safe
        # d‖x‖_p/d|x_i| = (|x_i| / ‖x‖)^(p-1), taken as 0 where x_i = 0 (p < 1 would be infinite there)
        ratio = xp.where(ax == 0, xp.zeros_like(ax), ax / safe)
        return xp.where(n == 0, xp.zeros_like(ax), g * sgn * ratio ** (p - 1))


class MatrixNorm(Function):
    """A matrix norm over the last two axes, computed with kept dimensions."""

    create_graph_safe = True  # the norm (or the SVD) is recomputed from x under create_graph

    @staticmethod
    def forward(ctx, a, keepdims=False, ord="fro"):
        xp = ctx.xp
        ctx.ord, ctx.keepdims = ord, keepdims
        if ord in ("nuc", 2, -2):
            u, s, vh = xp.linalg.svd(a, full_matrices=False)
            out = xp.sum(s, axis=-1) if ord == "nuc" else s[..., 0] if ord == 2 else s[..., -1]
            ctx.save_for_backward(u, vh)
            out = xp.expand_dims(xp.expand_dims(out, axis=-1), axis=-1)
        else:
            out = xp.linalg.matrix_norm(a, keepdims=True, ord=ord)
            ctx.save_for_backward(a, out)
        return out if keepdims else out[..., 0, 0]

    @staticmethod
    def backward(ctx, g):
        xp, p = ctx.xp, ctx.ord
        if not ctx.keepdims:
            g = xp.expand_dims(xp.expand_dims(g, axis=-1), axis=-1)
        if p in ("nuc", 2, -2):  # σ's gradient is u vᴴ: nuc sums all of them, 2/-2 take the largest/smallest
            u, vh = ctx.saved_tensors
            if ctx.create_graph:
                u, _, vh = xp.linalg.svd(ctx.parents[0], full_matrices=False)
            if p != "nuc":
                u, vh = (u[..., :, :1], vh[..., :1, :]) if p == 2 else (u[..., :, -1:], vh[..., -1:, :])
            return g * (u @ vh)
        a, n = ctx.saved_tensors
        if ctx.create_graph:
            n = xp.linalg.matrix_norm(a, keepdims=True, ord=p)
        if p == "fro":
            return g * a / xp.where(n == 0, xp.ones_like(n), n)
        ax = xp.abs(a)
        sums_axis = -2 if p in (1, -1) else -1  # 1/-1: column sums (over rows); inf/-inf: row sums
        sums = xp.sum(ax, axis=sums_axis, keepdims=True)
        return g * _sgn(ctx, a, ax) * _ties(ctx, sums, n, (-2, -1))


def vector_norm(x: Tensor, /, *, axis: int | tuple[int, ...] | None = None, keepdims: bool = False,
                ord: int | float = 2) -> Tensor:
    """The p-norm ``(Σ |x_i|^p)^(1/p)`` over ``axis`` (all axes when None); ord inf/-inf: max/min ``|x_i|``, 0: count.

    Gradient: ``g · sgn(x) · (|x|/‖x‖)^(p-1)`` (x/‖x‖ for p = 2, 0 at x = 0),
    ties of the max/min norms share the gradient, ord=0 gives zeros.

    >>> import xpgrad
    >>> float(xpgrad.linalg.vector_norm(xpgrad.tensor([3.0, -4.0])))
    5.0
    >>> float(xpgrad.linalg.vector_norm(xpgrad.tensor([3.0, -4.0]), ord=1))
    7.0
    """
    x = _arg.tensor("vector_norm", x)
    axes = _arg.axes("vector_norm", axis, x.ndim)
    if isinstance(ord, bool) or not isinstance(ord, (int, float)) or math.isnan(ord):
        raise ValueError(f"linalg.vector_norm: ord must be a number (2, 1, inf, -inf, 0 or another p), got {ord!r}")
    return VectorNorm.apply(x, axis=axes, keepdims=bool(keepdims), ord=ord)


_MATRIX_ORDS = ("fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf)


def matrix_norm(x: Tensor, /, *, keepdims: bool = False, ord: int | float | str | None = "fro") -> Tensor:
    """A norm of each matrix: 'fro' ``√(Σ|a_ij|²)``, 'nuc' Σσ, 2/-2 largest/smallest σ, 1/-1 max/min column
    sum of ``|a_ij|``, inf/-inf max/min row sum.

    Gradients: 'fro' g·A/‖A‖; σ-based norms through the SVD (u vᴴ per σ,
    distinct singular values); 1/inf norms g·sgn(A) on the winning column/row.

    >>> import xpgrad
    >>> a = xpgrad.tensor([[1.0, -2.0], [3.0, 4.0]])
    >>> float(xpgrad.linalg.matrix_norm(a, ord=1)), float(xpgrad.linalg.matrix_norm(a, ord=float("inf")))
    (6.0, 7.0)
    """
    x = matrices("matrix_norm", x)
    if ord is None:
        ord = "fro"
    if isinstance(ord, bool) or ord not in _MATRIX_ORDS:
        raise ValueError(f"linalg.matrix_norm: ord must be one of 'fro', 'nuc', 1, -1, 2, -2, inf, -inf; "
                         f"got {ord!r}")
    return MatrixNorm.apply(x, keepdims=bool(keepdims), ord=ord)

