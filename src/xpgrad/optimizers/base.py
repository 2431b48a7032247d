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
from collections.abc import Mapping

from .. import backend as _backend
from ..autograd.function import enable_grad
from ..autograd.tensor import Tensor
from ..autograd.tracing import run_eagerly
from ..hookspecs import Collector
from ..hyperparameters import check, check_number, number, sequence
from .flat_state import FlatGroup, StateDict, plan

__all__ = ["Optimizer", "builtin"]

builtin = Collector("optimizer")
"""The built-in optimizers: each class joins with ``@builtin(name)`` where it is defined."""


# Rules applied to any hyperparameter with one of these names, in every optimizer (a plugin's too);
# a subclass adds its own in ``hyperparameter_rules`` (see :mod:`xpgrad.hyperparameters`).
_RULES = {
    "lr": number(min=0),
    "initial_lr": number(min=0),
    "eps": number(min=0, open_min=True),
    "weight_decay": number(min=0),
    "momentum": number(min=0, max=1, open_max=True),
    "alpha": number(min=0, max=1, open_max=True),
    "betas": sequence(length=2, min=0, max=1, open_max=True),
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

    Parameters of one group, backend, device and real floating dtype are kept
    in one :class:`xpgrad.FlatBuffer` (their ``.data`` become views into one
    array, their ``.grad`` views into one gradient array, reused every step),
    and ``update`` is called once per buffer with ``p`` a 1-D tensor over all
    of them, ``g`` the flat gradient and ``state`` the buffer's flat state; the
    per-parameter entries of ``state`` are views of it. A class whose
    update is not elementwise sets ``flatten = False`` to get one parameter
    per call (see ``xpgrad.optimizers.flat_state``).

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
        Per-parameter buffers, keyed by ``id(parameter)``: a dict (a
        ``StateDict`` that counts its changes, so that a step can tell cheaply
        whether the flat state is still in sync with it).

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
    hyperparameter_rules: dict = {}
    """Extra rules by hyperparameter name, on top of the shared ones (lr, eps, weight_decay, momentum, alpha, betas)."""
    state_spec: dict | None = None
    """Each buffer of a parameter's state: ``"array"`` (shaped like the parameter), ``"count"`` (an int >= 0) or
    ``"number"``. A loaded state entry must be empty or hold exactly these; None: only shapes and types are checked."""
    decoupled_weight_decay = False
    needs_closure = False
    flatten = True
    """Update each flat buffer of parameters with one ``update`` call (see ``xpgrad.optimizers.flat_state``).
    Set False in an optimizer whose update is not elementwise (it needs each parameter's shape, norm or
    random draws of its own): ``update`` then sees one parameter at a time."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ("step", "zero_grad"):  # overrides run at every call of a compiled step too
            own = cls.__dict__.get(name)
            if callable(own):
                setattr(cls, name, run_eagerly(own))

    def __init__(self, parameters, **hyperparameters):
        cls = type(self)
        unknown = [k for k in hyperparameters if k not in cls.defaults]
        if unknown:
            raise TypeError(f"{cls.__name__} got unknown hyperparameter(s) {', '.join(map(repr, unknown))}; "
                            f"it accepts: {', '.join(cls.defaults)}")
        self.defaults = {**cls.defaults, **hyperparameters}
        self.validate(self.defaults)
        self.param_groups = []
        self.state: dict = StateDict()  # counts its changes: see xpgrad.optimizers.flat_state
        self._flat: list[FlatGroup] = []  # one plan per group: its flat buffers and per-parameter rest
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
        self._flat.append(plan(merged, type(self).flatten))

    def validate(self, hyperparameters: dict) -> None:
        """Raise TypeError/ValueError naming a hyperparameter of the wrong type, non-finite or out of range.

        Applies the shared rules by name and the class's ``hyperparameter_rules``
        (override to add checks, calling super).
        """
        check(type(self).__name__, {**_RULES, **type(self).hyperparameter_rules}, hyperparameters)

    # -- the update ------------------------------------------------------------------------
    def update(self, p, g, state, group):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define update(p, g, state, group)")

    def _replay_step(self, closure=None):
        """What a compiled step's replay calls for ``step()`` (see :func:`xpgrad.run_eagerly`): :meth:`_step`."""
        return self._step if closure is None else None

    @run_eagerly(replay=_replay_step)
    def step(self, closure=None):
        """Update every parameter that has a gradient (those whose ``.grad`` is None are skipped).

        ``closure``, if given, is called first (with grad enabled) and should
        return the loss after a fresh backward; its value is returned. The
        parameters of each flat buffer are updated by one ``update`` call when
        every one of them has its gradient in the buffer's slot, else one by one.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._step()
        return loss

    def _step(self) -> bool:
        """The update of :meth:`step`; True when it took the flat path everywhere (no parameter got a new array)."""
        state, groups, plans = self.state, self.param_groups, self._flat
        if len(groups) == len(plans):  # nothing changed since the last step: one check loop per buffer
            for group, flat in zip(groups, plans, strict=True):
                if not flat.fast(group, state):
                    break
            else:
                kept = True
                for group, flat in zip(groups, plans, strict=True):
                    for f in flat.flats:
                        f.update(self, group, state)
                    if flat.loose:
                        self._update_each(flat.loose, group)
                        kept = False  # an update of its own may have given a loose parameter a new array
                return kept
        for group, flat in zip(groups, self._plans(), strict=True):
            for f in flat.flats:
                if f.ready(state):
                    f.update(self, group, state)
                else:
                    self._update_each(f.params, group)
            if flat.loose:
                self._update_each(flat.loose, group)
        return False

    def _update_each(self, params, group) -> None:
        """The per-parameter path: one ``update`` call per parameter with a gradient."""
        decoupled = self.decoupled_weight_decay
        state = self.state
        wd = group.get("weight_decay", 0.0)
        for p in params:
            g = p.grad
            if g is None:
                continue
            if isinstance(g, Tensor):  # a gradient kept on a graph (backward(create_graph=True)): its values
                g = g.detach().data
            if wd and not decoupled:
                g = g + wd * p.data  # a new array: p.grad is never changed
            st = state.get(id(p))
            if st is None:
                st = state[id(p)] = state.entry() if isinstance(state, StateDict) else {}
            self.update(p, g, st, group)
            p.bump_version()  # graphs that saved p's old values now refuse backward

    def _plans(self) -> list[FlatGroup]:
        """The flat plan of every group, rebuilt where a group changed or a parameter got a new array."""
        plans, groups = self._flat, self.param_groups
        if len(plans) != len(groups):
            plans[len(groups):] = []
            plans.extend(plan(g, type(self).flatten) for g in groups[len(plans):])
        for i, (group, flat) in enumerate(zip(groups, plans, strict=True)):
            if not flat.current(group):  # Module.to, p.data = ..., a changed params list: flatten again
                flat.release()
                plans[i] = plan(group, type(self).flatten)
        return plans

    def flat_buffers(self) -> list:
        """The :class:`xpgrad.FlatBuffer` of each group's flattened parameters, in group order.

        Rebuilt first where a parameter was given a new array. Empty when the
        class sets ``flatten = False``.

        >>> import xpgrad
        >>> w, b = xpgrad.ones((2, 2), requires_grad=True), xpgrad.zeros(2, requires_grad=True)
        >>> opt = xpgrad.optimizer("sgd", [w, b], lr=0.5)
        >>> (buf,) = opt.flat_buffers()
        >>> buf.data.shape, len(buf)
        ((6,), 2)
        """
        return [f.buf for flat in self._plans() for f in flat.flats]

    def _replay_zero_grad(self):
        """What a compiled step's replay calls for ``zero_grad()``: :meth:`_zero_grad`."""
        return self._zero_grad

    @run_eagerly(replay=_replay_zero_grad)
    def zero_grad(self) -> None:
        """Forget the gradients: set ``.grad`` of every parameter to None.

        The next backward writes each gradient into its slot of the optimizer's
        flat gradient buffer again (the same memory every step). A buffer whose
        parameters were given new arrays (``Module.to``, ``p.data = ...``) is
        rebuilt here first, so that backward already fills the new slots.
        """
        self._zero_grad()

    def _zero_grad(self) -> bool:
        """The work of :meth:`zero_grad`; True when no buffer had to be rebuilt (no parameter got a new array)."""
        groups, plans = self.param_groups, self._flat
        fits = len(groups) == len(plans)
        for group, flat in zip(groups, plans, strict=False):
            if not flat.zero_grads(group):
                fits = False
        if not fits:  # rebuild (the gradients are None by now, so nothing is copied into the new slots)
            self._plans()
            for group in groups:
                for p in group["params"]:
                    p.grad = None
        return fits

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
        """Restore hyperparameters and buffers saved by :meth:`state_dict` (indices may be strings, as after JSON).

        Everything is checked before anything changes: the number and sizes of
        the groups, the parameter indices (ints, unique, and every state key one
        of them), each group's hyperparameters (the same rules as the
        constructor) and each buffer (type, shape and floating dtype against its
        parameter; ``state_spec`` names the buffers an entry must hold). On any
        error a ValueError/TypeError names the group, index or buffer, and the
        optimizer is left as it was.
        """
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping) or not {"state", "param_groups"} <= set(state_dict):
            raise TypeError(f"{name}: expected the dict of state_dict(), with 'state' and 'param_groups', got "
                            f"{type(state_dict).__name__}" + (f" with keys {sorted(map(str, state_dict))}"
                                                              if isinstance(state_dict, Mapping) else ""))
        saved, entries = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved, (list, tuple)) or not isinstance(entries, Mapping):
            raise TypeError(f"{name}: 'param_groups' must be a list and 'state' a dict, got "
                            f"{type(saved).__name__} and {type(entries).__name__}")
        if len(saved) != len(self.param_groups):
            raise ValueError(f"{name}: the state has {len(saved)} parameter groups, this optimizer "
                             f"{len(self.param_groups)}")
        by_index: dict = {}
        groups = []
        for i, (mine, theirs) in enumerate(zip(self.param_groups, saved, strict=True)):
            where = f"{name}: param_groups[{i}]"
            ids = theirs.get("params") if isinstance(theirs, Mapping) else None
            if not isinstance(ids, (list, tuple)):
                raise TypeError(f"{where} must be a dict with a 'params' list of indices, got {theirs!r}")
            if len(mine["params"]) != len(ids):
                raise ValueError(f"{where}: a group with {len(ids)} parameters cannot load into one with "
                                 f"{len(mine['params'])}")
            for raw, p in zip(ids, mine["params"], strict=True):
                index = _index(f"{where}['params']", raw)
                if index in by_index:
                    raise ValueError(f"{where}: parameter index {index} appears twice; indices must be unique")
                by_index[index] = p
            hp = {k: (tuple(v) if isinstance(v, list) else v) for k, v in theirs.items() if k != "params"}
            unknown = [k for k in hp if k not in self.defaults and k != "initial_lr"]
            if unknown:
                raise ValueError(f"{where} has unknown hyperparameter(s) {', '.join(map(repr, unknown))}; "
                                 f"{type(self).__name__} accepts: {', '.join(self.defaults)}")
            try:
                self.validate(hp)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"{where}: {exc}") from None
            groups.append(hp)
        state = StateDict()
        for raw, entry in entries.items():
            index = _index(f"{name}: state key", raw)
            p = by_index.get(index)
            if p is None:
                raise ValueError(f"{name}: state key {raw!r} names parameter {index}, but the groups hold "
                                 f"parameters {sorted(by_index)}")
            if id(p) in state:
                raise ValueError(f"{name}: parameter {index} has two state entries (keys {index} and {raw!r})")
            state[id(p)] = state.entry(self._load_entry(f"{name}: state[{index}]", p, entry))
        for mine, hp in zip(self.param_groups, groups, strict=True):  # everything checked: apply
            mine.update(hp)
        self.state = state

    def _load_entry(self, where, p, entry):
        """One parameter's saved buffers, checked against ``state_spec`` and ``p``, as fresh arrays."""
        if not isinstance(entry, Mapping):
            raise TypeError(f"{where} must be a dict of buffers, got {type(entry).__name__}")
        spec = type(self).state_spec
        if spec is not None and entry:
            unknown = [k for k in entry if k not in spec]
            missing = [k for k in spec if k not in entry]
            if unknown or missing:
                raise ValueError(f"{where} (parameter of shape {p.shape}) has buffers {sorted(entry)}; "
                                 f"{type(self).__name__} keeps exactly {sorted(spec)}"
                                 + (f" (unknown: {unknown})" if unknown else "")
                                 + (f" (missing: {missing})" if missing else ""))
        out = {}
        for key, value in entry.items():
            kind = spec[key] if spec is not None else ("array" if _backend.is_array(value) else "number")
            if kind == "array":
                if not _backend.is_array(value):
                    raise TypeError(f"{where}[{key!r}] must be an array shaped like its parameter {p.shape}, got "
                                    f"a {type(value).__name__}")
                if tuple(value.shape) != tuple(p.shape):
                    raise ValueError(f"{where}[{key!r}] has shape {tuple(value.shape)}, its parameter {p.shape}")
                if not _backend.backend_of(value).is_floating(value.dtype):
                    raise TypeError(f"{where}[{key!r}] has dtype {value.dtype}; optimizer buffers are floating "
                                    f"point, like the parameter ({p.dtype})")
                out[key] = _onto(p, value)
            else:
                out[key] = check_number(where, key, value, integer=kind == "count", min=0 if kind == "count" else None)
        return out

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


def _index(where, raw):
    """A saved parameter index: an int, or a string of one (after JSON)."""
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        return int(raw)
    if isinstance(raw, bool) or not isinstance(raw, numbers.Integral):
        raise TypeError(f"{where}: parameter index {raw!r} must be an int, got a {type(raw).__name__}")
    return int(raw)


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
