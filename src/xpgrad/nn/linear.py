"""``Linear``: the fully connected layer y = x W + b."""

from __future__ import annotations

from ..autograd.ops.linalg import Linear as LinearOp, LinearReLU  # fused ops, applied directly
from . import init as _init
from .module import Module
from .parameter import Parameter

__all__ = ["Linear"]


def _check_features(layer, **sizes):
    for name, n in sizes.items():
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"{layer}: {name} must be a positive integer, got {n!r}")


class Linear(Module):
    """Fully connected layer: y = x W + b, with W of shape (in_features, out_features).

    This is the lecture's layout (rows of ``x`` are examples), so the score of
    class j for example i is Σ_k x_ik W_kj + b_j. The product runs as one fused
    graph node (:func:`xpgrad.linear`).

    Parameters
    ----------
    in_features, out_features : int
        Sizes of each input and output row.
    bias : bool
        Learn the additive bias ``b`` (initialized to zeros).
    dtype : str, optional
        Parameter dtype; default :func:`xpgrad.get_default_dtype`.
    init : str or callable
        Initializer of ``W`` (see :mod:`xpgrad.nn.init`); default ``"kaiming"``.
    backend : str, optional
        Where to create the parameters; default the current backend.

    Examples
    --------
    >>> import xpgrad
    >>> from xpgrad import nn
    >>> layer = nn.Linear(3, 2)
    >>> layer.weight.shape, layer.bias.shape
    ((3, 2), (2,))
    >>> layer(xpgrad.ones((4, 3))).shape
    (4, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None, init="kaiming",
                 backend=None):
        super().__init__()
        _check_features("Linear", in_features=in_features, out_features=out_features)
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(_init.get(init)((in_features, out_features), dtype=dtype, backend=backend))
        b = _init.zeros((out_features,), dtype=dtype, backend=backend) if bias else None
        self.register_parameter("bias", None if b is None else Parameter(b))

    def forward(self, x):
        return LinearOp.apply(x, self.weight, self.bias)

    def forward_relu(self, x):
        """max(0, x W + b) in one graph node; :class:`Sequential` uses it for a Linear followed by ReLU."""
        return LinearReLU.apply(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
