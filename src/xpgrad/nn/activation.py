"""Activation layers: any activation from the registry, plus shorthands for the common ones."""

from __future__ import annotations

from .module import Module

__all__ = ["ELU", "GELU", "Activation", "LeakyReLU", "ReLU", "SiLU", "Sigmoid", "Tanh"]


class Activation(Module):
    """Apply the registered activation ``name`` elementwise, with hyperparameters ``kw``.

    The function comes from :func:`xpgrad.activation`, so any activation a
    plugin registers works here too. The layer has no parameters.

    Examples
    --------
    >>> import xpgrad
    >>> from xpgrad import nn
    >>> act = nn.Activation("leaky_relu", negative_slope=0.1)
    >>> act
    Activation('leaky_relu', negative_slope=0.1)
    >>> act(xpgrad.tensor([-2.0, 3.0])).tolist()
    [-0.2, 3.0]
    """

    _name: str | None = None  # fixed by the shorthand subclasses

    def __init__(self, name=None, **kw):
        super().__init__()
        from ..registry import activation  # late: the registry loads plugins on first use

        if name is None:
            name = self._name
        if self._name is not None and name != self._name:
            raise TypeError(f"{type(self).__name__} always applies {self._name!r}; use nn.Activation({name!r})")
        if not isinstance(name, str):
            raise TypeError(f"Activation needs the name of a registered activation, got {name!r}")
        self.name, self.kwargs = name, dict(kw)
        self.fn = activation(name, **kw)

    def forward(self, x):
        return self.fn(x)

    def extra_repr(self):
        args = [] if self._name is not None else [repr(self.name)]
        return ", ".join(args + [f"{k}={v!r}" for k, v in self.kwargs.items()])


def is_builtin_relu(m) -> bool:
    """True for ``nn.ReLU()`` or ``nn.Activation("relu")`` bound to the built-in relu, with its own forward.

    A plugin may register its own ``"relu"``, and an instance may have a
    patched ``forward``; layers that fuse with a following ReLU
    (:meth:`xpgrad.nn.Linear.fuse_next`) must not fuse with those.

    >>> from xpgrad import nn
    >>> is_builtin_relu(nn.ReLU()), is_builtin_relu(nn.Tanh())
    (True, False)
    """
    from ..activations import relu

    return (type(m) in (ReLU, Activation) and "forward" not in m.__dict__ and m.__dict__.get("fn") is relu)


class ReLU(Activation):
    """ReLU layer: max(0, x) elementwise (registry name ``"relu"``).

    >>> import xpgrad
    >>> from xpgrad import nn
    >>> nn.ReLU()(xpgrad.tensor([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """

    _name = "relu"


class Tanh(Activation):
    """Tanh layer: tanh(x) elementwise (registry name ``"tanh"``).

    >>> import xpgrad
    >>> from xpgrad import nn
    >>> nn.Tanh()(xpgrad.tensor([0.0])).tolist()
    [0.0]
    """

    _name = "tanh"


class Sigmoid(Activation):
    """Sigmoid layer: 1 / (1 + e⁻ˣ) elementwise (registry name ``"sigmoid"``).

    >>> import xpgrad
    >>> from xpgrad import nn
    >>> nn.Sigmoid()(xpgrad.tensor([0.0])).tolist()
    [0.5]
    """

    _name = "sigmoid"


class LeakyReLU(Activation):
    """Leaky ReLU layer: max(αx, x) with a small slope α for negative inputs (``"leaky_relu"``).

    ``negative_slope`` is α; None keeps the registered default (0.01 for the built-in).

    >>> import xpgrad
    >>> from xpgrad import nn
    >>> nn.LeakyReLU(0.1)
    LeakyReLU(negative_slope=0.1)
    >>> nn.LeakyReLU(negative_slope=0.1)(xpgrad.tensor([-1.0, 2.0])).tolist()
    [-0.1, 2.0]
    """

    _name = "leaky_relu"

    def __init__(self, negative_slope=None):
        super().__init__(**({} if negative_slope is None else {"negative_slope": negative_slope}))


class ELU(Activation):
    """ELU layer: x for x ≥ 0, α(eˣ − 1) below (registry name ``"elu"``).

    ``alpha`` is α; None keeps the registered default (1.0 for the built-in).

    >>> import xpgrad
    >>> from xpgrad import nn
    >>> nn.ELU()(xpgrad.tensor([0.0, 2.0])).tolist()
    [0.0, 2.0]
    """

    _name = "elu"

    def __init__(self, alpha=None):
        super().__init__(**({} if alpha is None else {"alpha": alpha}))


class GELU(Activation):
    """GELU layer: x·Φ(x) elementwise, Φ the standard normal CDF (registry name ``"gelu"``).

    ``approximate="tanh"`` uses ½x(1 + tanh(√(2/π)(x + 0.044715x³))) instead,
    as ``torch.nn.GELU(approximate="tanh")``.

    >>> import xpgrad
    >>> from xpgrad import nn
    >>> nn.GELU(approximate="tanh")
    GELU(approximate='tanh')
    >>> [round(v, 4) for v in nn.GELU()(xpgrad.tensor([-1.0, 1.0])).tolist()]
    [-0.1587, 0.8413]
    """

    _name = "gelu"

    def __init__(self, approximate: str = "none"):
        if not (isinstance(approximate, str) and approximate in ("none", "tanh")):
            raise ValueError(f"GELU: invalid approximate={approximate!r}; approximate must be one of 'none', 'tanh'")
        super().__init__(approximate=approximate)
        self.approximate = approximate

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class SiLU(Activation):
    """SiLU (swish) layer: x·σ(x) elementwise (registry name ``"silu"``).

    >>> import xpgrad
    >>> from xpgrad import nn
    >>> round(nn.SiLU()(xpgrad.tensor([1.0])).item(), 4)
    0.7311
    """

    _name = "silu"
