"""Activation functions: elementwise (or per-row) nonlinearities ``Tensor -> Tensor``.

The common ones are :class:`~xpgrad.Function` subclasses with a fused
backward (one graph node per call); the rest are built from autograd ops.
All are registered through ``register_activations``, the same hook a
plugin uses. Get one by name with ``xpgrad.activation(name, **hyperparameters)``.
"""

from __future__ import annotations

import math

from .autograd.function import Function
from .autograd.ops import reduction as _R
from .autograd.ops import shape as _S
from .autograd.ops.elementwise import Tanh  # the engine's op, shared rather than redefined
from .hookspecs import Collector
from .hyperparameters import check, integer, number, rules

__all__ = ["elu", "gelu", "identity", "leaky_relu", "log_softmax", "maxout", "relu", "sigmoid", "silu", "softmax",
           "softplus", "tanh"]

builtin = Collector("activation")  # the public functions below join it with @builtin(name)


def _sigmoid(xp, x):
    """σ(x) without overflow: e = exp(−|x|) is at most 1 on both branches."""
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class Sigmoid(Function):
    owns_grads = True  # backward allocates a new array per input

    @staticmethod
    def forward(ctx, x):
        out = _sigmoid(ctx.xp, x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        return g * s * (1.0 - s)


class ReLU(Function):
    owns_grads = True  # backward allocates a new array per input

    @staticmethod
    def forward(ctx, x):
        out = ctx.xp.maximum(x, 0.0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return ctx.backend.masked(g, out > 0)


class LeakyReLU(Function):
    owns_grads = True  # backward allocates a new array per input

    @staticmethod
    def forward(ctx, x, negative_slope=0.01):
        ctx.save_for_backward(x)
        ctx.slope = negative_slope
        return ctx.xp.where(x > 0, x, negative_slope * x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return ctx.xp.where(x > 0, g, ctx.slope * g)


class ELU(Function):
    owns_grads = True  # backward allocates a new array per input

    @staticmethod
    def forward(ctx, x, alpha=1.0):
        xp = ctx.xp
        neg = alpha * xp.expm1(xp.minimum(x, 0.0))  # minimum keeps exp from overflowing on the unused branch
        out = xp.where(x > 0, x, neg)
        ctx.save_for_backward(x, out)  # out, not neg: the output is differentiable under create_graph
        ctx.alpha = alpha
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        return ctx.xp.where(x > 0, g, g * (out + ctx.alpha))  # where x <= 0, out + α = α eˣ


class Softmax(Function):
    owns_grads = True  # backward allocates a new array per input

    @staticmethod
    def forward(ctx, x, axis=-1):
        xp = ctx.xp
        e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
        out = e / xp.sum(e, axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, g):
        (p,) = ctx.saved_tensors
        return p * (g - ctx.xp.sum(g * p, axis=ctx.axis, keepdims=True))


class LogSoftmax(Function):
    owns_grads = True  # backward allocates a new array per input

    @staticmethod
    def forward(ctx, x, axis=-1):
        xp = ctx.xp
        z = x - xp.max(x, axis=axis, keepdims=True)
        out = z - xp.log(xp.sum(xp.exp(z), axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        xp = ctx.xp
        return g - xp.exp(out) * xp.sum(g, axis=ctx.axis, keepdims=True)


_GELU_C = math.sqrt(2.0 / math.pi)


class GELU(Function):
    owns_grads = True  # backward allocates a new array per input
    create_graph_safe = True  # t is rebuilt from x under create_graph

    @staticmethod
    def forward(ctx, x):
        xp = ctx.xp
        t = xp.tanh(_GELU_C * (x + 0.044715 * x * x * x))
        ctx.save_for_backward(x, t)
        return 0.5 * x * (1.0 + t)

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.saved_tensors
        if ctx.create_graph:
            t = ctx.xp.tanh(_GELU_C * (x + 0.044715 * x * x * x))
        dt = (1.0 - t * t) * _GELU_C * (1.0 + 3 * 0.044715 * x * x)
        return g * (0.5 * (1.0 + t) + 0.5 * x * dt)


class SiLU(Function):
    owns_grads = True  # backward allocates a new array per input
    create_graph_safe = True  # s is rebuilt from x under create_graph

    @staticmethod
    def forward(ctx, x):
        s = _sigmoid(ctx.xp, x)
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, g):
        x, s = ctx.saved_tensors
        if ctx.create_graph:
            s = _sigmoid(ctx.xp, x)
        return g * s * (1.0 + x * (1.0 - s))


class Softplus(Function):
    owns_grads = True  # backward allocates a new array per input

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.logaddexp(x, 0.0)  # log(e^0 + e^x) without overflow

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * _sigmoid(ctx.xp, x)


# -- public functions ---------------------------------------------------------------------

@builtin("sigmoid")
def sigmoid(x):
    """Logistic sigmoid σ(x) = 1 / (1 + e^(−x)), squashing to (0, 1); σ' = σ(1 − σ).

    >>> import xpgrad
    >>> xpgrad.activations.sigmoid(xpgrad.tensor([0.0, 1e4, -1e4])).tolist()
    [0.5, 1.0, 0.0]
    """
    return Sigmoid.apply(x)


@builtin("tanh")
def tanh(x):
    """Hyperbolic tangent tanh(x) = (eˣ − e⁻ˣ) / (eˣ + e⁻ˣ), zero-centred in (−1, 1); derivative 1 − tanh².

    >>> import xpgrad
    >>> xpgrad.activations.tanh(xpgrad.tensor([0.0])).tolist()
    [0.0]
    """
    return Tanh.apply(x)


@builtin("relu")
def relu(x):
    """Rectified linear unit max(0, x); its gradient is 1 where x > 0 and 0 elsewhere.

    >>> import xpgrad
    >>> xpgrad.activations.relu(xpgrad.tensor([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """
    return ReLU.apply(x)


@builtin("leaky_relu")
@rules(negative_slope=number())
def leaky_relu(x, negative_slope=0.01):
    """Leaky ReLU: x for x > 0, ``negative_slope``·x otherwise (the lecture's max(0.1x, x) is slope 0.1).

    >>> import xpgrad
    >>> xpgrad.activations.leaky_relu(xpgrad.tensor([-10.0, 2.0])).tolist()
    [-0.1, 2.0]
    """
    check("leaky_relu", leaky_relu.hyperparameter_rules, {"negative_slope": negative_slope})
    return LeakyReLU.apply(x, negative_slope=negative_slope)


@builtin("elu")
@rules(alpha=number(min=0))
def elu(x, alpha=1.0):
    """Exponential linear unit: x for x > 0, α(eˣ − 1) otherwise (smooth, saturating at −α).

    >>> import xpgrad
    >>> round(xpgrad.activations.elu(xpgrad.tensor([-50.0, 1.0])).tolist()[0], 4)
    -1.0
    """
    check("elu", elu.hyperparameter_rules, {"alpha": alpha})
    return ELU.apply(x, alpha=alpha)


@builtin("maxout")
@rules(pieces=integer(min=1))
def maxout(x, pieces=2):
    """Maxout: splits the last axis into consecutive groups of ``pieces`` features and keeps each group's max.

    With features z = (W₁ᵀx + b₁, W₂ᵀx + b₂, ...) laid side by side this is the
    lecture's max(w₁ᵀx + b₁, w₂ᵀx + b₂); the last axis shrinks from F to F / pieces.

    >>> import xpgrad
    >>> xpgrad.activations.maxout(xpgrad.tensor([[1.0, 5.0, -2.0, -3.0]]), pieces=2).tolist()
    [[5.0, -2.0]]
    """
    check("maxout", maxout.hyperparameter_rules, {"pieces": pieces})
    features = x.shape[-1] if x.ndim else 0
    if features % pieces:
        raise ValueError(f"maxout: the last axis ({features} features, shape {x.shape}) must split into groups "
                         f"of pieces={pieces!r}; use a positive int that divides {features}")
    grouped = _S.reshape(x, (*x.shape[:-1], features // pieces, pieces))
    return _R.max(grouped, axis=-1)


@builtin("softmax")
@rules(axis=integer())
def softmax(x, axis=-1):
    """Softmax along ``axis``: eˣⁱ / Σⱼ eˣʲ, computed after subtracting the max so large scores do not overflow.

    >>> import xpgrad
    >>> xpgrad.activations.softmax(xpgrad.tensor([[1e4, 1e4]])).tolist()
    [[0.5, 0.5]]
    """
    check("softmax", softmax.hyperparameter_rules, {"axis": axis})
    return Softmax.apply(x, axis=axis)


@builtin("log_softmax")
@rules(axis=integer())
def log_softmax(x, axis=-1):
    """Log-softmax along ``axis``: xᵢ − log Σⱼ eˣʲ, stable for scores of any size.

    >>> import xpgrad
    >>> round(xpgrad.activations.log_softmax(xpgrad.tensor([0.0, 0.0])).tolist()[0], 4)
    -0.6931
    """
    check("log_softmax", log_softmax.hyperparameter_rules, {"axis": axis})
    return LogSoftmax.apply(x, axis=axis)


@builtin("gelu")
def gelu(x):
    """Gaussian error linear unit, tanh form: ½x(1 + tanh(√(2/π)(x + 0.044715x³))).

    The array API has no erf, so this is the tanh approximation of x·Φ(x).

    >>> import xpgrad
    >>> round(xpgrad.activations.gelu(xpgrad.tensor([1.0])).item(), 4)
    0.8412
    """
    return GELU.apply(x)


@builtin("silu", aliases=("swish",))
def silu(x):
    """Sigmoid linear unit (swish) x·σ(x).

    >>> import xpgrad
    >>> round(xpgrad.activations.silu(xpgrad.tensor([1.0])).item(), 4)
    0.7311
    """
    return SiLU.apply(x)


@builtin("softplus")
def softplus(x):
    """Softplus log(1 + eˣ), a smooth ReLU whose derivative is σ(x).

    >>> import xpgrad
    >>> round(xpgrad.activations.softplus(xpgrad.tensor([0.0])).item(), 4)
    0.6931
    """
    return Softplus.apply(x)


@builtin("identity", aliases=("linear",))
def identity(x):
    """The identity f(x) = x (no nonlinearity: stacked linear layers stay linear).

    >>> import xpgrad
    >>> xpgrad.activations.identity(xpgrad.tensor([-3.0])).tolist()
    [-3.0]
    """
    return x


register_activations = builtin.hookimpl()
