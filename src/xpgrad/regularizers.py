"""Weight penalties ``strength * R(parameters)`` added to the data loss.

Each regularizer is a class: ``L2(strength)`` makes a callable that takes the
tensors to penalize (a tensor, a list of tensors, or anything with a
``parameters()`` method) and returns a scalar tensor. Pass weights only if
biases should stay unpenalized, as the lecture does.
"""

from __future__ import annotations

from .autograd.ops import elementwise as _E
from .autograd.ops import reduction as _R
from .autograd.tensor import Tensor
from .hookspecs import Collector
from .hyperparameters import check, number

__all__ = ["L1", "L2", "ElasticNet", "Regularizer"]

builtin = Collector("regularizer")  # the classes below join it with @builtin(name)


class Regularizer:
    """Base class: subclasses define ``penalty(p) -> scalar Tensor`` for one tensor ``p``.

    Calling the regularizer sums the penalty over all tensors and multiplies by ``strength``.
    ``hyperparameter_rules`` maps each constructor argument to its check
    (:mod:`xpgrad.hyperparameters`): ``strength`` is a finite number >= 0;
    subclasses add their own and call :meth:`check_hyperparameters` before
    storing anything.
    """

    hyperparameter_rules = {"strength": number(min=0)}

    def __init__(self, strength):
        self.check_hyperparameters(strength=strength)
        self.strength = float(strength)

    def check_hyperparameters(self, **values):
        """Raise TypeError/ValueError naming the first of ``values`` that breaks its rule."""
        check(type(self).__name__, type(self).hyperparameter_rules, values)

    def penalty(self, p):  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, parameters):
        params = _as_list(parameters)
        if not params:
            raise ValueError(f"{type(self).__name__}: got no parameters to penalize")
        total = None
        for p in params:
            r = self.penalty(p)
            total = r if total is None else total + r
        return total * self.strength

    def __repr__(self):
        extra = "".join(f", {k}={v!r}" for k, v in vars(self).items() if k != "strength")
        return f"{type(self).__name__}(strength={self.strength!r}{extra})"


def _as_list(parameters):
    if isinstance(parameters, Tensor):
        return [parameters]
    if hasattr(parameters, "parameters") and callable(parameters.parameters):
        parameters = parameters.parameters()
    params = list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"regularizers take xpgrad Tensors, got a {type(p).__name__}")
    return params


@builtin("l2")
class L2(Regularizer):
    """L2 (weight decay) penalty: strength · Σ W², summed over every entry of every tensor.

    Its gradient is 2·strength·W.

    >>> import xpgrad
    >>> xpgrad.regularizers.L2(0.1)([xpgrad.tensor([1.0, -2.0])]).item()
    0.5
    """

    def penalty(self, p):
        return _R.sum(p * p)


@builtin("l1")
class L1(Regularizer):
    """L1 penalty: strength · Σ abs(W), which pushes weights to exactly zero (sparsity).

    >>> import xpgrad
    >>> xpgrad.regularizers.L1(0.1)([xpgrad.tensor([1.0, -2.0])]).item()
    0.3
    """

    def penalty(self, p):
        return _R.sum(_E.abs(p))


@builtin("elastic_net")
class ElasticNet(Regularizer):
    """Elastic net, the lecture's mix of L1 and L2: strength · Σ (β W² + abs(W)).

    >>> import xpgrad
    >>> xpgrad.regularizers.ElasticNet(1.0, beta=0.5)([xpgrad.tensor([2.0])]).item()
    4.0
    """

    hyperparameter_rules = {**Regularizer.hyperparameter_rules, "beta": number(min=0)}

    def __init__(self, strength, beta=1.0):
        self.check_hyperparameters(strength=strength, beta=beta)  # all checked before anything is stored
        super().__init__(strength)
        self.beta = float(beta)

    def penalty(self, p):
        return _R.sum(self.beta * (p * p) + _E.abs(p))


register_regularizers = builtin.hookimpl()
