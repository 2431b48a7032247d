"""Complex gradients end to end: real inputs, complex intermediates (FFTs, complex products), a real loss.

With PyTorch's convention the gradient sent back to a complex value z = x + iy
is dL/dx + i dL/dy; the leaves here are real float64 tensors, so every check
is against central differences or a closed form in those real leaves.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xpgrad

SETTINGS = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def host(a):
    """A NumPy copy of a tensor or of a backend array (``.grad`` is a backend array)."""
    return np.asarray(a.tolist()) if isinstance(a, xpgrad.Tensor) else np.from_dlpack(a)


def complex_of(xp, a, b):
    return xp.astype(a, xp.complex128) + 1j * xp.astype(b, xp.complex128)


@SETTINGS
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple), seed=st.integers(0, 2**16))
def test_issue_example_sum_abs_fft(xp, grad_check, shape, seed):
    # The issue's spectral loss: sum(abs(fft.fft(astype(x, complex128)))).
    a = np.random.default_rng(seed).standard_normal(shape)
    grad_check(lambda x: xp.sum(xp.abs(xp.fft.fft(xp.astype(x, xp.complex128)))), a)


@SETTINGS
@given(rows=st.integers(1, 3), half=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_issue_example_irfft_of_rfft_is_the_identity(xp, rows, half, seed):
    # irfft(rfft(x)) == x for an even length, so the gradient of sum(w * irfft(rfft(x))) is w.
    a = np.random.default_rng(seed).standard_normal((rows, 2 * half))
    w = np.random.default_rng(seed + 1).standard_normal((rows, 2 * half))
    x = xpgrad.tensor(a, dtype="float64", requires_grad=True)
    y = xp.fft.irfft(xp.fft.rfft(x))
    np.testing.assert_allclose(host(y), a, atol=1e-12)
    xp.sum(y * xpgrad.tensor(w, dtype="float64")).backward()
    np.testing.assert_allclose(host(x.grad), w, atol=1e-12)


@pytest.mark.parametrize("norm,scale", [("backward", "n"), ("ortho", "1"), ("forward", "1/n")])
def test_parseval_closed_form(xp, norm, scale):
    # sum |fft(z)|^2 = k sum |z|^2 (k = n, 1, 1/n by norm), so dL/da = 2k a and dL/db = 2k b for z = a + ib.
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((2, 3, 8))
    k = {"n": 8.0, "1": 1.0, "1/n": 1 / 8.0}[scale]
    ta, tb = (xpgrad.tensor(v, dtype="float64", requires_grad=True) for v in (a, b))
    loss = xp.sum(xp.abs(xp.fft.fft(complex_of(xp, ta, tb), norm=norm)) ** 2)
    np.testing.assert_allclose(float(loss), k * np.sum(a * a + b * b), rtol=1e-12)
    loss.backward()
    np.testing.assert_allclose(host(ta.grad), 2 * k * a, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(host(tb.grad), 2 * k * b, rtol=1e-10, atol=1e-12)


def test_linear_loss_gives_the_conjugate_transform(xp):
    # L = sum(real(fft(z) * conj(w))) = Re <fft(z), w>, so dL/dz (as dL/da + i dL/db) is fft^H w = n ifft(w).
    rng = np.random.default_rng(6)
    a, b, wr, wi = rng.standard_normal((4, 6))
    w = complex_of(xp, xpgrad.tensor(wr, dtype="float64"), xpgrad.tensor(wi, dtype="float64"))
    ta, tb = (xpgrad.tensor(v, dtype="float64", requires_grad=True) for v in (a, b))
    xp.sum(xp.real(xp.fft.fft(complex_of(xp, ta, tb)) * xp.conj(w))).backward()
    expected = 6 * np.fft.ifft(wr + 1j * wi)
    np.testing.assert_allclose(host(ta.grad) + 1j * host(tb.grad), expected, atol=1e-12)


@pytest.mark.parametrize("norm", ["backward", "ortho", "forward"])
def test_spectral_filter_trains_signal_and_filter(xp, grad_check, norm):
    # A learnable complex filter in the frequency domain: y = irfft(rfft(x) * (p + iq)); loss sum(y^2 * w).
    rng = np.random.default_rng(8)
    x, w = rng.standard_normal((2, 2, 7))
    p, q = rng.standard_normal((2, 4))
    wt = xpgrad.tensor(w, dtype="float64")

    def loss(xt, pt, qt):
        y = xp.fft.irfft(xp.fft.rfft(xt, norm=norm) * complex_of(xp, pt, qt), n=7, norm=norm)
        return xp.sum(y * y * wt)

    grad_check(loss, x, p, q)


def test_shifted_two_dimensional_spectrum(xp, grad_check):
    # fftshift and a 2-D transform in one chain: a centred power spectrum weighted by a radial mask.
    rng = np.random.default_rng(9)
    x = rng.standard_normal((5, 6))
    mask = xpgrad.tensor(np.hypot(*np.meshgrid(np.arange(6) - 3, np.arange(5) - 2)), dtype="float64")
    grad_check(lambda t: xp.sum(xp.abs(xp.fft.fftshift(xp.fft.fftn(xp.astype(t, xp.complex128)))) ** 2 * mask), x)


def test_real_and_imaginary_parts_of_a_half_spectrum(xp, grad_check):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((3, 8))
    grad_check(lambda t: xp.real(xp.fft.rfftn(t)) * 2.0 - xp.imag(xp.fft.rfftn(t, axes=(1,))) ** 2, x)


def test_hermitian_round_trip(xp, grad_check):
    # hfft(ihfft(x)) == x for an even length; its gradient is checked through a nonlinear loss.
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 6))
    out = xp.fft.hfft(xp.fft.ihfft(xpgrad.tensor(x, dtype="float64")))
    np.testing.assert_allclose(host(out), x, atol=1e-12)
    grad_check(lambda t: xp.sum(xp.fft.hfft(xp.fft.ihfft(t) * xp.fft.ihfft(t)) ** 2), x)


def test_gradient_keeps_the_precision_of_a_float32_input(xp):
    x = xpgrad.tensor([1.0, -2.0, 0.5, 3.0], dtype="float32", requires_grad=True)
    xp.sum(xp.abs(xp.fft.fft(x)) ** 2).backward()
    assert x.grad.dtype == xp.float32
    np.testing.assert_allclose(host(x.grad), 2 * 4 * np.array([1.0, -2.0, 0.5, 3.0]), rtol=1e-5)


def test_imaginary_part_of_dc_is_ignored_by_irfft(xp):
    # irfft ignores the imaginary parts of the DC and Nyquist bins: their gradient is zero.
    a = xpgrad.tensor(np.ones(4), dtype="float64", requires_grad=True)
    b = xpgrad.tensor(np.ones(4), dtype="float64", requires_grad=True)
    y = xp.fft.irfft(complex_of(xp, a, b))
    xp.sum(y * xpgrad.tensor(np.arange(6.0), dtype="float64")).backward()
    assert host(b.grad)[0] == 0.0 and host(b.grad)[3] == 0.0
    assert np.all(host(b.grad)[1:3] != 0)


def test_a_complex_leaf_requires_grad_and_gets_the_conjugate_wirtinger_gradient(xp):
    # L = sum |z|^2 = sum x^2 + y^2, so dL/dx + i dL/dy = 2 z
    z = xpgrad.tensor([1.0 + 2.0j, -0.5 + 0.25j], dtype="complex128", requires_grad=True)
    xp.sum(xp.real(z * xp.conj(z))).backward()
    np.testing.assert_allclose(np.asarray(z.grad), 2 * np.array([1.0 + 2.0j, -0.5 + 0.25j]), rtol=1e-12)
    assert z.grad.dtype == z.dtype


def test_backward_of_a_complex_output_needs_a_gradient(xp):
    z = xpgrad.tensor([1.0 + 2.0j], dtype="complex128", requires_grad=True)
    with pytest.raises(RuntimeError, match="needs a real output; this one is complex"):
        xp.sum(z * z).backward()
    assert xpgrad.tensor(2.0 - 1.0j, dtype="complex128").item() == 2.0 - 1.0j
