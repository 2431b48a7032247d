"""Side-by-side timing of one MLP training step: xpgrad, hand-written NumPy and PyTorch.

Run ``python asv_benchmarks/compare.py`` (``--backend cupy`` for the GPU, ``--cases small deep``
to pick cases). Every variant starts from the same weights and batch (float32), computes
softmax cross-entropy and takes one plain SGD step. The timings are interleaved in one
process, so background load hits every variant alike; the medians and ratios are printed,
with the peak host memory of one step (``tracemalloc``) for xpgrad and the NumPy version.

The hand-written NumPy step is the lower bound for any NumPy-based engine: it knows the
network, fuses what it likes and updates in place.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc

import numpy as np

CASES = {
    "small": (64, [784, 100, 10]),
    "medium": (256, [3072, 1024, 1024, 10]),
    "deep": (32, [64] * 12 + [10]),
}
LR = 1e-3


def make_problem(case, seed=0):
    """Weights in PyTorch's (out, in) layout (C-ordered), biases, a batch and labels, all float32."""
    n, sizes = CASES[case]
    rng = np.random.default_rng(seed)
    # Drawn as (in, out) and turned around, so the numbers are the ones earlier versions of this script used.
    weights = [np.ascontiguousarray((rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(np.float32).T)
               for a, b in zip(sizes, sizes[1:], strict=False)]
    biases = [np.zeros(b, dtype=np.float32) for b in sizes[1:]]
    x = rng.standard_normal((n, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], n)
    return weights, biases, x, y


def numpy_step_fn(weights, biases, x, y):
    """The classic hand-derived forward/backward of a ReLU MLP with softmax cross-entropy, W of shape (out, in)."""
    ws = [w.copy() for w in weights]
    bs = [b.copy() for b in biases]
    n = x.shape[0]
    rows = np.arange(n)
    lr = np.float32(LR)

    def step():
        acts, pre = [x], []
        for i, (w, b) in enumerate(zip(ws, bs, strict=True)):
            z = acts[-1] @ w.T  # a view: BLAS reads it through its transpose flag
            z += b
            if i < len(ws) - 1:
                pre.append(z)
                acts.append(np.maximum(z, 0))
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        loss = -np.log(p[rows, y]).mean()
        d = p
        d[rows, y] -= 1
        d /= n
        for i in range(len(ws) - 1, -1, -1):
            dw = d.T @ acts[i]  # (out, in), like W
            db = d.sum(axis=0)
            if i:
                d = d @ ws[i]
                d *= pre[i - 1] > 0
            ws[i] -= lr * dw
            bs[i] -= lr * db
        return loss

    return step, lambda: ws


def xpgrad_step_fn(weights, biases, x, y, backend):
    import xpgrad
    from xpgrad import nn

    xpgrad.set_backend(backend)
    layers = []
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        lin = nn.Linear(w.shape[1], w.shape[0])  # (out, in): the state dict loads as it is
        lin.load_state_dict({"weight": w, "bias": b})
        layers.append(lin)
        if i < len(weights) - 1:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    loss_fn = xpgrad.loss("softmax_cross_entropy")
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=LR)
    xt, yt = xpgrad.tensor(x), xpgrad.tensor(y)
    sync = xpgrad.backend.current().synchronize

    def step():
        opt.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()
        sync()
        return loss

    return step, lambda: [m.weight.numpy() for m in model if isinstance(m, nn.Linear)]


def torch_step_fn(weights, biases, x, y, device="cpu"):
    import torch

    ws = [torch.tensor(w, device=device, requires_grad=True) for w in weights]
    bs = [torch.tensor(b, device=device, requires_grad=True) for b in biases]
    params = [p for pair in zip(ws, bs, strict=True) for p in pair]
    opt = torch.optim.SGD(params, lr=LR)
    xt = torch.tensor(x, device=device)
    yt = torch.tensor(y, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def step():
        opt.zero_grad(set_to_none=True)
        h = xt
        for i, (w, b) in enumerate(zip(ws, bs, strict=True)):
            h = torch.nn.functional.linear(h, w, b)  # what torch.nn.Linear runs, W (out, in)
            if i < len(ws) - 1:
                h = torch.relu(h)
        loss = torch.nn.functional.cross_entropy(h, yt)
        loss.backward()
        opt.step()
        sync()
        return loss

    return step, lambda: [w.detach().cpu().numpy() for w in ws]


def peak_bytes(step):
    """Peak host memory allocated during one step, traced by ``tracemalloc`` (NumPy reports to it)."""
    step()
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    step()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak


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


def torch_variants(weights, biases, x, y, backend):
    """PyTorch steps to compare with: CPU with 1 and 2 threads, or CUDA for the GPU backend."""
    try:
        import torch
    except ImportError:
        return {}
    if backend == "cupy":
        return {"torch-cuda": torch_step_fn(weights, biases, x, y, "cuda")[0]} if torch.cuda.is_available() else {}
    out = {}
    for threads in (1, 2):
        fn = torch_step_fn(weights, biases, x, y)[0]

        def run(fn=fn, threads=threads):
            torch.set_num_threads(threads)
            return fn()

        out[f"torch-cpu-{threads}t"] = run
    return out


def compare(case, backend="numpy", rounds=None, check=True):
    weights, biases, x, y = make_problem(case)
    xg_step, xg_weights = xpgrad_step_fn(weights, biases, x, y, backend)
    steps = {"xpgrad": xg_step}
    if backend == "numpy":
        np_step, np_weights = numpy_step_fn(weights, biases, x, y)
        steps["numpy"] = np_step
        if check:  # same start, same data: one step must give the same weights
            np_step()
            xg_step()
            diff = max(float(np.max(np.abs(a - b))) for a, b in zip(np_weights(), xg_weights(), strict=True))
            if diff > 1e-4:
                raise AssertionError(f"{case}: xpgrad and NumPy disagree after one step (max |dW| = {diff:g})")
    steps.update(torch_variants(weights, biases, x, y, backend))
    heavy = case == "medium"
    medians = time_interleaved(steps, rounds or (15 if heavy else 40), 2 if heavy else 20)
    torch_keys = [k for k in medians if k.startswith("torch")]
    result = {"case": case, "backend": backend, "median_s": medians}
    if torch_keys:
        result["median_s"]["torch"] = min(medians[k] for k in torch_keys)
    if backend == "numpy":
        result["peak_bytes"] = {"xpgrad": peak_bytes(xg_step), "numpy": peak_bytes(steps["numpy"])}
    return result


def report(res):
    m = res["median_s"]
    base = m.get("numpy", m.get("torch"))
    lines = [f"{res['case']:>6} ({res['backend']})"]
    for name, t in m.items():
        ratio = f"  x{t / base:.3f}" if base else ""
        lines.append(f"    {name:<14} {t * 1e6:10.1f} us{ratio}")
    if "peak_bytes" in res:
        pb = res["peak_bytes"]
        lines.append(f"    peak memory    xpgrad {pb['xpgrad'] / 2**20:.2f} MiB, numpy {pb['numpy'] / 2**20:.2f} MiB, "
                     f"ratio {pb['xpgrad'] / pb['numpy']:.3f}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="numpy", help="xpgrad backend: numpy (default) or cupy")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 40, 15 for medium)")
    args = parser.parse_args(argv)
    print("median time of one training step (lower is better); ratios relative to hand-written NumPy"
          + (" (PyTorch CUDA on the GPU)" if args.backend == "cupy" else ""))
    for case in args.cases:
        print(report(compare(case, args.backend, args.rounds)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
