"""Functional layers and activations: ``linear``, ``relu`` ... ``dropout``, ``one_hot``, with PyTorch's signatures.

Each function calls the registered built-in component or the engine's op that
its module form uses (:func:`xpgrad.linear`, :mod:`xpgrad.activations`, the
``nn.Dropout`` op), so the formula and its gradient exist once.
"""

from __future__ import annotations

from typing import Any

from ... import activations as _act
from ...autograd import Tensor, arange, as_tensor
from ...autograd.ops.linalg import linear as _linear
from ..dropout import _InvertedDropout

__all__ = ["dropout", "elu", "leaky_relu", "linear", "log_softmax", "one_hot", "relu", "sigmoid", "softmax", "tanh"]


def tensor_arg(fn: str, x: Any, name: str = "input") -> Tensor:
    """``x`` itself when it is a Tensor, else a TypeError naming the function and the argument."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: {name} must be an xpgrad.Tensor, got {type(x).__name__}; convert it with "
                        f"xpgrad.tensor({name})")
    return x


def check_dim(fn: str, x: Tensor, dim: Any, name: str = "dim") -> int:
    """``dim`` as a non-negative axis of ``x``; a clear error for a non-integer or out-of-range value."""
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"{fn}: {name} must be an int (the axis to normalize over), got {dim!r}")
    n = max(x.ndim, 1)
    if not -n <= dim < n:
        raise ValueError(f"{fn}: {name}={dim} is out of range for an input of shape {x.shape}; use an axis in "
                         f"[{-n}, {n - 1}]")
    return dim % n


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Affine map y = x Wᵀ + b with ``weight`` of shape (out_features, in_features), one graph node.

    ``input`` has shape (..., in_features); the result (..., out_features).
    This is :func:`xpgrad.linear` (what ``nn.Linear`` runs), so a PyTorch
    weight is used as it is.

    >>> import xpgrad
    >>> from xpgrad.nn import functional as F
    >>> F.linear(xpgrad.tensor([[1.0, 2.0]]), xpgrad.tensor([[1.0, 1.0]]), xpgrad.tensor([0.5])).tolist()
    [[3.5]]
    """
    tensor_arg("linear", input)
    tensor_arg("linear", weight, "weight")
    if weight.ndim != 2 or input.ndim < 1 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {input.shape} and weight of shape {weight.shape} do not fit; "
                         "weight must be (out_features, in_features) with in_features = input.shape[-1]")
    if bias is not None and (tensor_arg("linear", bias, "bias").shape != (weight.shape[0],)):
        raise ValueError(f"linear: bias of shape {bias.shape} must have shape ({weight.shape[0]},), one value per "
                         "output feature")
    return _linear(input, weight, bias)


def relu(input: Tensor) -> Tensor:
    """Rectified linear unit max(0, x), elementwise; gradient 1 where x > 0, else 0.

    >>> import xpgrad
    >>> from xpgrad.nn import functional as F
    >>> F.relu(xpgrad.tensor([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """
    return _act.relu(tensor_arg("relu", input))


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """Leaky ReLU: x where x > 0, ``negative_slope``·x elsewhere.

    >>> import xpgrad
    >>> from xpgrad.nn import functional as F
    >>> F.leaky_relu(xpgrad.tensor([-10.0, 2.0]), 0.1).tolist()
    [-1.0, 2.0]
    """
    return _act.leaky_relu(tensor_arg("leaky_relu", input), negative_slope=negative_slope)


def elu(input: Tensor, alpha: float = 1.0) -> Tensor:
    """Exponential linear unit: x where x > 0, α(eˣ − 1) elsewhere.

    >>> import xpgrad
    >>> from xpgrad.nn import functional as F
    >>> [round(v, 4) for v in F.elu(xpgrad.tensor([-1.0, 3.0])).tolist()]
    [-0.6321, 3.0]
    """
    return _act.elu(tensor_arg("elu", input), alpha=alpha)


def sigmoid(input: Tensor) -> Tensor:
    """Logistic sigmoid σ(x) = 1 / (1 + e⁻ˣ), elementwise.

    >>> import xpgrad
    >>> from xpgrad.nn import functional as F
    >>> F.sigmoid(xpgrad.tensor([0.0])).tolist()
    [0.5]
    """
    return _act.sigmoid(tensor_arg("sigmoid", input))


