"""Optimizers: update rules that change parameters in place from their gradients.

Every optimizer follows the PyTorch contract (``step()``, ``zero_grad()``,
``param_groups``, ``state_dict()``, ``load_state_dict()``), takes
``weight_decay`` and skips parameters whose ``.grad`` is None. Get one by name
with ``xpgrad.optimizer(name, parameters, **hyperparameters)``; write a new one
by subclassing :class:`Optimizer`.
"""

from __future__ import annotations

from .adaptive import Adagrad, Adam, AdamW, RMSProp
from .base import Optimizer, builtin
from .random_search import RandomSearch
from .sgd import SGD, Momentum, Nesterov

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Momentum", "Nesterov", "Optimizer", "RMSProp", "RandomSearch"]

register_optimizers = builtin.hookimpl()  # every class decorated with @builtin(name) in this package
