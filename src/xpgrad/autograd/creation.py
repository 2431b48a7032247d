"""Making tensors: from data, filled, ranges and random numbers, on the current backend."""

from __future__ import annotations

from typing import Any

from .. import backend as _backend
from . import tracing as _tracing
from .convert import to_array
from .filled import (
    arange,
    check_device,
    default_complex,
    empty,
    empty_like,
    eye,
    full,
    full_like,
    has_complex,
    linspace,
    ones,
    ones_like,
    zeros,
    zeros_like,
)
from .function import Function
from .ops.dtypes import astype
from .ops.manipulation import meshgrid, tril, triu
from .tensor import Tensor

__all__ = ["arange", "as_tensor", "asarray", "empty", "empty_like", "eye", "from_dlpack", "full", "full_like",
           "linspace", "meshgrid", "ones", "ones_like", "rand", "randint", "randn", "tensor", "tril", "triu", "zeros",
           "zeros_like"]


def _resolve(backend):
    return _backend.current() if backend is None else _backend.resolve(backend)


def _float_dtype(b, dtype):
    return b.dtype(_backend.get_default_dtype() if dtype is None else dtype)


def tensor(data, dtype=None, requires_grad=False, backend=None) -> Tensor:
    """Make a leaf tensor from nested lists, scalars or an array.

    The tensor goes to the current backend (or ``backend``), whatever library
    ``data`` comes from: a NumPy array becomes a CuPy tensor under
    ``XPGRAD_BACKEND=cupy``. The data is always copied. Python floats become
    the default dtype (float32 unless changed with
    :func:`xpgrad.set_default_dtype`), Python ints become int64 (class labels);
    arrays keep their dtype unless ``dtype`` is given.

    Parameters
    ----------
    data : scalar, nested sequence, array or Tensor
    dtype : str or dtype, optional
        ``"float32"``, ``"float64"``, ``"int64"``, ... or a backend dtype.
    requires_grad : bool
        Record operations on this tensor for :meth:`Tensor.backward`.
    backend : str, optional
        Where to put it; default: the current backend.

    >>> import xpgrad, numpy as np
    >>> with xpgrad.use_backend("array_api_strict"):
    ...     xpgrad.tensor(np.ones(2)).backend.name
    'array_api_strict'
    >>> import xpgrad
    >>> xpgrad.tensor([1, 2, 3]).dtype == xpgrad.tensor([1, 2, 3], dtype="int64").dtype
    True
    >>> xpgrad.tensor([0.5, 1.5], dtype="float64").numpy()
    array([0.5, 1.5])
    """
    return Tensor(data, dtype=dtype, requires_grad=requires_grad, backend=backend)


def as_tensor(data: Any, dtype: Any = None, backend: Any = None) -> Tensor:
    """``data`` as a Tensor, sharing its memory when it is already on the target backend in ``dtype``.

    The target is ``backend`` when given, a Tensor's own backend, else the
    current backend (as for :func:`tensor`). A Tensor with nothing to change
    is returned as it is; otherwise the result is made with :meth:`Tensor.to`
    or, for other data, copied only when it has to move or change dtype.

    >>> import xpgrad, numpy as np
    >>> a = np.zeros(3, dtype=np.float32)
    >>> t = xpgrad.as_tensor(a)
    >>> t.data is a                      # no copy: already NumPy float32
    True
    >>> xpgrad.as_tensor(a, dtype="float64").dtype == np.float64
    True
    """
    if isinstance(data, Tensor):
        return data.to(backend, dtype)
    b = _resolve(backend)
    if dtype is None and b.owns(data) and (b, data.dtype) in _CHECKED:
        return Tensor._make(data, b)  # the hot path of data loaders: nothing to move, cast or check
    arr = to_array(data, dtype, b, copy=None)
    _CHECKED.add((b, arr.dtype))
    return Tensor._make(arr, b)


