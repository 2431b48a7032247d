"""The fft extension of xpgrad.array_api: values against NumPy, float64 gradchecks of every transform, errors.

Complex inputs are built from two real float64 leaves (``x = a + i b``), so
the gradcheck compares dL/da and dL/db with central differences: with
PyTorch's convention the gradient of a complex input is dL/da + i dL/db.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xpgrad

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
NORMS = ["backward", "ortho", "forward"]

# name: (real input?, n-dimensional?, half-spectrum input? (default output length 2 * (m - 1)))
TRANSFORMS = {
    "fft": (False, False, False), "ifft": (False, False, False), "fftn": (False, True, False),
    "ifftn": (False, True, False), "rfft": (True, False, False), "irfft": (False, False, True),
    "rfftn": (True, True, False), "irfftn": (False, True, True), "hfft": (False, False, True),
    "ihfft": (True, False, False),
}


def host(a):
    """A NumPy copy of a tensor or of a backend array (``.grad`` is a backend array)."""
    return np.asarray(a.tolist()) if isinstance(a, xpgrad.Tensor) else np.from_dlpack(a)


def complex_of(xp, a, b):
    """``a + i b`` from two real tensors, differentiable in both."""
    return xp.astype(a, xp.complex128) + 1j * xp.astype(b, xp.complex128)


@st.composite
def transform_case(draw, name):
    """A float64 input shape and the transform's keywords (``n``/``axis`` or ``s``/``axes``, ``norm``)."""
    real, nd, half = TRANSFORMS[name]
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=ndim, max_size=ndim)))
    kwargs = {"norm": draw(st.sampled_from(NORMS))}
    if nd:
        axes = draw(st.none() | st.lists(st.integers(0, ndim - 1), unique=True, min_size=1).map(tuple))
        last = (axes or tuple(range(ndim)))[-1]
        if axes is not None:
            kwargs["axes"] = axes
            if draw(st.booleans()):
                kwargs["s"] = tuple(draw(st.integers(1, 7)) for _ in axes)
        if half and "s" not in kwargs and shape[last] < 2:
            shape = shape[:last] + (2,) + shape[last + 1:]
    else:
        axis = draw(st.integers(-ndim, ndim - 1))
        kwargs["axis"] = axis
        if draw(st.booleans()):
            kwargs["n"] = draw(st.integers(1, 8))
        elif half and shape[axis] < 2:
            shape = tuple(2 if i == axis % ndim else side for i, side in enumerate(shape))
    return shape, kwargs, draw(st.integers(0, 2**16))


def _inputs(name, shape, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for _ in range(1 if TRANSFORMS[name][0] else 2)]


def _apply(xp, name, kwargs, *leaves):
    x = leaves[0] if TRANSFORMS[name][0] else complex_of(xp, *leaves)
    return getattr(xp.fft, name)(x, **kwargs)


def _reference(name, kwargs, *arrays):
    x = arrays[0] if TRANSFORMS[name][0] else arrays[0] + 1j * arrays[1]
    return getattr(np.fft, name)(x, **kwargs)


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
@SETTINGS
@given(data=st.data())
def test_transform_value_and_gradient(xp, grad_check, name, data):
    shape, kwargs, seed = data.draw(transform_case(name))
    arrays = _inputs(name, shape, seed)
    out = _apply(xp, name, kwargs, *[xpgrad.tensor(a, dtype="float64") for a in arrays])
    np.testing.assert_allclose(host(out), _reference(name, kwargs, *arrays), rtol=1e-10, atol=1e-10)
    weights = np.random.default_rng(seed + 1).standard_normal((2, *out.shape))

    def linear(*leaves):  # every output entry, real and imaginary parts, with random weights
        y = _apply(xp, name, kwargs, *leaves)
        if y.dtype == xp.float64:
            return y
        return xp.real(y) * xpgrad.tensor(weights[0], dtype="float64") + xp.imag(y) * float(weights[1].flat[0])

    grad_check(linear, *arrays)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_power_spectrum_loss_gradient(xp, grad_check, name, norm):
    # The kind of loss: sum(|f(x)|^2 * w) with a random real w, for every transform and norm.
    real, nd, half = TRANSFORMS[name]
    rng = np.random.default_rng(7)
    shape = (3, 6)
    kwargs = {"norm": norm, **({"axes": (0, 1)} if nd else {"axis": -1})}
    out_shape = _reference(name, kwargs, *_inputs(name, shape, 0)).shape
    w = rng.uniform(0.5, 1.5, out_shape)
    grad_check(lambda *leaves: xp.sum(xp.abs(_apply(xp, name, kwargs, *leaves)) ** 2
                                      * xpgrad.tensor(w, dtype="float64")), *_inputs(name, shape, 3))


