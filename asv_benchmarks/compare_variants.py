"""The step functions that ``compare.py`` times: one MLP training step written several ways.

Every builder takes the same float32 weights (PyTorch's ``(out, in)`` layout), biases, batch
and integer labels, and returns ``(step, weights)``: ``step()`` runs one training step
(forward, softmax cross-entropy, backward, plain SGD with learning rate ``LR``) on the
variant's own copy of the weights, waits for the device and returns the loss;
``weights()`` gives the variant's current weights as NumPy arrays, so that the script can
check that every variant computes the same step.
"""

from __future__ import annotations

import numpy as np

CASES = {
    "small": (64, [784, 100, 10]),
    "medium": (256, [3072, 1024, 1024, 10]),
    "deep": (32, [64] * 12 + [10]),
}
LR = 1e-3


def problem(n, sizes, seed=0):
    """Weights ``(out, in)`` (C-ordered), zero biases, a batch ``(n, sizes[0])`` and labels, all float32."""
    rng = np.random.default_rng(seed)
    # Drawn as (in, out) and turned around, so the numbers are the ones earlier versions of this script used.
    weights = [np.ascontiguousarray((rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(np.float32).T)
               for a, b in zip(sizes, sizes[1:], strict=False)]
    biases = [np.zeros(b, dtype=np.float32) for b in sizes[1:]]
    x = rng.standard_normal((n, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], n)
    return weights, biases, x, y


def make_problem(case, seed=0):
    """The problem of one of the named ``CASES``."""
    n, sizes = CASES[case]
    return problem(n, sizes, seed)


def numpy_step_fn(weights, biases, x, y, xp=np, sync=lambda: None, to_host=np.asarray):
    """The classic hand-derived forward/backward of a ReLU MLP with softmax cross-entropy, W of shape (out, in).

    Written once for any NumPy-like module ``xp`` (NumPy, CuPy): the arrays are moved to it
    with ``xp.asarray``; ``sync`` waits for the device, ``to_host`` brings an array back.
    """
    ws = [xp.array(w, copy=True) for w in weights]
    bs = [xp.array(b, copy=True) for b in biases]
    x, y = xp.asarray(x), xp.asarray(y)
    n = x.shape[0]
    rows = xp.arange(n)
    lr = np.float32(LR)

    def step():
        acts, pre = [x], []
        for i, (w, b) in enumerate(zip(ws, bs, strict=True)):
            z = acts[-1] @ w.T  # a view: BLAS reads it through its transpose flag
            z += b
            if i < len(ws) - 1:
                pre.append(z)
                acts.append(xp.maximum(z, 0))
        z -= z.max(axis=1, keepdims=True)
        p = xp.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        loss = -xp.log(p[rows, y]).mean()
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
        sync()
        return loss

    return step, lambda: [to_host(w) for w in ws]


def cupy_step_fn(weights, biases, x, y):
    """The hand-written NumPy step run on CuPy arrays (the lower bound for a CuPy-based engine)."""
    import cupy

    return numpy_step_fn(weights, biases, x, y, xp=cupy, sync=cupy.cuda.Device().synchronize,
                         to_host=cupy.asnumpy)


def xpgrad_model(weights, biases, backend):
    """An ``nn.Sequential`` of Linear/ReLU holding the given weights, its SGD optimizer and ``train(x, y)``.

    ``train`` is the step function that the eager and the compiled variants share:
    zero_grad, forward, loss, backward, ``opt.step()``; it returns the loss.
    """
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

    def train(xt, yt):
        opt.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()
        return loss

    return model, opt, train


def xpgrad_step_fn(weights, biases, x, y, backend, compiled=False):
    """xpgrad's step through ``nn``, eager or wrapped by ``xpgrad.compile`` (the same function)."""
    import xpgrad
    from xpgrad import nn

    model, _, train = xpgrad_model(weights, biases, backend)
    fn = xpgrad.compile(train) if compiled else train
    xt, yt = xpgrad.tensor(x), xpgrad.tensor(y)
    sync = xpgrad.backend.current().synchronize

    def step():
        loss = fn(xt, yt)
        sync()
        return loss

    step.compiled = fn if compiled else None
    return step, lambda: [m.weight.numpy() for m in model if isinstance(m, nn.Linear)]


def jax_step_fn(weights, biases, x, y):
    """The same MLP, loss and SGD step written functionally in JAX: ``jax.value_and_grad`` under ``jax.jit``.

    The parameters are donated to the jitted step, so XLA may update them in place.
    Raises ImportError when JAX is not installed.
    """
    import jax
    import jax.numpy as jnp

    def loss_fn(params, xb, yb):
        h = xb
        last = len(params) - 1
        for i, (w, b) in enumerate(params):
            h = h @ w.T + b
            if i < last:
                h = jnp.maximum(h, 0)
        z = h - jax.lax.stop_gradient(h.max(axis=1, keepdims=True))
        logp = z - jnp.log(jnp.exp(z).sum(axis=1, keepdims=True))
        return -jnp.take_along_axis(logp, yb[:, None], axis=1).mean()

    def sgd(params, xb, yb):
        loss, grads = jax.value_and_grad(loss_fn)(params, xb, yb)
        lr = jnp.float32(LR)
        return [(w - lr * gw, b - lr * gb) for (w, b), (gw, gb) in zip(params, grads, strict=True)], loss

    jitted = jax.jit(sgd, donate_argnums=(0,))
    state = {"params": [(jnp.asarray(w), jnp.asarray(b)) for w, b in zip(weights, biases, strict=True)]}
    xj, yj = jnp.asarray(x), jnp.asarray(y.astype(np.int32))

    def step():
        state["params"], loss = jitted(state["params"], xj, yj)
        return loss.block_until_ready()

    return step, lambda: [np.asarray(w) for w, _ in state["params"]]


def torch_step_fn(weights, biases, x, y, device="cpu"):
    """PyTorch eager: ``F.linear`` + ReLU, ``F.cross_entropy``, ``torch.optim.SGD``."""
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


def torch_variants(weights, biases, x, y, backend, thread_counts=(1, 2)):
    """PyTorch steps to compare with: CPU with each of ``thread_counts``, or CUDA for the GPU backend."""
    try:
        import torch
    except ImportError:
        return {}
    if backend == "cupy":
        return {"torch-cuda": torch_step_fn(weights, biases, x, y, "cuda")} if torch.cuda.is_available() else {}
    out = {}
    for threads in thread_counts:
        fn, get = torch_step_fn(weights, biases, x, y)

        def run(fn=fn, threads=threads):
            torch.set_num_threads(threads)
            return fn()

        out[f"torch-cpu-{threads}t"] = (run, get)
    return out


def variants(weights, biases, x, y, backend="numpy", *, jax=True, torch=True, one_core=False):
    """Every variant available here, name -> ``(step, weights)``; the first is the baseline.

    The baseline is the hand-written step on the backend's arrays (NumPy, or CuPy for
    ``backend="cupy"``); then xpgrad eager and compiled, JAX jit (CPU, NumPy backend only,
    when it imports) and PyTorch (when it imports).
    """
    out = {}
    if backend == "cupy":
        out["cupy"] = cupy_step_fn(weights, biases, x, y)
    elif backend == "numpy":
        out["numpy"] = numpy_step_fn(weights, biases, x, y)
    out["xpgrad"] = xpgrad_step_fn(weights, biases, x, y, backend)
    out["xpgrad-compiled"] = xpgrad_step_fn(weights, biases, x, y, backend, compiled=True)
    if jax and backend == "numpy":
        try:
            out["jax-jit"] = jax_step_fn(weights, biases, x, y)
        except ImportError:
            pass
    if torch:
        out.update(torch_variants(weights, biases, x, y, backend, (1,) if one_core else (1, 2)))
    return out
