"""Making tensors: from data, filled, ranges and random numbers, on the current backend."""

from __future__ import annotations

from typing import Any

from .. import backend as _backend
from .convert import has_float, to_array
from .tensor import Tensor

__all__ = ["arange", "as_tensor", "full", "ones", "ones_like", "rand", "randint", "randn", "tensor", "zeros",
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


# (backend, dtype) pairs already found to hold numbers: as_tensor skips the dtype check for them, which
# costs several times more than wrapping the array. The backend comes first so that comparing two keys
# never compares dtypes of different libraries.
_CHECKED: set = set()


def full(shape, fill_value, dtype=None, requires_grad=False, backend=None) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value`` (a float fill gives the default float dtype).

    >>> import xpgrad
    >>> xpgrad.full((2,), 7.0).tolist()
    [7.0, 7.0]
    """
    b = _resolve(backend)
    if dtype is None:
        dtype = _backend.get_default_dtype() if has_float(fill_value) else (
            "bool" if isinstance(fill_value, bool) else "int64")
    t = Tensor._make(b.xp.full(_shape(shape), fill_value, dtype=b.dtype(dtype)), b)
    return t.requires_grad_(True) if requires_grad else t


def zeros(shape, dtype=None, requires_grad=False, backend=None) -> Tensor:
    """A tensor of zeros (default float dtype).

    >>> import xpgrad
    >>> xpgrad.zeros((2, 3)).shape
    (2, 3)
    """
    b = _resolve(backend)
    t = Tensor._make(b.xp.zeros(_shape(shape), dtype=_float_dtype(b, dtype)), b)
    return t.requires_grad_(True) if requires_grad else t


def ones(shape, dtype=None, requires_grad=False, backend=None) -> Tensor:
    """A tensor of ones (default float dtype).

    >>> import xpgrad
    >>> xpgrad.ones(3).tolist()
    [1.0, 1.0, 1.0]
    """
    b = _resolve(backend)
    t = Tensor._make(b.xp.ones(_shape(shape), dtype=_float_dtype(b, dtype)), b)
    return t.requires_grad_(True) if requires_grad else t


def zeros_like(t: Tensor, dtype=None, requires_grad=False) -> Tensor:
    """Zeros with the shape, dtype and backend of ``t``.

    >>> import xpgrad
    >>> xpgrad.zeros_like(xpgrad.ones((2,))).tolist()
    [0.0, 0.0]
    """
    b = t._backend
    out = Tensor._make(b.xp.zeros_like(t.data, dtype=None if dtype is None else b.dtype(dtype)), b)
    return out.requires_grad_(True) if requires_grad else out


def ones_like(t: Tensor, dtype=None, requires_grad=False) -> Tensor:
    """Ones with the shape, dtype and backend of ``t``.

    >>> import xpgrad
    >>> xpgrad.ones_like(xpgrad.zeros((2,))).tolist()
    [1.0, 1.0]
    """
    b = t._backend
    out = Tensor._make(b.xp.ones_like(t.data, dtype=None if dtype is None else b.dtype(dtype)), b)
    return out.requires_grad_(True) if requires_grad else out


def arange(start, stop=None, step=1, dtype=None, backend=None) -> Tensor:
    """Evenly spaced values in ``[start, stop)``, like :func:`numpy.arange`.

    >>> import xpgrad
    >>> xpgrad.arange(4).tolist()
    [0, 1, 2, 3]
    """
    b = _resolve(backend)
    if dtype is None:
        dtype = _backend.get_default_dtype() if any(has_float(v) for v in (start, stop, step)) else "int64"
    return Tensor._make(b.xp.arange(start, stop, step, dtype=b.dtype(dtype)), b)


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
    t = Tensor._make(b.random_normal(_shape(shape), _float_dtype(b, dtype)), b)
    return t.requires_grad_(True) if requires_grad else t


def rand(*shape, dtype=None, requires_grad=False, backend=None) -> Tensor:
    """Samples of the uniform distribution on [0, 1), seeded by :func:`xpgrad.manual_seed`.

    >>> import xpgrad
    >>> x = xpgrad.rand(100).numpy()
    >>> bool((x >= 0).all() and (x < 1).all())
    True
    """
    b = _resolve(backend)
    t = Tensor._make(b.random_uniform(_shape(shape), _float_dtype(b, dtype)), b)
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
    return Tensor._make(b.random_integers(low, high, _shape(shape), b.dtype(dtype)), b)


def _shape(shape) -> tuple:
    if isinstance(shape, int):
        shape = (shape,)
    elif len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    shape = tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"shape entries must be non-negative, got {shape}")
    return shape
