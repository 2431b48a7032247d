"""``Tensor.to_device``: move the data to another device of its backend, with the gradient moved back."""

from __future__ import annotations

from typing import Any

import array_api_compat

from ..function import Function
from ..tensor import Tensor

__all__: list[str] = []  # to_device is a method of the array object, not a function of the standard


class ToDevice(Function):
    owns_grads = False

    @staticmethod
    def forward(ctx, x, device=None, stream=None):
        ctx.source = x.device
        return array_api_compat.to_device(x, device, **({} if stream is None else {"stream": stream}))

    @staticmethod
    def backward(ctx, g):
        return array_api_compat.to_device(g, ctx.source)


def to_device(x: Tensor, device: Any, /, *, stream: Any = None) -> Tensor:
    """``x`` on ``device`` of its backend (``x`` itself when it is there already), differentiably.

    The gradient is moved back to ``x``'s device.

    >>> import xpgrad
    >>> x = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    >>> y = x.to_device(x.device)
    >>> (y * y).sum().backward()
    >>> x.grad.tolist()
    [2.0, 4.0]
    """
    if device == x.data.device and stream is None:
        return x
    return ToDevice.apply(x, device=device, stream=stream)
