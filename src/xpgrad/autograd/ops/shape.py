"""Shape and indexing: views, joins and gathers, with their scatter-style backwards."""

from __future__ import annotations

from typing import Any

from ..function import Function
from ..tensor import Tensor
from . import arguments as _arg

__all__ = ["concat", "expand_dims", "permute_dims", "reshape", "squeeze", "stack", "take",
           "take_along_axis"]


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape=None, copy=None):
        ctx.shape = x.shape
        return ctx.xp.reshape(x, shape) if copy is None else ctx.xp.reshape(x, shape, copy=copy)

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.reshape(g, ctx.shape)


class PermuteDims(Function):
    @staticmethod
    def forward(ctx, x, axes=None):
        ctx.axes = axes
        return ctx.xp.permute_dims(x, axes)

    @staticmethod
    def backward(ctx, g):
        inverse = [0] * len(ctx.axes)
        for i, a in enumerate(ctx.axes):
            inverse[a] = i
        return ctx.xp.permute_dims(g, tuple(inverse))


class ExpandDims(Function):
    @staticmethod
    def forward(ctx, x, axis=0):
        ctx.shape = x.shape
        return ctx.xp.expand_dims(x, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.reshape(g, ctx.shape)


class Squeeze(Function):
    @staticmethod
    def forward(ctx, x, axis=None):
        ctx.shape = x.shape
        return ctx.xp.squeeze(x, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.reshape(g, ctx.shape)


class Concat(Function):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis
        ctx.sizes = [a.shape[axis] for a in arrays]
        return ctx.xp.concat(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        out, start = [], 0
        index = [slice(None)] * g.ndim
        for n in ctx.sizes:
            index[ctx.axis] = slice(start, start + n)
            out.append(g[tuple(index)])
            start += n
        return tuple(out)


class Stack(Function):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis, ctx.count = axis, len(arrays)
        return ctx.xp.stack(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        index = [slice(None)] * g.ndim
        out = []
        for i in range(ctx.count):
            index[ctx.axis] = i
            out.append(g[tuple(index)])
        return tuple(out)


class Take(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, x, indices, axis=0):
        ctx.shape, ctx.axis = x.shape, axis % x.ndim  # the scatter-add in backward needs axis >= 0
        ctx.save_for_backward(indices)
        return ctx.xp.take(x, indices, axis=axis)

    @staticmethod
    def backward(ctx, g):
        (indices,) = ctx.saved_tensors
        out = ctx.xp.zeros(ctx.shape, dtype=g.dtype, device=g.device)
        return ctx.backend.index_add(out, ctx.axis, indices, g), None


class TakeAlongAxis(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, x, indices, axis=-1):
        ctx.shape, ctx.axis = x.shape, axis % x.ndim
        ctx.save_for_backward(indices)
        return ctx.xp.take_along_axis(x, indices, axis=axis)

    @staticmethod
    def backward(ctx, g):
        (indices,) = ctx.saved_tensors
        # x and indices broadcast against each other off the axis; the engine sums x's share back down.
        shape = list(g.shape)
        shape[ctx.axis] = ctx.shape[ctx.axis]
        out = ctx.xp.zeros(tuple(shape), dtype=g.dtype, device=g.device)
        return ctx.backend.add_along_axis(out, indices, g, ctx.axis), None


def reshape(x: Tensor, /, shape: tuple[int, ...], *, copy: bool | None = None) -> Tensor:
    """The same elements, in row-major order, in a new shape (one entry may be -1); the gradient is reshaped back.

    ``copy=True`` always copies, ``copy=False`` never does (an error when the
    result cannot be a view), ``None`` copies only when needed.

    >>> import xpgrad
    >>> xpgrad.reshape(xpgrad.arange(6), (2, -1)).shape
    (2, 3)
    """
    x = _arg.tensor("reshape", x)
    shape = _arg.shape("reshape", shape)
    if copy is None:
        return Reshape.apply(x, shape=shape)
    return Reshape.apply(x, shape=shape, copy=bool(copy))


def permute_dims(x: Tensor, /, axes: tuple[int, ...]) -> Tensor:
    """Reorder the axes; the gradient goes through the inverse permutation.

    >>> import xpgrad
    >>> xpgrad.permute_dims(xpgrad.zeros((2, 3, 4)), (2, 0, 1)).shape
    (4, 2, 3)
    """
    x = _arg.tensor("permute_dims", x)
    if not isinstance(axes, (tuple, list)):
        raise TypeError(f"permute_dims: axes must be a tuple of ints, got {type(axes).__name__}")
    axes = tuple(_arg.axis("permute_dims", a, x.ndim) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"permute_dims: axes {axes} are not a permutation of range({x.ndim})")
    return PermuteDims.apply(x, axes=axes)


def expand_dims(x: Tensor, /, axis: int = 0) -> Tensor:
    """Insert an axis of length one at ``axis`` (in ``[-x.ndim - 1, x.ndim]``; an IndexError otherwise).

    >>> import xpgrad
    >>> xpgrad.expand_dims(xpgrad.zeros(3), axis=0).shape
    (1, 3)
    """
    x = _arg.tensor("expand_dims", x)
    try:
        axis = _arg.axis("expand_dims", axis, x.ndim, new=True)
    except ValueError as e:  # the standard asks for an IndexError here
        raise _arg.IndexOutOfRangeError(str(e)) from None
    return ExpandDims.apply(x, axis=axis)


def squeeze(x: Tensor, /, axis: int | tuple[int, ...]) -> Tensor:
    """Remove axes of length one (``axis`` is an int or tuple, as in the array API).

    >>> import xpgrad
    >>> xpgrad.squeeze(xpgrad.zeros((1, 3)), axis=0).shape
    (3,)
    """
    x = _arg.tensor("squeeze", x)
    picked = _arg.axes("squeeze", axis, x.ndim)
    wide = [a for a in picked if x.shape[a] != 1]
    if wide:
        raise ValueError(f"squeeze: axis {wide[0]} of shape {x.shape} has length {x.shape[wide[0]]}, not 1")
    return Squeeze.apply(x, axis=picked)


def concat(arrays: tuple[Tensor, ...] | list[Tensor], /, *, axis: int | None = 0) -> Tensor:
    """Join tensors along an existing axis (``axis=None``: flattened, end to end); each gets its slice of the gradient.

    The dtypes are promoted as for arithmetic.

    >>> import xpgrad
    >>> xpgrad.concat([xpgrad.zeros((2, 1)), xpgrad.ones((2, 2))], axis=1).shape
    (2, 3)
    """
    tensors = _arg.tensors("concat", arrays)
    if axis is None:
        return Concat.apply(*(reshape(t, (-1,)) for t in tensors), axis=0)
    ranks = {t.ndim for t in tensors}
    if len(ranks) > 1:
        raise ValueError(f"concat: the tensors have different numbers of dimensions "
                         f"({', '.join(str(t.shape) for t in tensors)}); they must differ only along axis {axis}")
    return Concat.apply(*tensors, axis=_arg.axis("concat", axis, tensors[0].ndim))


def stack(arrays: tuple[Tensor, ...] | list[Tensor], /, *, axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis: ``out[..., i, ...] = arrays[i]``.

    >>> import xpgrad
    >>> xpgrad.stack([xpgrad.zeros(3), xpgrad.ones(3)]).shape
    (2, 3)
    """
    tensors = _arg.tensors("stack", arrays)
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: the tensors must share one shape, got {', '.join(str(t.shape) for t in tensors)}")
    return Stack.apply(*tensors, axis=_arg.axis("stack", axis, tensors[0].ndim, new=True))


def _index_array(x, indices, fname):
    if isinstance(indices, Tensor):
        return indices
    b = x._backend
    arr = b.asarray(indices)
    if not b.xp.isdtype(arr.dtype, "integral"):
        raise TypeError(f"{fname}: indices must be integers, got dtype {arr.dtype}")
    return Tensor._make(arr, b)


def take(x: Tensor, indices: Any, /, axis: int | None = None) -> Tensor:
    """Gather entries ``out[..., j, ...] = x[..., indices[j], ...]`` along ``axis`` (1-D integer indices).

    ``axis`` may be left out only for a 1-D ``x``.
    Repeated indices are allowed; their gradients are summed (scatter-add).

    >>> import xpgrad
    >>> x = xpgrad.tensor([10.0, 20.0, 30.0], requires_grad=True)
    >>> y = xpgrad.take(x, [2, 2, 0])
    >>> y.sum().backward()
    >>> x.grad.tolist()
    [1.0, 0.0, 2.0]
    """
    x = _arg.tensor("take", x)
    if axis is None and x.ndim != 1:
        raise TypeError(f"take: axis must be an integer for a {x.ndim}-D x (None is allowed only for 1-D x)")
    axis = _arg.axis("take", 0 if axis is None else axis, x.ndim)
    idx = _index_array(x, indices, "take")
    n, xp = x.shape[axis], x.backend.xp
    if x.backend.on_host and idx.size and not -n <= int(xp.min(idx.data)) <= int(xp.max(idx.data)) < n:
        # the standard leaves out-of-range indices undefined; on the host the check costs no device round trip
        raise _arg.IndexOutOfRangeError(
            f"take: indices must lie in [{-n}, {n}) for axis {axis} of shape {x.shape}, got "
            f"min {int(xp.min(idx.data))} and max {int(xp.max(idx.data))}")
    return Take.apply(x, idx, axis=axis)


def take_along_axis(x: Tensor, indices: Any, /, axis: int = -1) -> Tensor:
    """Pick one entry per position along ``axis``: ``out[i, j] = x[i, indices[i, j]]`` for axis=1.

    >>> import xpgrad
    >>> s = xpgrad.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> xpgrad.take_along_axis(s, xpgrad.tensor([[1], [0]]), axis=1).tolist()
    [[2.0], [3.0]]
    """
    x = _arg.tensor("take_along_axis", x)
    return TakeAlongAxis.apply(x, _index_array(x, indices, "take_along_axis"),
                               axis=_arg.axis("take_along_axis", axis, x.ndim))
