"""The standard's manipulation functions beyond the basic shape ops of ``shape.py``, and tril/triu/meshgrid.

Each records a node whose backward is the same kind of rearrangement run
the other way (broadcasting is summed back by the engine; repeats are
scatter-added).
"""

from __future__ import annotations

from typing import Any

from ..function import Function
from ..tensor import Tensor
from . import arguments as _arg
from .shape import reshape

__all__ = ["broadcast_arrays", "broadcast_to", "meshgrid", "tril", "triu"]


class Tril(Function):
    @staticmethod
    def forward(ctx, x, k=0, upper=False):
        ctx.k, ctx.upper = k, upper
        return ctx.xp.triu(x, k=k) if upper else ctx.xp.tril(x, k=k)

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.triu(g, k=ctx.k) if ctx.upper else ctx.xp.tril(g, k=ctx.k)


def _matrix(op: str, x: Any) -> Tensor:
    x = _arg.tensor(op, x)
    if x.ndim < 2:
        raise ValueError(f"{op}: x must have at least 2 dimensions (a stack of matrices), got shape {x.shape}")
    return x


def tril(x: Tensor, /, *, k: int = 0) -> Tensor:
    """The lower triangle of each matrix of ``x``: entries ``(i, j)`` with ``j <= i + k`` kept, the others 0.

    >>> import xpgrad
    >>> xpgrad.tril(xpgrad.ones((2, 2))).tolist()
    [[1.0, 0.0], [1.0, 1.0]]
    """
    return Tril.apply(_matrix("tril", x), k=_arg.index("tril", k, "k"), upper=False)


def triu(x: Tensor, /, *, k: int = 0) -> Tensor:
    """The upper triangle of each matrix of ``x``: entries ``(i, j)`` with ``j >= i + k`` kept, the others 0.

    >>> import xpgrad
    >>> xpgrad.triu(xpgrad.ones((2, 2))).tolist()
    [[1.0, 1.0], [0.0, 1.0]]
    """
    return Tril.apply(_matrix("triu", x), k=_arg.index("triu", k, "k"), upper=True)


class BroadcastTo(Function):
    @staticmethod
    def forward(ctx, x, shape=()):
        return ctx.xp.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, g):
        return g  # the engine sums the broadcast axes back down to the input's shape


def _broadcast_shape(op: str, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    n = max((len(s) for s in shapes), default=0)
    out = [1] * n
    for s in shapes:
        for i, d in enumerate(s, start=n - len(s)):
            if d != out[i] and 1 not in (d, out[i]):
                raise ValueError(f"{op}: shapes {', '.join(map(str, shapes))} do not broadcast together (axis "
                                 f"{i - n} has sizes {out[i]} and {d}); sizes must match or be 1")
            out[i] = out[i] if d == 1 else d
    return tuple(out)


def broadcast_to(x: Tensor, /, shape: tuple[int, ...]) -> Tensor:
    """``x`` repeated along new leading axes and along its axes of length 1 to ``shape``; the gradient is summed back.

    >>> import xpgrad
    >>> xpgrad.broadcast_to(xpgrad.tensor([1.0, 2.0]), (2, 2)).tolist()
    [[1.0, 2.0], [1.0, 2.0]]
    """
    x = _arg.tensor("broadcast_to", x)
    shape = _arg.shape("broadcast_to", shape)
    if -1 in shape or len(shape) < x.ndim or _broadcast_shape("broadcast_to", [x.shape, shape]) != shape:
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}; each axis of x must be 1 or "
                         "equal the target's trailing axes")
    if shape == x.shape:
        return x
    return BroadcastTo.apply(x, shape=shape)


def broadcast_arrays(*arrays: Tensor) -> list[Tensor]:
    """The tensors broadcast against each other to one common shape (each differentiable as :func:`broadcast_to`).

    >>> import xpgrad
    >>> a, b = xpgrad.broadcast_arrays(xpgrad.zeros((2, 1)), xpgrad.zeros(3))
    >>> a.shape, b.shape
    ((2, 3), (2, 3))
    """
    tensors = [_arg.tensor("broadcast_arrays", a, f"array {i}") for i, a in enumerate(arrays)]
    shape = _broadcast_shape("broadcast_arrays", [t.shape for t in tensors])
    return [broadcast_to(t, shape) for t in tensors]


def meshgrid(*arrays: Tensor, indexing: str = "xy") -> list[Tensor]:
    """Coordinate grids from 1-D tensors: ``out[i]`` holds ``arrays[i]`` repeated along every other axis.

    With ``indexing="xy"`` (the default) the first two axes of the grids are
    swapped: for inputs of lengths M and N the grids have shape (N, M);
    ``"ij"`` gives (M, N). Gradients are summed back over the repeats.

    >>> import xpgrad
    >>> gx, gy = xpgrad.meshgrid(xpgrad.tensor([1.0, 2.0, 3.0]), xpgrad.tensor([4.0, 5.0]))
    >>> gx.shape, gy.tolist()
    ((2, 3), [[4.0, 4.0, 4.0], [5.0, 5.0, 5.0]])
    """
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    tensors = [_arg.tensor("meshgrid", a, f"array {i}") for i, a in enumerate(arrays)]
    for i, t in enumerate(tensors):
        if t.ndim != 1:
            raise ValueError(f"meshgrid: every array must be 1-D, array {i} has shape {t.shape}")
    if len({t.dtype for t in tensors}) > 1:
        raise TypeError(f"meshgrid: the arrays must share one dtype, got {', '.join(str(t.dtype) for t in tensors)}")
    sizes = [t.shape[0] for t in tensors]
    positions = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) > 1:
        positions[0], positions[1] = 1, 0
    shape = [0] * len(tensors)
    for i, p in enumerate(positions):
        shape[p] = sizes[i]
    out = []
    for i, t in enumerate(tensors):
        view = [1] * len(tensors)
        view[positions[i]] = sizes[i]
        out.append(broadcast_to(reshape(t, tuple(view)), tuple(shape)))
    return out
