"""Making every rank hold the same model and optimizer, and checking that they do."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

import xpgrad.backend

from .collectives import all_gather_object, broadcast_object, check_root
from .launch import STATE

__all__ = ["broadcast_optimizer_state", "broadcast_parameters", "check_in_sync"]


def agree(problem: str, what: str) -> None:
    """Raise the same RuntimeError on every rank when any rank found a problem (so none is left waiting)."""
    problems = all_gather_object(problem)
    found = [f"rank {r}: {p}" for r, p in enumerate(problems) if p]
    if found:
        raise RuntimeError(f"{what} failed on {len(found)} of {len(problems)} rank(s): " + "; ".join(found))


def _entries(module: Any, where: str) -> dict:
    state_dict = getattr(module, "state_dict", None)
    if not callable(state_dict):
        raise TypeError(f"{where} takes an xpgrad nn.Module, got {type(module).__name__}")
    return state_dict()


def _layout(entries: dict) -> list[tuple[str, tuple, str]]:
    return [(k, tuple(t.shape), xpgrad.backend.dtype_name(t.dtype)) for k, t in entries.items()]


def _first_difference(mine: list, theirs: list) -> str:
    for a, b in zip(mine, theirs, strict=False):
        if a != b:
            if a[0] != b[0]:
                return f"entry {a[0]!r} where the root has {b[0]!r}"
            return f"{a[0]!r} has shape {a[1]} and dtype {a[2]}, the root's has shape {b[1]} and dtype {b[2]}"
    if len(mine) != len(theirs):
        extra = mine[len(theirs):] or theirs[len(mine):]
        side = "this rank" if len(mine) > len(theirs) else "the root"
        return f"{len(mine)} entries where the root has {len(theirs)} (only {side} has {extra[0][0]!r})"
    return ""


def broadcast_parameters(module: Any, root: int = 0) -> None:
    """Copy rank ``root``'s parameters and buffers (every state-dict entry) into ``module`` on every rank.

    Names, shapes and dtypes are compared first; a mismatch raises the same
    RuntimeError on every rank, naming the first differing entry, before
    anything is copied. The arrays are overwritten in place, so optimizers
    and flat buffers keep pointing at them.

    >>> import xpgrad.distributed as dist
    >>> from xpgrad import nn
    >>> dist.broadcast_parameters(nn.Linear(2, 1))   # a job of one: nothing to copy
    """
    check_root(root, "broadcast_parameters")
    entries = _entries(module, "broadcast_parameters")
    if STATE.size == 1:
        return
    mine = _layout(entries)
    theirs = broadcast_object(mine, root=root)
    difference = _first_difference(mine, theirs)
    agree(f"the model differs from rank {root}'s: {difference}" if difference else "", "broadcast_parameters")
    world = STATE.world
    for t in entries.values():
        array = t.data
        view = t.backend.host_buffer(array)
        if view is not None:
            world.Bcast(view, root=root)
            continue
        host = np.ascontiguousarray(t.backend.to_numpy(array)).copy()
        world.Bcast(host, root=root)
        array[...] = t.backend.asarray(host, dtype=array.dtype)


def _host(value: Any) -> Any:
    """A picklable host copy of an optimizer state-dict value (arrays of any backend become NumPy)."""
    if isinstance(value, dict):
        return {k: _host(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_host(v) for v in value)
    backend = xpgrad.backend.backend_of_array(value)
    return np.array(backend.to_numpy(value), copy=True) if backend is not None else value


def broadcast_optimizer_state(optimizer: Any, root: int = 0) -> None:
    """Load rank ``root``'s ``optimizer.state_dict()`` into the optimizer on every rank.

    Use it after resuming from a checkpoint read on rank 0. A rank whose
    optimizer does not fit the state (other groups or parameter shapes)
    makes every rank raise the same RuntimeError.

    >>> import xpgrad, xpgrad.distributed as dist
    >>> opt = xpgrad.optimizer("sgd", [xpgrad.zeros(2, requires_grad=True)], lr=0.1)
    >>> dist.broadcast_optimizer_state(opt)
    """
    check_root(root, "broadcast_optimizer_state")
    if not callable(getattr(optimizer, "state_dict", None)) or not callable(getattr(optimizer, "load_state_dict",
                                                                                    None)):
        raise TypeError(f"broadcast_optimizer_state takes an xpgrad optimizer, got {type(optimizer).__name__}")
    if STATE.size == 1:
        return
    state = broadcast_object(_host(optimizer.state_dict()) if STATE.rank == root else None, root=root)
    problem = ""
    if STATE.rank != root:
        try:
            optimizer.load_state_dict(state)
        except (TypeError, ValueError, KeyError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
    agree(problem, "broadcast_optimizer_state")


def digests(module: Any) -> dict[str, str]:
    """sha256 of each state-dict entry's dtype, shape and bytes, by name."""
    out = {}
    for name, t in _entries(module, "check_in_sync").items():
        host = np.ascontiguousarray(t.backend.to_numpy(t.data))
        h = hashlib.sha256(f"{host.dtype.str}{host.shape}".encode())
        h.update(host.tobytes())
        out[name] = h.hexdigest()
    return out


def check_in_sync(module: Any) -> bool:
    """Return True when every rank holds bit-identical parameters and buffers; else raise on every rank.

    Compares a sha256 digest of each state-dict entry with rank 0's; the
    RuntimeError names the differing entries and the ranks that hold them.

    >>> import xpgrad.distributed as dist
    >>> from xpgrad import nn
    >>> dist.check_in_sync(nn.Linear(2, 1))
    True
    """
    mine = digests(module)
    if STATE.size == 1:
        return True
    every = all_gather_object(mine)
    reference = every[0]
    differing: dict[str, list[int]] = {}
    for r, theirs in enumerate(every[1:], start=1):
        for name in sorted(set(reference) | set(theirs)):
            if reference.get(name) != theirs.get(name):
                differing.setdefault(name, []).append(r)
    if differing:
        shown = [f"{name!r} (ranks {', '.join(map(str, ranks))})" for name, ranks in list(differing.items())[:10]]
        more = f" and {len(differing) - 10} more" if len(differing) > 10 else ""
        raise RuntimeError(f"ranks out of sync: {len(differing)} tensor(s) differ from rank 0's: "
                           f"{', '.join(shown)}{more}; call broadcast_parameters(model) after building the model "
                           "and use SyncBatchNorm1d (plain BatchNorm1d keeps per-rank running statistics)")
    return True
