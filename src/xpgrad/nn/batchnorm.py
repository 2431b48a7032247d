"""Batch normalization: the one normalize-scale-shift node, and ``BatchNorm1d`` (``BatchNorm2d`` builds on it)."""

from __future__ import annotations

from ..autograd.function import Function, no_grad
from ..autograd.ops.reduction import mean as xpgrad_mean
from ..autograd.ops.statistics import var as xpgrad_var
from ..autograd.tracing import run_eagerly
from ..hyperparameters import check_number
from . import init as _init
from .linear import _check_features
from .module import Module
from .parameter import Parameter, check_float_dtype

__all__ = ["BatchNorm1d"]


class _BatchNorm(Function):
    """y = γ · (x − μ) / √(σ² + ε) + β in one node, with the closed-form backward.

    ``mean`` and ``var`` arrive as plain arrays that broadcast against x
    (γ and β too, or None for no scale or shift); ``shape``, when given, is
    the broadcast shape all four are first reshaped to (``(1, C, 1, 1)`` for
    per-channel statistics of images). ``axes`` are the axes of x the
    statistics reduce over. With ``batch_stats=True`` μ and σ² are the
    statistics of x itself, so they depend on x and, with d = γ·dy, the
    gradient is

        dx = (d − mean(d) − x̂ · mean(d · x̂)) / √(σ² + ε)   (means over ``axes``);

    otherwise (running statistics, evaluation) they are constants and
    dx = d / √(σ² + ε). In both cases dγ = Σ dy · x̂ and dβ = Σ dy, summed over
    the axes along which γ and β are broadcast. Batch norm over (N, C) is
    axes (0,); layer norm over the last k axes passes those axes and γ, β of
    the normalized shape.
    """

    create_graph_safe = True  # x̂ and 1/σ are rebuilt from x under create_graph

    @staticmethod
    def forward(ctx, x, gamma, beta, mean, var, eps=1e-5, batch_stats=True, axes=(0,), shape=None):
        xp = ctx.xp
        if shape is not None:
            mean, var = xp.reshape(mean, shape), xp.reshape(var, shape)
        inv_std = 1.0 / xp.sqrt(var + eps)
        xhat = (x - mean) * inv_std
        out = xhat
        g_b = None
        if gamma is not None:
            g_b = gamma if shape is None else xp.reshape(gamma, shape)
            out = out * g_b
        if beta is not None:
            out = out + (beta if shape is None else xp.reshape(beta, shape))
        ctx.save_for_backward(xhat, g_b, inv_std)
        ctx.batch_stats, ctx.axes, ctx.eps, ctx.shape = batch_stats, axes, eps, shape
        # γ and β are summed over the axes they are broadcast along: the statistics' axes for per-channel
        # parameters, the leading (batch) axes for parameters of the trailing shape (layer norm)
        ctx.param_axes = axes if shape is not None else tuple(range(x.ndim - (0 if gamma is None else gamma.ndim)))
        ctx.param_shape = None if gamma is None else gamma.shape
        ctx.beta_axes = None if beta is None else (axes if shape is not None else tuple(range(x.ndim - beta.ndim)))
        return out

    @staticmethod
    def backward(ctx, g):
        xhat, g_b, inv_std = ctx.saved_tensors
        xp = ctx.xp
        if ctx.create_graph:  # x̂, 1/σ and γ rebuilt from the inputs, so second derivatives see them
            x, gamma, mean, var = ctx.parents[0], ctx.parents[1], ctx.parents[3], ctx.parents[4]
            if ctx.batch_stats:
                mean, var = xp.mean(x, axis=ctx.axes, keepdims=True), xp.var(x, axis=ctx.axes, keepdims=True)
            elif ctx.shape is not None:
                mean, var = xp.reshape(mean, ctx.shape), xp.reshape(var, ctx.shape)
            inv_std = 1.0 / xp.sqrt(var + ctx.eps)
            xhat = (x - mean) * inv_std
            if gamma is not None:
                g_b = gamma if ctx.shape is None else xp.reshape(gamma, ctx.shape)
        nx, ngamma, nbeta = ctx.needs_input_grad[:3]
        gx = ggamma = gbeta = None
        if nx:
            d = g if g_b is None else g * g_b
            if ctx.batch_stats:
                axes = ctx.axes
                gx = inv_std * (d - xp.mean(d, axis=axes, keepdims=True)
                                - xhat * xp.mean(d * xhat, axis=axes, keepdims=True))
            else:
                gx = d * inv_std
        if ngamma:
            ggamma = xp.reshape(xp.sum(g * xhat, axis=ctx.param_axes), ctx.param_shape)
        if nbeta:
            gbeta = xp.sum(g, axis=ctx.beta_axes)
        return gx, ggamma, gbeta, None, None

