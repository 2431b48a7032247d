"""Indexing: ``x[key]`` and ``x[key] = value``, with their scatter-style backwards.

A key is normalised once (:func:`normalize_key`): tensors in it become their
arrays (a 0-d integer tensor becomes a Python int), lists and host arrays of
integers or booleans become arrays of the tensor's backend, and integers are
checked against their axis on host backends. Basic keys (ints, slices,
``None``, ``...``) go through :class:`GetItem`, whose backward writes the
gradient into zeros; keys with integer arrays or boolean masks go through
:class:`AdvancedGetItem`, whose backward scatter-adds through the backend
(duplicate indices are summed).
"""

from __future__ import annotations

from typing import Any

from ..function import Function
from ..tensor import Tensor
from . import arguments as _arg
from .shape import take as _take

__all__ = ["getitem"]  # take/take_along_axis, the standard's indexing functions, live in shape.py


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
        out = ctx.xp.zeros(ctx.shape, dtype=g.dtype, device=getattr(g, "device", None))
        out[ctx.key] = ctx.xp.reshape(g, ctx.picked_shape)  # basic indexing never repeats an element
        return out


class AdvancedGetItem(Function):
    """``x[key]`` with integer arrays or a boolean mask; backward scatter-adds into zeros."""

    owns_grads = True

    @staticmethod
    def forward(ctx, x, key=None):
        ctx.shape, ctx.key = x.shape, key
        return x[key]

    @staticmethod
    def backward(ctx, g):
        xp, shape = ctx.xp, ctx.shape
        n = 1
        for s in shape:
            n *= s
        # the flat position of every picked element: the same key applied to 0..n-1 laid out as x
        device = getattr(g, "device", None)
        flat = xp.reshape(xp.reshape(xp.arange(n, dtype=xp.int64, device=device), shape)[ctx.key], (-1,))
        out = ctx.backend.index_add(xp.zeros((n,), dtype=g.dtype, device=device), 0, flat, xp.reshape(g, (-1,)))
        return xp.reshape(out, shape)


class SetItem(Function):
    """``out = copy of x with out[key] = value``: gradient ``g`` with zeros at ``key`` to ``x``, ``g[key]`` to value."""

    owns_grads = True

    @staticmethod
    def forward(ctx, x, value, key=None):
        ctx.key = key
        out = ctx.xp.asarray(x, copy=True)
        out[key] = value if not hasattr(value, "dtype") or value.dtype == x.dtype else ctx.xp.astype(value, x.dtype)
        return out

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        gx = None
        if ctx.needs_input_grad[0]:
            gx = xp.asarray(g, copy=True)
            gx[ctx.key] = 0
        gv = xp.asarray(g[ctx.key], copy=True) if ctx.needs_input_grad[1] else None
        return gx, gv


def _is_array_part(k: Any) -> bool:
    return hasattr(k, "shape") and hasattr(k, "dtype")


def normalize_key(x: Tensor, key: Any) -> tuple[tuple, bool]:
    """``key`` as a tuple of backend-ready parts, and whether it holds an integer array or a boolean mask."""
    parts = key if isinstance(key, tuple) else (key,)
    backend = x._backend
    out: list[Any] = []
    advanced = False
    for k in parts:
        if k is None or k is Ellipsis or type(k) is int or type(k) is slice:
            out.append(k)
            continue
        if isinstance(k, Tensor):
            if k._backend is not backend:
                raise TypeError(f"indexing: the index tensor lives on backend {k._backend.name!r} but the indexed "
                                f"tensor on {backend.name!r}; move it with .to({backend.name!r})")
            k = k.data
        elif isinstance(k, bool):
            raise TypeError("indexing: a bare bool is not an index; use a boolean tensor mask")
        elif isinstance(k, (list, tuple)) or (_is_array_part(k) and not backend.owns(k)):
            try:
                k = backend.asarray(k)
            except (TypeError, ValueError) as e:
                raise TypeError(f"indexing: cannot use {_arg._short(k)} as an index ({e})") from None
        elif not _is_array_part(k):
            try:
                k = _arg.index("indexing", k, "index")
            except TypeError:
                raise TypeError(f"tensor indexing takes ints, slices, None, ..., integer arrays and boolean masks; "
                                f"got {type(k).__name__} ({_arg._short(k)})") from None
            out.append(k)
            continue
        xp = backend.xp
        if xp.isdtype(k.dtype, "bool"):
            advanced = True
        elif xp.isdtype(k.dtype, "integral"):
            if k.ndim == 0:  # a 0-d integer index is an integer index
                out.append(int(k))
                continue
            advanced = True
        else:
            raise TypeError(f"indexing: index arrays must be integer or boolean, got dtype {k.dtype}")
        out.append(k)
    return tuple(out), advanced


