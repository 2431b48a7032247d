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
from .hyperparameters import check, choice, integer, number, rules

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
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

# Cephes' rational approximations of erf (|z| < 1) and erfc (1 <= z < 8, and z >= 8), accurate to a few units
# in the last place of float64 (checked against math.erf), written on the standard's arithmetic because the
# array API has no erf.
_ERF_T = (9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3,
          7.00332514112805075473e3, 5.55923013010394962768e4)
_ERF_U = (3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3,
          2.26290000613890934246e4, 4.92673942608635921086e4)
_ERFC_P = (2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0,
           4.86371970985681366614e1, 1.96520832956077098242e2, 5.26445194995477358631e2,
           9.34528527171957607540e2, 1.02755188689515710272e3, 5.57535335369399327526e2)
_ERFC_Q = (1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2,
           9.75708501743205489753e2, 1.82390916687909736289e3, 2.24633760818710981792e3,
           1.65666309194161350182e3, 5.57535340817727675546e2)
_ERFC_R = (5.64189583547755073984e-1, 1.27536670759978104416e0, 5.01905042251180477414e0,
           6.16021097993053585195e0, 7.40974269950448939160e0, 2.97886665372100240670e0)
_ERFC_S = (2.26052863220117276590e0, 9.39603524938001434673e0, 1.20489539808096656605e1,
           1.70814450747565897222e1, 9.60896809063285878198e0, 3.36907645100081516050e0)


def _poly(x, coefs, monic=False):
    """Horner: c₀xⁿ + c₁xⁿ⁻¹ + … (with a leading 1·xⁿ⁺¹ when ``monic``)."""
    r = x + coefs[0] if monic else coefs[0] * x + coefs[1]
    for c in coefs[(1 if monic else 2):]:
        r = r * x + c
    return r


def _normal_cdf(xp, x):
    """Φ(x) = ½(1 + erf(x/√2)) = ½ erfc(−x/√2), from erf near 0 and erfc in the tails (no cancellation)."""
    a = xp.abs(x) * _SQRT_HALF
    small = xp.minimum(a, 1.0)  # each branch is evaluated everywhere: keep its argument in its range
    z = small * small
    erf_small = small * _poly(z, _ERF_T) / _poly(z, _ERF_U, monic=True)
    big = xp.clip(a, 1.0, 30.0)  # erfc(30) underflows to 0 even in float64; the cap keeps z⁸ finite in float32
    tail = xp.where(big < 8.0, _poly(big, _ERFC_P) / _poly(big, _ERFC_Q, monic=True),
                    _poly(big, _ERFC_R) / _poly(big, _ERFC_S, monic=True))
    xc = xp.clip(x, -45.0, 45.0)  # e^(−45²/2) is 0 even in float64; the clip keeps x² finite
    erfc_big = xp.exp(-0.5 * xc * xc) * tail  # erfc(|x|/√2) for |x|/√2 >= 1 (−x²/2: one rounding less than −big²)
    inner = xp.where(x >= 0, 0.5 + 0.5 * erf_small, 0.5 - 0.5 * erf_small)
    outer = xp.where(x >= 0, 1.0 - 0.5 * erfc_big, 0.5 * erfc_big)
    return xp.where(a < 1.0, inner, outer)


class GELU(Function):
    """The tanh approximation ½x(1 + tanh(√(2/π)(x + 0.044715x³))) and its derivative."""

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


class ExactGELU(Function):
    """x·Φ(x) with Φ the standard normal CDF; d/dx = Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π)."""

    owns_grads = True  # backward allocates a new array per input
    create_graph_safe = True  # Φ(x) is rebuilt from x under create_graph

    @staticmethod
    def forward(ctx, x):
        cdf = _normal_cdf(ctx.xp, x)
        ctx.save_for_backward(x, cdf)
        return x * cdf

    @staticmethod
    def backward(ctx, g):
        x, cdf = ctx.saved_tensors
        if ctx.create_graph:
            cdf = _normal_cdf(ctx.xp, x)
        a = ctx.xp.minimum(ctx.xp.abs(x), 40.0)  # φ(40) is 0 already: keeps x² from overflowing
        return g * (cdf + x * (_INV_SQRT_2PI * ctx.xp.exp(-0.5 * a * a)))


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
@rules(approximate=choice("none", "tanh"))
def gelu(x, approximate="none"):
    """Gaussian error linear unit x·Φ(x), Φ the standard normal CDF: ½x(1 + erf(x/√2)).

    ``approximate="tanh"`` computes PyTorch's tanh form
    ½x(1 + tanh(√(2/π)(x + 0.044715x³))) instead (within 1e-3 of the exact
    one). The array API has no erf, so the exact form evaluates Cephes'
    rational approximations of erf and erfc (float64 accuracy); its derivative
    is Φ(x) + x·φ(x) with φ the normal density.

    >>> import xpgrad
    >>> round(xpgrad.activations.gelu(xpgrad.tensor([1.0])).item(), 4)
    0.8413
    >>> round(xpgrad.activations.gelu(xpgrad.tensor([1.0]), approximate="tanh").item(), 4)
    0.8412
    """
    check("gelu", gelu.hyperparameter_rules, {"approximate": approximate})
    return GELU.apply(x) if approximate == "tanh" else ExactGELU.apply(x)


@builtin("silu", aliases=("swish",))
def silu(x):
    """Sigmoid linear unit (swish) x·σ(x), with derivative σ(x)(1 + x(1 − σ(x))).

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
