"""The ``Optimizer`` base class: parameter groups, validation, ``step``, ``zero_grad`` and state.

The rule for changing arrays
----------------------------
An optimizer changes a parameter or a buffer by *assigning to the place that
holds it*: ``p.data = ...`` (or ``p.set_(...)``) and ``state["v"] = ...``.
Augmented assignment to that same place is fine: ``p.data -= lr * g`` and
``state["v"] *= rho`` are Python's ``place = place.__isub__(...)``, an
in-place update on NumPy or CuPy and a fresh array assigned back on a backend
whose arrays are immutable. Never update a *local alias*
(``v = state["v"]; v *= rho``): on an immutable backend only the local name
changes and the update is lost without an error. Never write into an array
(``x[i] = ...``) either; backends that need a scatter offer a method that
returns its result. ``tests/test_optimizers.py`` runs every built-in
optimizer on arrays without in-place operators to hold this rule.
"""

from __future__ import annotations

import numbers

from .. import backend as _backend
from ..autograd.function import enable_grad
from ..autograd.tensor import Tensor
from ..hookspecs import Collector

__all__ = ["Optimizer", "builtin"]

builtin = Collector("optimizer")
"""The built-in optimizers: each class joins with ``@builtin(name)`` where it is defined."""


def _number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _nonnegative(value):
    return _number(value) and value >= 0


def _fraction(value):
    return _number(value) and 0 <= value < 1


# Checks applied to any hyperparameter with one of these names, in every optimizer.
_RULES = {
    "lr": (_nonnegative, "a number >= 0"),
    "eps": (_nonnegative, "a number >= 0"),
    "weight_decay": (_nonnegative, "a number >= 0"),
    "momentum": (_fraction, "a number in [0, 1)"),
    "alpha": (_fraction, "a number in [0, 1)"),
    "betas": (lambda v: isinstance(v, (tuple, list)) and len(v) == 2 and all(_fraction(b) for b in v),
              "a pair of numbers in [0, 1)"),
}


