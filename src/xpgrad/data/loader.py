"""``DataLoader``: minibatches of ``(X, y)`` as tensors on the current backend."""

from __future__ import annotations

import math

import numpy as np

from .. import backend as _backend
from ..autograd.tensor import Tensor

__all__ = ["DataLoader"]


class DataLoader:
    """Iterate over ``(X, y)`` in minibatches of ``batch_size`` rows, as xpgrad tensors.

    Each pass (epoch) yields ``(X_batch, y_batch)`` tensors on the backend
    that is current when the pass starts. Floating data is cast to the
    default dtype (:func:`xpgrad.get_default_dtype`) and integer labels to
    int64; the converted arrays are kept until the backend or dtype changes,
    so the data crosses to a GPU once, not once per batch.

    Parameters
    ----------
    X, y : arrays or Tensors
        Inputs and targets with the same number of rows (NumPy arrays, any
        backend's arrays or tensors).
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

    Examples
    --------
    >>> import numpy as np
    >>> from xpgrad.data import DataLoader
    >>> X, y = np.arange(10.0).reshape(5, 2), np.array([0, 1, 0, 1, 1])
    >>> loader = DataLoader(X, y, batch_size=2)
    >>> len(loader), [yb.tolist() for _, yb in loader]
    (3, [[0, 1], [0, 1], [1]])
    >>> xb, _ = next(iter(loader))
    >>> xb.dtype.name if hasattr(xb.dtype, "name") else xb.dtype
    'float32'
    """

    def __init__(self, X, y, batch_size=None, shuffle: bool = False, seed: int | None = None,
                 drop_last: bool = False):
        n, ny = _rows(X, "X"), _rows(y, "y")
        if n != ny:
            raise ValueError(f"DataLoader: X has {n} rows but y has {ny}; they must describe the same examples")
        if n == 0:
            raise ValueError("DataLoader: the dataset is empty (X has 0 rows)")
        if batch_size is None:
            batch_size = n
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer or None, got {batch_size!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"DataLoader: seed must be a non-negative integer or None, got {seed!r}")
        self.X, self.y, self.num_samples = X, y, n
        self.batch_size, self.shuffle, self.seed, self.drop_last = int(batch_size), bool(shuffle), seed, drop_last
        self._rng = None if seed is None else np.random.default_rng(seed)
        self._cache = (None, None, None)

    def __len__(self) -> int:
        """Number of batches per pass."""
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def __iter__(self):
        b = _backend.current()
        X, y = self._arrays(b)
        n, bs = self.num_samples, self.batch_size
        stop = n - n % bs if self.drop_last else n
        order = None
        if self.shuffle:
            perm = self._rng.permutation(n) if self._rng is not None else b.permutation(n)
            order = b.asarray(perm, dtype=b.dtype("int64"))
        xp = b.xp
        for start in range(0, stop, bs):
            end = min(start + bs, n)
            if order is None:
                xb, yb = X[start:end, ...], y[start:end, ...]
            else:
                idx = order[start:end]
                xb, yb = xp.take(X, idx, axis=0), xp.take(y, idx, axis=0)
            yield Tensor._make(xb, b), Tensor._make(yb, b)

    def _arrays(self, b):
        """X and y as arrays of backend ``b`` in the working dtypes (converted once, then cached)."""
        key = (b.name, _backend.get_default_dtype())
        if self._cache[0] == key:
            return self._cache[1], self._cache[2]
        X, y = _convert(self.X, b), _convert(self.y, b)
        self._cache = (key, X, y)
        return X, y

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

    def __repr__(self):
        return (f"DataLoader(num_samples={self.num_samples}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"seed={self.seed}, drop_last={self.drop_last})")


def _rows(a, name):
    shape = getattr(a, "shape", None)
    if shape is None:
        try:
            return len(a)
        except TypeError:
            raise TypeError(f"DataLoader: {name} must be an array or Tensor, got {type(a).__name__}") from None
    if len(shape) == 0:
        raise ValueError(f"DataLoader: {name} must have at least one dimension (one row per example), got a scalar")
    return int(shape[0])


def _convert(a, b):
    data = a.data if isinstance(a, Tensor) else a
    arr = b.asarray(data)
    xp = b.xp
    if xp.isdtype(arr.dtype, "real floating"):
        want = b.dtype(_backend.get_default_dtype())
    elif xp.isdtype(arr.dtype, "integral"):
        want = b.dtype("int64")
    else:
        return arr
    return arr if arr.dtype == want else xp.astype(arr, want)
