"""Side-by-side timing of one MLP training step: xpgrad eager and compiled, hand-written NumPy, JAX, PyTorch.

Run ``python asv_benchmarks/compare.py`` (``--cases small deep`` to pick cases, ``--one-core``
to pin everything to one core with one BLAS thread, ``--sweep`` for the per-layer overhead,
``--backend cupy`` on a GPU). Every variant starts from the same weights and batch (float32),
computes softmax cross-entropy and takes one plain SGD step; before timing, the script checks
that each variant's loss and weights after one and two steps match the hand-written step's.
The timings are interleaved in one process, so background load hits every variant alike; the
medians and their ratios to the hand-written step are printed, with peak host memory.

The hand-written NumPy step is the lower bound for any engine that calls NumPy op by op: it
knows the network, fuses what it likes and updates in place.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

if str(Path(__file__).resolve().parent) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_cnn import compare_cnn  # noqa: E402
from compare_variants import (  # noqa: E402
    CASES,
    make_problem,
    numpy_step_fn,
    problem,
    variants,
    xpgrad_step_fn,
)

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
ONE_CORE_MARKER = "XPGRAD_COMPARE_ONE_CORE"
TOLERANCE = 1e-4


# --- one core -----------------------------------------------------------------------------------

def one_core_env(environ, cpu):
    """A copy of ``environ`` for a re-executed run on core ``cpu``: one BLAS/OpenMP thread, and the marker set.

    The thread counts must be in the environment before NumPy loads its BLAS, which is
    why ``--one-core`` re-executes the script instead of setting them in this process.
    """
    env = dict(environ)
    env.update(dict.fromkeys(THREAD_VARS, "1"))
    # XLA's CPU thread pool keeps spinning after a JAX step and, on one core, slows whichever
    # variant runs next (xpgrad's steps measured 15-20% slower with JAX in the process): one thread.
    flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    env["XLA_FLAGS"] = f"{environ['XLA_FLAGS']} {flags}" if environ.get("XLA_FLAGS") else flags
    env[ONE_CORE_MARKER] = str(cpu)
    return env


def one_core_command(argv):
    """The command line that re-runs this script with the same arguments."""
    return [sys.executable, str(Path(__file__).resolve()), *argv]


def default_cpu():
    """The last core this process may run on (core 1 on a 2-core machine, away from core 0's interrupts)."""
    return max(os.sched_getaffinity(0))


def enter_one_core(argv, cpu):
    """Pin to ``cpu``; unless already re-executed (marker set), re-execute with one BLAS thread. Returns if pinned."""
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError as err:
        raise SystemExit(f"--one-core {cpu}: cannot pin to core {cpu} ({err}); this process may run on cores "
                         f"{sorted(os.sched_getaffinity(0))}: pass one of them") from None
    if os.environ.get(ONE_CORE_MARKER) != str(cpu):
        sys.stdout.flush()
        os.execve(sys.executable, one_core_command(argv), one_core_env(os.environ, cpu))


# --- what the machine is doing --------------------------------------------------------------------

def blas_info():
    """One line per BLAS/OpenMP library loaded: name, version, kernel architecture and thread count."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        env = ", ".join(f"{v}={os.environ.get(v, 'unset')}" for v in THREAD_VARS)
        return [f"threadpoolctl not installed; {env}"]
    lines = []
    for lib in threadpool_info():
        arch = f" ({lib['architecture']})" if lib.get("architecture") else ""
        lines.append(f"{lib.get('internal_api', lib.get('user_api'))} {lib.get('version')}{arch}: "
                     f"{lib.get('num_threads')} thread(s) [{lib.get('user_api')}]")
    return lines or ["no BLAS library loaded"]


def cpu_model():
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else the platform's processor string."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"


def header(args):
    cpus = sorted(os.sched_getaffinity(0))
    env = ", ".join(f"{v}={os.environ.get(v, 'unset')}" for v in THREAD_VARS)
    lines = [f"{cpu_model()}, {os.cpu_count()} cores; python {sys.version.split()[0]}, numpy {np.__version__}",
             f"cores allowed: {cpus}; {env}"]
    lines += ["BLAS: " + line for line in blas_info()]
    return "\n".join(lines)


# --- checks, timing, memory -------------------------------------------------------------------------

def check_same(base_name, base, others, steps=2, tol=TOLERANCE):
    """Run ``steps`` steps of every variant and raise AssertionError if a loss or weight differs from ``base``'s.

    ``base`` and each of ``others`` are ``(step, weights)`` pairs; the steps taken here
    count (the timed runs continue from them). Two steps, so that a compiled variant is
    checked on a replay too, not only on the call that records it.
    """
    for k in range(1, steps + 1):
        want_loss = float(base[0]())
        want_w = base[1]()
        for name, (step, weights) in others.items():
            loss = float(step())
            if abs(loss - want_loss) > tol:
                raise AssertionError(f"{name}: loss {loss:.7g} after step {k}, {base_name} has {want_loss:.7g}")
            diff = max(float(np.max(np.abs(a - b))) for a, b in zip(want_w, weights(), strict=True))
            if diff > tol:
                raise AssertionError(f"{name} and {base_name} disagree after step {k} (max |dW| = {diff:g})")


def time_interleaved(steps, rounds, reps):
    """Median seconds per step of each variant, the variants taking turns each round.

    Each round runs the variants in a fresh random order, so each follows every other
    one about equally often: a variant that leaves busy threads behind (PyTorch's
    OpenMP pool spins for a while after a parallel region, and fights OpenBLAS's
    threads for the cores) then disturbs a minority of every variant's samples, which
    the median discards, instead of always the same neighbour's.
    """
    for fn in steps.values():
        for _ in range(max(3, reps)):
            fn()
    samples = {name: [] for name in steps}
    names = list(steps)
    order = np.random.default_rng(0)
    for _ in range(rounds):
        for name in order.permutation(names):
            fn = steps[name]
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            samples[name].append((time.perf_counter() - t0) / reps)
    return {name: statistics.median(v) for name, v in samples.items()}


def step_memory(build, kept_bytes):
    """``(held, peak)`` host bytes of a variant, counted with ``tracemalloc`` (which NumPy reports to).

    Tracing starts before ``build()`` makes the variant (from host weights) and runs three
    steps (a compiled variant records at the first and replays from the second), so every
    array it keeps is seen being allocated. ``held``: what stays in use after those steps,
    less ``kept_bytes`` (the parameters and the batch, which every variant keeps): gradients
    and optimizer state kept between steps, a compiled program and its preallocated
    buffers. ``peak``: the most that one more step has in use on top of that. Their sum is
    the variant's step memory; the hand-written step keeps nothing between steps.
    """
    gc.collect()
    tracemalloc.start()
    try:
        step = build()
        for _ in range(3):
            step()
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        step()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return max(before - kept_bytes, 0), peak


def memory(weights, biases, x, y, backend="numpy"):
    """``{variant: (held, peak)}`` for the hand-written step, xpgrad eager and compiled (see ``step_memory``)."""
    kept = sum(a.nbytes for a in (*weights, *biases, x, y))
    builders = {
        "numpy": lambda: numpy_step_fn(weights, biases, x, y)[0],
        "xpgrad": lambda: xpgrad_step_fn(weights, biases, x, y, backend)[0],
        "xpgrad-compiled": lambda: xpgrad_step_fn(weights, biases, x, y, backend, compiled=True)[0],
    }
    return {name: step_memory(build, kept) for name, build in builders.items()}


# --- one case -------------------------------------------------------------------------------------

def default_schedule(n_params, rounds=None, reps=None):
    """(rounds, repetitions per sample): fewer and shorter for the big medium case."""
    heavy = n_params > 1_000_000
    return rounds or (15 if heavy else 40), reps or (2 if heavy else 20)


def compare(case, backend="numpy", rounds=None, check=True, one_core=False, problem_=None, measure_memory=True,
            reps=None):
    """Time every variant on ``case`` (or on ``problem_ = (weights, biases, x, y)``) and return the figures."""
    weights, biases, x, y = problem_ or make_problem(case)
    pairs = variants(weights, biases, x, y, backend, one_core=one_core)
    names = list(pairs)
    base = names[0] if backend in ("numpy", "cupy") else None
    if check and base:
        check_same(base, pairs[base], {k: v for k, v in pairs.items() if k != base})
    steps = {name: pair[0] for name, pair in pairs.items()}
    medians = time_interleaved(steps, *default_schedule(sum(w.size for w in weights), rounds, reps))
    torch_keys = [k for k in medians if k.startswith("torch")]
    if len(torch_keys) > 1:
        medians["torch"] = min(medians[k] for k in torch_keys)
    result = {"case": case, "backend": backend, "base": base, "median_s": medians}
    compiled = getattr(steps.get("xpgrad-compiled"), "compiled", None)
    if compiled is not None:
        result["compile_stats"] = dict(compiled.stats)
    if measure_memory and backend == "numpy":
        result["memory"] = memory(weights, biases, x, y, backend)
    return result


def report(res):
    m = res["median_s"]
    base = m.get(res["base"]) if res["base"] else None
    lines = [f"{res['case']:>6} ({res['backend']})"]
    for name, t in m.items():
        ratio = f"  x{t / base:.3f}" if base else ""
        lines.append(f"    {name:<16} {t * 1e6:10.1f} us{ratio}")
    if "compile_stats" in res:
        st = res["compile_stats"]
        why = f"; ran eagerly because: {'; '.join(dict.fromkeys(st['fallbacks']))}" if st.get("fallbacks") else ""
        lines.append(f"    xpgrad-compiled: {st.get('traces')} trace(s), {st.get('replays')} replays, "
                     f"{st.get('eager')} eager calls{why}")
    if "memory" in res:
        mem, mib = res["memory"], 2.0**20
        ref = sum(mem["numpy"])
        for name, (held, peak) in mem.items():
            lines.append(f"    memory {name:<16} {(held + peak) / mib:7.2f} MiB  x{(held + peak) / ref:.3f}  "
                         f"(held between steps {held / mib:.2f} + step peak {peak / mib:.2f})")
    return "\n".join(lines)


def runs_summary(results):
    """The ratios of every run side by side: ``{case: [result of run 1, run 2, ...]}`` -> text.

    One line per case and variant, the ratio to the baseline in each run, then the step peak
    memory ratio (the same in every run, so taken from the first).
    """
    lines = ["ratio to the baseline in each run (median step time); step peak memory ratio"]
    for case, runs in results.items():
        first = runs[0]
        if not first["base"]:
            continue
        lines.append(f"{case:>6} ({first['backend']})")
        for name in first["median_s"]:
            ratios = ", ".join(f"{r['median_s'][name] / r['median_s'][r['base']]:.3f}" for r in runs
                               if name in r["median_s"])
            peak = ""
            if "memory" in first and name in first["memory"]:
                peak = f"   peak x{first['memory'][name][1] / first['memory'][first['base']][1]:.2f}"
            lines.append(f"    {name:<16} {ratios}{peak}")
    return "\n".join(lines)


# --- depth sweep ----------------------------------------------------------------------------------

def fit_line(xs, ys):
    """Least-squares ``y = intercept + slope * x``; returns ``(intercept, slope)``."""
    slope, intercept = np.polyfit(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float), 1)
    return float(intercept), float(slope)


def sweep_overheads(depths, medians, base="numpy"):
    """Per variant: ``(per_step, per_layer)`` seconds: the fit's intercept and slope minus ``base``'s.

    ``medians`` maps a variant name to its median step times, one per depth.
    """
    ref_a, ref_b = fit_line(depths, medians[base])
    out = {}
    for name, ts in medians.items():
        a, b = fit_line(depths, ts)
        out[name] = (a - ref_a, b - ref_b, a, b)
    return out


def sweep(depths, width=64, batch=32, rounds=None, one_core=False, reps=None):
    """Time the deep MLP at each depth (``depth`` Linear layers of ``width``, then one to 10 classes)."""
    per_depth = {}
    for depth in depths:
        prob = problem(batch, [width] * depth + [10])
        res = compare(f"depth {depth}", "numpy", rounds, one_core=one_core, problem_=prob, measure_memory=False,
                      reps=reps)
        per_depth[depth] = {k: v for k, v in res["median_s"].items() if not k.startswith("torch")}
    names = list(per_depth[depths[0]])
    medians = {name: [per_depth[d][name] for d in depths] for name in names}
    return medians, sweep_overheads(depths, medians)


def sweep_report(depths, medians, overheads, width=64):
    lines = [f"depth sweep (batch 32, Linear {width}x{width} layers): median us per step, then the least-squares "
             "fit time = a + b * depth, and a, b minus NumPy's"]
    lines.append("    " + f"{'depth':<16}" + "".join(f"{d:>10}" for d in depths))
    for name, ts in medians.items():
        lines.append("    " + f"{name:<16}" + "".join(f"{t * 1e6:10.1f}" for t in ts))
    for name, (da, db, a, b) in overheads.items():
        lines.append(f"    {name:<16} a = {a * 1e6:8.1f} us, b = {b * 1e6:6.2f} us/layer; overhead vs numpy: "
                     f"{da * 1e6:+8.1f} us per step, {db * 1e6:+6.2f} us per layer")
    return "\n".join(lines)


# --- command line ---------------------------------------------------------------------------------

def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="numpy", help="xpgrad backend: numpy (default) or cupy")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=[*CASES, "cnn"],
                        help="cases to time (default: the MLPs; none with --sweep for the sweep alone; cnn: the "
                             "small CNN against PyTorch, see compare_cnn.py)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 40, 15 for medium)")
    parser.add_argument("--reps", type=int, default=None, help="steps per timed sample (default 20, 2 for medium)")
    parser.add_argument("--sweep", action="store_true", help="also time the deep MLP at several depths")
    parser.add_argument("--depths", nargs="+", type=int, default=[2, 4, 8, 16], help="depths of the sweep")
    parser.add_argument("--one-core", nargs="?", type=int, const=-1, default=None, metavar="CPU",
                        help="re-run pinned to one core (default: the last allowed) with one BLAS thread")
    parser.add_argument("--runs", type=int, default=1,
                        help="time every MLP case this many times over and end with their ratios side by side")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, got {args.runs}")
    return args


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    if args.one_core is not None:
        enter_one_core(argv, default_cpu() if args.one_core < 0 else args.one_core)
    one_core = args.one_core is not None
    print(header(args))
    base = "hand-written CuPy" if args.backend == "cupy" else "hand-written NumPy"
    print(f"median time of one training step (lower is better); ratios relative to {base}", flush=True)
    results: dict = {}
    for run in range(args.runs):
        if args.runs > 1:
            print(f"run {run + 1} of {args.runs}", flush=True)
        for case in args.cases:
            if case == "cnn":
                print(compare_cnn(args.rounds, args.reps, one_core, time_interleaved), flush=True)
                continue
            # memory is the same in every run: counted in the first only
            res = compare(case, args.backend, args.rounds, one_core=one_core, reps=args.reps, measure_memory=run == 0)
            results.setdefault(case, []).append(res)
            print(report(res), flush=True)
    if args.runs > 1 and results:
        print(runs_summary(results), flush=True)
    if args.sweep:
        medians, overheads = sweep(args.depths, rounds=args.rounds, one_core=one_core, reps=args.reps)
        print(sweep_report(args.depths, medians, overheads), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