class Copy(Function):
    """A copy of an array (onto another device of its backend when ``device`` is given); the gradient passes."""

    @staticmethod
    def forward(ctx, x, device=None):
        ctx.device = x.device if device is not None else None
        return ctx.xp.asarray(x, copy=True) if device is None else ctx.xp.asarray(x, device=device, copy=True)

    @staticmethod
    def backward(ctx, g):
        return g if ctx.device is None else ctx.xp.asarray(g, device=ctx.device, copy=True)


def asarray(obj: Any, /, *, dtype: Any = None, device: Any = None, copy: bool | None = None) -> Tensor:
    """``obj`` as a Tensor: a Tensor itself, or host data (scalars, nested lists, arrays) on the current backend.

    For a Tensor, ``asarray(t)`` is ``t``; ``copy=True``, a new ``dtype`` or
    a new ``device`` give a new tensor that stays in the graph (gradients flow
    back, in ``t``'s dtype); ``copy=False`` refuses any change that needs a
    copy. Other data lands on the current backend: Python floats in the
    default float dtype (complex numbers in its complex counterpart), ints in
    int64; arrays keep their dtype. ``copy=False`` shares the memory of an
    array of the current backend's library, and raises ``ValueError`` when it
    cannot.

    >>> import xpgrad
    >>> t = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    >>> xpgrad.asarray(t) is t
    True
    >>> u = xpgrad.asarray(t, dtype="float64")
    >>> u.sum().backward()
    >>> t.grad.tolist()
    [1.0, 1.0]
    >>> xpgrad.asarray([[1, 2], [3, 4]]).shape
    (2, 2)
    """
    if isinstance(obj, Tensor):
        return _asarray_tensor(obj, dtype, device, copy)
    if type(obj) in (list, tuple) and _holds_tensor(obj):
        from .ops.shape import stack

        parts = [asarray(o, dtype=dtype, device=device) for o in obj]
        return stack(parts)
    b = _backend.current()
    device = check_device("asarray", b, device)
    if dtype is None and not hasattr(obj, "dtype") and has_complex(obj):
        dtype = default_complex()
    if copy is False:
        arr = b.asarray(obj, dtype=dtype, copy=False)  # a ValueError when it would need a copy
    else:
        arr = to_array(obj, dtype, b, copy=copy)
    if device is not None and arr.device != device:
        if copy is False:
            raise ValueError(f"asarray: moving the data to device {device!r} needs a copy, but copy=False was given")
        arr = b.xp.asarray(arr, device=device, copy=True)
    return Tensor._make(arr, b)


def _holds_tensor(obj: Any) -> bool:
    return any(isinstance(o, Tensor) or (type(o) in (list, tuple) and _holds_tensor(o)) for o in obj)


def _asarray_tensor(t: Tensor, dtype: Any, device: Any, copy: bool | None) -> Tensor:
    b = t._backend
    device = check_device("asarray", b, device)
    moves = device is not None and device != t.device
    changes = dtype is not None and b.dtype(dtype) != t.dtype
    if copy is False and (moves or changes):
        raise ValueError(f"asarray: converting a {t.dtype} tensor on {t.device} to dtype={dtype}, device={device} "
                         "needs a copy, but copy=False was given")
    if changes:
        return astype(t, dtype, device=device)
    if moves or copy:
        return Copy.apply(t, device=device if moves else None)
    return t


