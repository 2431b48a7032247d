"""The namespace as a whole: exactly the standard's names, one implementation, found through the Tensor."""

from __future__ import annotations

import array_api_compat
import numpy as np
import pytest

import xpgrad
from xpgrad.array_api import _names


def test_the_namespace_holds_exactly_the_standards_names():
    expected = {*_names.ALL_FUNCTIONS, *_names.CONSTANTS, *_names.DTYPES, *_names.EXTENSIONS}
    assert set(xpgrad.array_api.__all__) == expected
    public = {n for n in dir(xpgrad.array_api) if not n.startswith("_")} | {"__array_namespace_info__"}
    assert public == expected
    assert xpgrad.array_api.__array_api_version__ == "2024.12"
    assert sorted(xpgrad.array_api.linalg.__all__) == sorted(_names.LINALG)
    assert sorted(xpgrad.array_api.fft.__all__) == sorted(_names.FFT)


def test_unknown_names_are_refused_naming_the_standard():
    with pytest.raises(AttributeError, match=r"no attribute 'logsumexp'.*standard 2024.12"):
        xpgrad.array_api.logsumexp  # noqa: B018  (xpgrad's own extra, not the standard's)


@pytest.mark.parametrize("name", [n for n in _names.ALL_FUNCTIONS if n != "__array_namespace_info__"])
def test_every_function_is_xpgrads_own_and_documented_with_an_example(name):
    fn = getattr(xpgrad.array_api, name)
    assert getattr(xpgrad, name) is fn  # one implementation
    assert fn.__doc__ and ">>>" in fn.__doc__, f"{name} needs a docstring with a doctest example"


def test_extension_functions_are_documented_with_an_example():
    for module, names in ((xpgrad.array_api.linalg, _names.LINALG), (xpgrad.array_api.fft, _names.FFT)):
        for name in names:
            fn = getattr(module, name)
            assert fn.__doc__ and ">>>" in fn.__doc__, f"{module.__name__}.{name} needs a doctest example"


def test_array_namespace_finds_it_on_every_backend(xp):
    t = xp.asarray([1.0, 2.0])
    assert array_api_compat.array_namespace(t) is xpgrad.array_api
    assert t.__array_namespace__(api_version="2023.12") is xpgrad.array_api
    with pytest.raises(ValueError, match="api_version='2099.12' is not supported"):
        t.__array_namespace__(api_version="2099.12")


def test_dtypes_are_the_current_backends(xp):
    for name in _names.DTYPES:
        assert xp.zeros(1, dtype=getattr(xp, name)).dtype == getattr(xp, name)
    assert xp.asarray([1.0]).dtype == xp.float32  # xpgrad's default float


def test_new_arrays_follow_the_flag_and_results_follow_their_inputs():
    on_strict = xpgrad.tensor([0.5, 1.0], backend="array_api_strict")
    xp = xpgrad.array_api
    assert xp.zeros(2).backend == "numpy"
    assert xp.sin(on_strict).backend == "array_api_strict"
    with xpgrad.use_backend("array_api_strict"):
        assert xp.zeros(2).backend == "array_api_strict"
        # a dtype of the current backend works on a tensor of another one
        assert xp.astype(xpgrad.tensor([1.0], backend="numpy"), xp.float64).dtype == np.float64


def test_python_scalars_are_weak_and_gradients_come_back_in_each_inputs_dtype(xp):
    a = xp.asarray([1.0, 2.0], dtype=xp.float32)
    a.requires_grad_()
    assert xp.add(a, 2.0).dtype == xp.float32
    b = xp.asarray([3.0, 4.0], dtype=xp.float64)
    b.requires_grad_()
    out = xp.multiply(a, b)
    assert out.dtype == xp.float64
    xp.sum(out).backward()
    assert a.grad.dtype == a.dtype and b.grad.dtype == b.dtype
    np.testing.assert_allclose(np.asarray(xpgrad.tensor(a.grad, backend=a.backend).tolist()), [3.0, 4.0])


def _standard_model(w1, b1, w2, x, labels):
    """A classifier written against the standard only, as a user or a library would."""
    xp = array_api_compat.array_namespace(x, w1)
    h = xp.tanh(xp.matmul(x, xp.matrix_transpose(w1)) + b1)
    scores = xp.matmul(h, xp.matrix_transpose(w2))
    shifted = scores - xp.max(scores, axis=1, keepdims=True)
    log_probs = shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))
    picked = xp.take_along_axis(log_probs, xp.reshape(labels, (-1, 1)), axis=1)
    return -xp.mean(picked) + 0.01 * xp.linalg.vector_norm(w1) ** 2 + xp.std(h, correction=1)


def test_code_written_against_the_standard_is_differentiated(xp, grad_check):
    rng = np.random.default_rng(0)
    labels = xp.asarray(np.array([0, 2, 1, 2]))
    x = xp.asarray(rng.standard_normal((4, 3)), dtype=xp.float64)
    grad_check(lambda w1, b1, w2: _standard_model(w1, b1, w2, x, labels),
               rng.standard_normal((5, 3)), rng.standard_normal(5), rng.standard_normal((3, 5)))
