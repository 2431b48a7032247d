"""Functional convolution and pooling with PyTorch's names and signatures: ``conv2d``, ``max_pool2d``, ``avg_pool2d``.

Inputs are (N, C, H, W) batches, or one (C, H, W) image (a batch of one, squeezed back). The
arguments are checked here, before any array is touched, with errors that name the function (or
the layer calling it), the argument, the value and the shape; the ops themselves live in
``xpgrad.autograd.ops.conv`` and ``xpgrad.autograd.ops.pool``.
"""

from __future__ import annotations

import numbers

from ...autograd.ops.conv import Conv2d as _Conv2dOp
from ...autograd.ops.conv import Conv2dReLU as _Conv2dReLUOp
from ...autograd.ops.conv import conv_output_size
from ...autograd.ops.pool import AvgPool2d as _AvgPoolOp
from ...autograd.ops.pool import MaxPool2d as _MaxPoolOp
from ...autograd.ops.shape import reshape
from ...autograd.tensor import Tensor

__all__ = ["avg_pool2d", "conv2d", "conv2d_relu", "max_pool2d"]


def pair(value, name: str, where: str, minimum: int) -> tuple[int, int]:
    """``value`` as a (height, width) pair of integers >= ``minimum``; an int stands for both.

    >>> pair(3, "kernel_size", "Conv2d", 1), pair((1, 2), "stride", "Conv2d", 1)
    ((3, 3), (1, 2))
    """
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in items):
        raise TypeError(f"{where}: {name} must be an int or a pair of ints (height, width), got {value!r}")
    if min(items) < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum} along both axes, got {value!r}")
    return int(items[0]), int(items[1])


