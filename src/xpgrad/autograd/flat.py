"""``FlatBuffer``: tensors of one backend and dtype stored as views into one contiguous array.

An optimizer that updates 26 parameters one by one makes 26 times the backend
calls of one update over a single array holding them all; for the small layers
of a typical network those calls, not the arithmetic, are the cost. A
``FlatBuffer`` copies its tensors' values into one 1-D array and makes each
tensor's ``.data`` a view of its slice, and gives each tensor a *gradient
slot*, a view of a second flat array of the same size: the engine writes the
tensor's gradient there (see :func:`xpgrad.autograd.engine.accumulate_leaf`),
so after ``backward()`` the whole gradient is one array too.

The binding is fragile on purpose: anything that gives a tensor a new array
(``Module.to``, ``p.data = ...``, ``load_state_dict`` replacing arrays) simply
breaks it, :meth:`FlatBuffer.intact` turns False and the owner (an optimizer)
rebuilds the buffer or falls back to per-tensor work. Nothing is ever lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .tensor import SEQUENCE, Tensor

__all__ = ["FlatBuffer"]


class FlatBuffer:
    """Tensors of one backend, device and floating dtype as views into one array, with one gradient array.

    ``data`` is the flat array of values and ``grad`` the flat array of
    gradients (zeros until a backward writes them); ``tensors[i].data`` is
    ``data[offsets[i]:offsets[i] + size_i]`` reshaped, and after a backward
    ``tensors[i].grad`` is the matching view of ``grad``. Updating ``data`` in
    place (``buf.data -= lr * buf.grad``) updates every tensor at once.

    Parameters
    ----------
    tensors : iterable of Tensor
        Leaf tensors of one backend, device and real floating dtype, each at
        most once.

    Examples
    --------
    >>> import xpgrad
    >>> w, b = xpgrad.ones((2, 2), requires_grad=True), xpgrad.zeros(2, requires_grad=True)
    >>> buf = xpgrad.FlatBuffer([w, b])
    >>> buf.data.shape, buf.intact()
    ((6,), True)
    >>> (w.sum() + 3 * b.sum()).backward()
    >>> buf.grads_ready(), buf.grad.tolist()
    (True, [1.0, 1.0, 1.0, 1.0, 3.0, 3.0])
    >>> buf.data -= 0.5 * buf.grad   # one update for both tensors
    >>> w.tolist(), b.tolist()
    ([[0.5, 0.5], [0.5, 0.5]], [-1.5, -1.5])
    """

    def __init__(self, tensors: Iterable[Tensor]):
        tensors = tuple(tensors)
        _check(tensors)
        first = tensors[0]
        self.backend = first.backend
        self.dtype = first.data.dtype
        self.tensors = tensors
        self.offsets: tuple[int, ...] = ()
        self.data: Any = None
        self.grad: Any = None
        self.views: tuple = ()
        self.grad_views: tuple = ()
        self.bind()

    def bind(self) -> None:
        """(Re)build the flat arrays from the tensors' current values and gradients, and point the tensors at them."""
        _check(self.tensors)
        xp, t0 = self.backend.xp, self.tensors[0]
        self.dtype = t0.data.dtype
        sizes = [_size(t) for t in self.tensors]
        offsets, total = [], 0
        for n in sizes:
            offsets.append(total)
            total += n
        device = t0.data.device
        data = xp.empty((total,), dtype=self.dtype, device=device)
        grad = xp.zeros((total,), dtype=self.dtype, device=device)
        views, grad_views = [], []
        for t, at, n in zip(self.tensors, offsets, sizes, strict=True):
            shape = tuple(t.data.shape)
            view = xp.reshape(data[at:at + n], shape, copy=False)
            gview = xp.reshape(grad[at:at + n], shape, copy=False)
            view[...] = t.data
            if t.grad is not None and tuple(t.grad.shape) == shape:
                gview[...] = t.grad
            views.append(view)
            grad_views.append(gview)
        # every copy done: now rebind (nothing is half-moved if a copy above raised)
        for t, view, gview in zip(self.tensors, views, grad_views, strict=True):
            had_grad = t.grad is not None and tuple(t.grad.shape) == tuple(view.shape)
            t.data = view
            t._grad_slot = gview
            t.grad = gview if had_grad else None
        self.offsets, self.data, self.grad = tuple(offsets), data, grad
        self.views, self.grad_views = tuple(views), tuple(grad_views)

    def intact(self) -> bool:
        """Whether every tensor still holds its view (nothing rebound its ``.data``)."""
        return all(t.data is v for t, v in zip(self.tensors, self.views, strict=True))

    def grads_ready(self) -> bool:
        """Whether every tensor's ``.grad`` is its slot, so ``grad`` holds the whole gradient."""
        return all(t.grad is g for t, g in zip(self.tensors, self.grad_views, strict=True))

    def bump_versions(self) -> None:
        """Mark every tensor as changed in place (after an update of ``data``): one new version for all."""
        version = next(SEQUENCE)
        for t in self.tensors:
            t._version = version

    def release(self) -> None:
        """Detach the tensors from the gradient slots (their values stay where they are)."""
        for t, g in zip(self.tensors, self.grad_views, strict=True):
            if getattr(t, "_grad_slot", None) is g:
                t._grad_slot = None

    @property
    def nbytes(self) -> int:
        """Bytes of the value and gradient arrays together."""
        return 2 * int(self.data.shape[0]) * _itemsize(self.backend, self.dtype)

    def __len__(self) -> int:
        return len(self.tensors)

    def __repr__(self) -> str:
        return (f"FlatBuffer({len(self.tensors)} tensors, {int(self.data.shape[0])} elements, "
                f"{self.backend.name} {self.dtype})")


def _size(t: Tensor) -> int:
    n = 1
    for d in t.data.shape:
        n *= int(d)
    return n


def _itemsize(backend, dtype) -> int:
    return int(backend.xp.finfo(dtype).bits) // 8  # the buffer holds real floats only


def _check(tensors: tuple) -> None:
    if not tensors:
        raise ValueError("FlatBuffer needs at least one tensor")
    seen: set[int] = set()
    first = None
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"FlatBuffer holds xpgrad Tensors; item {i} is a {type(t).__name__}")
        if t._ctx is not None:
            raise ValueError(f"FlatBuffer holds leaf tensors; item {i} (shape {t.shape}) was computed by an "
                             "operation. Pass parameters or detach() it")
        if id(t) in seen:
            raise ValueError(f"FlatBuffer: the tensor of shape {t.shape} (item {i}) appears twice")
        seen.add(id(t))
        b = t.backend
        if not b.is_floating(t.data.dtype):
            raise TypeError(f"FlatBuffer holds real floating tensors; item {i} has dtype {t.dtype}")
        if first is None:
            first = t
        elif b is not first.backend or t.data.dtype != first.data.dtype or t.data.device != first.data.device:
            raise ValueError(f"FlatBuffer: item {i} is {b.name} {t.dtype} on {t.data.device}, item 0 "
                             f"{first.backend.name} {first.dtype} on {first.data.device}; one buffer holds one "
                             "backend, device and dtype (make one buffer per kind)")
