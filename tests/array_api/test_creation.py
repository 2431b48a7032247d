"""Creation functions of xpgrad.array_api: placement on the current backend, dtypes, device=, asarray's rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xpgrad

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def host(a):
    """A NumPy copy of a tensor or of a backend array."""
    if isinstance(a, xpgrad.Tensor):
        a = a.data
    return np.from_dlpack(a) if not isinstance(a, np.ndarray) else a


@pytest.fixture
def float64_default():
    before = xpgrad.get_default_dtype()
    xpgrad.set_default_dtype("float64")
    yield
    xpgrad.set_default_dtype(before)


shapes = st.lists(st.integers(0, 4), max_size=3).map(tuple)

# name: (function of (xp, shape), NumPy reference of shape)
FILLED = {
    "zeros": (lambda xp, s: xp.zeros(s), lambda s: np.zeros(s, np.float32)),
    "ones": (lambda xp, s: xp.ones(s), lambda s: np.ones(s, np.float32)),
    "full_float": (lambda xp, s: xp.full(s, 2.5), lambda s: np.full(s, 2.5, np.float32)),
    "full_int": (lambda xp, s: xp.full(s, -3), lambda s: np.full(s, -3, np.int64)),
    "full_bool": (lambda xp, s: xp.full(s, True), lambda s: np.full(s, True)),
    "full_complex": (lambda xp, s: xp.full(s, 1 + 2j), lambda s: np.full(s, 1 + 2j, np.complex64)),
    "full_dtype": (lambda xp, s: xp.full(s, 3, dtype=xp.float64), lambda s: np.full(s, 3.0)),
    "zeros_int8": (lambda xp, s: xp.zeros(s, dtype=xp.int8), lambda s: np.zeros(s, np.int8)),
    "ones_like": (lambda xp, s: xp.ones_like(xp.zeros(s, dtype=xp.int16)), lambda s: np.ones(s, np.int16)),
    "zeros_like": (lambda xp, s: xp.zeros_like(xp.ones(s), dtype="float64"), lambda s: np.zeros(s)),
    "full_like": (lambda xp, s: xp.full_like(xp.ones(s, dtype=xp.uint8), 7), lambda s: np.full(s, 7, np.uint8)),
}


@pytest.mark.parametrize("name", sorted(FILLED))
@SETTINGS
@given(shape=shapes)
def test_filled_values_dtypes_and_placement(xp, name, shape):
    fn, ref = FILLED[name]
    out = fn(xp, shape)
    assert out.backend is xpgrad.backend.current()
    assert out.dtype == out.backend.dtype(ref(shape).dtype.name)
    np.testing.assert_array_equal(host(out), ref(shape))


@SETTINGS
@given(shape=shapes)
def test_empty_and_empty_like_shapes(xp, shape):
    for out in (xp.empty(shape), xp.empty_like(xp.zeros(shape, dtype=xp.int32))):
        assert out.shape == shape and out.backend is xpgrad.backend.current()
    assert xp.empty(shape).dtype == xp.float32 and xp.empty_like(xp.ones(shape, dtype=xp.int32)).dtype == xp.int32


@SETTINGS
@given(start=st.integers(-5, 5), stop=st.integers(-5, 10), step=st.sampled_from([1, 2, 3, -1, -2]))
def test_arange_matches_numpy(xp, start, stop, step):
    np.testing.assert_array_equal(host(xp.arange(start, stop, step)), np.arange(start, stop, step))
    np.testing.assert_allclose(host(xp.arange(float(start), stop, step / 2)),
                               np.arange(float(start), stop, step / 2, dtype=np.float32), rtol=1e-6)
    assert xp.arange(start, stop, step).dtype == xp.int64 and xp.arange(0.5, 3).dtype == xp.float32


@SETTINGS
@given(start=st.floats(-10, 10), stop=st.floats(-10, 10), num=st.integers(0, 6), endpoint=st.booleans())
def test_linspace_matches_numpy(xp, start, stop, num, endpoint):
    out = xp.linspace(start, stop, num, dtype=xp.float64, endpoint=endpoint)
    np.testing.assert_allclose(host(out), np.linspace(start, stop, num, endpoint=endpoint), atol=1e-12)
    assert xp.linspace(start, stop, num).dtype == xp.float32
    assert xp.linspace(0, 1j, 3).dtype == xp.complex64


@SETTINGS
@given(n=st.integers(0, 5), m=st.one_of(st.none(), st.integers(0, 5)), k=st.integers(-3, 3))
def test_eye_matches_numpy(xp, n, m, k):
    np.testing.assert_array_equal(host(xp.eye(n, m, k=k)), np.eye(n, m, k=k, dtype=np.float32))


def test_default_float_follows_set_default_dtype(xp, float64_default):
    assert xp.zeros(2).dtype == xp.float64 and xp.full(2, 1j).dtype == xp.complex128
    assert xp.asarray(1.5).dtype == xp.float64 and xp.asarray([1j]).dtype == xp.complex128
    assert xp.linspace(0, 1, 2).dtype == xp.float64 and xp.eye(2).dtype == xp.float64


def test_like_functions_follow_their_input_not_the_current_backend():
    with xpgrad.use_backend("array_api_strict"):
        x = xpgrad.array_api.ones((2, 3), dtype="float64")
    with xpgrad.use_backend("numpy"):
        for fn in ("zeros_like", "ones_like", "empty_like"):
            out = getattr(xpgrad.array_api, fn)(x)
            assert out.backend.name == "array_api_strict" and out.dtype == x.dtype and out.shape == (2, 3)
        assert xpgrad.array_api.full_like(x, 2.0).backend.name == "array_api_strict"
        assert xpgrad.array_api.asarray(x) is x


def test_device_argument(xp):
    b = xpgrad.backend.current()
    devices = xp.__array_namespace_info__().devices()
    for dev in devices:
        assert xp.zeros(2, device=dev).device == dev
        assert xp.asarray([1.0], device=dev).device == dev
    x = xp.ones(2)
    assert xp.zeros_like(x, device=devices[-1]).device == devices[-1]
    with pytest.raises(ValueError, match=rf"zeros: device='gpu:7' is not a device of backend '{b.name}'"):
        xp.zeros(2, device="gpu:7")
    with pytest.raises(ValueError, match="full_like: device=.* is not a device"):
        xp.full_like(x, 1.0, device="gpu:7")


def test_asarray_of_a_tensor_is_the_tensor(xp):
    t = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    assert xp.asarray(t) is t and xp.asarray(t, copy=False) is t and xp.asarray(t, dtype=t.dtype) is t


def test_asarray_copy_records_a_node_and_copies(xp):
    t = xpgrad.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    u = xp.asarray(t, copy=True)
    assert u is not t and u.requires_grad and not u.is_leaf
    assert not np.shares_memory(host(u), host(t))
    xp.sum(u * u).backward()
    assert host(t.grad).tolist() == [2.0, 4.0]


def test_asarray_dtype_change_records_a_node_and_casts_the_gradient_back(xp):
    t = xpgrad.tensor([1.0, 2.0], dtype="float32", requires_grad=True)
    u = xp.asarray(t, dtype=xp.float64)
    assert u.dtype == xp.float64 and u.requires_grad
    xp.sum(u * 3.0).backward()
    assert t.grad.dtype == xp.float32 and host(t.grad).tolist() == [3.0, 3.0]
    z = xp.asarray(t, dtype=xp.complex128)
    xp.sum(xp.real(z * (2 - 1j))).backward()
    assert t.grad.dtype == xp.float32 and host(t.grad).tolist() == [5.0, 5.0]


def test_moving_to_another_device_keeps_the_graph():
    with xpgrad.use_backend("array_api_strict"):
        xp = xpgrad.array_api
        other = xp.__array_namespace_info__().devices()[1]
        t = xpgrad.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
        u = xp.asarray(t, device=other)
        assert u.device == other and u.requires_grad
        xp.sum(u * xp.asarray([1.0, 3.0], dtype=xp.float64, device=other)).backward()
        assert t.grad.device == t.device and host(t.grad).tolist() == [1.0, 3.0]


def test_full_takes_numpy_scalars(xp):
    assert xp.full(2, np.bool_(True)).dtype == xp.bool and xp.full(2, np.float64(0.5)).dtype == xp.float32
    assert xp.full(2, np.int8(3)).dtype == xp.int64


def test_asarray_copy_false_refuses_changes(xp):
    t = xpgrad.tensor([1.0, 2.0])
    with pytest.raises(ValueError, match="asarray: .* needs a copy, but copy=False"):
        xp.asarray(t, dtype=xp.float64, copy=False)
    with pytest.raises(ValueError):
        xp.asarray([1.0, 2.0], copy=False)


def test_asarray_copy_false_shares_memory_of_the_backends_own_arrays():
    a = np.arange(3.0)
    with xpgrad.use_backend("numpy"):
        assert xpgrad.array_api.asarray(a, copy=False).data is a
        assert not np.shares_memory(host(xpgrad.array_api.asarray(a, copy=True)), a)


@pytest.mark.parametrize("data, dtype", [
    (1.5, "float32"), (3, "int64"), (True, "bool"), (2j, "complex64"), ([[1, 2], [3, 4]], "int64"),
    ([1.0, 2], "float32"), (np.arange(3, dtype=np.int16), "int16"), (np.ones(2), "float64"),
])
def test_asarray_of_host_data_lands_on_the_current_backend(xp, data, dtype):
    out = xp.asarray(data)
    assert out.backend is xpgrad.backend.current() and out.dtype == out.backend.dtype(dtype)
    np.testing.assert_array_equal(host(out), np.asarray(data))


def test_asarray_of_another_backends_array():
    with xpgrad.use_backend("array_api_strict"):
        s = xpgrad.array_api.asarray([1.0, 2.0]).data
    with xpgrad.use_backend("numpy"):
        out = xpgrad.array_api.asarray(s)
        assert out.backend.name == "numpy" and out.tolist() == [1.0, 2.0]


def test_asarray_of_a_list_of_tensors_stacks_them_in_the_graph(xp):
    t = xpgrad.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    u = xp.asarray([t[0], t[1] * 2, t[0]])
    assert u.shape == (3,)
    xp.sum(u).backward()
    assert host(t.grad).tolist() == [2.0, 2.0]


def test_from_dlpack(xp):
    t = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"requires grad.*x\.detach\(\)"):
        xp.from_dlpack(t)
    u = xp.from_dlpack(t.detach())
    assert u.data is t.data and not u.requires_grad
    assert xp.from_dlpack(t.detach(), copy=True).data is not t.data
    a = np.arange(4.0)
    out = xp.from_dlpack(a)
    assert out.backend is xpgrad.backend.current() and out.tolist() == [0.0, 1.0, 2.0, 3.0]
    with pytest.raises(TypeError, match="from_dlpack: x must support the DLPack protocol"):
        xp.from_dlpack([1.0])


def test_from_dlpack_of_a_tensor_honours_device():
    b = xpgrad.backend.resolve("array_api_strict")
    other = b.xp.Device("device1")
    t = xpgrad.tensor([1.0, 2.0], backend="array_api_strict")
    moved = xpgrad.from_dlpack(t, device=other)
    assert moved.device == other and moved.tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="needs a copy, but copy=False"):
        xpgrad.from_dlpack(t, device=other, copy=False)


ERRORS = {
    "zeros negative": (lambda xp: xp.zeros((2, -1)), ValueError, r"zeros: shape entries must be non-negative"),
    "ones float shape": (lambda xp: xp.ones((2.5,)), TypeError, r"ones: shape must be an int or a tuple of ints"),
    "full string": (lambda xp: xp.full(2, "a"), TypeError, r"full: fill_value must be a bool, int, float or complex"),
    "arange step 0": (lambda xp: xp.arange(0, 3, 0), ValueError, r"arange: step must not be 0"),
    "arange string": (lambda xp: xp.arange("3"), TypeError, r"arange: start must be an int or a float"),
    "linspace num": (lambda xp: xp.linspace(0, 1, -1), ValueError, r"linspace: num must be a non-negative int"),
    "eye negative": (lambda xp: xp.eye(-1), ValueError, r"eye: shape entries must be non-negative"),
    "zeros_like list": (lambda xp: xp.zeros_like([1.0]), TypeError, r"zeros_like: x must be a Tensor"),
    "unknown dtype": (lambda xp: xp.zeros(2, dtype="float16"), TypeError, r"unknown dtype 'float16'"),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors(xp, name):
    fn, kind, pattern = ERRORS[name]
    with pytest.raises(kind, match=pattern):
        fn(xp)


def test_requires_grad_and_backend_keywords_are_kept():
    x = xpgrad.zeros((2,), requires_grad=True, backend="array_api_strict")
    assert x.requires_grad and x.backend.name == "array_api_strict"
    assert xpgrad.arange(3, backend="array_api_strict").backend.name == "array_api_strict"
