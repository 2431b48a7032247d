"""``Linear``: the fully connected layer y = x Wᵀ + b (PyTorch's layout)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..autograd.ops.linalg import Linear as LinearOp  # fused ops, applied directly
from ..autograd.ops.linalg import LinearReLU
from ..autograd.tensor import Tensor
from . import init as _init
from .activation import is_builtin_relu
from .module import Module, _prepare_inputs
from .parameter import Parameter, check_float_dtype

__all__ = ["Linear"]


def _check_features(layer, **sizes):
    for name, n in sizes.items():
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"{layer}: {name} must be a positive integer, got {n!r}")


class Linear(Module):
    """Fully connected layer: y = x Wᵀ + b, with W of shape (out_features, in_features), as in PyTorch.

    Rows of ``x`` are examples, so the score of class j for example i is
    Σ_k x_ik W_jk + b_j: row j of W is the template of output j. The shapes
    and state-dict keys are PyTorch's, so the ``state_dict()`` of a
    ``torch.nn.Linear`` (or a ``safetensors.numpy.load_file`` of one) loads
    as it is. The product runs as one fused graph node
    (:func:`xpgrad.linear`); gradients dx = g W, dW = gᵀ x, db = Σ_rows g.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of each input and output row.
    bias : bool
        Learn the additive bias ``b`` (initialized to zeros).
    dtype : str, optional
        Parameter dtype, floating point (an integer or bool dtype raises
        ``TypeError``); default :func:`xpgrad.get_default_dtype`.
    init : str or callable
        Initializer of ``W`` (see :mod:`xpgrad.nn.init`), called with the
        shape (out_features, in_features); default ``"kaiming"``.
    backend : str, optional
        Where to create the parameters; default the current backend.

    Examples
    --------
    >>> import xpgrad
    >>> from xpgrad import nn
    >>> layer = nn.Linear(3, 2)
    >>> layer.weight.shape, layer.bias.shape
    ((2, 3), (2,))
    >>> layer(xpgrad.ones((4, 3))).shape
    (4, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None, init="kaiming",
                 backend=None):
        super().__init__()
        _check_features("Linear", in_features=in_features, out_features=out_features)
        check_float_dtype(dtype, "nn.Linear")
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(_init.get(init)((out_features, in_features), dtype=dtype, backend=backend))
        b = _init.zeros((out_features,), dtype=dtype, backend=backend) if bias else None
        self.register_parameter("bias", None if b is None else Parameter(b))

    def forward(self, x: Tensor) -> Tensor:
        return LinearOp.apply(x, self.weight, self.bias)

    def forward_relu(self, x: Any) -> Tensor:
        """max(0, x Wᵀ + b) in one graph node: what ``nn.ReLU()(self(x))`` computes, inputs handled alike.

        >>> import xpgrad
        >>> from xpgrad import nn
        >>> layer = nn.Linear(2, 2)
        >>> x = xpgrad.randn(3, 2)
        >>> bool((layer.forward_relu(x).numpy() == nn.ReLU()(layer(x)).numpy()).all())
        True
        """
        w = self.weight
        # The hot path inlines __call__'s check (one layer per call in a deep fused stack): host data and
        # another dtype go through it; another backend or device with the same dtype is refused by the op.
        if type(x) is not Tensor or x.data.dtype is not w.data.dtype:
            (x,) = _prepare_inputs(self, (x,))
        return LinearReLU.apply(x, w, self.bias)

    def fuse_next(self, following: Module) -> Callable[[Any], Tensor] | None:
        """:meth:`forward_relu` when ``following`` is a plain built-in ReLU, else None.

        Only an ``nn.Linear`` itself with its own ``forward`` fuses: a subclass
        or an instance with a patched ``forward`` may compute something else,
        and a ReLU layer bound to a plugin's ``"relu"`` may too.
        """
        if type(self) is Linear and "forward" not in self.__dict__ and is_builtin_relu(following):
            return self.forward_relu
        return None

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
