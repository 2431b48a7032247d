"""The ``cnn`` case of ``compare.py``: one SGD step of a small CNN, xpgrad eager against PyTorch CPU.

The network (batch 64 of 3x32x32 images, 10 classes): conv 3->16 3x3 pad 1, ReLU, max-pool 2,
conv 16->32 3x3 pad 1, ReLU, max-pool 2, flatten, linear 32*8*8 -> 10, softmax cross-entropy,
plain SGD. Both variants start from the same float32 weights (PyTorch's layouts, which xpgrad
shares) and batch; their first losses are checked to agree before timing. ``profile_layers``
times the forward and backward of each layer of the xpgrad network (where the time goes).
"""

from __future__ import annotations

import time

import numpy as np

LR = 1e-2
SHAPES = {"conv1.weight": (16, 3, 3, 3), "conv1.bias": (16,), "conv2.weight": (32, 16, 3, 3),
          "conv2.bias": (32,), "fc.weight": (10, 32 * 8 * 8), "fc.bias": (10,)}


def cnn_problem(batch=64, seed=0):
    """Weights (PyTorch's default init bounds), a batch (batch, 3, 32, 32) and labels, float32."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in SHAPES.items():
        fan_in = int(np.prod(SHAPES[name.replace("bias", "weight")][1:]))
        params[name] = rng.uniform(-1, 1, shape).astype(np.float32) / np.float32(np.sqrt(fan_in))
    x = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    return params, x, y


def xpgrad_cnn(params, backend="numpy"):
    """The network as an xpgrad ``nn.Sequential`` holding ``params`` (keys ``conv1.*``, ``conv2.*``, ``fc.*``)."""
    import xpgrad
    from xpgrad import nn

    xpgrad.set_backend(backend)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(32 * 8 * 8, 10))
    for layer, key in ((model[0], "conv1"), (model[3], "conv2"), (model[7], "fc")):
        layer.load_state_dict({"weight": params[f"{key}.weight"], "bias": params[f"{key}.bias"]})
    return model


def xpgrad_cnn_step(params, x, y, backend="numpy"):
    """``(step, first_weight)``: one eager training step of the xpgrad CNN, and its first conv weight."""
    import xpgrad

    model = xpgrad_cnn(params, backend)
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
        return float(loss.item())

    return step, lambda: model[0].weight.numpy()


def torch_cnn_step(params, x, y, threads=1):
    """The same step in PyTorch CPU eager (``torch.nn`` layers, ``F.cross_entropy``, ``optim.SGD``)."""
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(32 * 8 * 8, 10))
    names = {"0": "conv1", "3": "conv2", "7": "fc"}
    model.load_state_dict({k: torch.tensor(params[f"{names[k.split('.')[0]]}.{k.split('.')[1]}"])
                           for k in model.state_dict()})
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    xt, yt = torch.tensor(x), torch.tensor(y)

    def step():
        torch.set_num_threads(threads)
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
        return float(loss.item())

    return step, lambda: model[0].weight.detach().numpy()


def cnn_variants(params, x, y, backend="numpy", one_core=False):
    """name -> ``(step, first_weight)``: xpgrad eager, and PyTorch CPU when it imports (NumPy backend)."""
    out = {"xpgrad": xpgrad_cnn_step(params, x, y, backend)}
    try:
        import torch  # noqa: F401
    except ImportError:
        return out, "PyTorch is not installed: its row is skipped"
    for threads in (1,) if one_core else (1, 2):
        out[f"torch-cpu-{threads}t"] = torch_cnn_step(params, x, y, threads)
    return out, None


def check_first_loss(steps, tol=1e-4):
    """Take one step of each variant; raise AssertionError if a loss or first-layer weight differs from xpgrad's."""
    want = steps["xpgrad"][0]()
    w = steps["xpgrad"][1]()
    for name, (step, weight) in steps.items():
        if name == "xpgrad":
            continue
        got = step()
        if abs(got - want) > tol * max(1.0, abs(want)):
            raise AssertionError(f"cnn: {name} loss {got:.7g} after one step, xpgrad has {want:.7g}")
        diff = float(np.max(np.abs(weight() - w)))
        if diff > tol:
            raise AssertionError(f"cnn: {name} and xpgrad disagree after one step (max |dW| = {diff:g})")
    return want


def profile_layers(params, x, y, reps=5):
    """Median milliseconds of the forward and the backward of each layer of the xpgrad CNN.

    Each layer's backward is timed alone: a fresh input leaf is fed forward through the layer and
    the gradient of ``sum(out * g)`` (g fixed) is taken, so the figures add up to about one step.
    """
    import xpgrad

    model = xpgrad_cnn(params)
    h = xpgrad.tensor(x)
    rows = []
    for i, layer in enumerate(model):
        leaf = xpgrad.tensor(h.numpy(), requires_grad=i > 0)  # the first layer's input needs no gradient
        out = layer(leaf)
        g = xpgrad.tensor(np.ones(out.shape, dtype=np.float32))
        fwd, bwd = [], []
        for _ in range(reps):
            t0 = time.perf_counter()
            out = layer(leaf)
            t1 = time.perf_counter()
            (out * g).sum().backward()
            t2 = time.perf_counter()
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
            for p in layer.parameters():
                p.grad = None
            leaf.grad = None
        rows.append((f"{i}:{type(layer).__name__}", float(np.median(fwd)) * 1e3, float(np.median(bwd)) * 1e3))
        h = out.detach()
    return rows


def cnn_report(medians, note=None, profile=()):
    base = medians.get("xpgrad")
    torch_t = [t for k, t in medians.items() if k.startswith("torch")]
    lines = ["   cnn (numpy): one SGD step, batch 64, 3x32x32, conv16-pool-conv32-pool-linear"]
    for name, t in medians.items():
        lines.append(f"    {name:<16} {t * 1e3:10.2f} ms  x{t / base:.3f} of xpgrad")
    if torch_t:
        lines.append(f"    ratio xpgrad / best torch: {base / min(torch_t):.2f}")
    if note:
        lines.append(f"    ({note})")
    if profile:
        lines.append("    where the time goes (each layer alone; the step runs each Conv2d and its ReLU as one node):")
    for name, f, b in profile:
        lines.append(f"    profile {name:<14} forward {f:7.2f} ms  backward {b:7.2f} ms")
    return "\n".join(lines)


def compare_cnn(rounds=None, reps=None, one_core=False, time_interleaved=None, profile=True):
    """Check the first loss against PyTorch's, time the variants interleaved and return the report text."""
    params, x, y = cnn_problem()
    steps, note = cnn_variants(params, x, y, one_core=one_core)
    check_first_loss(steps)
    medians = time_interleaved({k: v[0] for k, v in steps.items()}, rounds or 10, reps or 2)
    return cnn_report(medians, note, profile_layers(params, x, y) if profile else ())
