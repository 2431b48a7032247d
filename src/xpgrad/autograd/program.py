"""``Program``: a recorded step turned into one generated Python function.

Every slot of the :class:`~xpgrad.autograd.trace.Trace` becomes a local
variable (``s12``), every constant, op class, tensor and backend a global of
the function (``K3``, ``FW4``...), and every instruction a few lines of
straight-line code: an op is its ``forward`` called on locals, a backward
pass is its schedule unrolled, node by node, with each input's gradient going
to a local (``g12``) or a leaf. Nothing is looked up or dispatched at replay
time beyond what the op bodies themselves do. Linear and LinearReLU, the
layers of every MLP, are emitted as their array calls directly (the
signature and the guards already fixed the shapes their checks look at) and
differentiate through the ops' own gradient helper. The generated source is
kept on the program (``program.source``) for reading and debugging.
"""

from __future__ import annotations

from typing import Any

from .. import backend as _backend
from .engine import _to_dtype, accumulate_leaf, unbroadcast
from .function import Context
from .ops.linalg import Linear as LinearOp
from .ops.linalg import LinearReLU, _affine_grads
from .tensor import Tensor
from .trace import CONST, OP, Backward, Call, Eager, Op, SlotRef, Trace, slots_in

__all__ = ["Program"]

_new = object.__new__


class Program:
    """One recorded signature of a compiled step: guards, and the generated ``replay(A)`` function."""

    def __init__(self, trace: Trace, result: Any, name: str = "step"):
        self.externals = tuple(trace.externals.values())
        self.modules = tuple((m, flag) for m, flag in trace.modules.values())
        self.ext_guards = tuple((t, t.requires_grad, tuple(t.data.shape), t.data.dtype) for t, _ in self.externals)
        self._ext_tensors = [t for t, _ in self.externals]
        self._ext_flags = [t.requires_grad for t in self._ext_tensors]
        self._ext_seen = [t.data for t in self._ext_tensors]  # arrays already checked: identity is enough
        self.source, namespace = _Emitter(trace, result).emit()
        exec(compile(self.source, f"<xpgrad.compile of {name}>", "exec"), namespace)  # noqa: S102 (our own code)
        self.run = namespace["replay"]

    def guards_hold(self) -> bool:
        """Whether what the recording assumed still holds: module modes, parameter shapes, dtypes, requires_grad."""
        for m, flag in self.modules:
            if m.training is not flag:
                return False
        tensors = self._ext_tensors
        # the usual case: the same arrays as last time, the same requires_grad flags (a plain loop is the
        # fastest form on CPython 3.11+: attrgetter over slotted attributes in map() costs more)
        for t, seen, flag in zip(tensors, self._ext_seen, self._ext_flags):  # noqa: B905 (hot; equal lengths)
            if t.data is not seen or t.requires_grad is not flag:
                break
        else:
            return True
        for t, requires_grad, shape, dtype in self.ext_guards:
            d = t.data
            if t.requires_grad is not requires_grad or d.shape != shape or d.dtype != dtype:
                return False
        self._ext_seen = [t.data for t in tensors]
        return True


def _stub() -> Tensor:
    """What a replayed op sees as ``ctx.parents[i]`` for an input that is not a parameter: no grad slot."""
    t = _new(Tensor)
    t.data, t.grad, t.requires_grad, t._ctx, t._version = None, None, True, None, 0
    return t


