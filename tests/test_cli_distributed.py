"""``xpgrad train --distributed/--comm/--dtype`` and the MPI lines of ``xpgrad info``; under ``mpiexec`` the CLI
gives the 1-process run's weights, writes its checkpoint once and resumes on another number of ranks."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import xpgrad
from xpgrad.checkpoint import read_metadata
from xpgrad.cli import main

_spec = importlib.util.spec_from_file_location("xpgrad_mpi_support", Path(__file__).with_name("mpi_support.py"))
mpi = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mpi)
MPIEXEC = mpi.MPIEXEC
SMALL = ["--hidden", "8", "--epochs", "4", "--batch-size", "64", "--quiet"]


def _weights(path) -> dict:
    from safetensors.numpy import load_file

    return {k: v for k, v in load_file(str(path)).items() if k.startswith("model")}


# -- in-process -------------------------------------------------------------------------------------

def test_dtype_float64_trains_and_is_kept_by_the_checkpoint(tmp_path, capsys):
    ck = tmp_path / "c.safetensors"
    assert main(["train", *SMALL, "--dtype", "float64", "--checkpoint", str(ck)]) == 0
    assert {w.dtype for w in _weights(ck).values()} == {np.dtype("float64")}
    assert read_metadata(str(ck))["config"]["dtype"] == "float64"
    assert xpgrad.get_default_dtype() == "float32"  # the option does not leak out of the command
    # resumed without --dtype: the checkpoint's dtype is the default
    assert main(["train", "--resume", str(ck), "--epochs", "5", "--quiet", "--checkpoint", str(ck)]) == 0
    assert {w.dtype for w in _weights(ck).values()} == {np.dtype("float64")}


def test_bad_dtype_and_comm_without_distributed_are_refused(capsys):
    assert main(["train", "--dtype", "float16"]) == 2
    assert "--dtype: invalid choice: 'float16'" in capsys.readouterr().err
    assert main(["train", "--comm", "nccl", "--epochs", "1"]) == 2
    assert "--comm nccl only applies with --distributed" in capsys.readouterr().err


def test_distributed_without_a_launcher_is_a_plain_run(capsys):
    assert main(["train", *SMALL, "--distributed", "--seed", "1"]) == 0
    distributed = capsys.readouterr().out
    assert main(["train", *SMALL, "--seed", "1"]) == 0
    assert capsys.readouterr().out == distributed


def test_info_reports_mpi4py_the_mpi_library_its_mpiexec_and_nccl(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    lines = {line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in out.splitlines() if ":" in line}
    assert {"mpi4py", "MPI library", "mpiexec", "NCCL"} <= lines.keys()
    try:
        import mpi4py
    except ImportError:
        assert lines["mpi4py"].startswith("not installed")
    else:
        assert lines["mpi4py"] == mpi4py.__version__
        assert lines["MPI library"] != "none"
        if MPIEXEC.exists():
            assert lines["mpiexec"] == str(MPIEXEC)
    if not xpgrad.gpu_available():
        assert lines["NCCL"] == "unavailable (no usable GPU)"


# -- under mpiexec ----------------------------------------------------------------------------------


def xpgrad_cli(ranks: list[list[str]] | None, args: list[str], cwd: Path, timeout: float = 60.0):
    """``python -m xpgrad`` with ``args`` (None: a plain process), or under mpiexec with one ``-n 1`` block per
    entry of ``ranks`` (extra arguments for that rank); killed after ``timeout`` seconds."""
    cli = [sys.executable, "-m", "xpgrad", *args]
    if ranks is None:
        command = cli
    else:
        command = [str(MPIEXEC)]
        for i, extra in enumerate(ranks):
            command += ([":"] if i else []) + ["-n", "1", *cli, *extra]
    return mpi.launch(command, cwd, timeout)


def _close(a: dict, b: dict, tol: float = 1e-10) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=0, atol=tol, err_msg=k)


@pytest.mark.mpi
def test_the_cli_on_2_ranks_matches_1_process_writes_once_and_resumes_on_3(tmp_path):
    common = [*SMALL, "--dtype", "float64", "--batch-size", "37"]
    code, out1, err = xpgrad_cli(None, ["train", *common, "--checkpoint", "one.safetensors"], tmp_path)
    assert code == 0, err
    code, out2, err = xpgrad_cli([[]] * 2, ["train", *common, "--distributed", "--checkpoint", "two.safetensors"],
                                 tmp_path)
    assert code == 0, err
    assert out2 == out1 and out2.count("final train accuracy") == 1  # rank 0 reports, once
    _close(_weights(tmp_path / "one.safetensors"), _weights(tmp_path / "two.safetensors"))
    h1, h2 = (read_metadata(str(tmp_path / f))["history"] for f in ("one.safetensors", "two.safetensors"))
    for k in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        np.testing.assert_allclose(h2[k], h1[k], rtol=0, atol=1e-10, err_msg=k)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.safetensors", "two.safetensors"]  # no stray files

    more = ["--epochs", "6", "--quiet"]
    assert xpgrad_cli(None, ["train", "--resume", "one.safetensors", *more, "--checkpoint", "one.safetensors"],
                      tmp_path)[0] == 0
    code, _, err = xpgrad_cli([[]] * 3, ["train", "--distributed", "--resume", "two.safetensors", *more,
                                         "--checkpoint", "two.safetensors"], tmp_path)
    assert code == 0, err
    _close(_weights(tmp_path / "one.safetensors"), _weights(tmp_path / "two.safetensors"))


@pytest.mark.mpi
def test_several_ranks_without_distributed_are_refused(tmp_path):
    code, out, err = xpgrad_cli([[]] * 2, ["train", *SMALL], tmp_path)
    assert code == 2
    assert "started by a launcher with 2 ranks but without --distributed" in err


@pytest.mark.mpi
def test_ranks_that_build_different_models_stop_with_the_difference(tmp_path):
    code, out, err = xpgrad_cli([["--hidden", "8"], ["--hidden", "9"]], ["train", "--distributed", "--epochs", "2",
                                                                         "--quiet"], tmp_path, timeout=30)
    assert code != 0
    assert "0.weight" in err and "final train accuracy" not in out
