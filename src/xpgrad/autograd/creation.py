"""Making tensors: from data, filled, ranges and random numbers, on the current backend."""

from __future__ import annotations

import numbers

from .. import backend as _backend
from .tensor import Tensor

__all__ = ["arange", "full", "ones", "ones_like", "rand", "randint", "randn", "tensor", "zeros", "zeros_like"]


def _resolve(backend):
    return _backend.current() if backend is None else _backend.resolve(backend)


def _float_dtype(b, dtype):
    return b.dtype(_backend.get_default_dtype() if dtype is None else dtype)


def _has_float(data) -> bool:
    if isinstance(data, bool):
        return False
    if isinstance(data, numbers.Integral):
        return False
    if isinstance(data, numbers.Real):
        return True
    if isinstance(data, (list, tuple)):
        return any(_has_float(d) for d in data)
    return False


def _to_array(data, dtype, b):
    """Turn user data into (backend array, backend); arrays keep their library unless ``b`` says otherwise."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (str, bytes)):
        raise TypeError(f"cannot make a tensor from a {type(data).__name__} ({data!r}); pass numbers, nested "
                        "lists of numbers or an array")
    if _backend.is_array(data):
        b = b or _backend.backend_of(data)
        arr = b.asarray(data)
        if dtype is not None and arr.dtype != b.dtype(dtype):
            arr = b.xp.astype(arr, b.dtype(dtype))
        else:  # own the memory (as torch.tensor does): in-place optimizer steps must not write into the caller's array
            arr = b.xp.asarray(arr, copy=True)
        _check_numeric(arr, b)
        return arr, b
    b = b or _backend.current()
    if dtype is None and _has_float(data):
        dtype = _backend.get_default_dtype()
    try:
        arr = b.xp.asarray(data, dtype=None if dtype is None else b.dtype(dtype))
    except (TypeError, ValueError) as e:
        raise TypeError(f"cannot make a tensor from {type(data).__name__} data on backend {b.name!r}: {e}") from None
    _check_numeric(arr, b)
    return arr, b


def _check_numeric(arr, b):
    try:
        ok = b.xp.isdtype(arr.dtype, ("bool", "numeric"))
    except (TypeError, ValueError):  # e.g. NumPy string or object arrays
        ok = False
    if not ok:
        raise TypeError(f"tensors hold numbers or booleans, but this data has dtype {arr.dtype}; convert it "
                        "first (strings and Python objects cannot be differentiated)")


def tensor(data, dtype=None, requires_grad=False, backend=None) -> Tensor:
    """Make a leaf tensor from nested lists, scalars or an array.

    Python floats become the default dtype (float32 unless changed with
    :func:`xpgrad.set_default_dtype`), Python ints become int64 (class labels).
    Arrays keep their dtype and library unless ``dtype``/``backend`` are given.

    Parameters
    ----------
    data : scalar, nested sequence, array or Tensor
    dtype : str or dtype, optional
        ``"float32"``, ``"float64"``, ``"int64"``, ... or a backend dtype.
    requires_grad : bool
        Record operations on this tensor for :meth:`Tensor.backward`.
    backend : str, optional
        Where to put it; default: the array's own library, else the current backend.

    >>> import xpgrad
    >>> xpgrad.tensor([1, 2, 3]).dtype == xpgrad.tensor([1, 2, 3], dtype="int64").dtype
    True
    >>> xpgrad.tensor([0.5, 1.5], dtype="float64").numpy()
    array([0.5, 1.5])
    """
    return Tensor(data, dtype=dtype, requires_grad=requires_grad, backend=backend)


def full(shape, fill_value, dtype=None, requires_grad=False, backend=None) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value`` (a float fill gives the default float dtype).

    >>> import xpgrad
    >>> xpgrad.full((2,), 7.0).tolist()
    [7.0, 7.0]
    """
    b = _resolve(backend)
    if dtype is None:
        dtype = _backend.get_default_dtype() if _has_float(fill_value) else (
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
        dtype = _backend.get_default_dtype() if any(_has_float(v) for v in (start, stop, step)) else "int64"
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
