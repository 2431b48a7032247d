"""Datasets and minibatches: generated toy data, MNIST and CIFAR-10 files, and ``DataLoader``.

>>> import xpgrad
>>> from xpgrad.data import DataLoader, spiral
>>> X, y = spiral(n_per_class=100, classes=3)
>>> xb, yb = next(iter(DataLoader(X, y, batch_size=32, shuffle=True)))
>>> xb.shape, yb.shape
((32, 2), (32,))
"""

from .dataset import Dataset, Subset, TensorDataset, random_split
from .files import (
                    CIFAR10_CLASSES,
                    DatasetError,
                    DatasetNotFoundError,
                    UnsafePickleError,
                    load_cifar10,
                    load_mnist,
                    read_cifar10_batch,
                    read_idx,
)
from .loader import DataLoader
from .synthetic import blobs, spiral

__all__ = ["CIFAR10_CLASSES", "DataLoader", "DatasetError", "DatasetNotFoundError", "UnsafePickleError", "blobs",
           "load_cifar10", "load_mnist", "read_cifar10_batch", "read_idx", "spiral"]
__all__ += ["Dataset", "Subset", "TensorDataset", "random_split"]
