"""Plain gradient descent and its momentum variants (the lecture's update rules)."""

from __future__ import annotations

from ..hyperparameters import flag
from .base import Optimizer, builtin

__all__ = ["SGD", "Momentum", "Nesterov"]


@builtin("sgd")
class SGD(Optimizer):
    """Stochastic gradient descent: x ← x − lr·g, with g = ∇f(x) + weight_decay·x.

    Defaults follow ``torch.optim.SGD``: ``lr=1e-3``, ``weight_decay=0``.

    >>> import xpgrad
    >>> w = xpgrad.tensor([1.0], requires_grad=True)
    >>> opt = xpgrad.optimizers.SGD([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> round(w.item(), 6)
    0.8
    """

    defaults = {"lr": 1e-3, "weight_decay": 0.0}
    state_spec: dict = {}

    def update(self, p, g, state, group):
        if not p.backend.sgd_update_(p.data, g, group["lr"]):  # one fused kernel on a device backend
            p.data -= group["lr"] * g


@builtin("momentum", aliases=("sgd_momentum",))
class Momentum(Optimizer):
    """SGD with momentum: v ← ρ·v + g, then x ← x − lr·v (ρ = ``momentum``, v starts at 0).

    The velocity is a running sum of past gradients; ρ acts as friction.
    ``alternate=True`` uses the lecture's other form, v ← ρ·v − lr·g and
    x ← x + v, which takes exactly the same steps while lr is constant (its v
    is the first form's v times −lr); under a schedule the alternate form lets
    old velocity keep the learning rate it was made with.

    >>> import xpgrad
    >>> w = xpgrad.tensor([1.0], requires_grad=True)
    >>> opt = xpgrad.optimizers.Momentum([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.zero_grad(); (w * w).sum().backward(); opt.step()
    >>> round(w.item(), 6)   # 1 − 0.1·2 = 0.8, then v = 0.9·2 + 1.6 = 3.4
    0.46
    """

    defaults = {"lr": 1e-3, "momentum": 0.9, "weight_decay": 0.0, "alternate": False}
    hyperparameter_rules = {"alternate": flag()}
    state_spec = {"velocity": "array"}

    def update(self, p, g, state, group):
        if "velocity" not in state:
            state["velocity"] = p.backend.xp.zeros_like(p.data)
        if not group["alternate"] and p.backend.momentum_update_(p.data, g, state["velocity"], group["lr"],
                                                                   group["momentum"]):
            return  # one fused kernel on a device backend
        # Augmented assignment on the dict item itself, never on a local alias (module docstring of base).
        state["velocity"] *= group["momentum"]
        if group["alternate"]:
            state["velocity"] -= group["lr"] * g
            p.data += state["velocity"]
        else:
            state["velocity"] += g
            p.data -= group["lr"] * state["velocity"]


@builtin("nesterov")
class Nesterov(Optimizer):
    """Nesterov momentum in the lecture's look-ahead form.

    The gradient is taken at the look-ahead point x̃ = x + ρv, which is what
    the stored parameters hold:

        v' = ρ·v − lr·∇f(x̃),    x̃ ← x̃ − ρ·v + (1 + ρ)·v'

    With constant lr the steps equal ``torch.optim.SGD(nesterov=True)``.

    >>> import xpgrad
    >>> w = xpgrad.tensor([1.0], requires_grad=True)
    >>> opt = xpgrad.optimizers.Nesterov([w], lr=0.1, momentum=0.5)
    >>> (w * w).sum().backward(); opt.step()
    >>> round(w.item(), 6)   # v' = −0.2, x̃ = 1 + 1.5·(−0.2)
    0.7
    """

    defaults = {"lr": 1e-3, "momentum": 0.9, "weight_decay": 0.0}
    state_spec = {"velocity": "array"}

    def update(self, p, g, state, group):
        rho = group["momentum"]
        if "velocity" not in state:
            state["velocity"] = p.backend.xp.zeros_like(p.data)
        old = rho * state["velocity"]  # ρ·v, before v changes
        # v' = ρ·v − lr·g, updated in place through the dict item (so a flat state keeps its views)
        state["velocity"] *= rho
        state["velocity"] -= group["lr"] * g
        p.data += (1.0 + rho) * state["velocity"] - old
