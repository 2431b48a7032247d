"""The lecture's baseline: try random weights, keep the best."""

from __future__ import annotations

from ..autograd.function import no_grad
from ..hyperparameters import flag, integer
from .base import Optimizer, builtin

__all__ = ["RandomSearch"]


@builtin("random_search")
class RandomSearch(Optimizer):
    """Random search: each step samples ``samples`` candidate weight sets and keeps the best seen so far.

    A candidate is W = lr·N(0, 1) (fresh weights of scale ``lr``), or, with
    ``local=True``, W = W_best + lr·N(0, 1) (a random step from the best
    point). ``step(closure)`` needs a closure that returns the loss for the
    current weights; it is called without recording a graph. ``weight_decay``
    adds ½·weight_decay·Σ W² to the compared loss. After each step the
    parameters hold the best weights and the best loss is returned.

    >>> import xpgrad
    >>> xpgrad.manual_seed(0)
    >>> w = xpgrad.tensor([3.0], requires_grad=True)
    >>> opt = xpgrad.optimizers.RandomSearch([w], lr=1.0, samples=20, local=True)
    >>> best = opt.step(lambda: ((w - 1.0) ** 2).sum())
    >>> best < 4.0
    True
    """

    defaults = {"lr": 1e-3, "samples": 1, "local": False, "weight_decay": 0.0}
    needs_closure = True
    flatten = False  # each parameter draws its own noise and is replaced, not updated in place
    hyperparameter_rules = {"samples": integer(min=1), "local": flag()}
    state_spec = {"best": "array", "best_loss": "number"}

    def _loss(self, closure):
        value = float(closure())
        for group in self.param_groups:
            wd = group["weight_decay"]
            if wd:
                xp = group["params"][0].backend.xp
                value += 0.5 * wd * sum(float(xp.sum(p.data * p.data)) for p in group["params"])
        return value

    def step(self, closure=None):
        if closure is None:
            raise ValueError("RandomSearch.step needs a closure that returns the loss, e.g. "
                             "opt.step(lambda: loss_fn(model(x), y))")
        params = [(p, g) for g in self.param_groups for p in g["params"]]
        with no_grad():
            first = self.state.get(id(params[0][0]))
            if first is None or "best_loss" not in first:
                self._remember(params, self._loss(closure))
            best = self.state[id(params[0][0])]["best_loss"]
            for _ in range(max(g["samples"] for g in self.param_groups)):
                for p, group in params:
                    noise = group["lr"] * p.backend.random_normal(p.shape, p.data.dtype)
                    p.data = self.state[id(p)]["best"] + noise if group["local"] else noise
                loss = self._loss(closure)
                if loss < best:
                    best = loss
                    self._remember(params, loss)
            for p, _ in params:
                p.data = p.backend.xp.asarray(self.state[id(p)]["best"], copy=True)
                p.bump_version()
        return best

    def _remember(self, params, loss):
        for p, _ in params:
            st = self.state.setdefault(id(p), {})
            st["best"] = p.backend.xp.asarray(p.data, copy=True)
            st["best_loss"] = loss
