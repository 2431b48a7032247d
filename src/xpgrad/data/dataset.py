"""Datasets: the ``Dataset`` protocol, ``TensorDataset``, ``Subset`` and ``random_split``, as in PyTorch.

A dataset is anything with ``len(ds)`` and ``ds[i] -> (x, y)``. The
:class:`~xpgrad.data.DataLoader` batches one by gathering rows of whole arrays:
a :class:`TensorDataset` (or a :class:`Subset` of one) hands over its arrays
directly, any other dataset is read once, sample by sample, and stacked.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .. import backend as _backend
from ..autograd import Tensor, as_tensor, take

__all__ = ["Dataset", "Subset", "TensorDataset", "dataset_arrays", "is_dataset", "random_split"]


@runtime_checkable
class Dataset(Protocol):
    """What a dataset provides: ``len(ds)`` samples and ``ds[i]``, the i-th ``(x, y)`` sample.

    Subclass it (as in PyTorch) or just define the two methods; the
    :class:`~xpgrad.data.DataLoader` takes either.

    >>> from xpgrad.data import Dataset
    >>> class Squares(Dataset):
    ...     def __len__(self):
    ...         return 4
    ...     def __getitem__(self, i):
    ...         return float(i), i * i
    >>> Squares()[3]
    (3.0, 9)
    """

    def __len__(self) -> int: ...

    def __getitem__(self, index: Any) -> Any: ...


def is_dataset(obj: Any) -> bool:
    """Whether ``obj`` is a dataset of samples rather than an array, a Tensor or a built-in container.

    >>> import numpy as np
    >>> from xpgrad.data import TensorDataset
    >>> is_dataset(TensorDataset(np.zeros((2, 1)), np.zeros(2))), is_dataset(np.zeros(2)), is_dataset([1, 2])
    (True, False, False)
    """
    return (isinstance(obj, Dataset) and not isinstance(obj, (list, tuple, dict, str, bytes, Tensor))
            and not hasattr(obj, "shape"))


def _rows(a: Any) -> int | None:
    shape = getattr(a, "shape", None)
    return None if shape is None or len(shape) == 0 else int(shape[0])


def _index_array(index: Any, n: int, what: str) -> np.ndarray:
    """An index as a host int64 vector, every entry checked to lie in [-n, n)."""
    idx = index.numpy() if isinstance(index, Tensor) else np.asarray(index)
    if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
        raise TypeError(f"{what}: index must be an int, a slice or a 1-d array of integer positions, got "
                        f"{type(index).__name__} of shape {idx.shape} and dtype {idx.dtype}")
    idx = idx.astype(np.int64, copy=False)
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = int(idx[(idx < -n) | (idx >= n)][0])
        raise IndexError(f"{what}: index {bad} is out of range for a dataset of {n} samples")
    return idx


class TensorDataset:
    """Samples are rows: ``ds[i] == (t[i] for t in tensors)``, with every tensor sharing its first dimension.

    ``tensors`` are xpgrad Tensors or arrays of any backend (NumPy arrays
    included; lists become NumPy arrays). ``ds[i]`` takes an int, a slice or
    an array of integer positions; the last gathers all rows at once, which is
    how the :class:`~xpgrad.data.DataLoader` batches it.

    >>> import numpy as np
    >>> from xpgrad.data import TensorDataset
    >>> ds = TensorDataset(np.arange(6.0).reshape(3, 2), np.array([0, 1, 1]))
    >>> len(ds), ds[1]
    (3, (array([2., 3.]), np.int64(1)))
    >>> ds[[2, 0]][1].tolist()
    [1, 0]
    """

    def __init__(self, *tensors: Any):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor or array, e.g. TensorDataset(X, y)")
        held = []
        for k, t in enumerate(tensors):
            if isinstance(t, (list, tuple)):
                t = np.asarray(t)
            if not hasattr(t, "shape"):
                raise TypeError(f"TensorDataset: tensors[{k}] must be a Tensor or an array, got {type(t).__name__}")
            if _rows(t) is None:
                raise ValueError(f"TensorDataset: tensors[{k}] is a scalar (shape {tuple(t.shape)}); each tensor "
                                 "needs a first dimension with one row per sample")
            held.append(t)
        sizes = [_rows(t) for t in held]
        if len(set(sizes)) != 1:
            shapes = ", ".join(str(tuple(t.shape)) for t in held)
            raise ValueError(f"TensorDataset: the tensors have {sizes} rows (shapes {shapes}); they must all have "
                             "the same size in their first dimension, one row per sample")
        self.tensors: tuple = tuple(held)

    def __len__(self) -> int:
        return _rows(self.tensors[0]) or 0

    def __getitem__(self, index: Any) -> tuple:
        n = len(self)
        if isinstance(index, numbers.Integral) and not isinstance(index, bool):
            i = int(index)
            if not -n <= i < n:
                raise IndexError(f"TensorDataset: index {i} is out of range for a dataset of {n} samples")
            return tuple(t[i] for t in self.tensors)
        if isinstance(index, slice):
            return tuple(t[index] for t in self.tensors)
        idx = _index_array(index, n, "TensorDataset")
        idx = np.where(idx < 0, idx + n, idx)
        return tuple(_gather(t, idx) for t in self.tensors)

    def __repr__(self) -> str:
        shapes = ", ".join(str(tuple(t.shape)) for t in self.tensors)
        return f"TensorDataset({shapes})"


def _gather(t: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` of a Tensor (recorded on the graph) or of an array, on its own backend."""
    if isinstance(t, Tensor):
        return take(t, as_tensor(idx, backend=t.backend), axis=0)
    if isinstance(t, np.ndarray):
        return t[idx]
    b = _backend.backend_of(t)
    return b.xp.take(t, b.asarray(idx, dtype="int64"), axis=0)


