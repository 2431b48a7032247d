"""User code written against xpgrad's public API; `mypy` checks it in CI (.ci/run).

It is not a pytest module: it exists so that the type checker sees the Tensor's operators and
methods, the creation functions, the backend seams and the nn/training API as a user does.
"""

from __future__ import annotations

import numpy as np

import xpgrad
from xpgrad import nn
from xpgrad.backend import Backend, backend_of


def step(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    scores: xpgrad.Tensor = model(x)
    loss = xpgrad.loss("cross_entropy")(scores, xpgrad.tensor(y))
    loss.backward()
    return loss.item()


def uses_operators(a: xpgrad.Tensor, b: xpgrad.Tensor) -> xpgrad.Tensor:
    c = (a + b) * 2.0 - a / b + a @ b.T
    d: xpgrad.Tensor = c.sum(axis=0).exp().mean()
    return d.reshape(1).astype("float64")


def backend_seams(t: xpgrad.Tensor) -> str:
    b: Backend = t.backend
    assert backend_of(t) is b
    moved = xpgrad.as_tensor(np.ones(3, dtype=np.float32), backend=b)
    return f"{b.name} {moved.shape} {b.xp.__name__}"


if __name__ == "__main__":
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2))
    print(step(model, np.ones((3, 2), dtype=np.float32), np.array([0, 1, 0])))
    print(uses_operators(xpgrad.ones((2, 2)), xpgrad.ones((2, 2))).tolist())
    print(backend_seams(xpgrad.zeros(2)))
