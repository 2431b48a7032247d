"""Joining the job: launcher detection, MPI start-up, the abort hook, BLAS threads and the GPU choice.

Everything here is per process and idempotent. Without a launcher (a plain
``python script.py``) the job is one process of size 1: no MPI is imported and
every collective is an identity.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
import warnings
from dataclasses import dataclass
from typing import Any

import xpgrad.backend

__all__ = ["init", "is_initialized", "is_main", "local_rank", "local_world_size", "rank", "world_size"]

# Environment variables a launcher sets for every rank: (world size, rank). Hydra (MPICH, Intel MPI)
# speaks PMI; Open MPI, MVAPICH and PMIx launchers have their own names.
_LAUNCHER_VARS = (("PMI_SIZE", "PMI_RANK"), ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"),
                  ("MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK"), ("PMIX_SIZE", "PMIX_RANK"))
_COMMS = ("auto", "mpi", "nccl")


@dataclass
class _State:
    initialized: bool = False
    size: int = 1
    rank: int = 0
    local_rank: int = 0
    local_size: int = 1
    comm: str = "auto"       # what the user asked for
    mpi: Any = None          # the mpi4py.MPI module, when launched
    world: Any = None        # MPI.COMM_WORLD
    device: int | None = None  # the GPU this rank chose (None on the host)
    nccl: Any = None         # the NCCL communicator, made on the first device reduction
    nccl_failed: str = ""    # why NCCL is not used (then device arrays are staged through the host)
    threads: Any = None      # the threadpoolctl limiter, kept alive for the whole process


STATE = _State()


def launcher_size() -> int | None:
    """The world size announced by a launcher's environment variables, or None when not launched."""
    for size_var, _ in _LAUNCHER_VARS:
        value = os.environ.get(size_var)
        if value is not None:
            try:
                return int(value)
            except ValueError:
                raise RuntimeError(f"the launcher variable {size_var}={value!r} is not an integer") from None
    return None


def _mpiexec_hint() -> str:
    return os.path.join(os.path.dirname(sys.executable), "mpiexec")


def init(*, comm: str = "auto") -> int:
    """Join the job started by ``mpiexec`` and return its world size (1 when not launched).

    Idempotent (a later call with another explicit ``comm`` is an error;
    ``comm="auto"`` keeps the first choice). When launched with more than one rank it imports mpi4py,
    checks that ``mpiexec`` belongs to the same MPI library as mpi4py (a
    foreign launcher starts N unrelated processes of size 1), installs an
    exception hook that prints the traceback with the rank and aborts the
    whole job, limits BLAS/OpenMP threads to max(1, cores // ranks on this
    node), and, on a GPU backend, makes GPU ``local_rank mod GPUs`` current.

    ``comm`` chooses how device (GPU) arrays are reduced: ``"nccl"`` (NCCL,
    its unique id broadcast over MPI), ``"mpi"`` (staged through host
    memory) or ``"auto"`` (NCCL when it can be used, else staged with a
    warning). Host arrays are always reduced in place by MPI.

    >>> import xpgrad.distributed as dist
    >>> dist.init(), dist.rank(), dist.is_initialized()
    (1, 0, True)
    """
    if comm not in _COMMS:
        raise ValueError(f"init(comm={comm!r}): comm must be one of {', '.join(map(repr, _COMMS))}")
    if STATE.initialized:
        if comm not in ("auto", STATE.comm):  # a later plain init() (fit's, say) keeps the first choice
            raise RuntimeError(f"xpgrad.distributed is already initialized with comm={STATE.comm!r}; "
                               f"init(comm={comm!r}) cannot change it")
        return STATE.size
    size = launcher_size()
    STATE.comm = comm
    if size is None or size <= 1:
        STATE.initialized = True
        if size == 1:  # `mpiexec -n 1`: a job of one; MPI is not needed for anything
            _select_device()
        return 1
    try:
        from mpi4py import MPI
    except ImportError:
        raise RuntimeError(f"this process was started by a launcher with {size} ranks, but mpi4py is not "
                           "installed: pip install -e \".[mpi]\" (or pip install 'xpgrad[mpi]')") from None
    world = MPI.COMM_WORLD
    if world.Get_size() != size:
        raise RuntimeError(f"the launcher announced {size} ranks but MPI sees {world.Get_size()}: mpiexec "
                           f"belongs to a different MPI library than mpi4py ({MPI.Get_library_version().strip()}), "
                           f"so every process runs alone. Launch with {_mpiexec_hint()} (the mpiexec next to "
                           f"{sys.executable})")
    local = world.Split_type(MPI.COMM_TYPE_SHARED)
    STATE.mpi, STATE.world = MPI, world
    STATE.size, STATE.rank = world.Get_size(), world.Get_rank()
    STATE.local_rank, STATE.local_size = local.Get_rank(), local.Get_size()
    local.Free()
    _install_abort_hooks()
    _limit_threads()
    _select_device()
    STATE.initialized = True
    return STATE.size