class _Emitter:
    """Writes the source of ``replay(A)`` for a trace (``A``: the call's tensor arguments, in order)."""

    def __init__(self, trace: Trace, result: Any):
        self.trace, self.result = trace, result
        self.lines: list[str] = []
        self.ns: dict[str, Any] = {"_new": _new, "Context": Context, "T": Tensor._make, "ACC": accumulate_leaf,
                                   "UNB": unbroadcast, "TODT": _to_dtype, "tuple": tuple, "list": list}
        self.stub = _stub()
        self.nodes: dict[int, int] = {}  # program index of a recording op -> node number (its context's local)
        self.lowered: set[int] = set()
        self._consts: dict[int, str] = {}

    # -- names ----------------------------------------------------------------------------------
    def const(self, value: Any, prefix: str = "K") -> str:
        key = id(value)
        if key not in self._consts:
            name = f"{prefix}{len(self.ns)}"
            self.ns[name] = value
            self._consts[key] = name
        return self._consts[key]

    def slot(self, slot: int) -> str:
        if self.trace.kinds[slot] == CONST:
            return self.const(self.trace.values[slot])
        return f"s{slot}"

    def expr(self, spec: Any) -> str:
        """Python source for a spec: a slot's local, a tuple or list of them, or a constant."""
        if type(spec) is SlotRef:
            return self.slot(spec.slot)
        if type(spec) is tuple:
            return "(" + "".join(self.expr(s) + ", " for s in spec) + ")"
        if type(spec) is list:
            return "[" + ", ".join(self.expr(s) for s in spec) + "]"
        return self.const(spec)

    def line(self, text: str, indent: int = 1) -> None:
        self.lines.append("    " * indent + text)

    # -- the function ---------------------------------------------------------------------------
    def emit(self) -> tuple[str, dict]:
        trace = self.trace
        self.line("def replay(A):", 0)
        for slot, position in trace.inputs:
            self.line(f"s{slot} = A[{position}].data")
        self.refresh()
        frees = _frees(trace, self.result)
        for n, ins in enumerate(trace.program):
            if isinstance(ins, Op):
                self.op(n, ins)
            elif isinstance(ins, Backward):
                self.backward(ins)
            elif isinstance(ins, Eager):
                self.eager(ins)
            else:
                self.call(ins)
            if frees[n]:
                self.line(" = ".join(f"s{s}" for s in frees[n]) + " = None")
        self.line(f"return {self.rebuild(self.result)}")
        return "\n".join(self.lines) + "\n", self.ns

    def refresh(self, indent: int = 1) -> None:
        """Read the external tensors' arrays (at the start, and after every eager call: it may rebind them)."""
        for t, slot in self.trace.externals.values():
            self.line(f"s{slot} = {self.const(t, 'E')}.data", indent)
        if indent > 1 and not self.trace.externals:
            self.line("pass", indent)

    def op(self, n: int, op: Op) -> None:
        node = None
        if op.node is not None:
            node = self.nodes[n] = len(self.nodes)
        out = f"s{op.out}"
        ins = [self.slot(i) for i in op.ins]
        if op.fn in (LinearOp, LinearReLU) and not op.kwargs and len(ins) == 3:
            x, w, b = ins
            # the product as _affine makes it: the backend's 2-D product, else @
            xv, wv = self.trace.values[op.ins[0]], self.trace.values[op.ins[1]]
            if xv.ndim == 2:
                xw = f"{self.product(op.backend, xv.shape[0], xv.shape[1], wv.shape[0])}({x}, {w}.T)"
            else:
                xw = f"{x} @ {w}.T"
            uf = self.ufuncs(op.backend, op.out, op.ins[2])
            if op.fn is LinearReLU and uf:  # bias_relu_'s two ufuncs, in y's memory, without its frame
                self.line(f"{out} = {xw}")
                if not (self.trace.kinds[op.ins[2]] == CONST and self.trace.values[op.ins[2]] is None):
                    self.line(f"{self.const(uf['add'], 'UA')}({out}, {b}, out={out})")
                self.line(f"{self.const(uf['maximum'], 'UX')}({out}, 0, out={out})")
            elif op.fn is LinearReLU:
                self.line(f"{out} = {self.const(op.backend.bias_relu_, 'BR')}({xw}, {b})")
            else:
                self.line(f"{out} = {xw}")
                if not (self.trace.kinds[op.ins[2]] == CONST and self.trace.values[op.ins[2]] is None):
                    self.line(f"if {b} is not None: {out} += {b}")
            if node is not None:
                self.lowered.add(node)
                self.line(f"c{node} = ({x}, {w}, {out})")
            return
        parents = tuple(self.stub if p is None else p for p in op.parents)
        self.line("c = _new(Context)")
        self.line(f"c.xp = {self.const(op.xp, 'XP')}; c.backend = {self.const(op.backend, 'B')}; "
                  f"c.needs_input_grad = {self.const(op.needs, 'N')}; c.fn = {self.const(op.fn, 'F')}; "
                  f"c.parents = {self.const(parents, 'P')}; c.freed = False; c.seq = 0")
        kwargs = ""
        if op.kwargs:
            kwargs = ", " + ", ".join(f"{k}={self.expr(v) if slots_in(v) else self.const(v)}"
                                      for k, v in op.kwargs.items())
            if not all(k.isidentifier() for k in op.kwargs):
                kwargs = ", **{" + ", ".join(f"{k!r}: {self.expr(v)}" for k, v in op.kwargs.items()) + "}"
        self.line(f"{out} = {self.const(op.fn.forward, 'FW')}(c, {', '.join(ins)}{kwargs})")
        if node is not None:
            self.line(f"c{node} = c")

    def product(self, backend: Any, m: int, k: int, n: int, into: bool = False) -> str:
        """The name, in the program, of what computes an (m, k) by (k, n) product as eager code does.

        The backend's :meth:`~xpgrad.backend.Backend.product_function` for those sizes when it has one
        (called directly, with ``out=`` for a gradient slot), else its ``mm`` or ``matmul_into`` method.
        """
        f = backend.product_function(m, k, n)
        if f is None:
            return self.const(backend.matmul_into if into else backend.mm, "MI" if into else "MM")
        return self.const(f, "MM")

    def ufuncs(self, backend: Any, *slots: int) -> dict | None:
        """The backend's ``inline_ufuncs`` when every given slot held a floating array of one dtype, else None.

        The ufuncs then compute in that dtype, as the backend methods they stand in for do; a bias of
        another dtype (or None) keeps the methods, which handle it.
        """
        uf = backend.inline_ufuncs
        if not uf:
            return None
        values = [self.trace.values[s] for s in slots]
        dtypes = {getattr(v, "dtype", None) for v in values if v is not None}
        if len(dtypes) != 1 or not all(_backend.is_array(v) for v in values if v is not None):
            return None
        return uf if backend.is_floating(next(iter(dtypes))) else None

    def call(self, call: Call) -> None:
        args = ", ".join(self.expr(a) for a in call.args)
        kwargs = "".join(f", {k}={self.expr(v)}" for k, v in call.kwargs.items())
        value = f"{self.const(call.func, 'CF')}({args}{kwargs})".replace("(, ", "(")
        self.assign(call.out, value)

    def assign(self, spec: Any, value: str) -> None:
        if type(spec) is SlotRef:
            self.line(f"s{spec.slot} = {value}")
        elif type(spec) is tuple and any(slots_in(s) for s in spec):
            self.line(f"r = {value}")
            for i, s in enumerate(spec):
                if type(s) is SlotRef:
                    self.line(f"s{s.slot} = r[{i}]")
                elif type(s) is tuple and slots_in(s):
                    self.line(f"r{i} = r[{i}]")
                    for j, inner in enumerate(s):
                        if type(inner) is SlotRef:
                            self.line(f"s{inner.slot} = r{i}[{j}]")
        else:
            self.line(value)

    def eager(self, call: Eager) -> None:
        def arg(a):
            if type(a) is SlotRef:
                backend = _backend.backend_of(self.trace.values[a.slot])
                return f"T(s{a.slot}, {self.const(backend, 'B')})"
            return self.const(a)

        replay = getattr(call.fn, "__xpgrad_replay__", None)
        if replay is not None and not any(type(a) is SlotRef for a in (*call.args, *call.kwargs.values())):
            runner = replay(*call.args, **call.kwargs)
            if runner is not None:  # the function's own stand-in: True when it gave no tensor a new array
                self.line(f"if not {self.const(runner, 'ER')}():")
                self.refresh(indent=2)
                return
        args = ", ".join(arg(a) for a in call.args)
        kwargs = ", ".join(f"{k}={arg(v)}" for k, v in call.kwargs.items())
        if kwargs and not all(k.isidentifier() for k in call.kwargs):
            kwargs = "**{" + ", ".join(f"{k!r}: {arg(v)}" for k, v in call.kwargs.items()) + "}"
        self.line(f"{self.const(call.fn, 'EF')}({', '.join(p for p in (args, kwargs) if p)})")
        self.refresh()

    def backward(self, bw: Backward) -> None:
        value = self.trace.values[bw.root]
        backend = _backend.backend_of(value)
        xp, b = self.const(backend.xp, "XP"), self.const(backend, "B")
        g0 = f"{xp}.ones_like(s{bw.root})" if bw.grad is None else self.slot(bw.grad)
        if bw.leaf_root is not None:
            self.line(f"ACC({xp}, {self.leaf(bw.leaf_root)}, {g0}, False)")
            return
        receivers = {bw.root} | {t[1] for *_, targets in bw.schedule for _, t, _, _ in targets if t[0] == "slot"}
        self.line(" = ".join(f"g{s}" for s in sorted(receivers)) + " = None")
        self.line(f"g{bw.root} = {g0}")
        owned = self.owned_gradients(bw)
        for node_index, out, fn, targets in bw.schedule:
            node = self.nodes[node_index]
            self.line(f"if g{out} is not None:")
            if node in self.lowered and self.dense_inline(node_index, node, out, targets, xp, out in owned):
                if not bw.retain:
                    self.line(f"c{node} = None", 2)
                self.line(f"g{out} = None")
                continue
            if node in self.lowered:
                fn_name = self.dense_backward(node_index, node)
                self.line(f"r = {fn_name}(c{node}, g{out})", 2)
            else:
                self.line(f"r = {self.const(fn.backward, 'BW')}(c{node}, g{out})", 2)
                self.line("if type(r) is not tuple: r = tuple(r) if type(r) is list else (r,)", 2)
            fresh = bool(fn.owns_grads)
            for i, target, shape, dtype in targets:
                if node in self.lowered:  # the dense gradients have their inputs' shapes and dtypes already
                    self.line(f"pg = r[{i}]", 2)
                    self.line("if pg is not None:", 2)
                    self.to_target(target, "pg", "True", xp)
                    continue
                self.line(f"pg = r[{i}] if len(r) > {i} else None", 2)
                self.line("if pg is not None:", 2)
                self.line(f"f = {fresh}", 3)
                self.line(f"if pg.shape != {self.const(shape, 'SH')}: pg = UNB({xp}, pg, {self.const(shape, 'SH')}); "
                          "f = True", 3)
                self.line(f"if pg.dtype != {self.const(dtype, 'DT')}: pg = TODT({b}, pg, {self.const(dtype, 'DT')})",
                          3)
                self.to_target(target, "pg", "f", xp)
            if not bw.retain:
                self.line(f"c{node} = None", 2)
            self.line(f"g{out} = None")

    def owned_gradients(self, bw: Backward) -> set[int]:
        """The slots whose summed gradient is always a new array of the replay's own (safe to change in place).

        A slot's gradient is the first contribution it gets, then a new sum with each further one: it is
        new when it got two or more, or one from a backward that makes new arrays (``owns_grads``, or the
        dense layers' dx = g W). The seed of ones is new too; a gradient handed in by the caller is not.
        """
        counts: dict[int, int] = {}
        fresh: set[int] = set()
        for node_index, _, fn, targets in bw.schedule:
            lowered = self.nodes[node_index] in self.lowered
            for i, target, _, _ in targets:
                if target[0] == "slot":
                    counts[target[1]] = counts.get(target[1], 0) + 1
                    if fn.owns_grads or (lowered and i == 0):
                        fresh.add(target[1])
        owned = {slot for slot, n in counts.items() if n > 1 or slot in fresh}
        if bw.grad is None:
            owned.add(bw.root)
        return owned

    def to_target(self, target: tuple, pg: str, fresh: str, xp: str, indent: int = 3) -> None:
        """Hand a gradient to an interior slot (summing) or to a leaf (its gradient slot when free)."""
        if target[0] == "slot":
            self.line(f"g{target[1]} = {pg} if g{target[1]} is None else g{target[1]} + {pg}", indent)
            return
        leaf = self.leaf(target)
        # the common case of accumulate_leaf, inline: the backward wrote into the free gradient slot
        self.line(f"if {leaf}.grad is None and {pg} is getattr({leaf}, '_grad_slot', None): {leaf}.grad = {pg}", indent)
        self.line(f"else: ACC({xp}, {leaf}, {pg}, {fresh})", indent)

    def dense_inline(self, node_index: int, node: int, out: int, targets: list, xp: str, owned: bool) -> bool:
        """The backward of a lowered Linear/LinearReLU on 2-D inputs as its array calls, in place; False if not 2-D.

        The same calls in the same order as :func:`~xpgrad.autograd.ops.linalg._affine_grads` (so the
        same numbers): dx = g W, then dW = gᵀ x and db = Σ_rows g, each written straight into the
        parameter's free gradient slot (the guards fixed the parameters' shapes and dtypes, so a slot
        that exists fits once its dtype matches the gradient's), else handed to the leaf as usual.
        The ReLU's mask is applied in the incoming gradient's memory when the replay ``owned`` it.
        """
        op = self.trace.program[node_index]
        if getattr(self.trace.values[op.ins[0]], "ndim", 0) != 2:
            return False
        out_dtype = self.trace.values[op.out].dtype
        dtype = self.const(out_dtype, "DT")
        c = f"c{node}"
        uf = self.ufuncs(op.backend, op.out)
        if op.fn is LinearReLU and owned and uf:  # relu_grad_'s multiply by the mask, into the owned gradient
            self.line(f"g = {self.const(uf['multiply'], 'UM')}(g{out}, {c}[2] > 0, out=g{out})", 2)
        elif op.fn is LinearReLU:
            relu_grad = op.backend.relu_grad_ if owned else op.backend.relu_grad
            self.line(f"g = {self.const(relu_grad, 'RG')}(g{out}, {c}[2])", 2)
        else:
            self.line(f"g = g{out}", 2)
        (rows, n_in), n_out = self.trace.values[op.ins[0]].shape, self.trace.values[op.out].shape[1]
        b = op.backend
        for i, target, _, _ in targets:
            if i == 0:
                self.line(f"pg = {self.product(b, rows, n_out, n_in)}(g, {c}[1])", 2)
            else:
                if i == 1:
                    f = b.product_function(n_out, rows, n_in)
                    into = f"{self.const(f, 'MM')}(g.T, {c}[0], out=q)" if f is not None else \
                        f"{self.product(b, n_out, rows, n_in, into=True)}(g.T, {c}[0], q)"
                    plain = f"{self.product(b, n_out, rows, n_in)}(g.T, {c}[0])"
                else:
                    f = b.sum_rows_function(rows, out_dtype)  # what sum_rows and sum_rows_into call
                    into = f"{self.const(f, 'US')}(g, out=q)" if f is not None else \
                        f"{self.const(b.sum_rows_into, 'SI')}(g, q)"
                    plain = f"{self.const(f if f is not None else b.sum_rows, 'SR')}(g)"
                if target[0] != "slot":
                    leaf = self.leaf(target)
                    # A slot has its parameter's dtype: a parameter the guards fixed to the gradient's needs no check.
                    same = target[0] != "arg" and target[1].data.dtype == out_dtype
                    check = "" if same else f" and q.dtype == {dtype}"
                    self.line(f"if {leaf}.grad is None and (q := getattr({leaf}, '_grad_slot', None)) is not None"
                              f"{check}: {leaf}.grad = {into}", 2)
                    self.line(f"else: ACC({xp}, {leaf}, {plain}, True)", 2)
                    continue
                self.line(f"pg = {plain}", 2)
            self.to_target(target, "pg", "True", xp, indent=2)
        self.line("g = pg = None", 2)  # this layer's gradients are not kept past it: the peak stays one layer's
        return True

    def dense_backward(self, node_index: int, node: int) -> str:
        """The backward of a lowered Linear/LinearReLU: the op's gradient helper on a context built once."""
        op = self.trace.program[node_index]
        ctx: Any = _new(Context)
        ctx.xp, ctx.backend, ctx.needs_input_grad = op.xp, op.backend, op.needs
        ctx.fn, ctx.freed, ctx.seq = op.fn, False, 0
        ctx.parents = tuple(self.stub if p is None else p for p in op.parents)
        if op.fn is LinearReLU:
            relu_grad = op.backend.relu_grad

            def backward(saved, g):
                return _affine_grads(ctx, saved[0], saved[1], relu_grad(g, saved[2]))
        else:
            def backward(saved, g):
                return _affine_grads(ctx, saved[0], saved[1], g)
        return self.const(backward, "DB")

    def leaf(self, target: tuple) -> str:
        kind, ref = target
        return f"A[{ref}]" if kind == "arg" else self.const(ref, "E")

    def rebuild(self, spec: Any) -> str:
        if type(spec) is SlotRef:
            backend = _backend.backend_of(self.trace.values[spec.slot])
            return f"T(s{spec.slot}, {self.const(backend, 'B')})"
        if isinstance(spec, tuple):
            items = "".join(self.rebuild(s) + ", " for s in spec)
            return f"{self.const(type(spec), 'TY')}({items})" if hasattr(spec, "_fields") else f"({items})"
        if isinstance(spec, list):
            return "[" + ", ".join(self.rebuild(s) for s in spec) + "]"
        if isinstance(spec, dict):
            return "{" + ", ".join(f"{self.const(k)}: {self.rebuild(v)}" for k, v in spec.items()) + "}"
        return self.const(spec)


