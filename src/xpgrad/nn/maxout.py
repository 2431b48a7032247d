"""``Maxout``: the maximum of several affine maps."""

from __future__ import annotations

from ..autograd.ops.linalg import linear
from ..autograd.ops.reduction import max as _max
from ..autograd.ops.shape import reshape
from . import init as _init
from .linear import _check_features
from .module import Module
from .parameter import Parameter, check_float_dtype

__all__ = ["Maxout"]


class Maxout(Module):
    """Maxout layer: yⱼ = maxₖ (x W⁽ᵏ⁾ᵀ + b⁽ᵏ⁾)ⱼ over ``pieces`` affine maps k.

    With two pieces this is the lecture's max(w₁ᵀx + b₁, w₂ᵀx + b₂); ReLU
    is the special case where one piece is fixed at zero. The pieces are
    stacked so that one fused matrix product computes them all: ``weight``
    has shape (pieces · out_features, in_features), the layout of
    :class:`Linear`, and row k · out_features + j belongs to piece k, output j.
    The gradient of the max goes to the winning piece (split evenly on exact
    ties).

    Examples
    --------
    >>> import xpgrad
    >>> from xpgrad import nn
    >>> m = nn.Maxout(4, 3, pieces=2)
    >>> m.weight.shape, m(xpgrad.ones((5, 4))).shape
    ((6, 4), (5, 3))
    """

    def __init__(self, in_features: int, out_features: int, pieces: int = 2, bias: bool = True, dtype=None,
                 init="kaiming", backend=None):
        super().__init__()
        _check_features("Maxout", in_features=in_features, out_features=out_features, pieces=pieces)
        check_float_dtype(dtype, "nn.Maxout")
        self.in_features, self.out_features, self.pieces = in_features, out_features, pieces
        width = pieces * out_features
        w = _init.get(init)((width, in_features), dtype=dtype, backend=backend)
        self.weight = Parameter(w)
        b = _init.zeros((width,), dtype=dtype, backend=backend) if bias else None
        self.register_parameter("bias", None if b is None else Parameter(b))

    def forward(self, x):
        z = linear(x, self.weight, self.bias)
        z = reshape(z, tuple(x.shape[:-1]) + (self.pieces, self.out_features))
        return _max(z, axis=-2)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}, "
                f"bias={self.bias is not None}")
