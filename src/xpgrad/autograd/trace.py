"""Recording one call of a step function: the ops, the backward passes and the eager calls, in order.

A :class:`Trace` is what :mod:`xpgrad.autograd.tracing` calls while
:func:`xpgrad.compile` runs a step for the first time. The step runs eagerly
as usual; the trace only notes, for every array that flows through an op,
where it came from: an argument of the step (``input``), a tensor that lives
outside the step such as a parameter (``external``, read again at every
replay), an earlier op (``op``), or a constant. Anything it cannot follow
*poisons* the trace; the step's result is still right, but it stays eager.
"""

from __future__ import annotations

from typing import Any

from . import tracing  # the switch an eager call inside a recording flips off and on again
from .engine import _initial_grad
from .tensor import Tensor

__all__ = ["Backward", "Call", "Eager", "Op", "SlotRef", "Trace", "slots_in"]

INPUT, EXTERNAL, OP, CONST = "input", "external", "op", "const"


class Op:
    """One recorded ``Function.apply``: ``slots[out] = fn.forward(ctx, *slots[ins], **kwargs)``."""

    __slots__ = ("fn", "ins", "kwargs", "out", "needs", "node", "parents", "xp", "backend")

    def __init__(self, fn, ins, kwargs, out, needs, node, parents, xp, backend):
        self.fn, self.ins, self.kwargs, self.out = fn, ins, kwargs, out
        self.needs, self.node, self.parents, self.xp, self.backend = needs, node, parents, xp, backend


class Backward:
    """One recorded ``backward()``: from the root slot (seeded with ones or the grad slot) down the graph."""

    __slots__ = ("root", "grad", "retain", "schedule", "leaf_root")

    def __init__(self, root, grad, retain, schedule, leaf_root):
        self.root, self.grad, self.retain, self.schedule, self.leaf_root = root, grad, retain, schedule, leaf_root


class Call:
    """One unrecorded array call (a comparison, an ``astype``, a random draw): ``out = func(*args, **kwargs)``."""

    __slots__ = ("func", "args", "kwargs", "out")

    def __init__(self, func, args, kwargs, out):
        self.func, self.args, self.kwargs, self.out = func, args, kwargs, out


class Eager:
    """One call of a ``run_eagerly`` function; tensor arguments refer to slots."""

    __slots__ = ("fn", "args", "kwargs")

    def __init__(self, fn, args, kwargs):
        self.fn, self.args, self.kwargs = fn, args, kwargs


class SlotRef:
    """A tensor argument of an eager call or of the result: the tensor holding slot ``slot``."""

    __slots__ = ("slot",)

    def __init__(self, slot: int):
        self.slot = slot


def slots_in(spec: Any) -> list[int]:
    """The slots a spec reads."""
    if type(spec) is SlotRef:
        return [spec.slot]
    if isinstance(spec, (tuple, list)):  # named tuples too (a step's result may be one)
        return [s for item in spec for s in slots_in(item)]
    if isinstance(spec, dict):
        return [s for item in spec.values() for s in slots_in(item)]
    return []


