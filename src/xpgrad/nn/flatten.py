"""``Flatten`` and ``Identity``: shape-only layers."""

from __future__ import annotations

import numbers

from ..autograd.ops.shape import reshape
from .module import Module

__all__ = ["Flatten", "Identity"]


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


class Identity(Module):
    """Return the input unchanged (a placeholder layer).

    >>> import xpgrad
    >>> from xpgrad import nn
    >>> nn.Identity()(xpgrad.tensor([1.0])).tolist()
    [1.0]
    """

    def forward(self, x):
        return x
