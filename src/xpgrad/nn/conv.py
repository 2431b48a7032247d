"""``Conv2d``: the 2-D convolution layer, with PyTorch's parameter shapes, state-dict keys and initialization."""

from __future__ import annotations

import math

from .. import backend as xb
from ..autograd.creation import as_tensor
from ..autograd.tensor import Tensor
from .activation import is_builtin_relu
from .functional.conv import conv2d, conv2d_relu, pair
from .module import Module, _prepare_inputs
from .parameter import Parameter, check_float_dtype

__all__ = ["Conv2d"]


def _positive(layer: str, **sizes):
    for name, n in sizes.items():
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"{layer}: {name} must be a positive integer, got {n!r}")


def uniform_init(shape, bound: float, dtype, backend) -> Tensor:
    """w ~ U(-bound, bound) of ``shape``: PyTorch's default for convolution weights and biases."""
    b = xb.current() if backend is None else xb.resolve(backend)
    dt = b.dtype(xb.get_default_dtype() if dtype is None else dtype)
    return as_tensor((b.random_uniform(tuple(shape), dt) * 2 - 1) * bound, backend=b)


class Conv2d(Module):
    """2-D convolution layer: y = W ⋆ x + b on (N, C, H, W) batches, W of shape (out, in/groups, kh, kw).

    y[n, o, i, j] = b[o] + Σ_{c, u, v} W[o, c, u, v] · x_pad[n, c', s·i + d·u, s·j + d·v] over the
    input channels c' of output o's group; each spatial output size is
    ⌊(H + 2p - d(k-1) - 1)/s⌋ + 1 (see :func:`xpgrad.nn.functional.conv2d`). The parameters
    ``weight`` (out_channels, in_channels/groups, kh, kw) and ``bias`` (out_channels,) have
    PyTorch's shapes and names, so a ``torch.nn.Conv2d`` state dict loads as it is, and
    PyTorch's initialization: both uniform in ±1/√fan_in, fan_in = in_channels/groups · kh · kw
    (``kaiming_uniform_`` with a = √5).

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and the output; both divisible by ``groups``.
    kernel_size, stride, dilation : int or (int, int)
    padding : int, (int, int), ``"same"`` or ``"valid"``
        Zeros added on every side (``"same"`` keeps the size at stride 1).
    groups : int
        Split the channels into ``groups`` independent convolutions.
    bias : bool
        Learn the additive bias ``b``.
    dtype, backend : optional
        Parameter dtype (floating point) and backend; defaults the current ones.

    Examples
    --------
    >>> import xpgrad
    >>> from xpgrad import nn
    >>> conv = nn.Conv2d(3, 16, 3, padding=1)
    >>> conv.weight.shape, conv.bias.shape
    ((16, 3, 3, 3), (16,))
    >>> conv(xpgrad.zeros((2, 3, 32, 32))).shape
    (2, 16, 32, 32)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, dtype=None, backend=None):
        super().__init__()
        _positive("Conv2d", in_channels=in_channels, out_channels=out_channels, groups=groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        self.kernel_size = pair(kernel_size, "kernel_size", "Conv2d", 1)
        self.stride = pair(stride, "stride", "Conv2d", 1)
        self.dilation = pair(dilation, "dilation", "Conv2d", 1)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Conv2d: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"Conv2d: padding='same' needs stride 1, got stride={stride!r}")
            self.padding: str | tuple[int, int] = padding
        else:
            self.padding = pair(padding, "padding", "Conv2d", 0)
        check_float_dtype(dtype, "nn.Conv2d")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        bound = 1.0 / math.sqrt(shape[1] * shape[2] * shape[3])
        self.weight = Parameter(uniform_init(shape, bound, dtype, backend))
        b = uniform_init((out_channels,), bound, dtype, backend) if bias else None
        self.register_parameter("bias", None if b is None else Parameter(b))

    def _check_channels(self, x):
        if isinstance(x, Tensor) and x.ndim in (3, 4) and x.shape[-3] != self.in_channels:
            raise ValueError(f"{self!r}: expected input of shape (N, {self.in_channels}, H, W), got shape "
                             f"{tuple(x.shape)}")

    def forward(self, x: Tensor) -> Tensor:
        self._check_channels(x)
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups,
                      where=f"Conv2d({self.extra_repr()})")

    def forward_relu(self, x) -> Tensor:
        """max(0, conv(x)) in one graph node: what ``nn.ReLU()(self(x))`` computes.

        >>> import xpgrad
        >>> from xpgrad import nn
        >>> conv, x = nn.Conv2d(2, 3, 3), xpgrad.randn(1, 2, 5, 5)
        >>> bool((conv.forward_relu(x).numpy() == nn.ReLU()(conv(x)).numpy()).all())
        True
        """
        (x,) = _prepare_inputs(self, (x,))  # what __call__ does: host data moved, dtype and backend checked
        self._check_channels(x)
        return conv2d_relu(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups,
                           where=f"Conv2d({self.extra_repr()})")

    def fuse_next(self, following: Module):
        """:meth:`forward_relu` when ``following`` is a plain built-in ReLU (and this is a plain Conv2d), else None."""
        if type(self) is Conv2d and "forward" not in self.__dict__ and is_builtin_relu(following):
            return self.forward_relu
        return None

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
             f"padding={self.padding!r}")
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + ("" if self.bias is not None else ", bias=False")
