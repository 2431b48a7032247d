"""Pooling layers ``MaxPool2d`` and ``AvgPool2d`` (no parameters; PyTorch's arguments)."""

from __future__ import annotations

from ..autograd.tensor import Tensor
from .functional.conv import avg_pool2d, max_pool2d, pair
from .module import Module

__all__ = ["AvgPool2d", "MaxPool2d"]


class MaxPool2d(Module):
    """Max over each kh x kw window: y[n, c, i, j] = max_{u, v} x_pad[n, c, s·i + d·u, s·j + d·v].

    ``stride`` defaults to ``kernel_size`` (non-overlapping windows); ``padding`` (at most half the
    kernel) adds -inf, so padding never wins. The gradient goes to the first maximum of each
    window. See :func:`xpgrad.nn.functional.max_pool2d`.

    >>> import xpgrad
    >>> from xpgrad import nn
    >>> nn.MaxPool2d(2)(xpgrad.zeros((8, 16, 32, 32))).shape
    (8, 16, 16, 16)
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = pair(kernel_size, "kernel_size", "MaxPool2d", 1)
        self.stride = self.kernel_size if stride is None else pair(stride, "stride", "MaxPool2d", 1)
        self.padding = pair(padding, "padding", "MaxPool2d", 0)
        self.dilation = pair(dilation, "dilation", "MaxPool2d", 1)
        if any(p > k // 2 for p, k in zip(self.padding, self.kernel_size, strict=True)):
            raise ValueError(f"MaxPool2d: padding {padding!r} must be at most half the kernel size {self.kernel_size}")
        if not isinstance(ceil_mode, bool):
            raise TypeError(f"MaxPool2d: ceil_mode must be True or False, got {ceil_mode!r}")
        self.ceil_mode = ceil_mode

    def forward(self, x: Tensor) -> Tensor:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          where=f"MaxPool2d({self.extra_repr()})")

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Mean over each kh x kw window: y[n, c, i, j] = Σ_{u, v} x_pad[n, c, s·i + u, s·j + v] / divisor.

    Zero padding; the divisor is kh·kw, or with ``count_include_pad=False`` the number of input
    positions in the window (see :func:`xpgrad.nn.functional.avg_pool2d`).

    >>> import xpgrad
    >>> from xpgrad import nn
    >>> nn.AvgPool2d(2)(xpgrad.ones((1, 1, 4, 4))).tolist()
    [[[[1.0, 1.0], [1.0, 1.0]]]]
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True):
        super().__init__()
        self.kernel_size = pair(kernel_size, "kernel_size", "AvgPool2d", 1)
        self.stride = self.kernel_size if stride is None else pair(stride, "stride", "AvgPool2d", 1)
        self.padding = pair(padding, "padding", "AvgPool2d", 0)
        if any(p > k // 2 for p, k in zip(self.padding, self.kernel_size, strict=True)):
            raise ValueError(f"AvgPool2d: padding {padding!r} must be at most half the kernel size {self.kernel_size}")
        for name, value in (("ceil_mode", ceil_mode), ("count_include_pad", count_include_pad)):
            if not isinstance(value, bool):
                raise TypeError(f"AvgPool2d: {name} must be True or False, got {value!r}")
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x: Tensor) -> Tensor:
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                          where=f"AvgPool2d({self.extra_repr()})")

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"ceil_mode={self.ceil_mode}, count_include_pad={self.count_include_pad}")