def _check_range(x: Tensor, parts: tuple) -> None:
    """Integers (and, on host backends, integer arrays) must lie within their axis: an IndexOutOfRangeError."""
    shape, axis = x.data.shape, 0
    n_axes = sum(1 for k in parts if k is not None and k is not Ellipsis and not _is_mask(x, k))
    n_axes += sum(k.ndim for k in parts if _is_mask(x, k))
    for k in parts:
        if k is Ellipsis:
            axis += len(shape) - n_axes
            continue
        if k is None:
            continue
        if _is_mask(x, k):
            covered = tuple(shape[axis:axis + k.ndim])
            if len(covered) < k.ndim or any(m not in (n, 0) for m, n in zip(k.shape, covered, strict=False)):
                raise _arg.IndexOutOfRangeError(
                    f"indexing: a boolean mask of shape {tuple(k.shape)} does not match the axes "
                    f"{axis}..{axis + k.ndim - 1} of a tensor of shape {tuple(shape)} (they have shape {covered})")
            axis += k.ndim
            continue
        if axis >= len(shape):
            raise _arg.IndexOutOfRangeError(f"indexing: too many indices for a tensor of shape {tuple(shape)}")
        n = shape[axis]
        if type(k) is int:
            if not -n <= k < n:
                raise _arg.IndexOutOfRangeError(
                    f"indexing: index {k} is out of range for axis {axis} of size {n} (shape {tuple(shape)}); "
                    f"valid: [{-n}, {n})")
        elif _is_array_part(k):
            if x._backend.on_host and k.size:
                xp = x._backend.xp
                lo, hi = int(xp.min(k)), int(xp.max(k))
                if not -n <= lo <= hi < n:
                    raise _arg.IndexOutOfRangeError(
                        f"indexing: integer index array for axis {axis} of size {n} has values in [{lo}, {hi}]; "
                        f"valid: [{-n}, {n})")
        axis += 1


def _is_mask(x: Tensor, k: Any) -> bool:
    return _is_array_part(k) and x._backend.xp.isdtype(k.dtype, "bool")


_BASIC = frozenset({int, slice, type(None), type(Ellipsis)})


def _basic(shape: tuple, parts: tuple) -> tuple:
    """The fast path of :func:`prepare` for keys of ints, slices, None and ``...``: range-check the ints."""
    ndim = len(shape)
    named = sum(1 for k in parts if k is not None and k is not Ellipsis)
    if named > ndim:
        raise _arg.IndexOutOfRangeError(f"indexing: too many indices ({named}) for a tensor of shape {shape}")
    axis = 0
    for k in parts:
        if type(k) is int:
            n = shape[axis]
            if not -n <= k < n:
                raise _arg.IndexOutOfRangeError(
                    f"indexing: index {k} is out of range for axis {axis} of size {n} (shape {shape}); "
                    f"valid: [{-n}, {n})")
            axis += 1
        elif k is Ellipsis:
            axis += ndim - named
        elif k is not None:
            axis += 1
    # the standard wants every axis named (NumPy pads implicitly), and with a trailing ... NumPy returns a
    # 0-d array rather than a scalar for a key that picks one element
    return parts if Ellipsis in parts else (*parts, Ellipsis)


def prepare(x: Tensor, key: Any) -> tuple[tuple, bool]:
    """The normalised, range-checked key and whether it is advanced (shared by getitem and setitem)."""
    parts = key if type(key) is tuple else (key,)
    if all(type(k) in _BASIC for k in parts):
        return _basic(tuple(x.data.shape), parts), False
    parts, advanced = normalize_key(x, key)
    _check_range(x, parts)
    if not advanced and Ellipsis not in parts:
        parts = (*parts, Ellipsis)  # as in _basic
    return parts, advanced


def getitem(x: Tensor, key: Any) -> Tensor:
    """``x[key]``: ints, slices (any step), ``None``, ``...``, integer arrays and boolean masks, differentiable.

    The gradient of a picked element flows back to where it came from; an
    element picked several times (repeated integer indices) gets the sum.

    >>> import xpgrad
    >>> x = xpgrad.arange(6).reshape((2, 3))
    >>> x[1, 1:].tolist(), x[:, ::-1][0].tolist(), x[x > 3].tolist(), x[[1, 0], [0, 0]].tolist()
    ([4, 5], [2, 1, 0], [4, 5], [3, 0])
    """
    parts, advanced = prepare(x, key)
    if advanced:
        if len(parts) == 1 and parts[0].ndim == 1 and x.ndim > 1 and not _is_mask(x, parts[0]):
            # rows by a 1-D integer array (an embedding lookup): take's scatter-add backward, and valid on
            # backends that follow the standard's rule that integer arrays index every axis
            return _take(x, Tensor._make(parts[0], x._backend), axis=0)
        return AdvancedGetItem.apply(x, key=parts)
    return GetItem.apply(x, key=parts)


def setitem_recorded(x: Tensor, key: tuple, value: Any) -> Tensor:
    """The out-of-place ``x[key] = value`` as a recorded node (the copy-on-write path of ``__setitem__``)."""
    if not isinstance(value, Tensor):
        value = Tensor._make(x._backend.asarray(value, dtype=x.data.dtype), x._backend)
    return SetItem.apply(x, value, key=key)