class Optimizer:
    """Base class of optimizers (PyTorch-style contract).

    Subclasses set ``defaults`` (hyperparameter name -> default value) and
    implement ``update(p, g, state, group)``, which gives ``p.data`` its new
    value from the gradient array ``g`` (already including ``weight_decay·p``
    unless the class sets ``decoupled_weight_decay = True``). ``state`` is the
    parameter's own dict of buffers and ``group`` its parameter group. Assign
    new values to ``p.data`` and ``state[key]`` (augmented assignment on them
    is fine), never to a local alias of a buffer: see the module docstring.

    Parameters
    ----------
    parameters : iterable of Tensor, iterable of dict, or object with ``parameters()``
        The tensors to optimize, or parameter groups: dicts with ``"params"``
        and any hyperparameters that differ from the optimizer-wide ones.
    **hyperparameters
        Overrides of ``defaults``; unknown names and invalid values raise at once.

    Attributes
    ----------
    param_groups : list of dict
        Each group's ``"params"`` plus its hyperparameters (schedulers write ``"lr"`` here).
    state : dict
        Per-parameter buffers, keyed by ``id(parameter)``.

    Examples
    --------
    >>> import xpgrad
    >>> from xpgrad.optimizers import Optimizer
    >>> class HalfStep(Optimizer):
    ...     '''x ← x − lr·g/2'''
    ...     defaults = {"lr": 0.1, "weight_decay": 0.0}
    ...     def update(self, p, g, state, group):
    ...         p.data -= 0.5 * group["lr"] * g
    >>> w = xpgrad.tensor([1.0], requires_grad=True)
    >>> opt = HalfStep([w], lr=1.0)
    >>> (3 * w).sum().backward(); opt.step()
    >>> w.tolist()
    [-0.5]
    """

    defaults: dict = {"lr": 1e-3, "weight_decay": 0.0}
    decoupled_weight_decay = False
    needs_closure = False

    def __init__(self, parameters, **hyperparameters):
        cls = type(self)
        unknown = [k for k in hyperparameters if k not in cls.defaults]
        if unknown:
            raise TypeError(f"{cls.__name__} got unknown hyperparameter(s) {', '.join(map(repr, unknown))}; "
                            f"it accepts: {', '.join(cls.defaults)}")
        self.defaults = {**cls.defaults, **hyperparameters}
        self.validate(self.defaults)
        self.param_groups = []
        self.state = {}
        for group in _groups(parameters, cls.__name__):
            self.add_param_group(group)

    # -- groups and validation ---------------------------------------------------------------
    def add_param_group(self, group: dict) -> None:
        """Add a dict with ``"params"`` and optional hyperparameter overrides."""
        name = type(self).__name__
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{name}: a parameter group is a dict with a 'params' list, got {group!r}")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name} optimizes xpgrad Tensors, got a {type(p).__name__}")
            if id(p) in taken:
                raise ValueError(f"{name}: a parameter of shape {p.shape} appears in more than one group")
            taken.add(id(p))
        extra = [k for k in group if k not in self.defaults and k not in ("params", "initial_lr")]
        if extra:
            raise TypeError(f"{name}: parameter group has unknown hyperparameter(s) {', '.join(map(repr, extra))}; "
                            f"it accepts: {', '.join(self.defaults)}")
        merged = {**self.defaults, **group, "params": params}
        self.validate(merged)
        self.param_groups.append(merged)

    def validate(self, hyperparameters: dict) -> None:
        """Raise ValueError for an out-of-range hyperparameter (override to add checks, calling super)."""
        for key, value in hyperparameters.items():
            rule = _RULES.get(key)
            if rule is not None and not rule[0](value):
                raise ValueError(f"{type(self).__name__}: invalid {key}={value!r}; it must be {rule[1]}")

    # -- the update ------------------------------------------------------------------------
    def update(self, p, g, state, group):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define update(p, g, state, group)")

    def step(self, closure=None):
        """Update every parameter that has a gradient (those whose ``.grad`` is None are skipped).

        ``closure``, if given, is called first (with grad enabled) and should
        return the loss after a fresh backward; its value is returned.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        decoupled = self.decoupled_weight_decay
        state = self.state
        for group in self.param_groups:
            wd = group.get("weight_decay", 0.0)
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if wd and not decoupled:
                    g = g + wd * p.data  # a new array: p.grad is never changed
                st = state.get(id(p))
                if st is None:
                    st = state[id(p)] = {}
                self.update(p, g, st, group)
        return loss

    def zero_grad(self) -> None:
        """Forget the gradients: set ``.grad`` of every parameter to None."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    # -- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """A snapshot: ``{"state": {index: buffers}, "param_groups": [hyperparameters + "params": indices]}``.

        Hyperparameters are plain numbers, strings, booleans and lists (JSON
        friendly); buffers are copies of the backend arrays. Parameters are
        numbered in group order, as in PyTorch.
        """
        index: dict[int, int] = {}
        groups: list[dict] = []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index[id(p)] = len(index)
                ids.append(index[id(p)])
            hp = {k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items() if k != "params"}
            groups.append({**hp, "params": ids})
        state = {index[k]: {n: _copy(v) for n, v in st.items()} for k, st in self.state.items() if k in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyperparameters and buffers saved by :meth:`state_dict` (indices may be strings, as after JSON)."""
        name = type(self).__name__
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state has {len(saved)} parameter groups, this optimizer "
                             f"{len(self.param_groups)}")
        params = []
        for mine, theirs in zip(self.param_groups, saved, strict=True):
            if len(mine["params"]) != len(theirs["params"]):
                raise ValueError(f"{name}.load_state_dict: a group with {len(theirs['params'])} parameters cannot "
                                 f"load into one with {len(mine['params'])}")
            params.extend(mine["params"])
        for mine, theirs in zip(self.param_groups, saved, strict=True):
            hp = {k: (tuple(v) if isinstance(v, list) else v) for k, v in theirs.items() if k != "params"}
            self.validate(hp)
            mine.update(hp)
        self.state = {}
        for k, st in state_dict["state"].items():
            p = params[int(k)]
            self.state[id(p)] = {n: _onto(p, v) for n, v in st.items()}

    def __repr__(self):
        hp = ", ".join(f"{k}={v!r}" for k, v in self.defaults.items())
        sizes = [len(g["params"]) for g in self.param_groups]
        return f"{type(self).__name__}({hp}; parameters per group: {sizes})"


def _groups(parameters, name):
    if isinstance(parameters, Tensor):
        raise TypeError(f"{name}: pass an iterable of tensors such as [w] or model.parameters(), not one Tensor")
    if hasattr(parameters, "parameters") and callable(parameters.parameters):
        parameters = parameters.parameters()
    items = list(parameters)
    if not items:
        raise ValueError(f"{name} got an empty parameter list; pass the tensors to optimize")
    if all(isinstance(i, dict) for i in items):
        return items
    return [{"params": items}]


def _copy(value):
    if _backend.is_array(value):
        return _backend.backend_of(value).xp.asarray(value, copy=True)
    return list(value) if isinstance(value, tuple) else value


def _onto(p, value):
    """A saved buffer as a fresh array on ``p``'s backend (floats in ``p``'s dtype)."""
    if not _backend.is_array(value):
        return value
    b = p.backend
    arr = b.asarray(value)
    return b.asarray(arr, dtype=p.dtype if b.is_floating(arr.dtype) else None, copy=True)
