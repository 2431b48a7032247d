"""``DataLoader``: minibatches of ``(X, y)`` as tensors on the current backend, and the one dtype rule.

The rule, used by the loader and by :func:`xpgrad.fit` / :func:`xpgrad.train.evaluate`
for every batch they see: floating-point data becomes the working float dtype
(the model's, in ``fit``; the default dtype otherwise), integer data (class
labels) becomes int64, and everything goes to the current backend.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import backend as _backend
from ..autograd import Tensor, as_tensor
from .dataset import dataset_arrays, is_dataset

__all__ = ["DataLoader", "as_batch", "check_label_range", "shard_range"]


class DataLoader:
    """Iterate over ``(X, y)`` in minibatches of ``batch_size`` rows, as xpgrad tensors.

    Each pass (epoch) yields ``(X_batch, y_batch)`` tensors on the backend
    that is current when the pass starts. Floating data is cast to ``dtype``
    (default: :func:`xpgrad.get_default_dtype`) and integer labels to int64;
    the converted arrays are kept until the backend or dtype changes, so the
    data crosses to a GPU once, not once per batch.

    Parameters
    ----------
    X, y : arrays or Tensors
        Inputs and targets with the same number of rows (NumPy arrays, any
        backend's arrays or tensors). Or, PyTorch's form, a dataset alone:
        ``DataLoader(dataset, batch_size=...)`` with a
        :class:`~xpgrad.data.TensorDataset`, a :class:`~xpgrad.data.Subset`
        or any :class:`~xpgrad.data.Dataset` of ``(x, y)`` samples
        (read once and stacked).
    batch_size : int or None
        Rows per batch; None gives the whole dataset as one batch.
    shuffle : bool
        Visit the rows in a new random order each pass. The order comes from
        the backend's generator (so :func:`xpgrad.manual_seed` and checkpoints
        control it) unless ``seed`` is given.
    seed : int, optional
        Use a private generator with this seed instead (each pass still
        differs, but the sequence of orders is fixed).
    drop_last : bool
        Skip a final batch smaller than ``batch_size``.
    dtype : str, optional
        Float dtype of the batches (``"float32"``, ``"float64"``); default:
        the default dtype when the pass starts. :func:`xpgrad.fit` passes the
        model's float dtype instead (see :meth:`batches`).
    num_classes : int, optional
        Integer labels must lie in ``[0, num_classes)``. Without it, integer
        labels given as host data (NumPy arrays, lists) must still be
        non-negative and one per sample; :func:`xpgrad.fit` checks them against
        the model's number of outputs once (:meth:`check_labels`).

    Raises
    ------
    ValueError
        Mismatched rows, an empty dataset, a bad ``batch_size``/``seed``, or an
        integer label out of range (naming it and its position).

    Examples
    --------
    >>> import numpy as np, xpgrad
    >>> from xpgrad.data import DataLoader
    >>> X, y = np.arange(10.0).reshape(5, 2), np.array([0, 1, 0, 1, 1])
    >>> loader = DataLoader(X, y, batch_size=2)
    >>> len(loader), [yb.tolist() for _, yb in loader]
    (3, [[0, 1], [0, 1], [1]])
    >>> xb, _ = next(iter(loader))
    >>> xpgrad.backend.dtype_name(xb.dtype)
    'float32'
    """

    def __init__(self, X: Any, y: Any = None, batch_size: int | None = None, shuffle: bool = False,
                 seed: int | None = None, drop_last: bool = False, dtype: Any = None,
                 num_classes: int | None = None):
        X, y = _from_dataset(X, y)
        n, ny = _rows(X, "X"), _rows(y, "y")
        if n != ny:
            raise ValueError(f"DataLoader: X has {n} rows but y has {ny}; they need one row per sample (the same "
                             "examples, in the same order)")
        if n == 0:
            raise ValueError("DataLoader: the dataset is empty (X has 0 rows)")
        if batch_size is None:
            batch_size = n
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer or None, got {batch_size!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"DataLoader: seed must be a non-negative integer or None, got {seed!r}")
        if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer))
                                        or num_classes < 1):
            raise ValueError(f"DataLoader: num_classes must be a positive integer or None, got {num_classes!r}")
        self.dtype = None if dtype is None else _float_name(dtype)
        if num_classes is not None or _on_host(y):
            labels = _host_labels(y)
            if labels.dtype.kind in "iu":
                check_label_range(np, labels, None if num_classes is None else int(num_classes), "DataLoader")
        self.num_classes = None if num_classes is None else int(num_classes)
        self.X, self.y, self.num_samples = X, y, n
        self.batch_size, self.shuffle, self.seed, self.drop_last = int(batch_size), bool(shuffle), seed, drop_last
        self._rng = None if seed is None else np.random.default_rng(seed)
        self._cache: tuple = (None, None, None)

    def __len__(self) -> int:
        """Number of batches per pass."""
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        return self.batches()

    def batches(self, dtype: Any = None, *, rank: int = 0, world_size: int = 1) -> Iterator[tuple[Tensor, Tensor]]:
        """One pass, with floating data in ``dtype`` (default: the loader's ``dtype``, else the default dtype).

        With ``world_size`` N > 1 it yields rank ``rank``'s share of each
        batch: the rows ``shard_range(B, rank, N)`` of every (global) batch of
        B rows, so N ranks that make the same pass see between them exactly
        the batches of the 1-process pass, and each takes as many steps. A
        shuffled pass draws its permutation when this is called (not at the
        first batch), so the caller knows that the draw is done.

        >>> import numpy as np, xpgrad
        >>> from xpgrad.data import DataLoader
        >>> xb, yb = next(DataLoader(np.ones((4, 2)), [0, 1, 0, 1]).batches("float64"))
        >>> xpgrad.backend.dtype_name(xb.dtype), xpgrad.backend.dtype_name(yb.dtype)
        ('float64', 'int64')
        >>> loader = DataLoader(np.zeros((5, 1)), [0, 1, 2, 3, 4], batch_size=3)
        >>> [yb.tolist() for _, yb in loader.batches(rank=1, world_size=2)]
        [[2], [4]]
        """
        lo_hi = _check_shard(rank, world_size, "DataLoader.batches")
        b = _backend.current()
        X, y = self._arrays(b, _float_name(dtype or self.dtype or _backend.get_default_dtype()))
        order = None
        if self.shuffle:
            # One host->device copy of the permutation per pass; the batches are gathered on the device.
            perm = self._rng.permutation(self.num_samples) if self._rng is not None else b.permutation(
                self.num_samples)
            order = b.asarray(perm, dtype="int64")
        return self._pass(b, X, y, order, *lo_hi)

    def _pass(self, b: _backend.Backend, X: Any, y: Any, order: Any, rank: int,
              world_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        n, bs = self.num_samples, self.batch_size
        stop = n - n % bs if self.drop_last else n
        xp = b.xp
        for start in range(0, stop, bs):
            end = min(start + bs, n)  # the standard leaves out-of-range slice stops undefined
            lo, hi = shard_range(end - start, rank, world_size)
            lo, hi = start + lo, start + hi
            if order is None:
                xb, yb = X[lo:hi, ...], y[lo:hi, ...]
            else:
                idx = order[lo:hi]
                xb, yb = xp.take(X, idx, axis=0), xp.take(y, idx, axis=0)
            yield as_tensor(xb, backend=b), as_tensor(yb, backend=b)

    def _arrays(self, b: _backend.Backend, dtype: str) -> tuple[Any, Any]:
        """X and y as arrays of backend ``b`` in the working dtypes (converted once, then cached)."""
        key = (b, dtype)
        if self._cache[0] == key:
            return self._cache[1], self._cache[2]
        X, y = _convert(self.X, b, dtype), _convert(self.y, b, dtype)
        self._cache = (key, X, y)
        return X, y

    def check_labels(self, num_classes: int | None = None, *, what: str = "DataLoader", detail: str = "") -> None:
        """Check integer labels, whole, on the current backend: one per sample, in ``[0, num_classes)``.

        Float targets (one-hot, regression) are left alone. Reads two values
        back to the host; :func:`xpgrad.fit` calls it once per dataset with the
        model's number of outputs (``detail`` is added to the error after the range).

        >>> import numpy as np
        >>> from xpgrad.data import DataLoader
        >>> DataLoader(np.zeros((3, 2)), [0, 1, 2]).check_labels(2)
        Traceback (most recent call last):
        ...
        ValueError: DataLoader: class label y[2] = 2 is out of range: labels must be in [0, 2); fix the labels ...
        """
        b = _backend.current()
        _, y = self._arrays(b, _float_name(self.dtype or _backend.get_default_dtype()))
        if b.xp.isdtype(y.dtype, "integral"):
            check_label_range(b.xp, y, num_classes, what, detail=detail)

    def state_dict(self) -> dict:
        """The private generator's state (empty when the backend's generator is used).

        >>> from xpgrad.data import DataLoader
        >>> DataLoader([[1.0]], [0], seed=3).state_dict()["seed"]
        3
        """
        if self._rng is None:
            return {}
        return {"seed": self.seed, "bit_generator": self._rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        """Restore the private generator from :meth:`state_dict`, so the shuffle order continues."""
        if self._rng is not None and state.get("bit_generator") is not None:
            self._rng.bit_generator.state = state["bit_generator"]

    def __repr__(self) -> str:
        return (f"DataLoader(num_samples={self.num_samples}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"seed={self.seed}, drop_last={self.drop_last})")


def _from_dataset(X: Any, y: Any) -> tuple[Any, Any]:
    """``(X, y)`` as given, or the arrays of the dataset ``X`` when ``y`` is omitted."""
    if not is_dataset(X):
        if y is None:
            raise TypeError(f"DataLoader: y is missing; give DataLoader(X, y, ...) with the targets, or a dataset "
                            f"(TensorDataset(X, y)) alone; got a {type(X).__name__} and no y")
        return X, y
    if y is not None:
        raise TypeError(f"DataLoader: a dataset carries its own targets, so the second argument must be left out; "
                        f"got y={type(y).__name__}; pass options by keyword: DataLoader(dataset, batch_size=32)")
    return dataset_arrays(X)


def as_batch(x: Any, y: Any, dtype: Any = None) -> tuple[Tensor, Tensor]:
    """One ``(x, y)`` batch as tensors on the current backend, by the loader's dtype rule.

    Floating data becomes ``dtype`` (default: the default dtype), integer
    data int64, other dtypes (bool) stay. ``x`` and ``y`` must have the same
    number of rows. :func:`xpgrad.fit` applies this to each batch of an
    iterable that is not a :class:`DataLoader`.

    >>> import numpy as np, xpgrad
    >>> from xpgrad.data.loader import as_batch
    >>> xb, yb = as_batch(np.zeros((2, 3)), np.array([1, 0], dtype=np.int8))
    >>> xpgrad.backend.dtype_name(xb.dtype), xpgrad.backend.dtype_name(yb.dtype)
    ('float32', 'int64')
    """
    n, ny = _rows(x, "x"), _rows(y, "y")
    if n != ny:
        raise ValueError(f"a batch with x of shape {tuple(getattr(x, 'shape', (n,)))} and y of shape "
                         f"{tuple(getattr(y, 'shape', (ny,)))}: x and y need one row per sample")
    b = _backend.current()
    name = _float_name(dtype or _backend.get_default_dtype())
    return as_tensor(_convert(x, b, name), backend=b), as_tensor(_convert(y, b, name), backend=b)


def check_label_range(xp: Any, labels: Any, num_classes: int | None, what: str, where: str = "",
                      detail: str = "") -> None:
    """Raise ValueError for integer class labels that are not one per sample or leave ``[0, num_classes)``.

    The error names the first bad label, its position and the valid range
    (``num_classes=None``: labels only need to be non-negative). Reads two
    values (min and max) back to the host, more only when one is bad.

    >>> import numpy as np
    >>> check_label_range(np, np.array([1, -1]), 3, "y")
    Traceback (most recent call last):
    ...
    ValueError: y: class label y[1] = -1 is out of range: labels must be in [0, 3); fix the labels or ...
    """
    if labels.ndim != 1 and not (labels.ndim == 2 and labels.shape[1] == 1):
        raise ValueError(f"{what}: class labels y must hold one label per sample, shape (n,), got shape "
                         f"{tuple(labels.shape)}")
    flat = xp.reshape(labels, (-1,))
    if flat.shape[0] == 0 or int(xp.min(flat)) >= 0 and (num_classes is None or int(xp.max(flat)) < num_classes):
        return
    bad = flat < 0 if num_classes is None else (flat < 0) | (flat >= num_classes)
    pos = int(xp.argmax(xp.astype(bad, xp.int8)))
    valid = "labels must be >= 0 (class indices)" if num_classes is None else f"labels must be in [0, {num_classes})"
    raise ValueError(f"{what}: class label y[{pos}]{where} = {int(flat[pos])} is out of range: {valid}{detail}; fix "
                     "the labels or give the model one output per class")


def shard_range(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """The rows ``[lo, hi)`` of a batch of ``n`` rows that rank ``rank`` of ``world_size`` takes.

    The batch is cut into ``world_size`` contiguous pieces in rank order whose
    sizes differ by at most one: with ``n = q * world_size + r``, ranks below
    ``r`` take ``q + 1`` rows and the others ``q`` (possibly none, when
    ``n < world_size``). Concatenating the pieces of ranks ``0 .. N-1`` gives
    the batch back in its order.

    >>> [shard_range(5, r, 3) for r in range(3)]
    [(0, 2), (2, 4), (4, 5)]
    >>> shard_range(1, 1, 2)
    (1, 1)
    """
    rank, world_size = _check_shard(rank, world_size, "shard_range")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"shard_range: n (rows of the batch) must be a non-negative integer, got {n!r}")
    q, r = divmod(int(n), world_size)
    lo = rank * q + min(rank, r)
    return lo, lo + q + (rank < r)


def _check_shard(rank: Any, world_size: Any, who: str) -> tuple[int, int]:
    for name, value, low in (("world_size", world_size, 1), ("rank", rank, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{who}: {name} must be an integer >= {low}, got {value!r}")
    if rank >= world_size:
        raise ValueError(f"{who}: rank {rank} is out of range for world_size {world_size}: ranks are 0 .. "
                         f"{world_size - 1}")
    return int(rank), int(world_size)


def _host_labels(y: Any) -> np.ndarray:
    """``y`` as a NumPy array (host data as it is; one copy from a backend), for the checks at construction."""
    if isinstance(y, Tensor):
        return y.numpy()
    if isinstance(y, (np.ndarray, list, tuple)):
        try:
            return np.asarray(y)
        except ValueError as e:
            raise ValueError(f"DataLoader: y must be an array of one label (or target row) per sample; got a "
                             f"ragged {type(y).__name__} ({e})") from None
    return _backend.backend_of(y).to_numpy(y)


def _on_host(a: Any) -> bool:
    """Whether ``a`` is host data (NumPy, lists) or lives on a host backend: reading it costs no synchronisation."""
    if isinstance(a, Tensor):
        return a.backend.on_host
    if isinstance(a, (np.ndarray, list, tuple)):
        return True
    try:
        return _backend.backend_of(a).on_host
    except (TypeError, ValueError):
        return False


def _float_name(dtype: Any) -> str:
    name = _backend.dtype_name(dtype)
    if name not in _backend.FLOAT_DTYPES:
        raise ValueError(f"DataLoader: dtype must be a float dtype ({', '.join(_backend.FLOAT_DTYPES)}), got "
                         f"{dtype!r}")
    return name


def _rows(a: Any, name: str) -> int:
    shape = getattr(a, "shape", None)
    if shape is None:
        try:
            return len(a)
        except TypeError:
            raise TypeError(f"DataLoader: {name} must be an array or Tensor, got {type(a).__name__}") from None
    if len(shape) == 0:
        raise ValueError(f"DataLoader: {name} must have at least one dimension (one row per example), got a scalar")
    return int(shape[0])


def _convert(a: Any, b: _backend.Backend, float_dtype: str) -> Any:
    """The dtype rule: real floating -> ``float_dtype``, integer -> int64, others as they are; on backend ``b``."""
    arr = b.asarray(a)  # no copy when ``a`` is already one of b's arrays (or a Tensor holding one)
    xp = b.xp
    if xp.isdtype(arr.dtype, "real floating"):
        want = float_dtype
    elif xp.isdtype(arr.dtype, "integral"):
        want = "int64"
    else:
        return arr
    return arr if _backend.dtype_name(arr.dtype) == want else b.asarray(arr, dtype=want)
