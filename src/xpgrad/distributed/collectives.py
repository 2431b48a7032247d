"""Collectives over the ranks of the job: identities in a job of one.

Every rank must call the same collectives in the same order (one called only
on rank 0 waits forever). Host arrays are reduced in place with MPI's buffer
``Allreduce`` (no pickling, no copy); device arrays with NCCL or staged
through host memory (see :func:`xpgrad.distributed.init`'s ``comm``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

import xpgrad.backend

from .launch import STATE

__all__ = ["all_gather_object", "all_reduce", "all_reduce_numbers", "barrier", "broadcast_object"]

OPS = ("sum", "max", "min", "prod")


def _check_op(op: str, where: str) -> None:
    if op not in OPS:
        raise ValueError(f"{where}: op must be one of {', '.join(map(repr, OPS))}, got {op!r}")


def check_root(root: Any, where: str) -> int:
    """``root`` as a rank index, or a ValueError naming the valid range."""
    if isinstance(root, bool) or not isinstance(root, int) or not 0 <= root < STATE.size:
        raise ValueError(f"{where}: root must be a rank in [0, {STATE.size}), got {root!r}")
    return root


def mpi_op(op: str) -> Any:
    mpi = STATE.mpi
    return {"sum": mpi.SUM, "max": mpi.MAX, "min": mpi.MIN, "prod": mpi.PROD}[op]


def barrier() -> None:
    """Wait until every rank has reached this call (nothing to wait for in a job of one).

    >>> import xpgrad.distributed as dist
    >>> dist.barrier()
    """
    if STATE.size > 1:
        STATE.world.Barrier()


def broadcast_object(obj: Any = None, root: int = 0) -> Any:
    """Return rank ``root``'s ``obj`` on every rank (pickled; for small things, not arrays in a loop).

    >>> import xpgrad.distributed as dist
    >>> dist.broadcast_object({"epoch": 3})
    {'epoch': 3}
    """
    check_root(root, "broadcast_object")
    if STATE.size == 1:
        return obj
    return STATE.world.bcast(obj, root=root)


def all_gather_object(obj: Any) -> list:
    """Every rank's ``obj``, as a list indexed by rank (pickled; for small things).

    >>> import xpgrad.distributed as dist
    >>> dist.all_gather_object("x")
    ['x']
    """
    if STATE.size == 1:
        return [obj]
    return STATE.world.allgather(obj)


def all_reduce_numbers(values: Sequence[float], op: str = "sum") -> list[float]:
    """Combine a few host numbers element by element over the ranks: r_k = op over ranks of values_k.

    Used for figures such as a loss sum and a sample count; one float64
    ``Allreduce`` for the whole list.

    >>> import xpgrad.distributed as dist
    >>> dist.all_reduce_numbers([1.5, 2])
    [1.5, 2.0]
    """
    _check_op(op, "all_reduce_numbers")
    try:
        buf = np.array([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"all_reduce_numbers takes a sequence of real numbers, got {values!r}") from None
    if STATE.size > 1 and buf.size:
        STATE.world.Allreduce(STATE.mpi.IN_PLACE, buf, op=mpi_op(op))
    return buf.tolist()


def all_reduce(x: Any, op: str = "sum") -> Any:
    """Combine an array (or a tensor's array) element by element over the ranks: x ← op over ranks of x.

    The result is written into ``x`` when its memory can be shared with MPI
    or NCCL or assigned to, and returned; use the returned value. Every rank
    must pass an array of the same shape and dtype. Gradients do not flow
    through this call (see :class:`SyncBatchNorm1d` for a reduction inside a
    graph).

    >>> import xpgrad, xpgrad.distributed as dist
    >>> dist.all_reduce(xpgrad.tensor([1.0, 2.0])).tolist()
    [1.0, 2.0]
    """
    _check_op(op, "all_reduce")
    tensor = x if getattr(type(x), "__xpgrad_tensor__", False) else None
    array = x.data if tensor is not None else x
    backend = xpgrad.backend.backend_of_array(array)
    if backend is None:
        raise TypeError(f"all_reduce takes an xpgrad Tensor or an array of a loaded backend, got "
                        f"{type(x).__name__}; for Python numbers use all_reduce_numbers")
    if STATE.size == 1:
        return x
    result = reduce_array(backend, array, op)
    if result is not array and tensor is not None:
        tensor.data = result
    return x if result is array or tensor is not None else result


def reduce_array(backend: Any, array: Any, op: str = "sum") -> Any:
    """Reduce ``array`` over the ranks in place when possible; returns the array holding the result."""
    view = backend.host_buffer(array)
    if view is not None:
        STATE.world.Allreduce(STATE.mpi.IN_PLACE, view, op=mpi_op(op))
        return array
    if not backend.on_host:  # a GPU backend: NCCL when it can be used
        nccl = _nccl(backend, array)
        if nccl is not None:
            backend.nccl_all_reduce_(nccl, array, op)
            return array
    host = np.ascontiguousarray(backend.to_numpy(array)).copy()
    STATE.world.Allreduce(STATE.mpi.IN_PLACE, host, op=mpi_op(op))
    result = backend.asarray(host, dtype=array.dtype)
    if backend.multi_device:
        result = backend.xp.asarray(result, device=array.device)
    try:
        array[...] = result
    except (TypeError, ValueError, AttributeError):  # a read-only or 0-d scalar: hand back the new array
        return result
    return array


def _nccl(backend: Any, array: Any) -> Any:
    """The NCCL communicator for device arrays, made collectively on first use; None: stage through the host."""
    if STATE.comm == "mpi" or STATE.nccl_failed:
        return None
    if STATE.nccl is not None:
        return STATE.nccl
    places = all_gather_object((STATE.mpi.Get_processor_name(), str(getattr(array, "device", ""))))
    reason = ""
    if len(set(places)) < len(places):
        reason = "two or more ranks use the same GPU, which NCCL refuses"
    uid = None
    if not reason:
        try:
            uid = backend.nccl_unique_id() if STATE.rank == 0 else None
            error = ""
        except (NotImplementedError, RuntimeError, OSError) as exc:
            error = str(exc)
        uid, error = broadcast_object((uid, error) if STATE.rank == 0 else None)
        reason = error
    if not reason:
        try:
            STATE.nccl = backend.nccl_communicator(STATE.size, STATE.rank, uid)
            mine = ""
        except Exception as exc:  # noqa: BLE001 - CuPy's NCCL errors have no common base
            mine = f"rank {STATE.rank}: {type(exc).__name__}: {exc}"
        errors = [e for e in all_gather_object(mine) if e]
        if errors:
            STATE.nccl = None
            reason = "; ".join(errors)
    if reason:
        if STATE.comm == "nccl":
            raise RuntimeError(f"comm='nccl' was asked for but NCCL cannot be used: {reason}. Give each rank its "
                               "own GPU, or init(comm='mpi') to reduce device arrays through host memory")
        STATE.nccl_failed = reason
        if STATE.rank == 0:
            warnings.warn(f"xpgrad.distributed: NCCL is not used ({reason}); device arrays are reduced through "
                          "host memory with MPI instead (slower)", stacklevel=4)
        return None
    return STATE.nccl


def finite(values: Sequence[float]) -> bool:
    """Whether every number is finite (NaN and ±inf are not)."""
    return all(math.isfinite(v) for v in values)
