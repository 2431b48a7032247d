"""``Module``: the base class of layers and networks (parameters, buffers, sub-modules, state dicts)."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

from .. import backend as xb
from ..autograd import tracing as _tracing
from ..autograd.creation import as_tensor
from ..autograd.tensor import Tensor
from .parameter import Parameter, check_float_dtype
from .state import IncompatibleKeys, StateDictError, load_slots, move_slots

__all__ = ["IncompatibleKeys", "Module", "StateDictError"]

class Module:
    """Base class of every layer and network.

    A module holds learnable :class:`Parameter` objects, *buffers* (tensors
    that are state but not learned, such as batch-norm running statistics)
    and child modules, all registered by assigning them as attributes.
    Subclasses define ``forward``; calling the module runs it.
    Names are dotted paths, as in PyTorch: the weight of the first layer of
    a :class:`Sequential` is ``"0.weight"``.

    Examples
    --------
    >>> import xpgrad
    >>> from xpgrad import nn
    >>> class Affine(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.scale = nn.Parameter(xpgrad.ones(2))
    ...         self.register_buffer("calls", xpgrad.zeros(()))
    ...     def forward(self, x):
    ...         return x * self.scale
    >>> m = Affine()
    >>> [name for name, _ in m.named_parameters()], list(m.state_dict())
    (['scale'], ['scale', 'calls'])
    >>> m(xpgrad.tensor([1.0, 2.0])).tolist()
    [1.0, 2.0]
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    # -- forward ---------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        """Run ``forward`` on the inputs, after putting host data where the parameters are.

        Positional arguments that are host data (NumPy arrays, other
        libraries' arrays, nested lists of numbers) become tensors on the
        backend of the module's first floating parameter, floating data (and
        lists) in that parameter's dtype; integer and boolean arrays keep their
        dtype (they are labels or indices). A Tensor argument is checked
        instead: another backend or device raises the mixed-backend error, a
        floating Tensor of another dtype than the parameters a ``TypeError``
        naming both and the fix (as PyTorch does, nothing is cast silently).
        """
        if args:
            args = _prepare_inputs(self, args)
        if _tracing.active is not None:  # xpgrad.compile: a replay must check this module's train/eval mode
            _tracing.active.module(self)
        return self.forward(*args, **kwargs)

    def fuse_next(self, following: Module) -> Callable[[Any], Any] | None:
        """Offer one callable computing ``following(self(x))``, or None (the default: no fusion).

        :class:`Sequential` asks each layer about the layer after it and, when
        a callable comes back, runs it instead of the pair. A layer that
        overrides this must return something with the same values and
        gradients as the two calls, and must handle its input as
        :meth:`__call__` does (see :class:`~xpgrad.nn.Linear`, which fuses
        with a plain built-in ReLU).

        >>> from xpgrad import nn
        >>> nn.ReLU().fuse_next(nn.Tanh()) is None
        True
        """
        return None

    # -- registration ------------------------------------------------------------------
    def __setattr__(self, name, value):
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(f"call super().__init__() at the start of {type(self).__name__}.__init__ "
                                 f"before assigning {name!r}")
        params, buffers, modules = d["_parameters"], d["_buffers"], d["_modules"]
        if isinstance(value, Parameter):
            self._forget(name)
            self._store(params, name, value)
        elif isinstance(value, Module):
            self._forget(name)
            self._store(modules, name, value)
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to parameter {name!r} of "
                                f"{type(self).__name__}; wrap it as nn.Parameter(...) or assign None")
            self._store(params, name, None)
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"buffer {name!r} of {type(self).__name__} must be a Tensor or None, "
                                f"got {type(value).__name__}")
            self._store(buffers, name, value)
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to sub-module {name!r}; assign a Module")
            self._store(modules, name, None)
        else:
            object.__setattr__(self, name, value)

    def _store(self, table, name, value):
        # The tables are the truth; the instance dict mirrors them so that ``self.weight`` in a
        # forward pass is a plain attribute hit instead of a __getattr__ fallback.
        table[name] = value
        self.__dict__[name] = value
        self._structure_changed()

    def _structure_changed(self):
        """Hook for containers that cache a plan of their children (called after any registration)."""

    def _forget(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        # Only reached when normal lookup fails (e.g. an object restored without the mirror).
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            t = d.get(table)
            if t is not None and name in t:
                return t[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                self.__dict__.pop(name, None)
                self._structure_changed()
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    def register_parameter(self, name: str, param) -> None:
        """Register ``param`` (a :class:`Parameter`, or None for an absent one) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter({name!r}): expected nn.Parameter or None, got {type(param).__name__}")
        _check_name(name, self)
        self._forget(name)
        self._store(self._parameters, name, param)

    def register_buffer(self, name: str, tensor) -> None:
        """Register a non-learned tensor (e.g. running statistics) that is saved in the state dict.

        Buffers move with :meth:`to` and take part in :meth:`state_dict` but
        are not returned by :meth:`parameters`.
        """
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer({name!r}): expected a Tensor or None, got {type(tensor).__name__}")
        _check_name(name, self)
        self._forget(name)
        self._store(self._buffers, name, tensor)

    def add_module(self, name: str, module) -> None:
        """Register a child module under ``name`` (any string without dots)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): expected a Module, got {type(module).__name__}")
        _check_name(name, self)
        self._forget(name)
        self._store(self._modules, name, module)

    # -- traversal ---------------------------------------------------------------------
    def named_children(self):
        """Yield ``(name, module)`` for each direct child."""
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self):
        """Yield each direct child module."""
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = ""):
        """Yield ``(dotted name, module)`` for this module (name ``""``) and all descendants, once each."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            kids = [(f"{name}.{k}" if name else k, c) for k, c in m.named_children()]
            stack.extend(reversed(kids))

    def modules(self):
        """Yield this module and all descendants."""
        for _, m in self.named_modules():
            yield m

    def _named_members(self, table, recurse):
        seen = set()
        mods = self.named_modules() if recurse else [("", self)]
        for mname, m in mods:
            for k, v in getattr(m, table).items():
                if v is None or id(v) in seen:
                    continue
                seen.add(id(v))
                yield (f"{mname}.{k}" if mname else k), v

    def named_parameters(self, recurse: bool = True):
        """Yield ``(dotted name, Parameter)`` pairs; a shared parameter appears once."""
        return self._named_members("_parameters", recurse)

    def parameters(self, recurse: bool = True):
        """Yield every learnable :class:`Parameter` (what an optimizer receives)."""
        for _, p in self.named_parameters(recurse):
            yield p

    def named_buffers(self, recurse: bool = True):
        """Yield ``(dotted name, Tensor)`` for every buffer."""
        return self._named_members("_buffers", recurse)

    def buffers(self, recurse: bool = True):
        """Yield every buffer tensor."""
        for _, b in self.named_buffers(recurse):
            yield b

    def apply(self, fn):
        """Call ``fn(module)`` on every descendant and then on this module; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- modes -----------------------------------------------------------------------------
    def train(self, mode: bool = True):
        """Set training mode (dropout active, batch statistics) on this module and its descendants."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        """Set evaluation mode (dropout off, running statistics); same as ``train(False)``."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget the gradients of every parameter (sets ``.grad`` to None)."""
        for p in self.parameters():
            p.grad = None

    # -- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Every parameter and buffer by dotted name, as tensors sharing this module's arrays.

        Keys follow PyTorch (``"0.weight"``, ``"1.running_mean"``); the values
        are detached :class:`~xpgrad.Tensor` objects on the module's backend.
        Call ``.numpy()`` on them to get host copies.

        >>> from xpgrad import nn
        >>> list(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)).state_dict())
        ['0.weight', '0.bias', '2.weight', '2.bias']
        """
        return {key: t.detach() for key, t in self._state_slots()}

    def _state_slots(self):
        """(dotted key, tensor) for every parameter and buffer, in state-dict order.

        Unlike :meth:`named_modules` this does not skip a module reached twice,
        so a shared layer is saved under each of its names (as in PyTorch).
        """
        stack = [("", self)]
        while stack:
            name, m = stack.pop()
            for table in (m._parameters, m._buffers):
                for k, v in table.items():
                    if v is not None:
                        yield (f"{name}.{k}" if name else k), v
            stack.extend(reversed([(f"{name}.{k}" if name else k, c) for k, c in m.named_children()]))

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy parameters and buffers from ``state_dict`` (keys as produced by :meth:`state_dict`).

        Values may be xpgrad tensors, arrays of any backend or NumPy arrays;
        each is copied, cast to the dtype and moved to the backend of the
        entry it replaces. Every entry is checked before anything changes:
        missing, unexpected, wrongly shaped or unreadable entries (not an
        array) and dtypes that cannot be converted without losing values
        (floating values into an integer buffer, integers outside its range,
        complex or string data) are all reported in one
        :class:`StateDictError`, and then nothing is changed. Floating entries
        take floating or integer values, cast to their dtype (as PyTorch
        does). Should swapping the arrays in still fail, the entries already
        replaced are restored. With ``strict=False`` missing and unexpected
        keys are skipped (shapes and dtypes must still match).

        Returns
        -------
        IncompatibleKeys
            ``(missing_keys, unexpected_keys)``, both empty when strict.

        >>> from xpgrad import nn
        >>> a, b = nn.Linear(2, 2), nn.Linear(2, 2)
        >>> b.load_state_dict(a.state_dict())
        IncompatibleKeys(missing_keys=[], unexpected_keys=[])
        >>> bool((a.weight.numpy() == b.weight.numpy()).all())
        True
        """
        return load_slots(self, dict(self._state_slots()), state_dict, strict)

    def to(self, backend=None, dtype=None):
        """Move every parameter and buffer to ``backend`` and/or cast floating ones to ``dtype``, in place.

        The :class:`Parameter` objects stay the same (so an optimizer built
        before keeps working); their arrays and gradients are replaced.
        Integer buffers keep their dtype; ``dtype`` itself must be floating
        (an integer or bool one raises ``TypeError``: parameters must stay
        learnable). Every new array is made before any is swapped in, so a
        failure leaves the module as it was. Returns the module.

        >>> from xpgrad import nn
        >>> layer = nn.Linear(2, 3).to(dtype="float64")
        >>> str(layer.weight.dtype)
        'float64'
        """
        check_float_dtype(dtype, f"{type(self).__name__}.to")
        move_slots(list(self._state_slots()), backend, dtype)
        return self

    # -- repr ----------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (its settings)."""
        return ""

    def __repr__(self):
        kids = list(self.named_children())
        extra = self.extra_repr()
        if not kids:
            return f"{type(self).__name__}({extra})"
        lines = [extra] if extra else []
        for name, m in kids:
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _check_name(name, module):
    if not isinstance(name, str) or not name or "." in name:
        raise KeyError(f"invalid name {name!r} in {type(module).__name__}: use a non-empty string without dots")