def _running_update(running_mean, running_var, mean, var, n: int, momentum: float | None,
                   num_batches_tracked=None) -> None:
    """r ← (1 − m)·r + m·s for the running mean and the unbiased running variance (n/(n − 1)·σ²), in place.

    ``num_batches_tracked`` (a 0-d integer tensor, or None) counts the
    updates; with ``momentum=None`` the factor m is 1/count, a cumulative
    average of every batch seen so far, as in PyTorch.
    """
    if num_batches_tracked is not None:
        num_batches_tracked.data = num_batches_tracked.data + 1
    if momentum is None:
        if num_batches_tracked is None:
            raise ValueError("momentum=None (a cumulative average) needs num_batches_tracked, the count of batches")
        m = 1.0 / int(num_batches_tracked.data)
    else:
        m = momentum
    xp = running_mean.backend.xp
    running_mean.data = (1.0 - m) * running_mean.data + m * xp.astype(mean.data, running_mean.data.dtype)
    running_var.data = (1.0 - m) * running_var.data + (m * n / (n - 1)) * xp.astype(var.data, running_var.data.dtype)


class BatchNorm1d(Module):
    """Batch normalization of the features of a (batch, features) input.

    In training mode each feature j is normalized with the mean μⱼ and
    (biased) variance σⱼ² of the current batch,

        yᵢⱼ = γⱼ · (xᵢⱼ − μⱼ) / √(σⱼ² + ε) + βⱼ,

    and the running statistics (buffers ``running_mean``, ``running_var``)
    move towards the batch ones: r ← (1 − momentum) · r + momentum · s,
    using the unbiased variance for ``running_var``. In evaluation mode the
    running statistics replace μ and σ², so the layer is a fixed affine map.
    γ (``weight``, initialized to ones) and β (``bias``, zeros) are learned;
    the names follow PyTorch so state dicts line up.

    Parameters
    ----------
    num_features : int
        Number of features (columns) of the input.
    momentum : float
        Weight of the newest batch in the running statistics (default 0.1).
    eps : float
        Added to the variance to avoid dividing by zero (default 1e-5).
    dtype, backend : optional
        Where and how to create the parameters and buffers (a floating
        dtype: an integer or bool one raises ``TypeError``).

    Examples
    --------
    >>> import xpgrad
    >>> from xpgrad import nn
    >>> bn = nn.BatchNorm1d(2)
    >>> y = bn(xpgrad.tensor([[1.0, 10.0], [3.0, 30.0]]))
    >>> [round(v, 3) for v in y.numpy()[:, 1].tolist()]
    [-1.0, 1.0]
    >>> [round(v, 3) for v in bn.running_mean.tolist()]
    [0.2, 2.0]
    """

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5, dtype=None, backend=None):
        super().__init__()
        _check_features("BatchNorm1d", num_features=num_features)
        check_float_dtype(dtype, "nn.BatchNorm1d")
        check_number("BatchNorm1d", "momentum", momentum, min=0.0, max=1.0)
        check_number("BatchNorm1d", "eps", eps, min=0.0, open_min=True)
        self.num_features, self.momentum, self.eps = num_features, float(momentum), float(eps)
        zeros = _init.zeros((num_features,), dtype=dtype, backend=backend)
        self.weight = Parameter(_init._ones((num_features,), dtype=dtype, backend=backend))
        self.bias = Parameter(_init.zeros((num_features,), dtype=dtype, backend=backend))
        self.register_buffer("running_mean", zeros)
        self.register_buffer("running_var", _init._ones((num_features,), dtype=dtype, backend=backend))

    @property
    def gamma(self) -> Parameter:
        """The learned scale γ (the ``weight`` parameter)."""
        return self.weight

    @property
    def beta(self) -> Parameter:
        """The learned shift β (the ``bias`` parameter)."""
        return self.bias

    def forward(self, x):
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm1d({self.num_features}) expects input of shape (batch, {self.num_features}), "
                             f"got {x.shape}")
        if not self.training:
            return _BatchNorm.apply(x, self.weight, self.bias, self.running_mean, self.running_var,
                                    eps=self.eps, batch_stats=False)
        n = x.shape[0]
        if n < 2:
            raise ValueError(f"BatchNorm1d needs more than one example per batch in training mode, got input of "
                             f"shape {x.shape}; use a larger batch or call model.eval()")
        # The batch statistics are tensors outside the graph (the node differentiates through them in
        # closed form), computed by recorded ops so that a compiled step recomputes them every call.
        with no_grad():
            mean = xpgrad_mean(x, axis=0)
            var = xpgrad_var(x, axis=0)
        self._track(mean, var, n)
        return _BatchNorm.apply(x, self.weight, self.bias, mean, var, eps=self.eps, batch_stats=True)

    @run_eagerly
    def _track(self, mean, var, n: int) -> None:
        """r ← (1 − momentum)·r + momentum·s for the running mean and the unbiased running variance."""
        _running_update(self.running_mean, self.running_var, mean, var, n, self.momentum)

    def extra_repr(self):
        return f"{self.num_features}, momentum={self.momentum}, eps={self.eps}"
