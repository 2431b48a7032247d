"""The fused optimizer-update hooks of a Backend: called once per flat buffer, same values as the array expressions.

A device backend updates a flat buffer in one kernel. Here a NumPy backend whose hooks compute
the kernels' formulas with NumPy stands in for it, so the wiring and the formulas are checked
without a GPU. NumPy's own SGD and momentum hooks run the optimizers' array expressions block
by block (a small temporary instead of one the size of the buffer); they must give the same bits.
"""

from __future__ import annotations

import numpy as np
import pytest

import xpgrad
from xpgrad import nn
from xpgrad.backend.numpy_backend import NumpyBackend


def _fused_sgd(self, p, g, lr):
    _CALLS.append("sgd")
    p -= lr * g
    return True


def _fused_momentum(self, p, g, v, lr, momentum):
    _CALLS.append("momentum")
    v[...] = momentum * v + g
    p -= lr * v
    return True


def _fused_adam(self, p, g, m, v, *, step_size, b1, b2, bias2_sqrt, eps):
    _CALLS.append("adam")
    m[...] = b1 * m + (1 - b1) * g
    v[...] = b2 * v + (1 - b2) * (g * g)
    p -= step_size * m / (np.sqrt(v) / bias2_sqrt + eps)
    return True


_CALLS: list[str] = []


def _train(name, steps=6, **hp):
    xpgrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8, dtype="float64"), nn.ReLU(), nn.Linear(8, 3, dtype="float64"))
    opt = xpgrad.optimizer(name, model.parameters(), **hp)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        x = xpgrad.tensor(rng.standard_normal((5, 4)))
        y = xpgrad.tensor(rng.integers(0, 3, 5))
        opt.zero_grad()
        xpgrad.loss("cross_entropy")(model(x), y).backward()
        opt.step()
    return [p.numpy().copy() for p in model.parameters()]


@pytest.mark.parametrize("name,hp,kernel", [
    ("sgd", {"lr": 0.1}, "sgd"), ("sgd", {"lr": 0.1, "weight_decay": 0.01}, "sgd"),
    ("momentum", {"lr": 0.05, "momentum": 0.8}, "momentum"), ("adam", {"lr": 0.01}, "adam"),
    ("adamw", {"lr": 0.01, "weight_decay": 0.1}, "adam")])
def test_fused_hooks_give_the_unfused_values_with_one_call_per_buffer_and_step(monkeypatch, name, hp, kernel):
    xpgrad.set_backend("numpy")
    expected = _train(name, **hp)
    monkeypatch.setattr(NumpyBackend, "sgd_update_", _fused_sgd)
    monkeypatch.setattr(NumpyBackend, "momentum_update_", _fused_momentum)
    monkeypatch.setattr(NumpyBackend, "adam_update_", _fused_adam)
    _CALLS.clear()
    fused = _train(name, **hp)
    assert _CALLS == [kernel] * 6  # one flat buffer: one fused call per step
    for a, b in zip(expected, fused, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15)


def test_the_alternate_momentum_form_is_never_fused(monkeypatch):
    xpgrad.set_backend("numpy")
    monkeypatch.setattr(NumpyBackend, "momentum_update_", _fused_momentum)
    _CALLS.clear()
    _train("momentum", lr=0.05, alternate=True)
    assert _CALLS == []


def test_the_portable_backend_does_not_fuse():
    b = xpgrad.backend.resolve("array_api_strict")
    p, g = b.xp.ones(3), b.xp.ones(3)
    assert b.sgd_update_(p, g, 0.1) is False and b.momentum_update_(p, g, g, 0.1, 0.9) is False
    assert b.adam_update_(p, g, g, g, step_size=0.1, b1=0.9, b2=0.99, bias2_sqrt=1.0, eps=1e-8) is False
    assert b.xp.all(p == 1.0)  # untouched


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numpy_block_updates_give_the_bits_of_the_one_line_forms(monkeypatch, dtype):
    b = xpgrad.backend.resolve("numpy")
    size = 5 * np.dtype(dtype).itemsize  # 13 elements: blocks of 5, 5, 3
    monkeypatch.setattr(b, "update_block_bytes", size)
    monkeypatch.setattr(b, "min_block_bytes", size)
    rng = np.random.default_rng(1)
    p0, g, v0 = (rng.standard_normal(13).astype(dtype) for _ in range(3))
    p = p0.copy()
    assert b.sgd_update_(p, g, 0.1) is True
    expected = p0.copy()
    expected -= 0.1 * g
    assert p.tobytes() == expected.tobytes()
    p, v = p0.copy(), v0.copy()
    assert b.momentum_update_(p, g, v, 0.1, 0.9) is True
    ev, ep = v0.copy(), p0.copy()
    ev *= 0.9
    ev += g
    ep -= 0.1 * ev
    assert v.tobytes() == ev.tobytes() and p.tobytes() == ep.tobytes()


