"""Functional normalization, embedding and the GELU/SiLU activations, with PyTorch's names and signatures."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ...activations import gelu as _gelu
from ...activations import silu as _silu
from ...autograd.function import no_grad
from ...autograd.ops.reduction import mean as xpgrad_mean
from ...autograd.ops.statistics import var as xpgrad_var
from ...autograd.tensor import Tensor
from ...autograd.tracing import run_eagerly
from ...hyperparameters import check_number
from ..batchnorm import _BatchNorm, _running_update
from ..embedding import embedding

__all__ = ["batch_norm", "embedding", "gelu", "layer_norm", "silu"]


def _per_channel(where: str, name: str, t: Any, c: int) -> None:
    """``t`` must be None or a 1-D tensor of the C channels."""
    if t is None:
        return
    if not isinstance(t, Tensor):
        raise TypeError(f"{where}: {name} must be an xpgrad Tensor of shape ({c},) or None, got {type(t).__name__}")
    if tuple(t.shape) != (c,):
        raise ValueError(f"{where}: {name} must have shape ({c},), one entry per channel of the input "
                         f"(axis 1 has {c}), got {tuple(t.shape)}")


def _normalize_batch(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None,
                    bias: Tensor | None, batch_stats: bool, eps: float, where: str,
                    track: Callable[[Tensor, Tensor, int], None] | None = None) -> Tensor:
    """Batch norm of (N, C, ...) over every axis but 1; shared by :func:`batch_norm` and the BatchNorm layers.

    With ``batch_stats`` the statistics are this batch's (and ``track(mean,
    var, n)`` is called to update running ones); otherwise the running ones.
    """
    c = x.shape[1]
    axes = (0, *range(2, x.ndim))
    shape = (1, c) + (1,) * (x.ndim - 2)
    if not batch_stats:
        return _BatchNorm.apply(x, weight, bias, running_mean, running_var, eps=eps, batch_stats=False,
                                axes=axes, shape=shape)
    n = math.prod(x.shape[a] for a in axes)
    if n < 2:
        raise ValueError(f"{where} needs more than one value per channel to compute batch statistics, got input "
                         f"of shape {tuple(x.shape)}; use a larger batch or call model.eval()")
    # Outside the graph: the node differentiates through the statistics in closed form. Recorded ops, so a
    # compiled step recomputes them at every call.
    with no_grad():
        mean = xpgrad_mean(x, axis=axes)
        var = xpgrad_var(x, axis=axes)
    if track is not None:
        track(mean, var, n)
    return _BatchNorm.apply(x, weight, bias, mean, var, eps=eps, batch_stats=True, axes=axes, shape=shape)


@run_eagerly
def _track(running_mean: Tensor, running_var: Tensor, mean: Tensor, var: Tensor, n: int, momentum: float) -> None:
    _running_update(running_mean, running_var, mean, var, n, momentum)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Batch normalization of an (N, C, ...) input per channel c (axis 1):

        y = weight_c · (x − μ_c) / √(σ²_c + eps) + bias_c,

    with μ_c, σ²_c the mean and biased variance over every axis but 1 when
    ``training`` (then ``running_mean``/``running_var``, if given, move in
    place towards them: r ← (1 − momentum)·r + momentum·s, with the unbiased
    variance for ``running_var``), else the running statistics. ``weight``
    and ``bias`` (shape (C,)) are optional, as in ``torch.nn.functional.batch_norm``.

    >>> import xpgrad
    >>> x = xpgrad.tensor([[1.0, 10.0], [3.0, 30.0]])
    >>> rm, rv = xpgrad.zeros(2), xpgrad.ones(2)
    >>> [round(v, 3) for v in batch_norm(x, rm, rv, training=True).numpy()[:, 1].tolist()]
    [-1.0, 1.0]
    >>> [round(v, 3) for v in rm.tolist()]
    [0.2, 2.0]
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"batch_norm: input must be an xpgrad Tensor, got {type(input).__name__}")
    if input.ndim < 2:
        raise ValueError(f"batch_norm: input must have shape (N, C, ...) with at least 2 axes, got "
                         f"{tuple(input.shape)}")
    check_number("batch_norm", "eps", eps, min=0.0, open_min=True)
    check_number("batch_norm", "momentum", momentum, min=0.0, max=1.0)
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        _per_channel("batch_norm", name, t, c)
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: give both running_mean and running_var, or neither (None)")
    if not training and running_mean is None:
        raise ValueError("batch_norm: evaluation (training=False) normalizes with running_mean and running_var, "
                         "got None; pass them or training=True")
    track = None
    if training and running_mean is not None:
        def track(mean, var, n, rm=running_mean, rv=running_var, m=float(momentum)):
            _track(rm, rv, mean, var, n, m)
    return _normalize_batch(input, running_mean, running_var, weight, bias, training, float(eps), "batch_norm",
                           track)


def _normalized_axes(where: str, x: Tensor, normalized_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The trailing axes of ``x`` that must have ``normalized_shape``, checked."""
    k = len(normalized_shape)
    if x.ndim < k or tuple(x.shape[x.ndim - k:]) != normalized_shape:
        raise ValueError(f"{where}: the last {k} axes of the input must have normalized_shape={normalized_shape}, "
                         f"got input of shape {tuple(x.shape)}")
    return tuple(range(x.ndim - k, x.ndim))


