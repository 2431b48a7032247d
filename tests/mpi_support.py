"""Launching processes under this environment's ``mpiexec`` for the tests marked ``mpi``.

``tests/`` is not a package, so the test modules load this file by its path. Every launch gets a
clean environment (no launcher variables inherited from an outer job, one BLAS thread, the
xpgrad under test first on the path) and its own process group, killed whole on a timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import xpgrad

MPIEXEC = Path(sys.executable).parent / "mpiexec"
SRC = Path(xpgrad.__file__).resolve().parents[1]  # the xpgrad under test goes first on the ranks' path
LAUNCHER_PREFIXES = ("PMI_", "OMPI_", "MPI_", "PMIX_", "HYDRA_")


def clean_env(**extra: str | None) -> dict:
    """This process's environment without launcher variables, one BLAS thread, the tested xpgrad on the path.

    ``extra`` overrides variables; None removes one.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(LAUNCHER_PREFIXES)}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])]))
    for name, value in extra.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def launch(command: list[str], cwd: Path, timeout: float = 60.0, env: dict | None = None) -> tuple[int, str, str]:
    """Run ``command`` in its own process group; on timeout kill the whole group and fail with its output."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=clean_env() if env is None else env, cwd=cwd, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{' '.join(command)} did not finish within {timeout} s\nstdout:\n{out}\nstderr:\n{err}")
    return proc.returncode, out, err