def _install_abort_hooks() -> None:
    """On an uncaught exception in any thread: print it with the rank, then abort every rank."""
    def excepthook(kind, value, tb):
        _report_and_abort("".join(traceback.format_exception(kind, value, tb)))

    def thread_hook(args):
        if args.exc_type is SystemExit:
            return
        where = f" in thread {args.thread.name}" if args.thread is not None else ""
        _report_and_abort(f"exception{where}:\n" +
                          "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)))

    sys.excepthook = excepthook
    threading.excepthook = thread_hook


def _report_and_abort(text: str) -> None:
    prefix = f"[xpgrad rank {STATE.rank}/{STATE.size}] "
    sys.stderr.write("".join(prefix + line + "\n" for line in text.rstrip("\n").splitlines()))
    sys.stderr.write(f"{prefix}aborting the whole job (MPI_Abort) so the other ranks do not wait forever\n")
    sys.stderr.flush()
    sys.stdout.flush()
    # Give the launcher a moment to forward these lines: MPI_Abort tears the job down at once, and a
    # launcher under load could drop the report that says why (seen once in a full test run).
    time.sleep(0.2)
    try:
        STATE.world.Abort(1)
    finally:  # MPICH's Abort may return while the launcher tears the job down: never run on past a failure
        os._exit(1)


def _limit_threads() -> None:
    """Ranks sharing a node share its cores: BLAS/OpenMP threads per rank = max(1, cores // local ranks)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    threads = max(1, cores // STATE.local_size)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        if STATE.rank == 0:
            warnings.warn(f"threadpoolctl is not installed, so BLAS threads are not limited to {threads} per rank "
                          "(oversubscribed cores slow every rank down); pip install -e \".[mpi]\"", stacklevel=3)
        return
    STATE.threads = threadpool_limits(limits=threads)


def _select_device() -> None:
    """On a device backend, each rank on a node takes its own GPU (by local rank)."""
    STATE.device = xpgrad.backend.current().select_device(STATE.local_rank)


def is_initialized() -> bool:
    """Whether :func:`init` has run in this process.

    >>> import xpgrad.distributed as dist
    >>> _ = dist.init()
    >>> dist.is_initialized()
    True
    """
    return STATE.initialized


def world_size() -> int:
    """The number of ranks in the job (1 before :func:`init` or without a launcher).

    >>> import xpgrad.distributed as dist
    >>> dist.world_size()
    1
    """
    return STATE.size


def rank() -> int:
    """This process's rank, 0 ≤ rank < world_size() (0 before :func:`init` or without a launcher).

    >>> import xpgrad.distributed as dist
    >>> dist.rank()
    0
    """
    return STATE.rank


def local_rank() -> int:
    """This process's rank among the ranks on its node (it picks the GPU of that index).

    >>> import xpgrad.distributed as dist
    >>> dist.local_rank()
    0
    """
    return STATE.local_rank


def local_world_size() -> int:
    """The number of ranks on this process's node.

    >>> import xpgrad.distributed as dist
    >>> dist.local_world_size()
    1
    """
    return STATE.local_size


def is_main() -> bool:
    """Whether this is rank 0, the one that prints, plots and writes checkpoints.

    >>> import xpgrad.distributed as dist
    >>> dist.is_main()
    True
    """
    return STATE.rank == 0
