"""State dicts of modules: checking every entry before anything changes, applying, rolling back.

:meth:`Module.load_state_dict <xpgrad.nn.Module.load_state_dict>` and
:meth:`Module.to <xpgrad.nn.Module.to>` work in two phases: the first builds
every new array (and finds every problem), the second only swaps arrays in
with ``set_`` and restores the old ones if a swap fails, so a module is never
left half-loaded or half-moved.
"""

from __future__ import annotations

import math
from collections import namedtuple

from .. import backend as xb
from ..autograd.creation import as_tensor
from ..autograd.tensor import Tensor

__all__ = ["IncompatibleKeys", "StateDictError"]

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])
IncompatibleKeys.__doc__ = ("Keys that ``load_state_dict(strict=False)`` skipped: missing from the dict and "
                            "unexpected in it.")


class StateDictError(ValueError):
    """``load_state_dict`` found missing, unexpected, wrongly shaped, wrongly typed or unreadable entries.

    The attributes ``missing``, ``unexpected``, ``mismatched`` (key -> (expected shape,
    given shape)), ``wrong_dtypes`` (key -> (module dtype, given dtype)) and
    ``unreadable`` (key -> reason) list every problem at once.
    """

    def __init__(self, module_name, missing, unexpected, mismatched, unreadable, wrong_dtypes=None):
        self.missing, self.unexpected = list(missing), list(unexpected)
        self.mismatched, self.unreadable = dict(mismatched), dict(unreadable)
        self.wrong_dtypes = dict(wrong_dtypes or {})
        lines = [f"cannot load the state dict into {module_name}; nothing was changed:"]
        if self.missing:
            lines.append("  missing keys: " + ", ".join(repr(k) for k in self.missing))
        if self.unexpected:
            lines.append("  unexpected keys: " + ", ".join(repr(k) for k in self.unexpected))
        for k, (want, got) in self.mismatched.items():
            hint = ""
            if len(want) == 2 and tuple(got) == tuple(want)[::-1]:
                hint = (" (transposed? nn.Linear weights are (out_features, in_features) as in PyTorch; "
                        "load the transpose of an (in, out) array)")
            lines.append(f"  wrong shape for {k!r}: the module has {want}, the dict has {got}{hint}")
        for k, (want, got) in self.wrong_dtypes.items():
            lines.append(f"  wrong dtype for {k!r}: the module has {want}, the dict has {got}, which cannot be "
                         f"converted without losing values (convert it to {want} yourself if that is intended)")
        for k, why in self.unreadable.items():
            lines.append(f"  unreadable value for {k!r}: {why}")
        lines.append("  (build the model with the same architecture as the one saved, or pass strict=False "
                     "to skip missing and unexpected keys)")
        super().__init__("\n".join(lines))


StateDictError.__module__ = "xpgrad.nn.module"  # where it was defined until it moved here (tracebacks, pickles)


def _kind(name: str) -> str:
    if name == "bool":
        return "bool"
    if name.startswith(("int", "uint")):
        return "int"
    if name.startswith(("float", "bfloat")):
        return "float"
    return "other"  # complex, strings, objects...


class _DtypeError(Exception):
    def __init__(self, want, got):
        super().__init__(want, got)
        self.want, self.got = want, got


def _fits(src, dt, b) -> bool:
    """Whether every value of the integer (or bool) array ``src`` is representable in integer dtype ``dt``."""
    if math.prod(src.shape) == 0:
        return True
    info = b.xp.iinfo(dt)
    lo, hi = b.xp.min(src), b.xp.max(src)
    return int(lo) >= int(info.min) and int(hi) <= int(info.max)