def from_dlpack(x: Any, /, *, device: Any = None, copy: bool | None = None) -> Tensor:
    """A tensor sharing the memory of ``x``, any object with ``__dlpack__`` (an array of any DLPack library).

    A Tensor gives a new tensor over the same data, outside the graph (as
    :meth:`~xpgrad.Tensor.detach`; one that requires grad is refused, as its
    ``__dlpack__`` is). Other arrays land on the current backend, shared
    when its library can read them in place, copied when ``copy=True`` (or
    when they must change library and ``copy`` is not False).

    >>> import numpy as np, xpgrad
    >>> a = np.arange(3.0)
    >>> xpgrad.from_dlpack(a).tolist()
    [0.0, 1.0, 2.0]
    """
    if isinstance(x, Tensor):
        if x.requires_grad:  # as x.__dlpack__() does: the graph would be dropped unnoticed
            raise RuntimeError("from_dlpack: the tensor requires grad, and DLPack carries no graph; pass "
                               "x.detach() to share its data outside the graph (or use asarray to stay in it)")
        xb = x._backend
        device = check_device("from_dlpack", xb, device)
        arr = x.data
        if device is not None and arr.device != device:
            if copy is False:
                raise ValueError(f"from_dlpack: moving to device {device!r} needs a copy, but copy=False was given")
            arr = xb.xp.asarray(arr, device=device, copy=True)
        elif copy:
            arr = xb.xp.asarray(arr, copy=True)
        return Tensor._make(arr, xb)
    if not hasattr(x, "__dlpack__"):
        raise TypeError(f"from_dlpack: x must support the DLPack protocol (__dlpack__), got {type(x).__name__}; "
                        "use xpgrad.asarray for other data")
    b = _backend.current()
    device = check_device("from_dlpack", b, device)
    if b.owns(x):
        arr = x if not copy else b.xp.asarray(x, copy=True)
    else:
        try:
            arr = b.xp.from_dlpack(x, copy=copy)
        except (TypeError, ValueError, BufferError, RuntimeError, AttributeError):
            if copy is False:
                raise
            arr = b.asarray(x)
    if device is not None and arr.device != device:
        arr = b.xp.asarray(arr, device=device, copy=True)
    return Tensor._make(arr, b)


# (backend, dtype) pairs already found to hold numbers: as_tensor skips the dtype check for them, which
# costs several times more than wrapping the array. The backend comes first so that comparing two keys
# never compares dtypes of different libraries.
_CHECKED: set = set()


def randn(*shape, dtype=None, requires_grad=False, backend=None) -> Tensor:
    """Samples of the standard normal distribution N(0, 1), seeded by :func:`xpgrad.manual_seed`.

    >>> import xpgrad
    >>> xpgrad.manual_seed(0)
    >>> a = xpgrad.randn(3)
    >>> xpgrad.manual_seed(0)
    >>> bool((a.numpy() == xpgrad.randn(3).numpy()).all())
    True
    """
    b = _resolve(backend)
    args = (_shape(shape), _float_dtype(b, dtype))
    t = Tensor._make(b.random_normal(*args), b)
    _tracing.record_call(b.random_normal, args, {}, t)  # a replayed step draws fresh numbers
    return t.requires_grad_(True) if requires_grad else t


def rand(*shape, dtype=None, requires_grad=False, backend=None) -> Tensor:
    """Samples of the uniform distribution on [0, 1), seeded by :func:`xpgrad.manual_seed`.

    >>> import xpgrad
    >>> x = xpgrad.rand(100).numpy()
    >>> bool((x >= 0).all() and (x < 1).all())
    True
    """
    b = _resolve(backend)
    args = (_shape(shape), _float_dtype(b, dtype))
    t = Tensor._make(b.random_uniform(*args), b)
    _tracing.record_call(b.random_uniform, args, {}, t)
    return t.requires_grad_(True) if requires_grad else t


def randint(low, high, shape, dtype="int64", backend=None) -> Tensor:
    """Random integers in ``[low, high)``, seeded by :func:`xpgrad.manual_seed`.

    >>> import xpgrad
    >>> x = xpgrad.randint(0, 3, (50,)).numpy()
    >>> sorted(set(x.tolist())) == [0, 1, 2]
    True
    """
    if high <= low:
        raise ValueError(f"randint needs low < high, got low={low}, high={high}")
    b = _resolve(backend)
    args = (low, high, _shape(shape), b.dtype(dtype))
    t = Tensor._make(b.random_integers(*args), b)
    _tracing.record_call(b.random_integers, args, {}, t)
    return t


def _shape(shape) -> tuple:
    if isinstance(shape, int):
        shape = (shape,)
    elif len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    shape = tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"shape entries must be non-negative, got {shape}")
    return shape