def _as_shape(where: str, normalized_shape: Any) -> tuple[int, ...]:
    """An int or a sequence of positive ints as a tuple, else a ValueError naming the value."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    try:
        shape = tuple(shape)
    except TypeError:
        shape = None
    if (not shape or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape)):
        raise ValueError(f"{where}: normalized_shape must be a positive int or a non-empty sequence of positive "
                         f"ints, got {normalized_shape!r}")
    return shape


def layer_norm(input: Tensor, normalized_shape: int | tuple[int, ...], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Layer normalization over the trailing ``normalized_shape`` axes of each example:

        y = weight · (x − μ) / √(σ² + eps) + bias,

    with μ and σ² (biased) the mean and variance of each example's last
    len(normalized_shape) axes; ``weight`` and ``bias`` (optional) have shape
    ``normalized_shape``. No running statistics: training and evaluation agree.

    >>> import xpgrad
    >>> y = layer_norm(xpgrad.tensor([[1.0, 3.0], [10.0, 30.0]]), 2)
    >>> [[round(v, 3) for v in row] for row in y.tolist()]
    [[-1.0, 1.0], [-1.0, 1.0]]
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"layer_norm: input must be an xpgrad Tensor, got {type(input).__name__}")
    shape = _as_shape("layer_norm", normalized_shape)
    check_number("layer_norm", "eps", eps, min=0.0, open_min=True)
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (not isinstance(t, Tensor) or tuple(t.shape) != shape):
            raise ValueError(f"layer_norm: {name} must have normalized_shape={shape}, got "
                             f"{tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__}")
    axes = _normalized_axes("layer_norm", input, shape)
    with no_grad():  # the node differentiates through the statistics in closed form
        mean = xpgrad_mean(input, axis=axes, keepdims=True)
        var = xpgrad_var(input, axis=axes, keepdims=True)
    return _BatchNorm.apply(input, weight, bias, mean, var, eps=float(eps), batch_stats=True, axes=axes)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """GELU x·Φ(x) elementwise (``approximate="tanh"``: ½x(1 + tanh(√(2/π)(x + 0.044715x³)))).

    The registered activation ``"gelu"`` (:func:`xpgrad.activations.gelu`).

    >>> import xpgrad
    >>> [round(v, 4) for v in gelu(xpgrad.tensor([-1.0, 0.0, 1.0])).tolist()]
    [-0.1587, 0.0, 0.8413]
    """
    return _gelu(input, approximate=approximate)


def silu(input: Tensor) -> Tensor:
    """SiLU (swish) x·σ(x) = x / (1 + e⁻ˣ) elementwise; the registered activation ``"silu"``.

    >>> import xpgrad
    >>> [round(v, 4) for v in silu(xpgrad.tensor([-1.0, 0.0, 1.0])).tolist()]
    [-0.2689, 0.0, 0.7311]
    """
    return _silu(input)