def convert_entry(value, like: Tensor):
    """A fresh array of ``like``'s backend and dtype holding ``value`` (never sharing the caller's memory).

    Floating entries accept floating and integer values; integer entries
    (counters) accept integer and bool values that fit their range; bool
    entries accept bool values only. Anything else raises ``_DtypeError``;
    a value that is no array raises ``TypeError``.
    """
    b, dt = like.backend, like.data.dtype
    if isinstance(value, Tensor):
        value = value.data
    if not b.owns(value) and not (xb.is_array(value) or hasattr(value, "__array__") or hasattr(value, "__dlpack__")):
        raise TypeError(f"expected an array or Tensor, got {type(value).__name__}")
    # A foreign array's dtype is read where it is (this backend may not have it, e.g. float16 on strict).
    src = value if b.owns(value) or not hasattr(value, "dtype") else None
    if src is None:
        try:
            got = xb.dtype_name(value.dtype)
        except Exception:  # noqa: BLE001 - a dtype xpgrad cannot name: let the backend judge the array
            src = b.asarray(value)
    if src is not None:
        src = b.asarray(src) if not b.owns(src) else src
        got = xb.dtype_name(src.dtype)
    want = xb.dtype_name(dt)
    kw, kg = _kind(want), _kind(got)
    ok = (kw == "float" and kg in ("float", "int")) or (kw == "int" and kg in ("int", "bool")) or (
        kw == "bool" and kg == "bool")
    if ok and kw == "int" and kg == "int" and want != got:
        src = b.asarray(value) if src is None else src
        if not _fits(src, dt, b):
            got, ok = f"{got} with values outside the range of {want}", False
    if not ok:
        raise _DtypeError(want, got)
    # Always a copy: a foreign array (another backend, a torch tensor, a memoryview) may be a view of its memory.
    return b.xp.asarray(b.asarray(value if src is None else src, dtype=dt), copy=True)


def load_slots(module, own: dict, state_dict, strict: bool):
    """Check every entry of ``state_dict`` against ``own`` (key -> tensor), then swap all arrays in or none."""
    if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
        raise TypeError(f"load_state_dict expects a mapping of names to arrays, got {type(state_dict).__name__}")
    try:
        given = list(state_dict.keys())
    except Exception as e:  # noqa: BLE001 - a broken mapping is reported as such
        raise TypeError(f"load_state_dict could not list the keys of the {type(state_dict).__name__} given: "
                        f"{type(e).__name__}: {e}") from None
    present = set(given)
    missing = [k for k in own if k not in present]
    unexpected = [k for k in given if k not in own]
    mismatched, unreadable, wrong_dtypes, staged = {}, {}, {}, []
    for key, target in own.items():
        if key not in present:
            continue
        try:
            arr = convert_entry(state_dict[key], target)
        except _DtypeError as e:
            wrong_dtypes[key] = (e.want, e.got)
            continue
        except Exception as e:  # noqa: BLE001 - reported together with the other problems
            unreadable[key] = f"{type(e).__name__}: {e}"
            continue
        if tuple(arr.shape) != target.shape:
            mismatched[key] = (target.shape, tuple(arr.shape))
            continue
        staged.append((target, arr, target.backend))
    if mismatched or unreadable or wrong_dtypes or (strict and (missing or unexpected)):
        raise StateDictError(type(module).__name__, missing if strict else [], unexpected if strict else [],
                             mismatched, unreadable, wrong_dtypes)
    swap(staged)
    return IncompatibleKeys(missing, unexpected)


def swap(staged) -> None:
    """``target.set_(array)`` for each (target, array, backend), restoring every earlier target if one fails."""
    done = []
    try:
        for target, arr, b in staged:
            old = target.detach()  # keeps the old array and backend alive
            target.set_(as_tensor(arr, backend=b))
            done.append((target, old))
    except BaseException as e:
        for target, old in reversed(done):
            target.set_(old)
        note = getattr(e, "add_note", None)  # Python 3.11+
        if note is not None:
            note("xpgrad: the entries already replaced were restored; the module is unchanged")
        raise


def move_slots(slots, backend, dtype) -> None:
    """Move/cast every (key, tensor) in ``slots`` (see ``Module.to``): all new arrays first, then swap them in."""
    target = None if backend is None else xb.resolve(backend)
    staged, grads = [], []
    for _, t in slots:
        b = target or t.backend
        staged.append((t, _move(t.data, b, dtype), b))
        grads.append(None if t.grad is None else _move(t.grad, b, dtype))
    swap(staged)
    for (t, _, _), g in zip(staged, grads, strict=True):
        if g is not None:
            t.grad = g


def _is_float(dtype) -> bool:
    return xb.dtype_name(dtype).startswith("float")


def _move(arr, target, dtype):
    """``arr`` on backend ``target``, floating arrays cast to ``dtype`` (None: keep); no copy when nothing changes."""
    return target.asarray(arr, dtype=dtype if dtype is not None and _is_float(arr.dtype) else None)
