"""``Flatten``, ``Unflatten`` and ``Identity``: shape-only layers."""

from __future__ import annotations

import numbers

from ..autograd.ops.shape import reshape
from .module import Module

__all__ = ["Flatten", "Identity", "Unflatten"]


class Flatten(Module):
    """Merge axes ``start_dim`` … ``end_dim`` into one (by default: all but the batch axis).

    An image batch of shape (N, C, H, W) becomes (N, C·H·W), ready for a
    :class:`Linear` layer.

    >>> import xpgrad
    >>> from xpgrad import nn
    >>> nn.Flatten()(xpgrad.zeros((2, 3, 4, 4))).shape
    (2, 48)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        for name, value in (("start_dim", start_dim), ("end_dim", end_dim)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"Flatten: {name} must be an integer, got {type(value).__name__} ({value!r})")
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x):
        shape = tuple(x.shape)
        for name, dim in (("start_dim", self.start_dim), ("end_dim", self.end_dim)):
            if shape and not -len(shape) <= dim < len(shape):
                raise ValueError(f"Flatten: {name}={dim} is out of range for an input of shape {shape}")
        start = self.start_dim % len(shape) if shape else 0
        end = self.end_dim % len(shape) if shape else 0
        if start > end:
            raise ValueError(f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}) is empty for an input "
                             f"of shape {shape}")
        merged = 1
        for n in shape[start:end + 1]:
            merged *= n
        return reshape(x, shape[:start] + (merged,) + shape[end + 1:])

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split axis ``dim`` into the axes ``unflattened_size`` (the inverse of :class:`Flatten`).

    A batch of flattened images of shape (N, C·H·W) becomes (N, C, H, W) with
    ``Unflatten(1, (C, H, W))``, ready for a convolution. The product of
    ``unflattened_size`` must equal the length of axis ``dim``; one entry may be
    -1 (inferred), as in ``reshape``.

    >>> import xpgrad
    >>> from xpgrad import nn
    >>> nn.Unflatten(1, (3, 4, 4))(xpgrad.zeros((2, 48))).shape
    (2, 3, 4, 4)
    """

    def __init__(self, dim: int, unflattened_size: tuple[int, ...]):
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
            raise TypeError(f"Unflatten: dim must be an integer, got {type(dim).__name__} ({dim!r})")
        sizes = tuple(unflattened_size) if isinstance(unflattened_size, (tuple, list)) else None
        if not sizes or not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and (n > 0 or n == -1)
                                for n in sizes) or sum(n == -1 for n in sizes) > 1:
            raise ValueError(f"Unflatten: unflattened_size must be a non-empty tuple of positive sizes (at most one "
                             f"-1), got {unflattened_size!r}")
        self.dim, self.unflattened_size = int(dim), tuple(int(n) for n in sizes)

    def forward(self, x):
        shape = tuple(x.shape)
        if not -len(shape) <= self.dim < len(shape):
            raise ValueError(f"Unflatten: dim={self.dim} is out of range for an input of shape {shape}")
        dim = self.dim % len(shape)
        sizes, known = self.unflattened_size, 1
        for n in self.unflattened_size:
            known *= n if n != -1 else 1
        if -1 in sizes and shape[dim] % known == 0:
            sizes = tuple(shape[dim] // known if n == -1 else n for n in sizes)
        total = 1
        for n in sizes:
            total *= n
        if -1 in sizes or total != shape[dim]:
            raise ValueError(f"Unflatten: axis {self.dim} of the input of shape {shape} has length {shape[dim]}, "
                             f"which cannot be split into {self.unflattened_size}")
        return reshape(x, shape[:dim] + sizes + shape[dim + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Identity(Module):
    """Return the input unchanged (a placeholder layer).

    >>> import xpgrad
    >>> from xpgrad import nn
    >>> nn.Identity()(xpgrad.tensor([1.0])).tolist()
    [1.0]
    """

    def forward(self, x):
        return x
