"""The components, written against xpgrad's public API only."""

from __future__ import annotations

import math

import xpgrad
from xpgrad.activations import softplus
from xpgrad.hyperparameters import check, choice, number, rules
from xpgrad.optimizers import Optimizer
from xpgrad.regularizers import Regularizer

__all__ = ["GroupLasso", "Lion", "huber", "mish", "one_cycle"]


def mish(x):
    """Mish activation: x · tanh(softplus(x)), smooth and slightly negative below zero.

    >>> import xpgrad
    >>> round(mish(xpgrad.tensor([1.0])).item(), 4)
    0.8651
    """
    return x * xpgrad.tanh(softplus(x))


@rules(delta=number(min=0, open_min=True), reduction=choice("mean", "sum", "none"))
def huber(scores, targets, *, delta=1.0, reduction="mean"):
    """Huber loss on d = s − t: ½d² where |d| ≤ δ, δ(|d| − ½δ) beyond, averaged over all elements.

    Quadratic near the target, linear far from it, so outliers pull less than with MSE.

    >>> import xpgrad
    >>> huber(xpgrad.tensor([0.5, 3.0]), [0.0, 0.0]).item()   # (0.125 + 2.5) / 2
    1.3125
    """
    check("huber", huber.hyperparameter_rules, {"delta": delta, "reduction": reduction})
    if not isinstance(targets, xpgrad.Tensor):
        targets = xpgrad.tensor(targets, dtype=scores.dtype, backend=scores.backend)
    if targets.shape != scores.shape:
        raise ValueError(f"huber: targets of shape {targets.shape} do not match scores of shape {scores.shape}")
    a = xpgrad.abs(scores - targets)
    inside = xpgrad.minimum(a, delta)  # the part of |d| up to delta is penalized quadratically
    per = 0.5 * inside * inside + delta * (a - inside)
    if reduction == "none":
        return per
    return xpgrad.mean(per) if reduction == "mean" else xpgrad.sum(per)


huber.targets = "same_shape"  # float targets shaped like the scores (tells xpgrad.testing.check_loss)


class GroupLasso(Regularizer):
    """Group lasso: strength · Σ over rows of ‖W_row‖₂ (a 1-D tensor is one group).

    Drives whole rows (e.g. all weights leaving one input) to zero together.

    >>> import xpgrad
    >>> GroupLasso(1.0)([xpgrad.tensor([[3.0, 4.0], [0.0, 1.0]])]).item()
    6.0
    """

    def penalty(self, p):
        return xpgrad.sum(xpgrad.sqrt(xpgrad.sum(p * p, axis=-1)))


class Lion(Optimizer):
    """Lion (evolved sign momentum), with decoupled weight decay.

        c = β₁m + (1 − β₁)g,   x ← x − lr·(sign(c) + weight_decay·x),   m ← β₂m + (1 − β₂)g

    >>> import xpgrad
    >>> w = xpgrad.tensor([1.0, -1.0], requires_grad=True)
    >>> opt = Lion([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> [round(v, 6) for v in w.tolist()]
    [0.9, -0.9]
    """

    defaults = {"lr": 1e-4, "betas": (0.9, 0.99), "weight_decay": 0.0}  # checked by the shared rules
    state_spec = {"exp_avg": "array"}  # what load_state_dict accepts for each parameter
    decoupled_weight_decay = True

    def update(self, p, g, state, group):
        xp = p.backend.xp  # the raw array-API namespace of p's backend (public API)
        b1, b2 = group["betas"]
        m = state.get("exp_avg")
        if m is None:
            m = xp.zeros_like(p.data)
        direction = xp.sign(b1 * m + (1.0 - b1) * g)
        if group["weight_decay"]:
            p.data *= 1.0 - group["lr"] * group["weight_decay"]
        p.data -= group["lr"] * direction
        # Assign the new buffer to its place: `m *= b2` on the local name would be lost on a
        # backend with immutable arrays (see "Writing an optimizer" in the optimizers guide).
        state["exp_avg"] = b2 * m + (1.0 - b2) * g


@rules(pct_start=number(min=0, max=1, open_min=True, open_max=True), div_factor=number(min=0, open_min=True),
       final_div_factor=number(min=0, open_min=True))  # total_steps: the rule every schedule shares
def one_cycle(step, lr, total_steps, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
    """One-cycle policy: cosine rise from lr/div_factor to lr over pct_start·T steps, then cosine fall.

    The fall ends at lr/(div_factor·final_div_factor) at step T and stays there.

    >>> [round(one_cycle(t, 1.0, total_steps=10), 4) for t in (0, 3, 10)]
    [0.04, 1.0, 0.0]
    """
    start = lr / div_factor
    end = start / final_div_factor
    up = max(1, int(round(pct_start * total_steps)))
    if step < up:
        return lr + (start - lr) * 0.5 * (1.0 + math.cos(math.pi * step / up))
    if step >= total_steps:
        return end
    frac = (step - up) / max(1, total_steps - up)
    return end + (lr - end) * 0.5 * (1.0 + math.cos(math.pi * frac))