def tanh(input: Tensor) -> Tensor:
    """Hyperbolic tangent (eˣ − e⁻ˣ) / (eˣ + e⁻ˣ), elementwise.

    >>> import xpgrad
    >>> from xpgrad.nn import functional as F
    >>> F.tanh(xpgrad.tensor([0.0])).tolist()
    [0.0]
    """
    return _act.tanh(tensor_arg("tanh", input))


def _cast(fn: str, x: Tensor, dtype: Any) -> Tensor:
    if dtype is None:
        return x
    try:
        return x.astype(dtype)
    except (TypeError, ValueError, KeyError) as e:
        raise TypeError(f"{fn}: dtype={dtype!r} is not a dtype of the backend ({e})") from None


def softmax(input: Tensor, dim: int, dtype: Any = None) -> Tensor:
    """Softmax along ``dim``: exp(xᵢ) / Σⱼ exp(xⱼ), computed after subtracting the max so nothing overflows.

    ``dim`` is required (PyTorch's implicit choice is deprecated). With
    ``dtype`` the input is cast first, as in PyTorch.

    >>> import xpgrad
    >>> from xpgrad.nn import functional as F
    >>> F.softmax(xpgrad.tensor([[0.0, 0.0], [1e4, 1e4]]), dim=1).tolist()
    [[0.5, 0.5], [0.5, 0.5]]
    """
    tensor_arg("softmax", input)
    axis = check_dim("softmax", input, dim)
    return _act.softmax(_cast("softmax", input, dtype), axis=axis)


def log_softmax(input: Tensor, dim: int, dtype: Any = None) -> Tensor:
    """Log-softmax along ``dim``: xᵢ − log Σⱼ exp(xⱼ), stable for inputs of any size.

    >>> import xpgrad
    >>> from xpgrad.nn import functional as F
    >>> [round(v, 4) for v in F.log_softmax(xpgrad.tensor([0.0, 0.0]), dim=0).tolist()]
    [-0.6931, -0.6931]
    """
    tensor_arg("log_softmax", input)
    axis = check_dim("log_softmax", input, dim)
    return _act.log_softmax(_cast("log_softmax", input, dtype), axis=axis)


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout: with ``training``, zero each entry with probability p and scale the rest by 1/(1 − p).

    Without ``training`` (or with p = 0) the input comes back unchanged. The
    mask is drawn from the backend's generator (:func:`xpgrad.manual_seed`);
    this is the op ``nn.Dropout`` runs.

    >>> import xpgrad
    >>> from xpgrad.nn import functional as F
    >>> sorted(set(F.dropout(xpgrad.ones(1000), p=0.5).tolist()))
    [0.0, 2.0]
    >>> F.dropout(xpgrad.ones(2), p=0.5, training=False).tolist()
    [1.0, 1.0]
    """
    tensor_arg("dropout", input)
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be a number in [0, 1] (the chance of zeroing an entry), got {p!r}")
    if not training or p == 0.0:
        return input
    return _InvertedDropout.apply(input, p=float(p))


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """One-hot encoding: int64 of shape ``(*tensor.shape, C)``, 1 at ``[..., tensor[...]]`` and 0 elsewhere.

    ``num_classes=-1`` takes C = max(tensor) + 1 (one read back from the
    device). Values must be integers in [0, C). The result records no graph.

    >>> import xpgrad
    >>> from xpgrad.nn import functional as F
    >>> F.one_hot(xpgrad.tensor([0, 2]), 3).tolist()
    [[1, 0, 0], [0, 0, 1]]
    """
    t = tensor if isinstance(tensor, Tensor) else as_tensor(tensor)
    if not t.backend.xp.isdtype(t.data.dtype, "integral"):
        raise TypeError(f"one_hot: tensor must hold integer class indices, got dtype {t.dtype}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < -1 or num_classes == 0:
        raise ValueError(f"one_hot: num_classes must be a positive int, or -1 for max(tensor) + 1; got {num_classes!r}")
    count = t.size or 0
    low, high = (int(t.min().item()), int(t.max().item())) if count else (0, -1)
    if num_classes == -1:
        if not count:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor; pass num_classes")
        num_classes = high + 1
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        raise ValueError(f"one_hot: class index {bad} is not in [0, {num_classes}); indices must be integers "
                         f"0..{num_classes - 1} (or pass a larger num_classes)")
    classes = arange(num_classes, dtype=t.dtype, backend=t.backend)
    return (t[..., None] == classes).astype("int64")
