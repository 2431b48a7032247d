"""Shared fixtures of the namespace tests: ``xp`` (xpgrad.array_api on each CPU backend) and ``grad_check``.

``grad_check(fn, *arrays)`` makes float64 tensors of the NumPy ``arrays`` on the
current backend (all requiring grad unless ``wrt`` picks some) and runs
:func:`xpgrad.gradcheck` on ``fn``; it returns the tensors. Keep every check
float64 and table-driven; draw shapes with hypothesis where broadcasting matters.
"""

from __future__ import annotations

import numpy as np
import pytest

import xpgrad

CPU_BACKENDS = ["numpy", "array_api_strict"]


@pytest.fixture(params=[*CPU_BACKENDS, pytest.param("cupy", marks=pytest.mark.gpu)])
def xp(request):
    """``xpgrad.array_api`` with ``request.param`` as the current backend (CuPy where a GPU is usable)."""
    with xpgrad.use_backend(request.param):
        yield xpgrad.array_api


def _grad_check(fn, *arrays, wrt=None, atol=1e-5, rtol=1e-3, eps=1e-6):
    wrt = range(len(arrays)) if wrt is None else wrt
    tensors = [xpgrad.tensor(np.asarray(a, dtype=np.float64), dtype="float64", requires_grad=i in wrt)
               for i, a in enumerate(arrays)]
    xpgrad.gradcheck(fn, tensors, eps=eps, atol=atol, rtol=rtol)
    return tensors


@pytest.fixture
def grad_check():
    """The :func:`_grad_check` helper (a fixture so test modules need no import path)."""
    return _grad_check