def _is_float(dtype) -> bool:
    return xb.dtype_name(dtype).startswith("float")


# -- inputs of Module.__call__ --------------------------------------------------------------------------


def _prepare_inputs(module: Module, args: tuple) -> tuple:
    """``args`` with host data moved where ``module``'s parameters are, and Tensors checked (see ``__call__``)."""
    x = args[0]
    if len(args) == 1 and isinstance(x, Tensor):
        # The hot path: one Tensor, compared with the first direct parameter (two identity/equality tests).
        # Containers have no direct parameters; their children (or fused steps) check.
        for p in module._parameters.values():
            if p is not None:
                # `is` first: NumPy's dtypes are singletons, and identity is cheaper than dtype equality
                if p.backend is x.backend and (p.data.dtype is x.data.dtype or p.data.dtype == x.data.dtype):
                    return args
                break
        else:
            return args
        _check_tensor(module, x)
        return args
    return tuple(_prepare_one(module, a, i == 0) for i, a in enumerate(args))


def _first_float(params):
    for p in params:
        if p is not None and _is_float(p.data.dtype):
            return p
    return None


def _check_tensor(module: Module, x: Tensor) -> None:
    ref = _first_float(module._parameters.values())
    if ref is None:
        return
    name = type(module).__name__
    if x.backend is not ref.backend:
        xb.check_same_place(f"{name} (input and parameters)", x, ref)
    if _is_float(x.data.dtype) and x.data.dtype != ref.data.dtype:
        have, want = xb.dtype_name(x.data.dtype), xb.dtype_name(ref.data.dtype)
        raise TypeError(f"{name}: the input is {have} but the module's parameters are {want}; convert the input "
                        f"with x.astype({want!r}) or the module with model.to(dtype={have!r})")


def _is_number_list(a) -> bool:
    while isinstance(a, (list, tuple)):
        if not a:
            return isinstance(a, list)
        a = a[0]
    return isinstance(a, numbers.Number)


def _prepare_one(module: Module, a, is_input: bool = False):
    if isinstance(a, Tensor):
        _check_tensor(module, a)
        return a
    # the input itself may be a bare number (a 0-d sample): it is data, and the layer says what it expects
    is_list = (isinstance(a, list) and _is_number_list(a)) or (
        is_input and isinstance(a, numbers.Real) and not isinstance(a, bool))
    if not is_list and not (hasattr(a, "dtype") and hasattr(a, "shape")) and not hasattr(a, "__dlpack__"):
        return a  # scalars, None, strings, options: not data
    ref = _first_float(module.parameters())
    b = xb.current() if ref is None else ref.backend
    float_dt = xb.get_default_dtype() if ref is None else ref.data.dtype
    if is_list or _is_float(a.dtype):
        return as_tensor(a, dtype=float_dt, backend=b)
    return as_tensor(a, backend=b)