class Subset:
    """The samples of ``dataset`` at ``indices``, in that order: ``subset[i] == dataset[indices[i]]``.

    >>> import numpy as np
    >>> from xpgrad.data import Subset, TensorDataset
    >>> sub = Subset(TensorDataset(np.arange(5.0)), [4, 0])
    >>> len(sub), sub[0]
    (2, (np.float64(4.0),))
    """

    def __init__(self, dataset: Any, indices: Sequence[int] | Any):
        if not is_dataset(dataset):
            raise TypeError(f"Subset: dataset must have __len__ and __getitem__ (a Dataset), got "
                            f"{type(dataset).__name__}")
        self.dataset = dataset
        self.indices = _index_array(indices, len(dataset), "Subset")

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __getitem__(self, index: Any) -> Any:
        n = len(self)
        if isinstance(index, numbers.Integral) and not isinstance(index, bool):
            i = int(index)
            if not -n <= i < n:
                raise IndexError(f"Subset: index {i} is out of range for a subset of {n} samples")
            return self.dataset[int(self.indices[i])]
        if isinstance(index, slice):
            return self.dataset[self.indices[index]]
        return self.dataset[self.indices[_index_array(index, n, "Subset")]]

    def __repr__(self) -> str:
        return f"Subset({type(self.dataset).__name__}, {len(self)} samples)"


def _split_sizes(lengths: Sequence[Any], n: int) -> list[int]:
    """Integer sizes from ``lengths``: ints summing to n, or fractions summing to 1 (PyTorch's rule)."""
    values = list(lengths)
    if not values:
        raise ValueError("random_split: lengths is empty; give the sizes of the parts, e.g. [0.8, 0.2]")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or v < 0 or not math.isfinite(v):
            raise ValueError(f"random_split: lengths must be non-negative ints or fractions, got {v!r} in "
                             f"{values}")
    if all(isinstance(v, numbers.Integral) for v in values):
        sizes = [int(v) for v in values]
        if sum(sizes) != n:
            raise ValueError(f"random_split: the lengths {sizes} sum to {sum(sizes)}, but the dataset has {n} "
                             "samples; they must add up to its length (or give fractions summing to 1)")
        return sizes
    if not math.isclose(sum(values), 1.0, abs_tol=1e-6) or any(v > 1 for v in values):
        raise ValueError(f"random_split: fractions {values} sum to {sum(values)}; fractions must lie in [0, 1] "
                         "and sum to 1 (or give integer lengths summing to the dataset's length)")
    sizes = [math.floor(n * v) for v in values]
    for i in range(n - sum(sizes)):  # the remainder goes one by one to the parts, first to last
        sizes[i % len(sizes)] += 1
    return sizes


