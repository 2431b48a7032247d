"""``BatchNorm1d``: normalize each feature over the batch, then scale and shift."""

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

    ``mean`` and ``var`` arrive as plain arrays. With ``batch_stats=True``
    they are the statistics of this batch, so they depend on x and the
    gradient is

        dx = γ / (N √(σ² + ε)) · (N·dy − Σ dy − x̂ · Σ (dy · x̂));

    otherwise (running statistics, evaluation) they are constants and
    dx = γ · dy / √(σ² + ε). In both cases dγ = Σ dy · x̂ and dβ = Σ dy.
    """

    create_graph_safe = True  # x̂ and 1/σ are rebuilt from x under create_graph

    @staticmethod
    def forward(ctx, x, gamma, beta, mean, var, eps=1e-5, batch_stats=True):
        xp = ctx.xp
        inv_std = 1.0 / xp.sqrt(var + eps)
        xhat = (x - mean) * inv_std
        ctx.save_for_backward(xhat, gamma, inv_std)
        ctx.batch_stats, ctx.eps = batch_stats, eps
        return xhat * gamma + beta

    @staticmethod
    def backward(ctx, g):
        xhat, gamma, inv_std = ctx.saved_tensors
        xp = ctx.xp
        if ctx.create_graph:  # the batch statistics as functions of x, so second derivatives see them
            x, mean, var = ctx.parents[0], ctx.parents[3], ctx.parents[4]
            if ctx.batch_stats:
                mean, var = xp.mean(x, axis=0), xp.var(x, axis=0)
            inv_std = 1.0 / xp.sqrt(var + ctx.eps)
            xhat = (x - mean) * inv_std
        nx, ngamma, nbeta = ctx.needs_input_grad[:3]
        gbeta = xp.sum(g, axis=0) if (nbeta or (nx and ctx.batch_stats)) else None
        ggamma = xp.sum(g * xhat, axis=0) if (ngamma or (nx and ctx.batch_stats)) else None
        gx = None
        if nx:
            if ctx.batch_stats:
                n = g.shape[0]
                gx = (gamma * inv_std / n) * (n * g - gbeta - xhat * ggamma)
            else:
                gx = g * (gamma * inv_std)
        return gx, (ggamma if ngamma else None), (gbeta if nbeta else None), None, None


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
        m = self.momentum
        rm, rv = self.running_mean, self.running_var
        rm.data = (1.0 - m) * rm.data + m * rm.backend.xp.astype(mean.data, rm.data.dtype)
        rv.data = (1.0 - m) * rv.data + (m * n / (n - 1)) * rv.backend.xp.astype(var.data, rv.data.dtype)

    def extra_repr(self):
        return f"{self.num_features}, momentum={self.momentum}, eps={self.eps}"
