"""Optimizers: update rules that change parameters in place from their gradients.

Every optimizer follows the PyTorch contract (``step()``, ``zero_grad()``,
``param_groups``, ``state_dict()``, ``load_state_dict()``), takes
``weight_decay`` and skips parameters whose ``.grad`` is None. Get one by name
with ``xpgrad.optimizer(name, parameters, **hyperparameters)``; write a new one
by subclassing :class:`Optimizer`.
"""

from __future__ import annotations

from ..hookspecs import hookimpl
from .adaptive import Adagrad, Adam, AdamW, RMSProp
from .base import Optimizer
from .random_search import RandomSearch
from .sgd import SGD, Momentum, Nesterov

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Momentum", "Nesterov", "Optimizer", "RMSProp", "RandomSearch"]

BUILTINS = {
    "sgd": (SGD, ()),
    "momentum": (Momentum, ("sgd_momentum",)),
    "nesterov": (Nesterov, ()),
    "adagrad": (Adagrad, ()),
    "rmsprop": (RMSProp, ()),
    "adam": (Adam, ()),
    "adamw": (AdamW, ()),
    "random_search": (RandomSearch, ()),
}


@hookimpl
def register_optimizers(register):
    """Register the built-in optimizers."""
    for name, (cls, aliases) in BUILTINS.items():
        register(name, cls, aliases=aliases)