def test_numpy_block_updates_leave_what_they_cannot_match_to_the_optimizer(monkeypatch):
    b = xpgrad.backend.resolve("numpy")
    monkeypatch.setattr(b, "update_block_bytes", 8)  # blocks of one float64: every case below would be split
    monkeypatch.setattr(b, "min_block_bytes", 8)
    one = np.ones(4)
    cases = [(np.ones((2, 2)), np.ones((2, 2)), 0.1),  # not a flat buffer
             (one.copy(), np.ones(4, np.float32), 0.1),  # mixed dtypes
             (one.copy(), np.ones(3), 0.1),  # mismatched shapes
             (one.copy(), one, np.float64(0.1)),  # a NumPy scalar rate: its own promotion rules
             (np.ones(4, np.int64), np.ones(4, np.int64), 0.1)]  # not floating
    for p, g, lr in cases:
        before = p.copy()
        assert b.sgd_update_(p, g, lr) is False and b.momentum_update_(p, g, g, lr, 0.9) is False
        assert np.array_equal(p, before)
    assert b.adam_update_(one, one, one, one, step_size=0.1, b1=0.9, b2=0.99, bias2_sqrt=1.0, eps=1e-8) is False
    monkeypatch.setattr(b, "min_block_bytes", 4 * 8)  # a buffer of one block: the one-line form is as good
    assert b.sgd_update_(one.copy(), one, 0.1) is False


@pytest.mark.parametrize("name,hp", [("sgd", {"lr": 0.1}), ("momentum", {"lr": 0.05, "momentum": 0.8})])
def test_training_with_numpy_block_updates_matches_the_array_expressions(monkeypatch, name, hp):
    xpgrad.set_backend("numpy")
    monkeypatch.setattr(NumpyBackend, "update_block_bytes", 7 * 8)  # the 4-8-3 MLP's 67 float64s: 10 blocks
    monkeypatch.setattr(NumpyBackend, "min_block_bytes", 7 * 8)
    blocked = _train(name, **hp)
    monkeypatch.setattr(NumpyBackend, "sgd_update_", lambda *a: False)
    monkeypatch.setattr(NumpyBackend, "momentum_update_", lambda *a: False)
    expressions = _train(name, **hp)
    for a, b in zip(expressions, blocked, strict=True):
        assert a.tobytes() == b.tobytes()


def test_numpy_blocks_are_half_the_buffer_within_bounds_and_split_evenly():
    b = xpgrad.backend.resolve("numpy")

    def block(n_float32):
        p = np.empty(n_float32, np.float32)
        return b._block(p, 0.1, p)

    assert block(16 * 1024) == 0  # 64 KiB: the one-line form
    assert block(16 * 1024 + 1) == 8 * 1024 + 1  # just above: two blocks (min_block_bytes each at most)
    assert block(79510) == 39755  # the small MLP's 318 KiB buffer: two halves
    assert block(100_001) == 50_001  # an odd count: two blocks, no one-element third
    assert block(1024 * 1024) == b.update_block_bytes // 4  # 4 MiB: capped at update_block_bytes, 8 blocks
    assert block(4_205_578) == 127_442  # the medium MLP's buffer: 33 equal blocks under the cap, not 32 + a tail
    assert block(64 * 1024 * 1024) == b.update_block_bytes // 4  # 256 MiB: capped at update_block_bytes
