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
from .shape import Take, reshape

__all__ = ["broadcast_arrays", "broadcast_to", "flip", "meshgrid", "moveaxis", "repeat", "roll", "tile", "tril", "triu",
           "unstack"]


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
    fits = all(d in (1, t) for d, t in zip(x.shape[::-1], shape[::-1], strict=False))
    if -1 in shape or len(shape) < x.ndim or not fits:
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


class Flip(Function):
    @staticmethod
    def forward(ctx, x, axis=None):
        ctx.axis = axis
        return ctx.xp.flip(x, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.flip(g, axis=ctx.axis)


def flip(x: Tensor, /, *, axis: int | tuple[int, ...] | None = None) -> Tensor:
    """The entries in reverse order along ``axis`` (all axes when None): ``out[i] = x[n - 1 - i]``.

    >>> import xpgrad
    >>> xpgrad.flip(xpgrad.tensor([1.0, 2.0, 3.0])).tolist()
    [3.0, 2.0, 1.0]
    """
    x = _arg.tensor("flip", x)
    return Flip.apply(x, axis=_arg.axes("flip", axis, x.ndim))


class MoveAxis(Function):
    @staticmethod
    def forward(ctx, x, source=(), destination=()):
        ctx.source, ctx.destination = source, destination
        return ctx.xp.moveaxis(x, source, destination)

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.moveaxis(g, ctx.destination, ctx.source)


def moveaxis(x: Tensor, source: int | tuple[int, ...], destination: int | tuple[int, ...], /) -> Tensor:
    """``x`` with axes ``source`` moved to positions ``destination`` (the other axes keep their order).

    >>> import xpgrad
    >>> xpgrad.moveaxis(xpgrad.zeros((2, 3, 4)), 0, -1).shape
    (3, 4, 2)
    """
    x = _arg.tensor("moveaxis", x)
    src = _arg.axes("moveaxis", source, x.ndim)
    dst = _arg.axes("moveaxis", destination, x.ndim)
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: source {source} and destination {destination} must name as many axes")
    return MoveAxis.apply(x, source=src, destination=dst)


class Roll(Function):
    @staticmethod
    def forward(ctx, x, shift=0, axis=None):
        ctx.shift, ctx.axis = shift, axis
        return ctx.xp.roll(x, shift, axis=axis)

    @staticmethod
    def backward(ctx, g):
        back = tuple(-s for s in ctx.shift) if isinstance(ctx.shift, tuple) else -ctx.shift
        return ctx.xp.roll(g, back, axis=ctx.axis)


def roll(x: Tensor, /, shift: int | tuple[int, ...], *, axis: int | tuple[int, ...] | None = None) -> Tensor:
    """Entries shifted cyclically by ``shift`` along ``axis``: ``out[(i + shift) % n] = x[i]`` (flattened if None).

    >>> import xpgrad
    >>> xpgrad.roll(xpgrad.tensor([1.0, 2.0, 3.0]), 1).tolist()
    [3.0, 1.0, 2.0]
    """
    x = _arg.tensor("roll", x)
    if isinstance(shift, (tuple, list)):
        shift = tuple(_arg.index("roll", s, "shift") for s in shift)
    else:
        shift = _arg.index("roll", shift, "shift")
    if axis is not None:
        axes = axis if isinstance(axis, (tuple, list)) else (axis,)
        axis = tuple(_arg.axis("roll", a, x.ndim) for a in axes)
        if isinstance(shift, tuple) and len(shift) != len(axis):
            raise ValueError(f"roll: shift {shift} and axis {axis} must have the same length")
    elif isinstance(shift, tuple):
        raise ValueError(f"roll: a tuple shift {shift} needs an axis tuple of the same length")
    return Roll.apply(x, shift=shift, axis=axis)


def repeat(x: Tensor, repeats: int | Tensor, /, *, axis: int | None = None) -> Tensor:
    """Each entry repeated ``repeats`` times along ``axis`` (of the flattened ``x`` when None).

    ``repeats`` is an int (the same count for every entry) or a 1-D integer
    tensor (one count per entry along the axis). The gradient of an entry is
    the sum over its copies.

    >>> import xpgrad
    >>> xpgrad.repeat(xpgrad.tensor([1.0, 2.0]), 2).tolist()
    [1.0, 1.0, 2.0, 2.0]
    """
    x = _arg.tensor("repeat", x)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    axis = _arg.axis("repeat", axis, x.ndim)
    b, n = x._backend, x.shape[axis]
    if isinstance(repeats, Tensor):
        if not b.xp.isdtype(repeats.dtype, "integral") or repeats.ndim > 1:
            raise TypeError(f"repeat: repeats must be an int or a 1-D integer tensor, got a {repeats.dtype} tensor "
                            f"of shape {repeats.shape}")
        counts = repeats.data
        if repeats.ndim == 1 and repeats.shape[0] not in (1, n):
            raise ValueError(f"repeat: repeats has {repeats.shape[0]} entries, but axis {axis} of x has {n}")
    else:
        counts = _arg.index("repeat", repeats, "repeats")
    if (isinstance(counts, int) and counts < 0) or (not isinstance(counts, int) and b.on_host and counts.size
                                                    and int(b.xp.min(counts)) < 0):
        raise ValueError("repeat: repeats must be non-negative")
    idx = b.xp.repeat(b.xp.arange(n, dtype=b.dtype("int64"), device=x.device), counts)
    return Take.apply(x, Tensor._make(idx, b), axis=axis)


class Tile(Function):
    @staticmethod
    def forward(ctx, x, reps=()):
        ctx.shape, ctx.reps = x.shape, reps
        return ctx.xp.tile(x, reps)

    @staticmethod
    def backward(ctx, g):
        shape = (1,) * (len(ctx.reps) - len(ctx.shape)) + tuple(ctx.shape)
        reps = (1,) * (len(shape) - len(ctx.reps)) + tuple(ctx.reps)
        split = tuple(d for r, s in zip(reps, shape, strict=True) for d in (r, s))  # axis i -> (reps[i], shape[i])
        summed = ctx.xp.sum(ctx.xp.reshape(g, split), axis=tuple(range(0, len(split), 2)))
        return ctx.xp.reshape(summed, ctx.shape)


def tile(x: Tensor, repetitions: tuple[int, ...], /) -> Tensor:
    """``x`` repeated as a whole ``repetitions[i]`` times along axis i: ``out[..., j, ...] = x[..., j % n, ...]``.

    Shorter of ``x.ndim`` and ``len(repetitions)`` is padded with leading ones.

    >>> import xpgrad
    >>> xpgrad.tile(xpgrad.tensor([1.0, 2.0]), (2,)).tolist()
    [1.0, 2.0, 1.0, 2.0]
    """
    x = _arg.tensor("tile", x)
    if not isinstance(repetitions, (tuple, list)):
        raise TypeError(f"tile: repetitions must be a tuple of ints, got {type(repetitions).__name__}")
    reps = tuple(_arg.index("tile", r, "repetitions entry") for r in repetitions)
    if any(r < 0 for r in reps):
        raise ValueError(f"tile: repetitions must be non-negative, got {reps}")
    return Tile.apply(x, reps=reps)


class Select(Function):
    """``x[..., i, ...]`` along ``axis``; the gradient is placed back between zeros."""

    @staticmethod
    def forward(ctx, x, index=0, axis=0):
        ctx.shape, ctx.index, ctx.axis = x.shape, index, axis
        key = (slice(None),) * axis + (index, Ellipsis)
        return x[key]

    @staticmethod
    def backward(ctx, g):
        xp, axis = ctx.xp, ctx.axis
        parts = []
        for n in (ctx.index, ctx.shape[axis] - ctx.index - 1):
            if n:
                shape = tuple(ctx.shape[:axis]) + (n,) + tuple(ctx.shape[axis + 1:])
                parts.append(xp.zeros(shape, dtype=g.dtype, device=g.device))
        parts.insert(1 if ctx.index else 0, xp.expand_dims(g, axis=axis))
        return xp.concat(parts, axis=axis) if len(parts) > 1 else parts[0]


def unstack(x: Tensor, /, *, axis: int = 0) -> tuple[Tensor, ...]:
    """The slices of ``x`` along ``axis``, as a tuple: ``out[i] = x[..., i, ...]`` (the inverse of ``stack``).

    >>> import xpgrad
    >>> [t.tolist() for t in xpgrad.unstack(xpgrad.tensor([[1.0, 2.0], [3.0, 4.0]]))]
    [[1.0, 2.0], [3.0, 4.0]]
    """
    x = _arg.tensor("unstack", x)
    if x.ndim == 0:
        raise ValueError("unstack: x must have at least one dimension, got a 0-d tensor")
    axis = _arg.axis("unstack", axis, x.ndim)
    return tuple(Select.apply(x, index=i, axis=axis) for i in range(x.shape[axis]))
