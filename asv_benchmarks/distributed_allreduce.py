"""Allreduce timings behind xpgrad.distributed's choices; run under MPI, prints a table on rank 0.

    OMP_NUM_THREADS=1 "$(dirname "$(which python)")/mpiexec" -n 2 python asv_benchmarks/distributed_allreduce.py

1. buffer ``Allreduce`` (in place, capital A) against pickled ``allreduce``, by array size;
2. the gradients of an MLP (12 layers of width 32) reduced as one flat buffer against one call per array;
3. one large flat gradient reduced in buckets of several sizes (what ``DistributedOptimizer(bucket_mb=...)`` does);
4. ``DistributedOptimizer.step`` (reduction and SGD update) against the plain optimizer step on that MLP.

Times are medians over repeats (microseconds per reduction), measured between barriers. Not an asv
benchmark class: asv runs one process, and these need several ranks.
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

import xpgrad
import xpgrad.distributed as dist


def timed(fn, repeat: int) -> float:
    """Median microseconds of fn() over ``repeat`` calls, all ranks starting together."""
    world = dist.launch.STATE.world
    samples = []
    for _ in range(repeat):
        if world is not None:
            world.Barrier()
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    # the slowest rank decides how long a collective took
    return max(dist.all_reduce_numbers([statistics.median(samples) * 1e6], op="max"))


def buffer_vs_pickle(rows: list) -> None:
    world, MPI = dist.launch.STATE.world, dist.launch.STATE.mpi
    for n in (1_000, 100_000, 1_000_000):
        a = np.ones(n)
        repeat = 50 if n < 1_000_000 else 10
        buf = timed(lambda a=a: world.Allreduce(MPI.IN_PLACE, a, op=MPI.SUM), repeat)
        pickled = timed(lambda a=a: world.allreduce(a, op=MPI.SUM), repeat)
        rows.append((f"float64 x {n:>9,}", "Allreduce (buffer, in place)", buf))
        rows.append((f"float64 x {n:>9,}", "allreduce (pickled)", pickled))
        rows.append(("", "pickled / buffer", pickled / buf))


def flat_vs_per_array(rows: list) -> None:
    world, MPI = dist.launch.STATE.world, dist.launch.STATE.mpi
    rng = np.random.default_rng(0)
    arrays = [a for _ in range(12) for a in (rng.standard_normal((32, 32)), rng.standard_normal(32))]
    flat = np.concatenate([a.ravel() for a in arrays])

    def each():
        for a in arrays:
            world.Allreduce(MPI.IN_PLACE, a, op=MPI.SUM)

    per = timed(each, 200)
    one = timed(lambda: world.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM), 200)
    label = f"MLP 12x32 ({len(arrays)} arrays)"
    rows.append((label, "one Allreduce per array", per))
    rows.append((label, "one flat buffer", one))
    rows.append(("", "per array / flat", per / one))


def buckets(rows: list) -> None:
    world, MPI = dist.launch.STATE.world, dist.launch.STATE.mpi
    n = 8_000_000  # 32 MB of float32 gradients
    grad = np.ones(n, dtype=np.float32)
    for mb in (0.25, 1.0, 4.0, 16.0, 32.0):
        step = int(mb * 1e6) // 4

        def run(step=step):
            for start in range(0, n, step):
                world.Allreduce(MPI.IN_PLACE, grad[start:start + step], op=MPI.SUM)

        rows.append(("float32 x 8,000,000 (32 MB)", f"buckets of {mb:g} MB", timed(run, 10)))


def optimizer_step(rows: list) -> None:
    from xpgrad import nn

    layers = [m for _ in range(12) for m in (nn.Linear(32, 32), nn.ReLU())]
    model = nn.Sequential(*layers)
    x = xpgrad.randn(64, 32)
    plain = xpgrad.optimizer("sgd", model.parameters(), lr=1e-3)
    wrapped = dist.DistributedOptimizer(xpgrad.optimizer("sgd", model.parameters(), lr=1e-3))
    model(x).sum().backward()
    rows.append(("MLP 12x32 float32", "plain SGD step", timed(plain.step, 200)))
    rows.append(("MLP 12x32 float32", "DistributedOptimizer step", timed(wrapped.step, 200)))


def main() -> None:
    size = dist.init()
    if size < 2 and dist.rank() == 0:
        print("note: one rank only; launch with mpiexec -n 2 to time real reductions", file=sys.stderr)
    rows: list = []
    if size > 1:
        buffer_vs_pickle(rows)
        flat_vs_per_array(rows)
        buckets(rows)
    optimizer_step(rows)
    if dist.is_main():
        print(f"ranks: {size}   (median microseconds per call; ratios marked)")
        print(f"{'what':30} {'how':32} {'us':>10}")
        for what, how, value in rows:
            ratio = how.endswith(("/ buffer", "/ flat"))
            print(f"{what:30} {how:32} {value:>10.2f}{'x' if ratio else ''}")


if __name__ == "__main__":
    main()
