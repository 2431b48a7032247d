"""Second derivatives of layers, ops and decompositions (create_graph=True), in float64 on each CPU backend."""

from __future__ import annotations

import numpy as np
import pytest

import xpgrad
from xpgrad import nn

X = xpgrad.array_api


def t64(array, requires_grad=True):
    """A float64 tensor on the current backend."""
    return xpgrad.tensor(array, dtype="float64", requires_grad=requires_grad, backend=xpgrad.get_backend())


LAYERS = {
    "linear": lambda: nn.Linear(4, 3),
    "mlp_relu": lambda: nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2)),
    "batchnorm_train": lambda: nn.BatchNorm1d(4),
    "batchnorm_eval": lambda: nn.BatchNorm1d(4).eval(),
    "maxout": lambda: nn.Maxout(4, 3, 2),
    "dropout_eval": lambda: nn.Dropout(0.5).eval(),
    "elu": lambda: nn.ELU(),
    "flatten": lambda: nn.Flatten(),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_double_backward_of_layers(cpu_backend, name):
    layer = LAYERS[name]().to(dtype="float64")
    x = t64(np.random.default_rng(7).standard_normal((5, 4)) + 0.05)
    params = list(layer.parameters())
    assert xpgrad.gradgradcheck(lambda x_: layer(x_) * layer(x_), [x])
    if params:  # the second derivative w.r.t. the weights of a penalty on ∂/∂x
        (gx,) = xpgrad.grad((layer(x) ** 2).sum(), x, create_graph=True)
        (gx * gx).sum().backward()
        assert all(p.grad is not None for p in params)


OPS = {
    "pow": (lambda a, b: a ** b, 2), "divide": (lambda a, b: a / b, 2), "atan2": (X.atan2, 2),
    "hypot": (X.hypot, 2), "maximum": (X.maximum, 2), "logaddexp": (X.logaddexp, 2),
    "where": (lambda a, b: X.where(a > 0.6, a * b, b * b), 2),
    "expm1": (X.expm1, 1), "log1p": (X.log1p, 1), "acos": (X.acos, 1), "atanh": (X.atanh, 1),
    "reciprocal": (X.reciprocal, 1), "abs": (lambda a: X.abs(a - 0.6) * a, 1),
    "prod": (lambda a: X.prod(a, axis=1), 1), "std": (lambda a: X.std(a * a, axis=0, correction=1), 1),
    "var": (lambda a: X.var(a * a, axis=1), 1), "max": (lambda a: X.max(a * a, axis=1) * X.min(a), 1),
    "cumulative_sum": (lambda a: X.cumulative_sum(a * a, axis=1) * a, 1),
    "logsumexp": (lambda a: xpgrad.logsumexp(a * a, axis=1), 1),
    "vector_norm": (lambda a: X.linalg.vector_norm(a * a, axis=1), 1),
    "matrix_norm": (lambda a: X.linalg.matrix_norm(a * a), 1),
    "matmul": (lambda a, b: (a @ b.mT) ** 2, 2), "vecdot": (lambda a, b: X.vecdot(a * a, b), 2),
    "tensordot": (lambda a, b: X.tensordot(a * a, b, axes=([1], [1])), 2),
    "getitem": (lambda a: (a * a)[1:, ::2], 1),
    "take": (lambda a: X.take(a * a, xpgrad.tensor([0, 2, 2]), axis=0), 1),
    "advanced_index": (lambda a: (a * a)[xpgrad.tensor([0, 0, 2])], 1),
    "take_along_axis": (lambda a: X.take_along_axis(a * a, xpgrad.tensor([[0, 1, 1, 3]] * 3), axis=1), 1),
    "sort": (lambda a: X.sort(a * a, axis=1) * a, 1),
    "concat": (lambda a, b: X.concat([a * b, b * b], axis=1), 2),
    "stack_flip_roll": (lambda a: X.roll(X.flip(X.stack([a * a, a]), axis=2), 1, axis=1), 1),
    "linalg.inv": (lambda a: X.linalg.inv(a[:, :3] + 3 * X.eye(3, dtype=a.dtype)), 1),
    "linalg.det": (lambda a: X.linalg.det(a[:, :3]), 1),
    "fft.rfft": (lambda a: X.imag(X.fft.rfft(a * a)), 1),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_double_backward_of_ops(cpu_backend, name):
    fn, arity = OPS[name]
    rng = np.random.default_rng(8)
    inputs = [t64(rng.uniform(0.2, 0.9, (3, 4))) for _ in range(arity)]
    assert xpgrad.gradgradcheck(fn, inputs, atol=1e-6, rtol=1e-5)


DECOMPOSITIONS = {
    "eigvalsh": (lambda m: X.linalg.eigvalsh(m + m.mT), (3, 3)),
    "eigh_vectors": (lambda m: X.linalg.eigh(m + m.mT)[1] ** 2, (3, 3)),  # squared: the signs do not matter
    "svd_values": (lambda m: X.linalg.svd(m, full_matrices=False)[1], (4, 3)),
    "svd_full_vh": (lambda m: X.linalg.svd(m)[2] ** 2, (4, 3)),
    "svdvals": (X.linalg.svdvals, (4, 3)),
    "qr_q": (lambda m: X.linalg.qr(m)[0], (4, 3)),
    "qr_r_wide": (lambda m: X.linalg.qr(m)[1], (2, 4)),
    "nuclear_norm": (lambda m: X.linalg.matrix_norm(m, ord="nuc"), (4, 3)),
    "spectral_norm": (lambda m: X.linalg.matrix_norm(m, ord=2), (4, 3)),
}


@pytest.mark.parametrize("name", sorted(DECOMPOSITIONS))
def test_double_backward_of_decompositions(cpu_backend, name):
    """Their backward uses factors of the forward pass: under create_graph they are recomputed on tensors."""
    fn, shape = DECOMPOSITIONS[name]
    m = t64(np.random.default_rng(10).standard_normal(shape))
    assert xpgrad.gradgradcheck(fn, [m], atol=1e-6, rtol=1e-4)


def test_double_backward_through_complex_intermediates(cpu_backend):
    """Complex ops in between (PyTorch's conjugate convention), real input and output."""
    def fn(t):
        z = X.astype(t, X.complex128) * (1 + 2j)
        return X.real(X.exp(z) * X.conj(z * z * 1j)) + X.abs(z) ** 3 + X.real(X.fft.ifft(X.fft.fft(t * t) * (1 + 1j)))

    assert xpgrad.gradgradcheck(fn, [t64([0.3, -0.8, 0.5])])
