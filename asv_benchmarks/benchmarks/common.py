"""Helpers shared by the benchmark modules: backend parameters and synchronisation."""

import numpy as np

import xpgrad
from xpgrad import backend as B

BACKENDS = ["numpy", "cupy"]

# The three MLP cases of the side-by-side comparison (batch size, layer sizes).
CASES = {
    "small": (64, [784, 100, 10]),
    "medium": (256, [3072, 1024, 1024, 10]),
    "deep": (32, [64] * 12 + [10]),
}


def use_backend(name):
    """Make ``name`` current, or raise NotImplementedError so asv reports the benchmark as n/a."""
    if name == "cupy" and not xpgrad.gpu_available():
        raise NotImplementedError("CuPy with a usable GPU is not available here")
    xpgrad.set_backend(name)
    xpgrad.manual_seed(0)
    return B.current()


def sync():
    B.current().synchronize()


def mlp(sizes):
    """A ReLU MLP with the given layer sizes, built from xpgrad.nn."""
    from xpgrad import nn

    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:], strict=False)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def batch(n, features, classes, seed=0):
    rng = np.random.default_rng(seed)
    x = xpgrad.tensor(rng.standard_normal((n, features)).astype(np.float32))
    y = xpgrad.tensor(rng.integers(0, classes, n))
    return x, y


def deep_mlp_optimizer(backend, optimizer):
    """The deep case's MLP with ``optimizer`` after one full step: gradients in their slots, state created."""

    use_backend(backend)
    n, sizes = CASES["deep"]
    model = mlp(sizes)
    x, y = batch(n, sizes[0], sizes[-1])
    opt = xpgrad.optimizer(optimizer, model.parameters(), lr=1e-3)
    opt.zero_grad()
    xpgrad.loss("softmax_cross_entropy")(model(x), y).backward()
    opt.step()  # the flat buffer and the optimizer state exist from here on
    return opt
