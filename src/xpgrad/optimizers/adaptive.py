"""Optimizers with per-parameter step sizes: AdaGrad, RMSProp, Adam, AdamW."""

from __future__ import annotations

import math

from .base import Optimizer

__all__ = ["Adagrad", "Adam", "AdamW", "RMSProp"]


def _buffer(state, key, p):
    buf = state.get(key)
    if buf is None:
        buf = state[key] = p._backend.xp.zeros_like(p.data)
    return buf


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

    def update(self, p, g, state, group):
        s = _buffer(state, "sum_squares", p)
        s += g * g
        p.data -= group["lr"] * g / (p._backend.xp.sqrt(s) + group["eps"])


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

    def update(self, p, g, state, group):
        a = group["alpha"]
        s = _buffer(state, "square_avg", p)
        s *= a
        s += (1.0 - a) * (g * g)
        p.data -= group["lr"] * g / (p._backend.xp.sqrt(s) + group["eps"])


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

    def update(self, p, g, state, group):
        b1, b2 = group["betas"]
        t = state["step"] = state.get("step", 0) + 1
        m = _buffer(state, "exp_avg", p)
        v = _buffer(state, "exp_avg_sq", p)
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * (g * g)
        denom = p._backend.xp.sqrt(v) / math.sqrt(1.0 - b2 ** t) + group["eps"]
        p.data -= (group["lr"] / (1.0 - b1 ** t)) * m / denom


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
