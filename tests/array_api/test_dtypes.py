"""Data type functions of xpgrad.array_api (astype, can_cast, finfo, iinfo, isdtype, result_type) vs the standard."""

from __future__ import annotations

import array_api_strict
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xpgrad

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

INTS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
FLOATS = ["float32", "float64"]
COMPLEX = ["complex64", "complex128"]
ALL = ["bool", *INTS, *FLOATS, *COMPLEX]


def host(a):
    """A NumPy copy of a tensor or of a backend array (NumPy's 0-d results may be NumPy scalars)."""
    d = a.data if isinstance(a, xpgrad.Tensor) else a
    return np.asarray(d) if isinstance(d, (np.ndarray, np.generic)) else np.from_dlpack(d)


@st.composite
def arrays(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), max_size=3)))
    return np.random.default_rng(draw(st.integers(0, 2**16))).uniform(-2, 2, shape)


# name: (function of (xp, tensor) through astype, NumPy reference)
CASTS = {
    "to_complex128_real": (lambda xp, t: xp.real(xp.astype(t, xp.complex128)) * t, lambda a: a * a),
    "to_complex_and_back": (lambda xp, t: xp.real(xp.astype(t, xp.complex128) * (1 - 3j)) + xp.imag(
        xp.astype(t, xp.complex128) * (2 + 1j)), lambda a: a + a),
    "complex_square_abs": (lambda xp, t: xp.abs(xp.astype(t, xp.complex128) ** 2 + 1j * t),
                           lambda a: np.abs(a.astype(np.complex128) ** 2 + 1j * a)),
}


@pytest.mark.parametrize("name", sorted(CASTS))
@SETTINGS
@given(a=arrays())
def test_astype_value_and_gradient(xp, grad_check, name, a):
    fn, ref = CASTS[name]
    np.testing.assert_allclose(host(fn(xp, xpgrad.tensor(a, dtype="float64"))), ref(a), rtol=1e-6, atol=1e-6)
    grad_check(lambda u: fn(xp, u), a)


def test_astype_gradient_comes_back_in_the_input_dtype(xp):
    x = xpgrad.tensor([1.0, -2.0], dtype="float32", requires_grad=True)
    xp.sum(xp.astype(x, xp.float64) * 2.0).backward()
    assert x.grad.dtype == xp.float32 and host(x.grad).tolist() == [2.0, 2.0]
    z = xpgrad.tensor([1.0, -2.0], dtype="float64", requires_grad=True)
    c = xp.astype(z, xp.complex128)
    xp.sum(xp.real(c * 1j * c)).backward()  # Re(i z^2) = 0 for real z; the gradient is Re(2 i z) = 0
    assert z.grad.dtype == xp.float64 and host(z.grad).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("target", ["int32", "bool", "uint8"])
def test_astype_to_non_float_records_nothing(xp, target):
    x = xpgrad.tensor([1.5, 0.0], requires_grad=True)
    out = xp.astype(x, target)
    assert out.dtype == out.backend.dtype(target) and not out.requires_grad and out.grad_fn is None


def test_astype_copy_false_and_device(xp):
    x = xpgrad.tensor([1.5, 0.0])
    assert xp.astype(x, x.dtype, copy=False) is x
    y = xp.astype(x, x.dtype)
    assert y is not x and not np.shares_memory(host(y), host(x))
    dev = [d for d in xp.__array_namespace_info__().devices() if "no_" not in str(d)][-1]
    assert xp.astype(x, xp.float64, device=dev).device == dev
    with pytest.raises(ValueError, match="astype: device='nowhere' is not a device"):
        xp.astype(x, xp.float64, device="nowhere")


@pytest.mark.parametrize("from_", ALL)
@pytest.mark.parametrize("to", ALL)
def test_can_cast_matches_the_standard(xp, from_, to):
    # array-api-strict is the standard's reference: promotion within a kind only (no int -> float)
    expected = bool(array_api_strict.can_cast(getattr(array_api_strict, from_), getattr(array_api_strict, to)))
    assert xp.can_cast(getattr(xp, from_), getattr(xp, to)) is expected
    assert xp.can_cast(xp.zeros(1, dtype=from_), to) is expected


