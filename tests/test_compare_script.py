"""``asv_benchmarks/compare.py``, the side-by-side timing script: its rows, its checks, the depth
sweep's fit and the environment of its one-core re-execution (never executed here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("ignore:xpgrad.compile")  # a step that falls back to eager is fine here
BENCH = Path(__file__).resolve().parent.parent / "asv_benchmarks"


@pytest.fixture
def compare(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setitem(sys.modules, "torch", None)  # keep the runs short and the rows known
    spec = importlib.util.spec_from_file_location("xpgrad_compare_script", BENCH / "compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:  # one BLAS thread: on a loaded machine, waiting for a descheduled BLAS thread makes a step 100x slower
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield module
    else:
        with threadpool_limits(limits=1, user_api="blas"):
            yield module
    import xpgrad

    xpgrad.set_backend("numpy")


def _rows(out):
    return {line.split()[0] for line in out.splitlines() if line.startswith("    ")}


def test_small_case_prints_every_row_and_the_blas_line(compare, capsys):
    assert compare.main(["--cases", "small", "--rounds", "2"]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert {"numpy", "xpgrad", "xpgrad-compiled", "memory"} <= rows
    assert ("jax-jit" in rows) == (importlib.util.find_spec("jax") is not None)
    assert "BLAS: " in out and "thread" in out
    baseline = [line for line in out.splitlines() if line.startswith("    numpy ")][0]
    assert baseline.rstrip().endswith("x1.000")
    stats = [line for line in out.splitlines() if line.startswith("    xpgrad-compiled:")]
    assert len(stats) == 1 and "trace(s)" in stats[0] and "replays" in stats[0]
    memory = [line.split()[1] for line in out.splitlines() if line.startswith("    memory ")]
    assert memory == ["numpy", "xpgrad", "xpgrad-compiled"]


def test_jax_row_absent_when_jax_does_not_import(compare, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)  # ``import jax`` now raises ImportError
    compare.main(["--cases", "small", "--rounds", "1", "--reps", "1"])
    rows = _rows(capsys.readouterr().out)
    assert "jax-jit" not in rows and "xpgrad-compiled" in rows


def test_variants_are_checked_against_the_hand_written_step(compare):
    weights, biases, x, y = compare.make_problem("deep")
    base = compare.numpy_step_fn(weights, biases, x, y)
    same = compare.numpy_step_fn(weights, biases, x, y)
    compare.check_same("numpy", base, {"copy": same})  # the same step agrees with itself

    off = [w.copy() for w in weights]
    off[3][0, 0] += 1e-2  # one weight differs: the updated weights must too
    wrong = compare.numpy_step_fn(off, biases, x, y)
    base = compare.numpy_step_fn(weights, biases, x, y)
    with pytest.raises(AssertionError, match="wrong and numpy disagree after step 1"):
        compare.check_same("numpy", base, {"wrong": wrong})

    def bad_loss():
        return np.float32(123.0)

    base = compare.numpy_step_fn(weights, biases, x, y)
    with pytest.raises(AssertionError, match="bad: loss 123"):
        compare.check_same("numpy", base, {"bad": (bad_loss, lambda: weights)})


def test_every_variant_matches_numpy(compare):
    weights, biases, x, y = compare.make_problem("small")
    pairs = compare.variants(weights, biases, x, y, torch=False)
    assert list(pairs)[:3] == ["numpy", "xpgrad", "xpgrad-compiled"]
    assert ("jax-jit" in pairs) == (importlib.util.find_spec("jax") is not None)
    compare.check_same("numpy", pairs["numpy"], {k: v for k, v in pairs.items() if k != "numpy"})


def test_sweep_fit_recovers_intercept_and_slope(compare):
    depths = [2, 4, 8, 16]
    numpy = [20e-6 + 10e-6 * d for d in depths]
    eager = [45e-6 + 15.5e-6 * d for d in depths]
    assert compare.fit_line(depths, numpy) == pytest.approx((20e-6, 10e-6))
    over = compare.sweep_overheads(depths, {"numpy": numpy, "xpgrad": eager})
    per_step, per_layer, a, b = over["xpgrad"]
    assert per_step == pytest.approx(25e-6) and per_layer == pytest.approx(5.5e-6)
    assert (a, b) == pytest.approx((45e-6, 15.5e-6))
    assert over["numpy"][:2] == pytest.approx((0.0, 0.0), abs=1e-12)
    # a noisy point moves the least-squares line, not just one end of it
    noisy = [*numpy[:3], numpy[3] + 8e-6]
    a, b = compare.fit_line(depths, noisy)
    assert b == pytest.approx(10e-6 + 8e-6 * (16 - 7.5) / 115, rel=1e-9)


def test_sweep_runs_and_reports_per_layer_overhead(compare, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)
    compare.main(["--cases", "--sweep", "--depths", "1", "3", "--rounds", "1", "--reps", "1"])
    out = capsys.readouterr().out
    assert "depth sweep" in out
    lines = [line for line in out.splitlines() if "us per layer" in line]
    assert [line.split()[0] for line in lines] == ["numpy", "xpgrad", "xpgrad-compiled"]
    assert "+0.0 us per step" in lines[0]


def test_one_core_env_sets_thread_counts_and_marker(compare):
    environ = {"PATH": "/bin", "OPENBLAS_NUM_THREADS": "8", "OMP_NUM_THREADS": "4"}
    env = compare.one_core_env(environ, 1)
    assert env["OPENBLAS_NUM_THREADS"] == env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"
    assert env[compare.ONE_CORE_MARKER] == "1" and env["PATH"] == "/bin"
    assert environ["OPENBLAS_NUM_THREADS"] == "8" and compare.ONE_CORE_MARKER not in environ
    cmd = compare.one_core_command(["--one-core", "--cases", "deep"])
    assert cmd[0] == sys.executable and Path(cmd[1]) == BENCH / "compare.py"
    assert cmd[2:] == ["--one-core", "--cases", "deep"]


def test_one_core_does_not_re_execute_once_marked(compare, monkeypatch):
    calls = []
    monkeypatch.setattr(compare.os, "sched_setaffinity", lambda pid, cpus: calls.append(("pin", cpus)))
    monkeypatch.setattr(compare.os, "execve", lambda *a: calls.append(("exec", a)))
    monkeypatch.setenv(compare.ONE_CORE_MARKER, "0")
    compare.enter_one_core(["--one-core", "0"], 0)
    assert calls == [("pin", {0})]
    monkeypatch.delenv(compare.ONE_CORE_MARKER)
    compare.enter_one_core(["--one-core", "0"], 0)
    kind, (exe, cmd, env) = calls[-1]
    assert kind == "exec" and exe == sys.executable and cmd[2:] == ["--one-core", "0"]
    assert env[compare.ONE_CORE_MARKER] == "0" and env["OPENBLAS_NUM_THREADS"] == "1"


def test_step_memory_counts_what_is_held_and_the_step_peak(compare):
    kept = []

    def build():
        kept.append(np.ones(250_000))  # 2 MB the variant keeps from the start (parameters)
        state = {}

        def step():
            state["grad"] = np.ones(125_000)  # 1 MB held between steps, replaced by every step
            np.ones(500_000).sum()  # 4 MB at the peak, freed at once
        return step

    held, peak = compare.step_memory(build, 2_000_000)
    assert held == pytest.approx(1_000_000, abs=50_000)
    assert peak == pytest.approx(4_000_000, abs=100_000)  # the old grad is freed before the temporary


def test_cnn_case_runs_and_prints_the_xpgrad_row_and_the_profile(compare, capsys):
    assert compare.main(["--cases", "cnn", "--rounds", "1", "--reps", "1"]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert "xpgrad" in rows and "profile" in rows
    assert "PyTorch is not installed" in out  # the fixture hides torch: its row is skipped with a note
    assert [line.split()[1] for line in out.splitlines() if line.startswith("    profile ")][:3] == [
        "0:Conv2d", "1:ReLU", "2:MaxPool2d"]


def test_runs_repeat_the_cases_and_end_with_their_ratios_side_by_side(compare, capsys):
    assert compare.main(["--cases", "deep", "--rounds", "1", "--reps", "1", "--runs", "2"]) == 0
    out = capsys.readouterr().out
    assert "run 1 of 2" in out and "run 2 of 2" in out
    summary = out[out.index("ratio to the baseline in each run"):].splitlines()
    assert summary[1].strip() == "deep (numpy)"
    rows = {line.split()[0]: line for line in summary[2:]}
    assert rows["numpy"].split()[1:3] == ["1.000,", "1.000"] and rows["numpy"].endswith("peak x1.00")
    compiled = rows["xpgrad-compiled"].split()
    assert len(compiled) == 5 and compiled[3] == "peak"  # two ratios, then the peak memory ratio
    assert all(float(r.rstrip(",")) > 0 for r in compiled[1:3])
    assert out.count("    memory numpy") == 1  # memory is counted in the first run only


def test_runs_must_be_positive(compare):
    with pytest.raises(SystemExit):
        compare.parse(["--runs", "0"])