@pytest.mark.parametrize("name,dtype,out", [
    ("fft", "complex64", "complex64"), ("fft", "complex128", "complex128"), ("fft", "float32", "complex64"),
    ("ifftn", "float64", "complex128"), ("rfft", "float32", "complex64"), ("rfftn", "float64", "complex128"),
    ("irfft", "complex64", "float32"), ("irfftn", "complex128", "float64"), ("hfft", "complex64", "float32"),
    ("hfft", "float64", "float64"), ("ihfft", "float32", "complex64"), ("ihfft", "float64", "complex128"),
])
def test_dtypes(xp, name, dtype, out):
    # Complex transforms keep the dtype; a real floating input is taken as complex of the same precision.
    x = xpgrad.tensor(np.arange(12.0).reshape(3, 4), dtype=dtype)
    assert getattr(xp.fft, name)(x).dtype == getattr(xp, out)


@pytest.mark.parametrize("name", ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"])
def test_one_dimensional_positional_arguments_and_default_norm(xp, name):
    # n, axis and norm may be passed positionally (as in PyTorch); norm=None means 'backward' (as in NumPy).
    a = np.random.default_rng(1).standard_normal((4, 5))
    x = xpgrad.tensor(a if TRANSFORMS[name][0] else a + 0j, dtype="float64" if TRANSFORMS[name][0] else "complex128")
    ref = getattr(np.fft, name)(host(x), 6, 0, "ortho")
    np.testing.assert_allclose(host(getattr(xp.fft, name)(x, 6, 0, "ortho")), ref, atol=1e-12)
    np.testing.assert_allclose(host(getattr(xp.fft, name)(x, norm=None)), getattr(np.fft, name)(host(x)), atol=1e-12)


def test_s_without_axes_uses_the_last_axes(xp):
    a = np.random.default_rng(2).standard_normal((2, 3, 4)) + 0j
    out = xp.fft.fftn(xpgrad.tensor(a, dtype="complex128"), s=(5, 2))
    np.testing.assert_allclose(host(out), np.fft.fftn(a, s=(5, 2), axes=(1, 2)), atol=1e-12)


def test_s_entry_minus_one_keeps_the_input_length(xp):
    a = np.random.default_rng(3).standard_normal((3, 4))
    out = xp.fft.irfftn(xpgrad.tensor(a + 0j, dtype="complex128"), s=(-1, -1), axes=(0, 1))
    np.testing.assert_allclose(host(out), np.fft.irfftn(a + 0j, s=(3, 6), axes=(0, 1)), atol=1e-12)
    out = xp.fft.rfftn(xpgrad.tensor(a, dtype="float64"), s=(2, -1), axes=(0, 1))
    np.testing.assert_allclose(host(out), np.fft.rfftn(a, s=(2, 4), axes=(0, 1)), atol=1e-12)


@pytest.mark.parametrize("name", ["fftshift", "ifftshift"])
@SETTINGS
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple), data=st.data())
def test_shift_value_and_gradient(xp, grad_check, name, shape, data):
    axes = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1)
                     | st.lists(st.integers(0, len(shape) - 1), unique=True, min_size=1))
    a = np.random.default_rng(len(shape)).standard_normal(shape)
    f = getattr(xp.fft, name)
    np.testing.assert_array_equal(host(f(xpgrad.tensor(a, dtype="float64"), axes=axes)),
                                  getattr(np.fft, name)(a, axes=axes))
    grad_check(lambda t: f(t, axes=axes), a)


def test_shift_gradient_is_the_inverse_shift(xp):
    x = xpgrad.tensor(np.zeros(5), dtype="float64", requires_grad=True)
    w = xpgrad.tensor([0.0, 1.0, 2.0, 3.0, 4.0], dtype="float64")
    xp.sum(xp.fft.fftshift(x) * w).backward()
    assert host(x.grad).tolist() == np.fft.ifftshift(np.arange(5.0)).tolist()
    x.grad = None
    xp.sum(xp.fft.ifftshift(x) * w).backward()
    assert host(x.grad).tolist() == np.fft.fftshift(np.arange(5.0)).tolist()


def test_shift_of_a_complex_tensor(xp):
    x = xpgrad.tensor([1 + 1j, 2 - 1j, 3 + 0j], dtype="complex64")
    assert xp.fft.fftshift(x).tolist() == [(3 + 0j), (1 + 1j), (2 - 1j)]
    assert xp.fft.fftshift(x).dtype == xp.complex64


@pytest.mark.parametrize("name", ["fftfreq", "rfftfreq"])
@pytest.mark.parametrize("n", [1, 2, 7, 8])
def test_frequencies(xp, name, n):
    out = getattr(xp.fft, name)(n, d=0.25)
    np.testing.assert_allclose(host(out), getattr(np.fft, name)(n, d=0.25), rtol=1e-6)
    assert out.dtype == xp.float32 and out.backend == xpgrad.get_backend() and not out.requires_grad
    out = getattr(xp.fft, name)(n, dtype=xp.float64, device=xp.__array_namespace_info__().default_device())
    assert out.dtype == xp.float64
    assert getattr(xp.fft, name)(n, 2.0, dtype="float64").tolist() == getattr(np.fft, name)(n, 2.0).tolist()


