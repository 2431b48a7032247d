"""``xpgrad info``, ``xpgrad list`` and ``xpgrad plugin new``, and the ``--backend`` check they share with train."""

from __future__ import annotations

import os
import sys

from .. import __version__
from .. import backend as B
from .checks import UsageError


def load_plugins() -> None:
    """Load every plugin now (idempotent), so the backend table includes the plugins' backends."""
    from .. import registry

    registry.ensure_loaded()


def info(args) -> int:
    print(f"xpgrad {__version__}")
    print(f"current backend: {B.get_backend()}")
    load_plugins()
    for name, entry in B.registered_backends().items():  # built-ins and plugins' backends alike
        try:
            B.resolve(name)
            state = "available"
        except B.BackendError as e:
            state = f"unavailable ({e})"
        source = entry.plugin or "registered in-process"
        if entry.distribution not in (None, "xpgrad"):
            source += f" [{entry.distribution}]"
        aliases = f", aliases {', '.join(entry.aliases)}" if entry.aliases else ""
        print(f"  {name}: {state}  (plugin {source}{aliases})")
    gpu = B.gpu_available()
    print(f"GPU usable: {'yes' if gpu else 'no'}")
    for line in distributed_lines(gpu):
        print(line)
    return 0


def distributed_lines(gpu: bool) -> list[str]:
    """What data-parallel training can use here: mpi4py and its MPI library, that library's ``mpiexec``, NCCL.

    >>> lines = distributed_lines(gpu=False)
    >>> lines[0].startswith("mpi4py: "), lines[-1]
    (True, 'NCCL: unavailable (no usable GPU)')
    """
    try:
        import mpi4py
    except ImportError:
        return ["mpi4py: not installed (data-parallel training needs it: pip install 'xpgrad[mpi]')",
                "MPI library: none", "mpiexec: none", "NCCL: unavailable (no usable GPU)" if not gpu else
                "NCCL: not checked (needs mpi4py)"]
    from ..distributed.launch import launcher_size

    if "mpi4py.MPI" not in sys.modules and launcher_size() is None:
        # Outside a job the version is all we need: MPI is not started (under a launcher it is, as init wants).
        mpi4py.rc.initialize = mpi4py.rc.finalize = False
    from mpi4py import MPI

    library = MPI.Get_library_version().strip().splitlines()[0].strip()
    # The launcher of that library is the one installed with it, next to this Python (another MPI's mpiexec
    # would start N unrelated processes of size 1).
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    where = mpiexec if os.access(mpiexec, os.X_OK) else f"not found at {mpiexec} (pip install 'xpgrad[mpi]' puts " \
                                                         "it there)"
    lines = [f"mpi4py: {mpi4py.__version__}", f"MPI library: {library}", f"mpiexec: {where}"]
    if not gpu:
        lines.append("NCCL: unavailable (no usable GPU)")
    else:
        try:
            B.resolve("gpu").nccl_unique_id()
            lines.append("NCCL: available (--comm nccl)")
        except (NotImplementedError, B.BackendError, RuntimeError, OSError) as e:
            lines.append(f"NCCL: unavailable ({e}); GPU gradients go through host MPI (--comm mpi)")
    return lines


def backend_option(name: str) -> str:
    """The canonical name of ``--backend name``, checked against the backend table once plugins are loaded."""
    load_plugins()
    table = B.registered_backends()
    try:
        canonical = B.canonical_name(name)
    except B.BackendError:
        aliases = sorted(a for entry in table.values() for a in entry.aliases)
        raise UsageError(f"--backend: unknown backend {name!r}; choose one of {', '.join(table)} "
                         f"(or an alias: {', '.join(aliases)}); `xpgrad info` lists them") from None
    try:
        B.resolve(canonical)
    except B.BackendError as e:
        raise UsageError(f"--backend {name}: {e}") from None
    return canonical


def list_components(args) -> int:
    from .. import registry

    kinds = registry.KINDS if args.kind is None else (args.kind,)
    for kind in kinds:
        entries = registry.describe(kind)
        print(f"{registry.kind(kind).plural}:")
        width = max((len(e.name) for e in entries), default=0)
        for e in entries:
            aliases = f" (aliases: {', '.join(e.aliases)})" if e.aliases else ""
            source = e.plugin if e.distribution in (None, "xpgrad") else f"{e.plugin} [{e.distribution}]"
            summary = f"  {e.summary}" if e.summary else ""
            print(f"  {e.name:<{width}}  plugin: {source}{aliases}{summary}")
    return 0


def plugin_new(args) -> int:
    from ..scaffold import new_plugin

    try:
        root = new_plugin(args.name, args.dir)
    except ValueError as e:  # a name that gives no Python identifier
        raise UsageError(e) from None
    except FileExistsError as e:
        raise UsageError(e) from None
    except OSError as e:  # a read-only or missing --dir, a file where the folder should be
        raise UsageError(f"--dir {args.dir}: cannot create the plugin there ({e.strerror or e}); choose a "
                         "writable folder") from None
    print(f"created {root}")
    print(f"next: pip install -e {root} && pytest {root}")
    return 0