def _frees(trace: Trace, result: Any) -> list[tuple[int, ...]]:
    """For each instruction, the op slots no later instruction (or the result) reads: freed after it runs."""
    last: dict[int, int] = {}
    for n, ins in enumerate(trace.program):
        if isinstance(ins, Op):
            used: tuple = (*ins.ins, *slots_in(ins.kwargs))
        elif isinstance(ins, Call):
            used = (*slots_in(list(ins.args)), *slots_in(ins.kwargs))
            for slot in slots_in(ins.out if isinstance(ins.out, tuple) else [ins.out]):
                last.setdefault(slot, n)
        elif isinstance(ins, Backward):
            used = (ins.root,) if ins.grad is None else (ins.root, ins.grad)
        else:
            used = tuple(a.slot for a in (*ins.args, *ins.kwargs.values()) if isinstance(a, SlotRef))
        for slot in used:
            last[slot] = n
        if isinstance(ins, Op):
            last.setdefault(ins.out, n)
    kept = set(slots_in(result if isinstance(result, (tuple, list, dict)) else [result]))
    frees: list[list[int]] = [[] for _ in trace.program]
    for slot, n in last.items():
        if trace.kinds[slot] == OP and slot not in kept:
            frees[n].append(slot)
    return [tuple(f) for f in frees]
