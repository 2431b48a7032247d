"""Optimizers with per-parameter step sizes: AdaGrad, RMSProp, Adam, AdamW."""

from __future__ import annotations

import math

from .base import Optimizer, builtin

__all__ = ["Adagrad", "Adam", "AdamW", "RMSProp"]


def _zeros(state, p, *keys):
    """Create the buffers ``keys`` (zeros like ``p``) on the first step.

    Callers then update ``state[key]`` itself, never a local alias of it: see
    the rule in :mod:`xpgrad.optimizers.base`.
    """
    if keys[0] not in state:
        for key in keys:
            state[key] = p.backend.xp.zeros_like(p.data)


def _times(fresh, c):
    """``c·fresh`` for an array the caller just made: its own memory is reused where the backend allows.

    The same bits as ``c * fresh`` (one multiplication either way); on an
    array without in-place operators ``*=`` rebinds the local name, which is
    fine for a temporary (never do it to a state buffer: see the rule in
    :mod:`xpgrad.optimizers.base`).
    """
    fresh *= c
    return fresh


def _scaled(xp, fresh, square, c, eps):
    """``fresh / (√square / c + eps)``, reusing the memory of ``fresh`` and of the denominator it makes.

    Bit for bit the value of the plain expression (the same operations in the
    same order); only fewer temporary arrays (each as large as all the
    parameters of a flat buffer).
    """
    denom = xp.sqrt(square)
    if c != 1.0:
        denom /= c
    denom += eps
    fresh /= denom
    return fresh


@builtin("adagrad")
class Adagrad(Optimizer):
    """AdaGrad: s ← s + g², x ← x − lr·g / (√s + eps).

    Each coordinate's step shrinks with the sum of its squared gradients.
    Defaults follow ``torch.optim.Adagrad``: ``lr=1e-2``, ``eps=1e-10``.

    >>> import xpgrad
    >>> w = xpgrad.tensor([1.0], requires_grad=True)
    >>> opt = xpgrad.optimizers.Adagrad([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> round(w.item(), 6)   # 1 − 0.1·2/2
    0.9
    """

    defaults = {"lr": 1e-2, "eps": 1e-10, "weight_decay": 0.0}
    state_spec = {"sum_squares": "array"}

    def update(self, p, g, state, group):
        _zeros(state, p, "sum_squares")
        state["sum_squares"] += g * g
        p.data -= _scaled(p.backend.xp, group["lr"] * g, state["sum_squares"], 1.0, group["eps"])


@builtin("rmsprop")
class RMSProp(Optimizer):
    """RMSProp: s ← α·s + (1 − α)·g², x ← x − lr·g / (√s + eps), α = ``alpha`` (the decay rate).

    A leaky AdaGrad: old squared gradients fade, so steps do not vanish.
    Defaults follow ``torch.optim.RMSprop``: ``lr=1e-2``, ``alpha=0.99``, ``eps=1e-8``.

    >>> import xpgrad
    >>> w = xpgrad.tensor([1.0], requires_grad=True)
    >>> opt = xpgrad.optimizers.RMSProp([w], lr=0.01, alpha=0.75)
    >>> (w * w).sum().backward(); opt.step()
    >>> round(w.item(), 6)   # s = 0.25·4 = 1, step 0.01·2/1
    0.98
    """

    defaults = {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0}
    state_spec = {"square_avg": "array"}

    def update(self, p, g, state, group):
        a = group["alpha"]
        _zeros(state, p, "square_avg")
        state["square_avg"] *= a
        state["square_avg"] += _times(g * g, 1.0 - a)
        p.data -= _scaled(p.backend.xp, group["lr"] * g, state["square_avg"], 1.0, group["eps"])


@builtin("adam")
class Adam(Optimizer):
    """Adam: running moments with bias correction (β₁, β₂ = ``betas``, t counts steps from 1).

        m ← β₁m + (1 − β₁)g,   v ← β₂v + (1 − β₂)g²
        x ← x − lr · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + eps)

    Defaults follow ``torch.optim.Adam``: ``lr=1e-3``, ``betas=(0.9, 0.999)``, ``eps=1e-8``.

    >>> import xpgrad
    >>> w = xpgrad.tensor([1.0], requires_grad=True)
    >>> opt = xpgrad.optimizers.Adam([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> round(w.item(), 6)   # the first step is lr·sign(g)
    0.9
    """

    defaults = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}
    state_spec = {"step": "count", "exp_avg": "array", "exp_avg_sq": "array"}

    def update(self, p, g, state, group):
        b1, b2 = group["betas"]
        t = state["step"] = state.get("step", 0) + 1
        _zeros(state, p, "exp_avg", "exp_avg_sq")
        if p.backend.adam_update_(p.data, g, state["exp_avg"], state["exp_avg_sq"],
                                  step_size=group["lr"] / (1.0 - b1 ** t), b1=b1, b2=b2,
                                  bias2_sqrt=math.sqrt(1.0 - b2 ** t), eps=group["eps"]):
            return  # one fused kernel on a device backend
        state["exp_avg"] *= b1
        state["exp_avg"] += (1.0 - b1) * g
        state["exp_avg_sq"] *= b2
        state["exp_avg_sq"] += _times(g * g, 1.0 - b2)
        step = (group["lr"] / (1.0 - b1 ** t)) * state["exp_avg"]
        p.data -= _scaled(p.backend.xp, step, state["exp_avg_sq"], math.sqrt(1.0 - b2 ** t), group["eps"])


@builtin("adamw")
class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay, x ← x − lr·weight_decay·x before the Adam step.

    The decay does not pass through the moment estimates (unlike Adam's
    ``weight_decay``, which is added to the gradient). Defaults follow
    ``torch.optim.AdamW``: ``lr=1e-3``, ``betas=(0.9, 0.999)``, ``eps=1e-8``, ``weight_decay=1e-2``.

    >>> import xpgrad
    >>> w = xpgrad.tensor([1.0], requires_grad=True)
    >>> opt = xpgrad.optimizers.AdamW([w], lr=0.1, weight_decay=0.5)
    >>> (w * w).sum().backward(); opt.step()
    >>> round(w.item(), 6)   # 1·(1 − 0.05) − 0.1
    0.85
    """

    defaults = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2}
    decoupled_weight_decay = True

    def update(self, p, g, state, group):
        if group["weight_decay"]:
            p.data *= 1.0 - group["lr"] * group["weight_decay"]
        super().update(p, g, state, group)