@pytest.mark.parametrize("name", FLOATS + COMPLEX)
def test_finfo_gives_python_numbers(xp, name):
    ref = np.finfo(np.dtype(name))
    for arg in (name, getattr(xp, name), xp.zeros(1, dtype=name), np.dtype(name)):
        f = xp.finfo(arg)
        assert type(f.bits) is int and all(type(v) is float for v in (f.eps, f.max, f.min, f.smallest_normal))
        assert (f.bits, f.eps, f.max, f.min, f.smallest_normal) == (
            ref.bits, float(ref.eps), float(ref.max), float(ref.min), float(ref.smallest_normal))
        assert f.dtype == getattr(xp, name.replace("complex64", "float32").replace("complex128", "float64"))


@pytest.mark.parametrize("name", INTS)
def test_iinfo_gives_python_ints(xp, name):
    ref = np.iinfo(np.dtype(name))
    for arg in (name, getattr(xp, name), xp.zeros(1, dtype=name)):
        i = xp.iinfo(arg)
        assert (i.bits, i.min, i.max) == (ref.bits, int(ref.min), int(ref.max))
        assert all(type(v) is int for v in i[:3]) and i.dtype == getattr(xp, name)


KINDS = {
    "bool": ["bool"], "signed integer": INTS[:4], "unsigned integer": INTS[4:], "integral": INTS,
    "real floating": FLOATS, "complex floating": COMPLEX, "numeric": INTS + FLOATS + COMPLEX,
}


@pytest.mark.parametrize("name", ALL)
def test_isdtype_matches_the_standards_kinds(xp, name):
    dt = getattr(xp, name)
    for kind, members in KINDS.items():
        assert xp.isdtype(dt, kind) is (name in members)
    assert xp.isdtype(dt, ("bool", "complex floating")) is (name in ("bool", *COMPLEX))
    assert xp.isdtype(dt, dt) is True and xp.isdtype(dt, xp.int8) is (name == "int8")


@pytest.mark.parametrize("args, expected", [
    (("int8", "int16"), "int16"), (("uint8", "int8"), "int16"), (("float32", "float64"), "float64"),
    (("float32", "complex64"), "complex64"), (("float64", "complex64"), "complex128"), (("bool", "bool"), "bool"),
    (("float32", 1.0), "float32"), (("int8", 3), "int8"), (("float32", 1j), "complex64"), (("bool", True), "bool"),
])
def test_result_type(xp, args, expected):
    resolved = [getattr(xp, a) if isinstance(a, str) else a for a in args]
    assert xp.result_type(*resolved) == getattr(xp, expected)
    tensors = [xp.zeros(1, dtype=a) if isinstance(a, str) else a for a in args]
    assert xp.result_type(*tensors) == getattr(xp, expected)


def test_dtypes_of_another_backend_are_accepted(xp):
    with xpgrad.use_backend("array_api_strict"):
        strict_f64 = xpgrad.array_api.float64
    assert xp.isdtype(strict_f64, "real floating") and xp.result_type(strict_f64, xp.float32) == xp.float64
    assert xp.finfo(np.float64).bits == 64


ERRORS = {
    "finfo int": (lambda xp: xp.finfo(xp.int32), ValueError, r"finfo: .*int32 is not a floating dtype"),
    "iinfo float": (lambda xp: xp.iinfo(xp.float32), ValueError, r"iinfo: .*float32 is not an integer dtype"),
    "isdtype kind": (lambda xp: xp.isdtype(xp.int8, "integer"), ValueError, r"isdtype: unknown kind 'integer'"),
    "isdtype junk": (lambda xp: xp.isdtype(3, "bool"), TypeError, r"isdtype: expected a dtype or a Tensor"),
    "result_type none": (lambda xp: xp.result_type(), ValueError, r"result_type: needs at least one"),
    "result_type scalars": (lambda xp: xp.result_type(1, 2.0), ValueError, r"result_type: .* besides Python scalars"),
    "astype unknown": (lambda xp: xp.astype(xp.ones(1), "float16"), TypeError, r"unknown dtype 'float16'"),
    "astype list": (lambda xp: xp.astype([1.0], "float64"), TypeError, r"astype: x must be a Tensor"),
    "can_cast junk": (lambda xp: xp.can_cast("x", xp.int8), TypeError, r"can_cast: expected a dtype or a Tensor"),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors(xp, name):
    fn, kind, pattern = ERRORS[name]
    with pytest.raises(kind, match=pattern):
        fn(xp)