def random_split(dataset: Any, lengths: Sequence[Any], generator: Any = None) -> list[Subset]:
    """Split ``dataset`` into disjoint random :class:`Subset` s of the given lengths, covering every sample once.

    ``lengths`` are integers summing to ``len(dataset)``, or fractions summing
    to 1 (each part gets ⌊n·f⌋ samples and the remainder is dealt one by one
    from the first part on, as in PyTorch). The shuffle comes from the current
    backend's generator, so :func:`xpgrad.manual_seed` makes it reproducible;
    ``generator`` (an int seed or a ``numpy.random.Generator``) uses that
    instead.

    >>> import numpy as np
    >>> from xpgrad.data import TensorDataset, random_split
    >>> train, val = random_split(TensorDataset(np.arange(10.0)), [0.8, 0.2], generator=0)
    >>> len(train), len(val), sorted(np.concatenate([train.indices, val.indices]).tolist()) == list(range(10))
    (8, 2, True)
    """
    if not is_dataset(dataset):
        raise TypeError(f"random_split: dataset must have __len__ and __getitem__ (a Dataset), got "
                        f"{type(dataset).__name__}")
    if isinstance(lengths, (str, bytes)) or not isinstance(lengths, Sequence):
        raise TypeError(f"random_split: lengths must be a list of ints or fractions, got {lengths!r}")
    n = len(dataset)
    sizes = _split_sizes(lengths, n)
    if generator is None:
        perm = _backend.current().permutation(n)
    elif isinstance(generator, np.random.Generator):
        perm = generator.permutation(n)
    elif isinstance(generator, numbers.Integral) and not isinstance(generator, bool) and int(generator) >= 0:
        perm = np.random.default_rng(int(generator)).permutation(n)
    else:
        raise TypeError(f"random_split: generator must be None, a non-negative int seed or a "
                        f"numpy.random.Generator, got {generator!r}")
    bounds = np.cumsum([0, *sizes])
    return [Subset(dataset, perm[bounds[k]:bounds[k + 1]]) for k in range(len(sizes))]


def dataset_arrays(dataset: Any) -> tuple[Any, Any]:
    """``(X, y)`` holding every sample of ``dataset``, as the DataLoader batches it.

    A two-tensor :class:`TensorDataset` gives its tensors, a :class:`Subset`
    of one the rows at its indices (one gather); any other dataset is read
    sample by sample and stacked on the host (once, when the loader is made).

    >>> import numpy as np
    >>> from xpgrad.data import Subset, TensorDataset
    >>> X, y = dataset_arrays(Subset(TensorDataset(np.eye(3), np.array([0, 1, 2])), [2, 1]))
    >>> X.tolist(), y.tolist()
    ([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]], [2, 1])
    """
    if isinstance(dataset, TensorDataset):
        if len(dataset.tensors) != 2:
            raise ValueError(f"DataLoader: a TensorDataset of {len(dataset.tensors)} tensors cannot be batched as "
                             "(x, y) pairs; build it as TensorDataset(X, y)")
        return dataset.tensors
    if isinstance(dataset, Subset) and isinstance(dataset.dataset, (TensorDataset, Subset)):
        X, y = dataset_arrays(dataset.dataset)
        return _gather(X, dataset.indices), _gather(y, dataset.indices)
    n = len(dataset)
    if n == 0:
        raise ValueError("DataLoader: the dataset is empty (len(dataset) == 0)")
    xs, ys = [], []
    for i in range(n):
        sample = dataset[i]
        if not isinstance(sample, (tuple, list)) or len(sample) != 2:
            raise ValueError(f"DataLoader: dataset[{i}] must be an (x, y) pair, got {type(sample).__name__}"
                             + (f" of length {len(sample)}" if isinstance(sample, (tuple, list)) else ""))
        xs.append(_host(sample[0]))
        ys.append(_host(sample[1]))
    try:
        return np.stack(xs), np.stack(ys)
    except ValueError as e:
        raise ValueError(f"DataLoader: the samples of {type(dataset).__name__} differ in shape and cannot be "
                         f"stacked into a batch ({e})") from None


def _host(a: Any) -> np.ndarray:
    if isinstance(a, Tensor):
        return a.numpy()
    if isinstance(a, np.ndarray) or not hasattr(a, "shape"):
        return np.asarray(a)
    return _backend.backend_of(a).to_numpy(a)
