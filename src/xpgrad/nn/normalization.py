"""Normalization layers with PyTorch's arguments and state-dict keys: ``BatchNorm2d`` and ``LayerNorm``."""

from __future__ import annotations

from typing import Any

from ..autograd.creation import as_tensor
from ..autograd.tensor import Tensor
from ..autograd.tracing import run_eagerly
from ..hyperparameters import check_number
from . import init as _init
from .batchnorm import _running_update
from .functional.norm import _as_shape, _normalize_batch, layer_norm
from .linear import _check_features
from .module import Module
from .parameter import Parameter, check_float_dtype

__all__ = ["BatchNorm2d", "LayerNorm"]


def _flag(where: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{where}: {name} must be True or False, got {value!r}")
    return value


class BatchNorm2d(Module):
    """Batch normalization of images (N, C, H, W), one mean and variance per channel.

    In training mode channel c is normalized with the mean μ_c and biased
    variance σ²_c over the batch and both spatial axes (N·H·W values),

        y[n, c, h, w] = γ_c · (x[n, c, h, w] − μ_c) / √(σ²_c + ε) + β_c,

    and the running statistics move towards them: r ← (1 − momentum)·r +
    momentum·s, with the unbiased variance (N·H·W/(N·H·W − 1))·σ²_c for
    ``running_var``, exactly as PyTorch; ``momentum=None`` averages every
    batch seen so far equally (factor 1/num_batches_tracked). In evaluation
    mode the running statistics replace μ and σ². γ (``weight``, ones) and β
    (``bias``, zeros) exist when ``affine``; the buffers ``running_mean``,
    ``running_var`` and ``num_batches_tracked`` (an int64 count) when
    ``track_running_stats``, else batch statistics are used in both modes.
    The keys match ``torch.nn.BatchNorm2d``, so its state dicts load.

    Examples
    --------
    >>> import xpgrad
    >>> from xpgrad import nn
    >>> bn = nn.BatchNorm2d(3)
    >>> y = bn(xpgrad.randn(4, 3, 5, 5) * 2.0 + 1.0)
    >>> round(float(y.numpy()[:, 0].mean()), 4), round(float(y.numpy()[:, 0].std()), 2)
    (0.0, 1.0)
    >>> list(bn.state_dict())
    ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype=None, backend=None):
        super().__init__()
        where = type(self).__name__
        _check_features(where, num_features=num_features)
        check_float_dtype(dtype, f"nn.{where}")
        check_number(where, "eps", eps, min=0.0, open_min=True)
        if momentum is not None:
            check_number(where, "momentum", momentum, min=0.0, max=1.0)
        self.num_features, self.eps = num_features, float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = _flag(where, "affine", affine)
        self.track_running_stats = _flag(where, "track_running_stats", track_running_stats)
        shape = (num_features,)
        if affine:
            self.weight = Parameter(_init._ones(shape, dtype=dtype, backend=backend))
            self.bias = Parameter(_init.zeros(shape, dtype=dtype, backend=backend))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", _init.zeros(shape, dtype=dtype, backend=backend))
            self.register_buffer("running_var", _init._ones(shape, dtype=dtype, backend=backend))
            count = self.running_mean.backend
            self.register_buffer("num_batches_tracked",
                                 as_tensor(count.xp.zeros((), dtype=count.dtype("int64")), backend=count))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def _check_input(self, x: Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) expects input of shape "
                             f"(batch, {self.num_features}, height, width), got {tuple(x.shape)}")

    def forward(self, x):
        self._check_input(x)
        batch_stats = self.training or not self.track_running_stats
        track = self._track if (self.training and self.track_running_stats) else None
        return _normalize_batch(x, self.running_mean, self.running_var, self.weight, self.bias, batch_stats,
                               self.eps, type(self).__name__, track)

    @run_eagerly
    def _track(self, mean: Tensor, var: Tensor, n: int) -> None:
        """Count the batch and move the running statistics towards its mean and unbiased variance."""
        _running_update(self.running_mean, self.running_var, mean, var, n, self.momentum, self.num_batches_tracked)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class LayerNorm(Module):
    """Layer normalization: each example normalized over its last axes, ``normalized_shape``.

    With μ and σ² the mean and (biased) variance of the trailing
    len(normalized_shape) axes of one example,

        y = γ · (x − μ) / √(σ² + ε) + β,

    where γ (``weight``, ones) and β (``bias``, zeros) have shape
    ``normalized_shape`` and exist when ``elementwise_affine`` (β only with
    ``bias=True``). The statistics never mix examples, so training and
    evaluation compute the same thing and a batch of one is fine.

    Examples
    --------
    >>> import xpgrad
    >>> from xpgrad import nn
    >>> ln = nn.LayerNorm(4)
    >>> y = ln(xpgrad.tensor([[1.0, 2.0, 3.0, 4.0]]))
    >>> [round(v, 3) for v in y.tolist()[0]]
    [-1.342, -0.447, 0.447, 1.342]
    >>> ln
    LayerNorm((4,), eps=1e-05, elementwise_affine=True)
    """

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype=None, backend=None):
        super().__init__()
        self.normalized_shape = _as_shape("LayerNorm", normalized_shape)
        check_float_dtype(dtype, "nn.LayerNorm")
        check_number("LayerNorm", "eps", eps, min=0.0, open_min=True)
        self.eps = float(eps)
        self.elementwise_affine = _flag("LayerNorm", "elementwise_affine", elementwise_affine)
        _flag("LayerNorm", "bias", bias)
        shape = self.normalized_shape
        if elementwise_affine:
            self.weight = Parameter(_init._ones(shape, dtype=dtype, backend=backend))
        else:
            self.register_parameter("weight", None)
        if elementwise_affine and bias:
            self.bias = Parameter(_init.zeros(shape, dtype=dtype, backend=backend))
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
