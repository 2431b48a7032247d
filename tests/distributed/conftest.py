"""Running scripts under the ``mpiexec`` of this environment, and resetting ``xpgrad.distributed``'s state."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
import textwrap
from pathlib import Path
from typing import NamedTuple

import pytest

from xpgrad.distributed import launch

_spec = importlib.util.spec_from_file_location("xpgrad_mpi_support", Path(__file__).parents[1] / "mpi_support.py")
mpi = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mpi)
MPIEXEC = mpi.MPIEXEC
LAUNCHER_VARS = [v for pair in launch._LAUNCHER_VARS for v in pair] + ["PMI_FD", "PMI_PORT", "MPI_LOCALNRANKS"]

# Prepended to every script: report(value) writes this rank's value as JSON to result<rank>.json in the
# working directory (files, because mpiexec may interleave long lines of different ranks on stdout).
PRELUDE = '''
import json, sys
import xpgrad.distributed as dist

def report(value):
    with open(f"result{dist.rank()}.json", "w", encoding="utf-8") as f:
        json.dump(value, f)
'''


class Run(NamedTuple):
    returncode: int
    stdout: str
    stderr: str
    results: dict  # rank -> the value its report() wrote (the last one when several)


@pytest.fixture
def mpirun(tmp_path):
    """``mpirun(script, n)``: run the script on n ranks, fail on a non-zero exit, return a :class:`Run`."""
    count = [0]

    def run(script: str, n: int, *, timeout: float = 60, ok: bool = True, **env: str | None) -> Run:
        count[0] += 1
        path = tmp_path / f"script{count[0]}.py"
        for old in tmp_path.glob("result*.json"):
            old.unlink()
        path.write_text(PRELUDE + textwrap.dedent(script), encoding="utf-8")
        code, out, err = mpi.launch([str(MPIEXEC), "-n", str(n), sys.executable, str(path)], tmp_path, timeout,
                                    mpi.clean_env(**env))
        if ok and code != 0:
            pytest.fail(f"mpiexec -n {n} exited with {code}\nstdout:\n{out}\nstderr:\n{err}")
        results = {int(f.stem[len("result"):]): json.loads(f.read_text(encoding="utf-8"))
                   for f in tmp_path.glob("result*.json")}
        if ok:
            assert sorted(results) == list(range(n)), f"not every rank reported:\n{out}\n{err}"
        return Run(code, out, err, results)

    return run


@pytest.fixture
def plain_python(tmp_path):
    """``plain_python(code, **env)``: run ``python -c code`` outside mpiexec (needs mpi4py); (status, out, err)."""

    def run(code: str, timeout: float = 60, **env: str | None) -> tuple[int, str, str]:
        return mpi.launch([sys.executable, "-c", code], tmp_path, timeout, mpi.clean_env(**env))

    return run


@pytest.fixture
def fresh_dist(monkeypatch):
    """xpgrad.distributed as before init(), restored afterwards (the state is one object shared by the modules)."""
    saved = dataclasses.replace(launch.STATE)
    for field in dataclasses.fields(launch.STATE):
        setattr(launch.STATE, field.name, getattr(launch._State(), field.name))
    for var in LAUNCHER_VARS:
        monkeypatch.delenv(var, raising=False)
    yield launch.STATE
    for field in dataclasses.fields(launch.STATE):
        setattr(launch.STATE, field.name, getattr(saved, field.name))