class Trace:
    """The recorder of one step call (see the module docstring)."""

    def __init__(self, args: tuple, kwargs: dict):
        self.kinds: list[str] = []
        self.values: list[Any] = []  # the trace-time array of each slot (constants are kept as they are)
        self.by_tensor: dict[int, int] = {}
        self.by_array: dict[int, int] = {}
        self.externals: dict[int, tuple[Tensor, int]] = {}
        self.tensor_at: dict[int, Tensor] = {}  # slot -> the tensor of an input or external slot
        self.inputs: list[tuple[int, int]] = []  # (slot, position among the step's tensor arguments)
        self.input_tensors: dict[int, int] = {}  # id(tensor argument) -> its position
        self.program: list[Any] = []
        self.node_of: dict[int, int] = {}  # slot of a recorded op's output -> index of the op in program
        self.modules: dict[int, tuple[Any, bool]] = {}
        self.opaque: set[int] = set()
        self.reason: str | None = None
        self._alive: list[Any] = []  # every object whose id() is a key above stays alive while recording
        position = 0
        for value in [*args, *kwargs.values()]:
            if isinstance(value, Tensor):
                if id(value) not in self.input_tensors:
                    slot = self._new_slot(INPUT, value.data, value)
                    self.inputs.append((slot, position))
                    self.input_tensors[id(value)] = position
                position += 1

    # -- slots ---------------------------------------------------------------------------------
    def _new_slot(self, kind: str, value: Any, tensor: Tensor | None = None) -> int:
        slot = len(self.values)
        self.kinds.append(kind)
        self.values.append(value)
        self._alive.append(value)
        if tensor is not None:
            self.by_tensor[id(tensor)] = slot
            self._alive.append(tensor)
            if kind in (INPUT, EXTERNAL):
                self.tensor_at[slot] = tensor
        if kind != CONST:
            self.by_array[id(value)] = slot
        return slot

    def slot_of(self, t: Tensor) -> int:
        """The slot of tensor ``t``: known, an alias of a known array (``detach()``), or a new external."""
        slot = self.by_tensor.get(id(t))
        if slot is not None and self.values[slot] is t.data:
            return slot
        if id(t) in self.opaque:
            self.poison("a tensor returned by a run_eagerly function feeds an operation of the step; the replay "
                        "cannot know its value")
        slot = self.by_array.get(id(t.data))
        if slot is not None and self.values[slot] is t.data:
            if t.requires_grad and t._ctx is None and self.kinds[slot] != EXTERNAL:
                self.poison(f"a leaf tensor of shape {t.shape} requiring grad was made inside the step from another "
                            "tensor's data; make it outside the step and pass it in")
            self.by_tensor[id(t)] = slot
            self._alive.append(t)
            return slot
        if t._ctx is not None:
            self.poison(f"a tensor of shape {t.shape} computed outside the step (with a graph) is used inside it; "
                        "pass it as an argument or detach() it")
        slot = self._new_slot(EXTERNAL, t.data, t)
        self.externals[id(t)] = (t, slot)
        return slot

    def _array_slot(self, a: Any) -> int:
        slot = self.by_array.get(id(a))
        if slot is not None and self.values[slot] is a:
            return slot
        if _is_array(a):
            self.poison(f"an operation received a raw array of shape {tuple(a.shape)} that the step did not get from "
                        "a tensor; pass tensors (or the .data of a tensor) so the replay can follow it")
        return self._new_slot(CONST, a)

    def refresh_externals(self) -> None:
        """After an eager call: externals may hold new arrays (an optimizer rebuilt its flat buffer)."""
        for t, slot in self.externals.values():
            if self.values[slot] is not t.data:
                self.values[slot] = t.data
                self.by_array[id(t.data)] = slot
                self._alive.append(t.data)

    # -- what tracing.py calls -----------------------------------------------------------------
    def poison(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    def host_read(self, tensor: Tensor, how: str) -> None:
        self.poison(f"{how} reads a tensor's value on the host (Python control flow or logging on tensor values); "
                    "move it out of the step or into a function marked xpgrad.run_eagerly")

    def module(self, m: Any) -> None:
        self.modules.setdefault(id(m), (m, m.training))

    def op(self, fn, ctx, args, kwargs, result) -> None:
        if self.reason is not None:
            return
        ins, parents = [], []
        for a in args:
            if isinstance(a, Tensor):
                slot = self.slot_of(a)
                ins.append(slot)
                parents.append(a if self.kinds[slot] == EXTERNAL and a._ctx is None else None)
            else:
                ins.append(self._array_slot(a) if _is_array(a) else self._new_slot(CONST, a))
                parents.append(None)
        if kwargs and any(_has_array(v) for v in kwargs.values()):
            kwargs = {k: self._spec(v) for k, v in kwargs.items()}  # resolved at every replay
        out = self._new_slot(OP, result.data, result)
        node = None
        if result._ctx is not None:
            node = len(self.program)
            self.node_of[out] = node
        self.program.append(Op(fn, tuple(ins), dict(kwargs), out, ctx.needs_input_grad, node, tuple(parents),
                               ctx.xp, ctx.backend))

    def array_call(self, func, args, kwargs, result) -> None:
        """An array function run outside ``Function.apply`` (see ``tracing.record_call``)."""
        if self.reason is not None:
            return
        spec_args = tuple(self._spec(a) for a in args)
        spec_kwargs = {k: self._spec(v) for k, v in kwargs.items()}
        self.program.append(Call(func, spec_args, spec_kwargs, self._outputs(result)))

    def _spec(self, value: Any) -> Any:
        if isinstance(value, Tensor):
            return SlotRef(self.slot_of(value))
        if type(value) in (tuple, list):
            return type(value)(self._spec(v) for v in value)
        if _is_array(value):
            return SlotRef(self._array_slot(value))
        return value

    def _outputs(self, result: Any) -> Any:
        if isinstance(result, Tensor):
            return SlotRef(self._new_slot(OP, result.data, result))
        if isinstance(result, (tuple, list)):
            return tuple(self._outputs(r) for r in result)
        return None

    def backward(self, root: Tensor, grad: Any, retain_graph: bool) -> None:
        if self.reason is not None:
            return
        rslot = self.by_tensor.get(id(root))
        if rslot is None or self.values[rslot] is not root.data:
            self.poison("backward() of a tensor the step did not compute")
            return
        gslot = None
        if grad is not None:
            if isinstance(grad, Tensor):
                gslot = self.slot_of(grad)
            elif _is_array(grad):
                gslot = self._array_slot(grad)
            else:  # a list or a number: the engine's own conversion, once
                gslot = self._new_slot(CONST, _initial_grad(root, grad))
        leaf_root = None
        if root._ctx is None:
            leaf_root = self._leaf_target(root, rslot)
        self.program.append(Backward(rslot, gslot, retain_graph, self._schedule(rslot), leaf_root))

    def eager_call(self, fn, args, kwargs):
        spec_args = tuple(self._eager_arg(a) for a in args)
        spec_kwargs = {k: self._eager_arg(v) for k, v in kwargs.items()}
        tracing.active = None
        try:
            out = fn(*args, **kwargs)
        finally:
            tracing.active = self
        self.refresh_externals()
        for t in (out if isinstance(out, (tuple, list)) else (out,)):
            if isinstance(t, Tensor):
                self.opaque.add(id(t))
                self._alive.append(t)
        self.program.append(Eager(fn, spec_args, spec_kwargs))
        return out

    def _eager_arg(self, a):
        if isinstance(a, Tensor) and self.reason is None:
            slot = self.by_tensor.get(id(a))
            if slot is not None and self.values[slot] is a.data and self.kinds[slot] in (INPUT, OP):
                return SlotRef(slot)
        return a  # a parameter, an optimizer, a number: the same object at every replay

    def result(self, value: Any) -> Any:
        """The step's return value with its tensors replaced by :class:`SlotRef` (what a replay rebuilds)."""
        if isinstance(value, Tensor):
            slot = self.by_tensor.get(id(value))
            if slot is not None and self.values[slot] is value.data and self.kinds[slot] in (INPUT, OP):
                return SlotRef(slot)
            if id(value) in self.opaque:
                self.poison("the step returns a tensor made by a run_eagerly function")
            return value  # a parameter or another tensor from outside: the same object every time
        if isinstance(value, (tuple, list)):
            items = [self.result(v) for v in value]
            if hasattr(value, "_fields"):  # a named tuple keeps its type
                return type(value)(*items)
            return tuple(items) if isinstance(value, tuple) else items
        if isinstance(value, dict):
            return {k: self.result(v) for k, v in value.items()}
        if value is None or isinstance(value, (bool, int, float, complex, str)):
            return value
        self.poison(f"the step returns a {type(value).__name__}; a compiled step returns tensors, numbers, strings "
                    "and tuples, lists or dicts of them")
        return value

    # -- the backward schedule -----------------------------------------------------------------
    def _leaf_target(self, t: Tensor, slot: int):
        """Where a leaf's gradient goes at replay: the live tensor (external) or the step's argument."""
        if t._ctx is not None:
            self.poison(f"backward reaches a tensor of shape {t.shape} whose graph was recorded outside the step; "
                        "detach() it or compute it inside the step")
            return None
        if self.kinds[slot] == INPUT:
            return ("arg", self.input_tensors[id(t)])
        if self.kinds[slot] == EXTERNAL:
            return ("tensor", t)
        self.poison(f"backward reaches a leaf tensor of shape {t.shape} that the replay cannot follow")
        return None

    def _schedule(self, root_slot: int) -> list:
        """The recorded ops the gradient of ``root_slot`` flows through, newest first, with their inputs' targets."""
        reach, stack = set(), [root_slot]
        while stack:
            slot = stack.pop()
            node = self.node_of.get(slot)
            if node is None or node in reach:
                continue
            reach.add(node)
            op = self.program[node]
            stack.extend(s for s, need in zip(op.ins, op.needs or (), strict=False) if need)
        schedule = []
        for node in sorted(reach, reverse=True):
            op = self.program[node]
            targets = []
            for i, (slot, need) in enumerate(zip(op.ins, op.needs, strict=False)):
                if not need:
                    continue
                value = self.values[slot]
                target: tuple[str, Any] | None
                if slot in self.node_of:
                    target = ("slot", slot)
                else:
                    tensor = self.tensor_at.get(slot)
                    target = self._leaf_target(tensor, slot) if tensor is not None else None
                    if target is None:
                        self.poison("backward reaches a tensor the replay cannot follow")
                        continue
                targets.append((i, target, tuple(value.shape), value.dtype))
            schedule.append((node, op.out, op.fn, tuple(targets)))
        return schedule


def _has_array(value: Any) -> bool:
    if type(value) in (tuple, list):
        return any(_has_array(v) for v in value)
    return isinstance(value, Tensor) or _is_array(value)


def _is_array(a: Any) -> bool:
    if isinstance(a, (type, int, float, complex, bool, str)):  # a dtype class such as numpy.float64 is no array
        return False
    return hasattr(a, "shape") and hasattr(a, "dtype")