def test_frequencies_follow_the_default_dtype(xp):
    xpgrad.set_default_dtype("float64")
    try:
        assert xp.fft.fftfreq(4).dtype == xp.float64
    finally:
        xpgrad.set_default_dtype("float32")


def test_identity_through_rfft_and_irfft(xp):
    # irfft(rfft(x)) == x for even n, so its gradient is the identity's.
    x = xpgrad.tensor(np.random.default_rng(4).standard_normal((2, 6)), dtype="float64", requires_grad=True)
    y = xp.fft.irfft(xp.fft.rfft(x))
    np.testing.assert_allclose(host(y), host(x), atol=1e-12)
    xp.sum(y * xpgrad.tensor(np.arange(12.0).reshape(2, 6), dtype="float64")).backward()
    np.testing.assert_allclose(host(x.grad), np.arange(12.0).reshape(2, 6), atol=1e-12)


def test_fft_gradient_is_zero_for_cropped_entries(xp):
    # n < m drops the tail of the input: it gets no gradient.
    x = xpgrad.tensor(np.ones(6), dtype="float64", requires_grad=True)
    xp.sum(xp.abs(xp.fft.rfft(x, n=4)) ** 2).backward()
    assert host(x.grad)[4:].tolist() == [0.0, 0.0]
    assert np.all(host(x.grad)[:4] != 0)


@pytest.mark.parametrize("call,error,match", [
    (lambda xp, x: xp.fft.fft(x, norm="unitary"), ValueError, "fft: norm must be 'backward', 'ortho' or 'forward'"),
    (lambda xp, x: xp.fft.fft(x, n=0), ValueError, "fft: n must be a positive transform length, got 0"),
    (lambda xp, x: xp.fft.fft(x, n=2.5), TypeError, "fft: n must be an integer"),
    (lambda xp, x: xp.fft.ifft(x, axis=2), ValueError, "ifft: axis 2 is out of range"),
    (lambda xp, x: xp.fft.rfft(xp.astype(x, xp.complex64)), TypeError, "rfft: x must have a real floating dtype"),
    (lambda xp, x: xp.fft.ihfft(xp.astype(x, xp.int64)), TypeError, "ihfft: x must have a real floating dtype"),
    (lambda xp, x: xp.fft.fft(xp.astype(x, xp.int32)), TypeError, "fft: x must have a complex or real floating"),
    (lambda xp, x: xp.fft.fft([1.0, 2.0]), TypeError, "fft: x must be a Tensor"),
    (lambda xp, x: xp.fft.fftn(x, s=(2, 2), axes=(0,)), ValueError, r"fftn: s=\(2, 2\) and axes=\(0,\)"),
    (lambda xp, x: xp.fft.fftn(x, s=(2, 2, 2)), ValueError, "fftn: s=.* has 3 entries but x has only 2"),
    (lambda xp, x: xp.fft.fftn(x, s=3, axes=(0,)), TypeError, "fftn: s must be a sequence"),
    (lambda xp, x: xp.fft.fftn(x, axes=(0, 0)), ValueError, "fftn: axis .* names an axis twice"),
    (lambda xp, x: xp.fft.rfftn(x, axes=()), ValueError, "rfftn: needs at least one axis"),
    (lambda xp, x: xp.fft.irfftn(x, s=(0, 4), axes=(0, 1)), ValueError, "irfftn: s entry must be a positive"),
    (lambda xp, x: xp.fft.irfft(x[:, :1]), ValueError, r"irfft: x has 1 element along axis 1.*pass n"),
    (lambda xp, x: xp.fft.hfft(x[:1], axis=0), ValueError, r"hfft: x has 1 element along axis 0.*pass n"),
    (lambda xp, x: xp.fft.fftshift(x, axes=5), ValueError, "fftshift: axis 5 is out of range"),
    (lambda xp, x: xp.fft.ifftshift(x, axes="0"), TypeError, "ifftshift: axes must be None, an integer"),
    (lambda xp, x: xp.fft.fftfreq(0), ValueError, "fftfreq: n must be a positive window length, got 0"),
    (lambda xp, x: xp.fft.rfftfreq(4, d=0), ValueError, "rfftfreq: d must be a non-zero sample spacing"),
    (lambda xp, x: xp.fft.rfftfreq(4, d="1"), TypeError, "rfftfreq: d must be a real number"),
    (lambda xp, x: xp.fft.fftfreq(4, dtype=xp.int32), TypeError, "fftfreq: dtype must be a real floating dtype"),
    (lambda xp, x: xp.fft.fftfreq(4, device="tpu"), ValueError, "fftfreq: device='tpu' is not a device"),
])
def test_errors(xp, call, error, match):
    x = xpgrad.tensor(np.ones((3, 4)), dtype="float64")
    with pytest.raises(error, match=match):
        call(xp, x)


def test_namespace_exposes_exactly_the_extension(xp):
    from xpgrad.array_api import _names

    assert sorted(xp.fft.__all__) == sorted(_names.FFT)
    assert all(getattr(xp.fft, name) is getattr(xpgrad.fft, name) for name in _names.FFT)
