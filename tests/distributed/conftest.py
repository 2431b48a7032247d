"""Running scripts under the ``mpiexec`` of this environment, and resetting ``xpgrad.distributed``'s state."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import NamedTuple

import pytest

import xpgrad
from xpgrad.distributed import launch

MPIEXEC = Path(sys.executable).parent / "mpiexec"
SRC = Path(xpgrad.__file__).resolve().parents[1]  # the xpgrad under test goes first on the ranks' path
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


def clean_env(**extra: str | None) -> dict:
    """This process's environment without launcher variables, one BLAS thread, the tested xpgrad on the path.

    ``extra`` overrides variables; None removes one.
    """
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARS}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])]))
    for name, value in extra.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def launch_script(command: list[str], timeout: float, env: dict, cwd: Path) -> tuple[int, str, str]:
    """Run ``command`` in its own process group; on timeout kill the whole group and fail with its output."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{' '.join(command)} did not finish within {timeout} s\nstdout:\n{out}\nstderr:\n{err}")
    return proc.returncode, out, err


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
        code, out, err = launch_script([str(MPIEXEC), "-n", str(n), sys.executable, str(path)], timeout,
                                       clean_env(**env), tmp_path)
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
        return launch_script([sys.executable, "-c", code], timeout, clean_env(**env), tmp_path)

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