def _batched(x, where: str, what: str):
    """``x`` as a 4-D batch and whether it was one unbatched (C, H, W) image."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{where}: input must be an xpgrad.Tensor, got {type(x).__name__}; wrap it with "
                        "xpgrad.tensor(...) (or call the nn layer, which converts host data)")
    if x.ndim == 3:
        return reshape(x, (1, *x.shape)), True
    if x.ndim != 4:
        raise ValueError(f"{where}: expected a 4-D input {what} or one 3-D image, got shape {tuple(x.shape)}")
    return x, False


def _check_float(x, where: str):
    if not x.backend.is_floating(x.dtype):
        raise TypeError(f"{where}: needs a floating-point input, got dtype {x.dtype}; convert it with .astype()")


def _same_padding(kernel, dilation, stride, where):
    """(top, bottom, left, right) keeping the size at stride 1; the odd extra row/column goes last (PyTorch)."""
    if stride != (1, 1):
        raise ValueError(f"{where}: padding='same' needs stride 1, got stride={stride}; pass explicit padding")
    total = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
    return total[0] // 2, total[0] - total[0] // 2, total[1] // 2, total[1] - total[1] // 2


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1, *, where: str = "conv2d") -> Tensor:
    """2-D convolution (cross-correlation, as in PyTorch) of an NCHW batch with ``weight`` (O, C/groups, kh, kw).

    y[n, o, i, j] = bias[o] + Σ_{c, u, v} weight[o, c, u, v] · x_pad[n, g·C/G + c, s·i + d·u, s·j + d·v],
    summing over the C/G channels of output o's group g; the output has
    ⌊(H + 2p - d(kh-1) - 1)/s⌋ + 1 rows and likewise columns. ``stride``, ``padding`` and
    ``dilation`` take an int or an (h, w) pair; ``padding`` also takes ``"valid"`` (0) and
    ``"same"`` (output size = input size, stride 1 only). ``where`` names the caller in errors.

    >>> import xpgrad
    >>> from xpgrad.nn.functional.conv import conv2d
    >>> x = xpgrad.ones((1, 1, 3, 3))
    >>> conv2d(x, xpgrad.ones((1, 1, 2, 2))).tolist()
    [[[[4.0, 4.0], [4.0, 4.0]]]]
    >>> conv2d(x, xpgrad.ones((2, 1, 3, 3)), padding=1).shape
    (1, 2, 3, 3)
    """
    return _convolve(_Conv2dOp, input, weight, bias, stride, padding, dilation, groups, where)


def conv2d_relu(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
                groups: int = 1, *, where: str = "conv2d_relu") -> Tensor:
    """max(0, :func:`conv2d`) in one graph node (what :class:`~xpgrad.nn.Conv2d` followed by a ReLU runs).

    >>> import xpgrad
    >>> from xpgrad.nn.functional.conv import conv2d_relu
    >>> conv2d_relu(xpgrad.ones((1, 1, 2, 2)), -xpgrad.ones((1, 1, 1, 1)), xpgrad.tensor([0.5])).tolist()
    [[[[0.0, 0.0], [0.0, 0.0]]]]
    """
    return _convolve(_Conv2dReLUOp, input, weight, bias, stride, padding, dilation, groups, where)


def _convolve(op, input, weight, bias, stride, padding, dilation, groups, where):
    """Check the arguments of a convolution, then apply ``op`` (a 3-D input goes through as a batch of one)."""
    x, squeeze = _batched(input, where, "(N, C, H, W)")
    if not isinstance(weight, Tensor) or weight.ndim != 4:
        raise ValueError(f"{where}: weight must be a 4-D tensor (out_channels, in_channels/groups, kh, kw), got "
                         f"{tuple(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__}")
    _check_float(x, where)
    if weight.dtype != x.dtype:
        raise TypeError(f"{where}: input dtype {x.dtype} differs from weight dtype {weight.dtype}; "
                        f"convert the input with .astype({weight.dtype})")
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError(f"{where}: groups must be a positive int, got {groups!r}")
    n, c, h, w = x.shape
    o, cg, kh, kw = weight.shape
    if o % groups:
        raise ValueError(f"{where}: groups={groups} must divide out_channels={o} (weight shape {tuple(weight.shape)})")
    if cg * groups != c:
        raise ValueError(f"{where}: expected input with {cg * groups} channels (weight shape {tuple(weight.shape)}, "
                         f"groups={groups}), got input of shape {tuple(input.shape)}")
    if bias is not None and (not isinstance(bias, Tensor) or tuple(bias.shape) != (o,)):
        got = tuple(bias.shape) if isinstance(bias, Tensor) else type(bias).__name__
        raise ValueError(f"{where}: bias must be a tensor of shape ({o},) (out_channels), got {got}")
    stride_ = pair(stride, "stride", where, 1)
    dilation_ = pair(dilation, "dilation", where, 1)
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"{where}: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
        pads = _same_padding((kh, kw), dilation_, stride_, where) if padding == "same" else (0, 0, 0, 0)
    else:
        ph, pw = pair(padding, "padding", where, 0)
        pads = (ph, ph, pw, pw)
    for axis, size, k, d, extra in (("height", h, kh, dilation_[0], pads[0] + pads[1]),
                                    ("width", w, kw, dilation_[1], pads[2] + pads[3])):
        if size + extra < d * (k - 1) + 1:
            raise ValueError(f"{where}: the kernel's reach along the {axis} ({d * (k - 1) + 1}: kernel {k}, dilation "
                             f"{d}) exceeds the padded input ({size} + padding {extra}); input shape "
                             f"{tuple(input.shape)}: pad more or use a smaller kernel")
    y = op.apply(x, weight, bias, stride=stride_, padding=pads, dilation=dilation_, groups=int(groups))
    return reshape(y, tuple(y.shape[1:])) if squeeze else y


def _pool_args(x, kernel_size, stride, padding, dilation, ceil_mode, where):
    kernel = pair(kernel_size, "kernel_size", where, 1)
    stride_ = kernel if stride is None or (isinstance(stride, (tuple, list)) and not stride) else \
        pair(stride, "stride", where, 1)
    pad = pair(padding, "padding", where, 0)
    dil = pair(dilation, "dilation", where, 1)
    if not isinstance(ceil_mode, bool):
        raise TypeError(f"{where}: ceil_mode must be True or False, got {ceil_mode!r}")
    if pad[0] > kernel[0] // 2 or pad[1] > kernel[1] // 2:
        raise ValueError(f"{where}: padding {padding!r} must be at most half the kernel size {kernel}")
    _check_float(x, where)
    for axis, size, k, s, p, d in zip(("height", "width"), x.shape[-2:], kernel, stride_, pad, dil, strict=True):
        if conv_output_size(size, k, s, p, d, ceil_mode) < 1:
            raise ValueError(f"{where}: the window (kernel {k}, dilation {d}) does not fit the {axis} of the padded "
                             f"input ({size} + 2*{p}); input shape {tuple(x.shape)}")
    return kernel, stride_, pad, dil


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False, *,
               where: str = "max_pool2d") -> Tensor:
    """Max pooling: y[n, c, i, j] = max_{u, v} x_pad[n, c, s·i + d·u, s·j + d·v], padding with -inf.

    ``stride`` defaults to ``kernel_size``; ``padding`` is at most half the kernel. The gradient
    flows to the first maximum of each window (PyTorch's choice among ties).

    >>> import xpgrad
    >>> from xpgrad.nn.functional.conv import max_pool2d
    >>> x = xpgrad.reshape(xpgrad.arange(16.0), (1, 1, 4, 4))
    >>> max_pool2d(x, 2).tolist()
    [[[[5.0, 7.0], [13.0, 15.0]]]]
    """
    x, squeeze = _batched(input, where, "(N, C, H, W)")
    kernel, stride_, pad, dil = _pool_args(x, kernel_size, stride, padding, dilation, ceil_mode, where)
    y = _MaxPoolOp.apply(x, kernel_size=kernel, stride=stride_, padding=pad, dilation=dil, ceil_mode=ceil_mode)
    return reshape(y, tuple(y.shape[1:])) if squeeze else y


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, *, where: str = "avg_pool2d") -> Tensor:
    """Average pooling: y[n, c, i, j] = Σ_{u, v} x_pad[n, c, s·i + u, s·j + v] / divisor, zero padding.

    The divisor is kh·kw (windows cut by ``ceil_mode`` count only up to the padded edge);
    with ``count_include_pad=False`` it counts only the input positions, as in PyTorch.

    >>> import xpgrad
    >>> from xpgrad.nn.functional.conv import avg_pool2d
    >>> x = xpgrad.reshape(xpgrad.arange(16.0), (1, 1, 4, 4))
    >>> avg_pool2d(x, 2).tolist()
    [[[[2.5, 4.5], [10.5, 12.5]]]]
    >>> avg_pool2d(xpgrad.ones((1, 1, 2, 2)), 2, 1, padding=1, count_include_pad=False).tolist()
    [[[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]]]
    """
    x, squeeze = _batched(input, where, "(N, C, H, W)")
    kernel, stride_, pad, _ = _pool_args(x, kernel_size, stride, padding, 1, ceil_mode, where)
    if not isinstance(count_include_pad, bool):
        raise TypeError(f"{where}: count_include_pad must be True or False, got {count_include_pad!r}")
    y = _AvgPoolOp.apply(x, kernel_size=kernel, stride=stride_, padding=pad, ceil_mode=ceil_mode,
                         count_include_pad=count_include_pad)
    return reshape(y, tuple(y.shape[1:])) if squeeze else y
