"""Tensors: creation and dtype rules, attributes, operators, indexing, moving between backends,
and the errors for mixing backends or devices in one op."""

import numpy as np
import pytest

import xpgrad
from xpgrad import backend as B


def xp_of(name):
    return B.resolve(name).xp


# -- creation and dtype rules ------------------------------------------------------------------------

def test_float_data_defaults_to_float32_and_ints_to_int64(backend):
    xp = xp_of(backend)
    assert xpgrad.tensor([1.0, 2.0]).dtype == xp.float32
    assert xpgrad.tensor([[1, 2.5]]).dtype == xp.float32  # any float makes it float
    assert xpgrad.tensor(3.0).dtype == xp.float32
    assert xpgrad.tensor([1, 2, 3]).dtype == xp.int64
    assert xpgrad.tensor(7).dtype == xp.int64
    assert xpgrad.tensor([True, False]).dtype == xp.bool
    assert xpgrad.tensor([1.0]).backend == backend


def test_set_default_dtype_float64_changes_new_float_tensors(backend):
    xp = xp_of(backend)
    xpgrad.set_default_dtype("float64")
    assert xpgrad.tensor([0.5]).dtype == xp.float64
    assert xpgrad.zeros(2).dtype == xp.float64
    assert xpgrad.ones(2).dtype == xp.float64
    assert xpgrad.full((2,), 1.5).dtype == xp.float64
    assert xpgrad.arange(0.0, 1.0, 0.5).dtype == xp.float64
    assert xpgrad.randn(2).dtype == xp.float64
    assert xpgrad.rand(2).dtype == xp.float64
    assert xpgrad.tensor([1, 2]).dtype == xp.int64  # integers stay labels


@pytest.mark.parametrize("spec", ["float64", np.float64, np.dtype("float64")])
def test_dtype_accepts_names_and_backend_dtypes(cpu_backend, spec):
    xp = xp_of(cpu_backend)
    assert xpgrad.tensor([1, 2], dtype=spec).dtype == xp.float64
    assert xpgrad.tensor([1, 2], dtype=xp.float64).dtype == xp.float64
    assert xpgrad.zeros(3, dtype=spec).dtype == xp.float64


@pytest.mark.parametrize("name", ["int32", "int64", "uint8", "float32", "float64", "bool"])
def test_dtype_names(cpu_backend, name):
    assert xpgrad.tensor([1, 0], dtype=name).dtype == getattr(xp_of(cpu_backend), name)


def test_unknown_dtype_is_a_clear_error():
    with pytest.raises(TypeError, match="unknown dtype 'float8'"):
        xpgrad.tensor([1.0], dtype="float8")


def test_ragged_data_is_a_clear_error(cpu_backend):
    with pytest.raises(TypeError, match=f"cannot make a tensor from list data on backend '{cpu_backend}'"):
        xpgrad.tensor([[1.0, 2.0], [3.0]])


def test_filled_creators(backend):
    xp = xp_of(backend)
    z = xpgrad.zeros((2, 3))
    assert z.shape == (2, 3) and z.dtype == xp.float32 and z.numpy().tolist() == [[0.0] * 3] * 2
    assert xpgrad.ones(3).numpy().tolist() == [1.0, 1.0, 1.0]
    assert xpgrad.zeros([2, 2]).shape == (2, 2) and xpgrad.ones(()).shape == ()
    f = xpgrad.full((2,), 4.0)
    assert f.dtype == xp.float32 and f.numpy().tolist() == [4.0, 4.0]
    assert xpgrad.full((2,), 4).dtype == xp.int64
    assert xpgrad.full((1,), False).dtype == xp.bool
    assert xpgrad.full(2, 3, dtype="float64").dtype == xp.float64
    with pytest.raises(ValueError, match="non-negative"):
        xpgrad.zeros((2, -1))


def test_like_creators_follow_shape_dtype_and_backend(backend):
    xp = xp_of(backend)
    src = xpgrad.tensor([[1.0, 2.0, 3.0]], dtype="float64")
    for make, value in ((xpgrad.zeros_like, 0.0), (xpgrad.ones_like, 1.0)):
        t = make(src)
        assert t.shape == (1, 3) and t.dtype == xp.float64 and t.backend == backend
        assert t.numpy().tolist() == [[value] * 3]
        assert not t.requires_grad
        assert make(src, dtype="int64").dtype == xp.int64
        assert make(src, requires_grad=True).requires_grad


def test_like_creators_keep_the_source_backend():
    src = xpgrad.tensor([1.0], backend="array_api_strict")
    assert xpgrad.zeros_like(src).backend == "array_api_strict"  # current backend is numpy


def test_arange(backend):
    xp = xp_of(backend)
    assert xpgrad.arange(4).numpy().tolist() == [0, 1, 2, 3]
    assert xpgrad.arange(4).dtype == xp.int64
    assert xpgrad.arange(2, 8, 3).numpy().tolist() == [2, 5]
    r = xpgrad.arange(0.0, 1.0, 0.25)
    assert r.dtype == xp.float32 and r.numpy().tolist() == [0.0, 0.25, 0.5, 0.75]
    assert xpgrad.arange(3, dtype="float64").dtype == xp.float64


def test_creators_take_a_backend_argument():
    for make in (lambda b: xpgrad.tensor([1.0], backend=b), lambda b: xpgrad.zeros(2, backend=b),
                 lambda b: xpgrad.ones(2, backend=b), lambda b: xpgrad.full(2, 1.0, backend=b),
                 lambda b: xpgrad.arange(3, backend=b), lambda b: xpgrad.randn(2, backend=b),
                 lambda b: xpgrad.rand(2, backend=b), lambda b: xpgrad.randint(0, 2, 3, backend=b)):
        assert make("strict").backend == "array_api_strict"
        assert make("cpu").backend == "numpy"


def test_tensor_from_an_array_goes_to_the_current_backend(cpu_backend):
    arr = np.array([1.0, 2.0])
    t = xpgrad.tensor(arr)
    assert t.backend == cpu_backend and t.backend is xpgrad.backend.current()  # the one flag decides
    assert t.dtype == xp_of(cpu_backend).float64  # arrays keep their dtype
    other = "numpy" if cpu_backend == "array_api_strict" else "array_api_strict"
    moved = xpgrad.tensor(arr, backend=other, dtype="float32")
    assert moved.backend == other and moved.dtype == xp_of(other).float32
    again = xpgrad.tensor(moved)  # a tensor of another backend is data like any other
    assert again.backend == cpu_backend and again.numpy().tolist() == [1.0, 2.0]
    arr[0] = 9.0  # tensor() copies
    assert t.numpy().tolist() == [1.0, 2.0]


def test_as_tensor_shares_memory_when_nothing_moves(cpu_backend):
    b = xpgrad.backend.current()
    arr = b.xp.asarray([1.0, 2.0], dtype=b.xp.float32)
    assert xpgrad.as_tensor(arr).data is arr
    t = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    assert xpgrad.as_tensor(t) is t
    assert xpgrad.as_tensor(t, dtype="float64").dtype == b.xp.float64
    host = xpgrad.as_tensor(np.ones(2, dtype=np.float32))
    assert host.backend is b and host.shape == (2,)
    with pytest.raises(TypeError, match="cannot make a tensor from a str"):
        xpgrad.as_tensor("abc")


def test_set_replaces_data_and_backend():
    w = xpgrad.zeros(2)
    strict = xpgrad.ones(3, backend="array_api_strict")
    assert w.set_(strict) is w and w.backend == "array_api_strict" and w.shape == (3,)
    w.set_(np.full(2, 4.0))
    assert w.backend == "numpy" and w.tolist() == [4.0, 4.0]


# -- attributes -------------------------------------------------------------------------------------

def test_attributes(backend):
    x = xpgrad.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    assert x.shape == (2, 3) and isinstance(x.shape, tuple)
    assert x.ndim == 2 and x.size == 6 and len(x) == 2
    assert x.dtype == xp_of(backend).float32
    assert x.requires_grad and x.grad is None and x.is_leaf and x.grad_fn is None
    assert B.backend_of(x.data).name == backend  # .data is the backend array itself
    y = x * 2.0
    assert not y.is_leaf and y.grad_fn.__name__ == "Mul"
    y.sum().backward()
    assert B.backend_of(x.grad).name == backend
    assert tuple(x.grad.shape) == x.shape


def test_len_of_a_0d_tensor_is_an_error():
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(xpgrad.tensor(1.0))


def test_item(backend):
    assert xpgrad.tensor([[2.5]]).item() == 2.5
    assert isinstance(xpgrad.tensor(3.0).item(), float)
    i = xpgrad.tensor([4]).item()
    assert i == 4 and isinstance(i, int)
    assert xpgrad.tensor(True).item() is True
    with pytest.raises(ValueError, match=r"one element.*shape \(2,\)"):
        xpgrad.tensor([1.0, 2.0]).item()


def test_numpy_always_returns_an_ndarray(backend):
    t = xpgrad.tensor([[1.0, 2.0]])
    out = t.numpy()
    assert type(out) is np.ndarray and out.dtype == np.float32
    np.testing.assert_array_equal(out, [[1.0, 2.0]])
    assert t.tolist() == [[1.0, 2.0]]
    assert float(xpgrad.tensor(1.5)) == 1.5 and int(xpgrad.tensor(3)) == 3


def test_detach_shares_data_but_leaves_the_graph(backend):
    x = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3.0
    d = y.detach()
    assert not d.requires_grad and d.is_leaf and d.data is y.data
    assert (d * 2.0).grad_fn is None


def test_requires_grad_(backend):
    x = xpgrad.tensor([1.0])
    assert x.requires_grad_() is x and x.requires_grad
    assert x.requires_grad_(False) is x and not x.requires_grad
    assert xpgrad.tensor([1.0], requires_grad=True).requires_grad
    y = xpgrad.tensor([1.0], requires_grad=True) * 2.0
    with pytest.raises(RuntimeError, match="only allowed on leaf tensors.*detach"):
        y.requires_grad_(False)


@pytest.mark.parametrize("make", [
    lambda: xpgrad.tensor([1, 2], requires_grad=True), lambda: xpgrad.tensor([1, 2]).requires_grad_(),
    lambda: xpgrad.arange(3).requires_grad_(), lambda: xpgrad.tensor([True]).requires_grad_(),
    lambda: xpgrad.zeros(2, dtype="int64", requires_grad=True),
])
def test_integer_and_bool_tensors_cannot_require_grad(cpu_backend, make):
    with pytest.raises(TypeError, match=r"only floating-point \(real or complex\) tensors can require grad.*astype"):
        make()


def test_repr_shows_values_backend_and_grad_state():
    assert repr(xpgrad.tensor([1.0, 2.0])) == "tensor([1., 2.], dtype=float32)"
    x = xpgrad.tensor([1.0], requires_grad=True)
    assert "requires_grad=True" in repr(x)
    assert "grad_fn=Mul" in repr(x * 2.0)
    assert "backend='array_api_strict'" in repr(x.to("array_api_strict"))


# -- operators -------------------------------------------------------------------------------------

def test_arithmetic_operators_broadcast_and_take_scalars_on_either_side(backend):
    a_np = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    b_np = np.array([0.5, -1.0, 2.0])
    a = xpgrad.tensor(a_np, dtype="float64", backend=backend)
    b = xpgrad.tensor(b_np, dtype="float64", backend=backend)
    cases = [
        (a + b, a_np + b_np), (a - b, a_np - b_np), (a * b, a_np * b_np), (a / b, a_np / b_np),
        (a ** 2, a_np ** 2), (a ** b, a_np ** b_np), (-a, -a_np), (+a, a_np),
        (a + 1, a_np + 1), (1 + a, 1 + a_np), (a - 1.5, a_np - 1.5), (1.5 - a, 1.5 - a_np),
        (a * 2, a_np * 2), (2 * a, 2 * a_np), (a / 4, a_np / 4), (4 / a, 4 / a_np),
        (a ** 0.5, a_np ** 0.5), (2 ** a, 2 ** a_np), (2.0 ** a, 2.0 ** a_np), (abs(-a), a_np),
    ]
    for got, want in cases:
        assert got.backend == backend
        assert got.dtype == xp_of(backend).float64
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


def test_python_scalars_keep_float32(backend):
    x = xpgrad.tensor([1.0, 2.0])
    for y in (x + 1, 1 + x, x * 2.5, x / 3, 3 / x, x ** 2, 2 ** x, x - 1, 1 - x):
        assert y.dtype == xp_of(backend).float32


def test_matmul_operator(backend):
    a_np = np.arange(6.0).reshape(2, 3)
    b_np = np.arange(12.0).reshape(3, 4)
    a = xpgrad.tensor(a_np, backend=backend)
    b = xpgrad.tensor(b_np, backend=backend)
    np.testing.assert_allclose((a @ b).numpy(), a_np @ b_np)
    v = xpgrad.tensor([1.0, 2.0, 3.0], backend=backend)
    np.testing.assert_allclose((a @ v).numpy(), a_np @ [1.0, 2.0, 3.0])
    np.testing.assert_allclose((v @ b).numpy(), [1.0, 2.0, 3.0] @ b_np)
    assert (v @ v).shape == () and (v @ v).item() == 14.0
    with pytest.raises(ValueError, match=r"at least 1 dimension.*\(\) and \(3,\)"):
        xpgrad.matmul(xpgrad.tensor(2.0, backend=backend), v)


def test_matmul_with_an_array_on_the_left_defers_to_the_tensor():
    a = np.ones((2, 3))
    b = xpgrad.tensor(np.ones((3, 1)))
    out = a @ b
    assert isinstance(out, xpgrad.Tensor) and out.numpy().tolist() == [[3.0], [3.0]]


def test_comparisons_give_bool_tensors_without_a_graph(backend):
    x = xpgrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = xpgrad.tensor([3.0, 2.0, 1.0])
    cases = [(x < y, [True, False, False]), (x <= y, [True, True, False]), (x > y, [False, False, True]),
             (x >= y, [False, True, True]), (x == y, [False, True, False]), (x != y, [True, False, True]),
             (x > 2.0, [False, False, True]), (2.0 < x, [False, False, True]), (x == 2.0, [False, True, False])]
    for got, want in cases:
        assert got.dtype == xp_of(backend).bool
        assert not got.requires_grad and got.grad_fn is None
        assert got.numpy().tolist() == want


def test_comparison_across_backends_or_devices_is_an_error():
    import array_api_strict as aas

    strict = xpgrad.tensor([2.0], backend="array_api_strict")
    with pytest.raises(ValueError, match=r"less: .*'numpy'.*'array_api_strict'.*\.to\('numpy'\)"):
        _ = xpgrad.tensor([1.0]) < strict
    elsewhere = xpgrad.tensor(aas.asarray([1.0], device=aas.Device("device1")), backend="array_api_strict")
    with pytest.raises(ValueError, match=r"equal: .*device1.*CPU_DEVICE.*\.to\('array_api_strict'\)"):
        _ = elsewhere == strict
    assert (elsewhere.to("array_api_strict") < strict).numpy().tolist() == [True]


def test_getitem_ints_slices_none_and_ellipsis(backend):
    a_np = np.arange(24.0).reshape(2, 3, 4)
    a = xpgrad.tensor(a_np, backend=backend)
    for key in [0, -1, (1, 2), (1, 2, 3), slice(None, 1), (slice(None), 1), (0, slice(1, None), slice(None, None, 2)),
                (Ellipsis, 1), (None, 0), (0, None, slice(None)), slice(None, None, -1)]:
        got = a[key]
        np.testing.assert_array_equal(got.numpy(), a_np[key], err_msg=str(key))
        assert got.shape == a_np[key].shape


@pytest.mark.parametrize("key, match", [(1.5, "ints, slices, None, ..., integer arrays and boolean masks; got float"),
                                        (True, "a bare bool is not an index"), ("a", "got str")])
def test_getitem_rejects_floats_bools_and_strings(key, match):
    x = xpgrad.tensor([1.0, 2.0])  # integer arrays and masks are indices since issue 10 (tests/array_api)
    with pytest.raises(TypeError, match=match):
        x[key]


def test_transposes(backend):
    a_np = np.arange(6.0).reshape(2, 3)
    a = xpgrad.tensor(a_np)
    np.testing.assert_array_equal(a.T.numpy(), a_np.T)
    np.testing.assert_array_equal(a.mT.numpy(), a_np.T)
    b_np = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(xpgrad.tensor(b_np).mT.numpy(), np.swapaxes(b_np, -1, -2))
    with pytest.raises(ValueError, match=r"\.T needs a 2-D tensor.*\(2, 3, 4\).*mT"):
        _ = xpgrad.tensor(b_np).T


def test_astype(backend):
    xp = xp_of(backend)
    x = xpgrad.tensor([1.7, -2.2])
    assert x.astype("float32") is x
    y = x.astype("float64")
    assert y.dtype == xp.float64
    i = x.astype("int64")
    assert i.dtype == xp.int64 and i.numpy().tolist() == [1, -2]
    assert not x.requires_grad_().astype("int64").requires_grad  # integer results take no gradient
    assert x.astype("float64").requires_grad


def test_methods_match_functions(backend):
    x = xpgrad.tensor([[0.5, 1.5], [2.0, 3.0]], dtype="float64")
    for name in ("exp", "log", "log1p", "sqrt", "tanh", "abs"):
        np.testing.assert_allclose(getattr(x, name)().numpy(), getattr(xpgrad, name)(x).numpy())
    for name in ("sum", "mean", "max", "min", "logsumexp"):
        np.testing.assert_allclose(getattr(x, name)(axis=0).numpy(), getattr(xpgrad, name)(x, axis=0).numpy())
    assert x.reshape(4).shape == (4,) and x.reshape((1, 4)).shape == (1, 4) and x.reshape(4, 1).shape == (4, 1)
    assert x.permute_dims((1, 0)).shape == (2, 2)
    assert x.expand_dims(0).shape == (1, 2, 2)
    assert x.reshape(1, 4).squeeze(0).shape == (4,)
    np.testing.assert_array_equal(x.clip(1.0, 2.0).numpy(), [[1.0, 1.5], [2.0, 2.0]])
    np.testing.assert_array_equal(x.maximum(1.0).numpy(), [[1.0, 1.5], [2.0, 3.0]])
    np.testing.assert_array_equal(x.minimum(1.0).numpy(), [[0.5, 1.0], [1.0, 1.0]])
    np.testing.assert_array_equal(x.take([1], axis=1).numpy(), [[1.5], [3.0]])
    np.testing.assert_array_equal(x.take_along_axis(xpgrad.tensor([[1], [0]]), axis=1).numpy(), [[1.5], [2.0]])
    np.testing.assert_array_equal(x.matmul(x).numpy(), x.numpy() @ x.numpy())


# -- moving between backends --------------------------------------------------------------------

def test_to_moves_between_backends_and_back(cpu_backend):
    other = "array_api_strict" if cpu_backend == "numpy" else "numpy"
    x = xpgrad.tensor([[1.0, 2.0]], dtype="float64", requires_grad=True)
    y = x.to(other)
    assert y.backend == other and y.dtype == xp_of(other).float64
    assert y.requires_grad and y.is_leaf  # a new leaf: gradients do not cross backends
    z = y.to(cpu_backend)
    assert z.backend == cpu_backend
    np.testing.assert_array_equal(z.numpy(), [[1.0, 2.0]])
    assert x.to(cpu_backend) is x and x.to() is x and x.to(dtype="float64") is x
    assert x.to("cpu").backend == "numpy"


def test_to_changes_dtype(cpu_backend):
    x = xpgrad.tensor([1.5, 2.5], requires_grad=True)
    y = x.to(dtype="float64")
    assert y.dtype == xp_of(cpu_backend).float64 and y.requires_grad
    i = x.to("numpy", dtype="int64")
    assert i.backend == "numpy" and i.dtype == np.int64 and not i.requires_grad


def test_to_an_unknown_backend_lists_valid_names():
    with pytest.raises(xpgrad.BackendError, match="valid names"):
        xpgrad.tensor([1.0]).to("jax")


def test_ops_follow_their_inputs_not_the_current_backend():
    x = xpgrad.tensor([1.0, 2.0], backend="array_api_strict")
    assert xpgrad.get_backend() == "numpy"
    assert (x * 2.0).backend == "array_api_strict"
    assert xpgrad.exp(x).backend == "array_api_strict"


# -- mixing backends or devices in one op --------------------------------------------------------

def test_mixing_backends_in_one_op_names_op_backends_and_fix():
    a = xpgrad.tensor([1.0, 2.0])
    b = xpgrad.tensor([3.0, 4.0], backend="array_api_strict")
    for op, name in ((lambda: a + b, "Add"), (lambda: b * a, "Mul"), (lambda: xpgrad.matmul(a, b), "MatMul"),
                     (lambda: xpgrad.maximum(a, b), "Maximum"), (lambda: xpgrad.stack([a, b]), "Stack")):
        with pytest.raises(ValueError) as err:
            op()
        msg = str(err.value)
        assert msg.startswith(name + ":")
        assert "'numpy'" in msg and "'array_api_strict'" in msg
        assert ".to('numpy')" in msg and ".to('array_api_strict')" in msg
    # the suggested fix works
    assert (a + b.to("numpy")).numpy().tolist() == [4.0, 6.0]


def test_mixing_fake_devices_in_one_op_names_both_devices_and_fix():
    import array_api_strict as aas

    d1 = aas.Device("device1")
    a = xpgrad.tensor(aas.asarray([1.0, 2.0], device=d1), backend="array_api_strict")
    b = xpgrad.tensor([3.0, 4.0], backend="array_api_strict")
    assert a.device == d1 and b.device != d1
    for op, name in ((lambda: a + b, "Add"), (lambda: xpgrad.where(b > 3.0, a, b), "Where"),
                     (lambda: xpgrad.concat([b, a]), "Concat")):
        with pytest.raises(ValueError) as err:
            op()
        msg = str(err.value)
        assert msg.startswith(name + ":")
        assert "device1" in msg and "CPU_DEVICE" in msg and ".to('array_api_strict')" in msg
    moved = a.to("array_api_strict")  # the suggested fix: gather onto the default device
    assert moved.device == b.device
    assert (moved + b).numpy().tolist() == [4.0, 6.0]
    assert a.to("numpy").numpy().tolist() == [1.0, 2.0]


def test_ops_need_a_tensor_argument():
    with pytest.raises(TypeError, match="Add needs at least one xpgrad.Tensor argument; got float, int"):
        xpgrad.add(1.0, 2)


@pytest.mark.parametrize("data", ["abc", b"xy", np.array(["a", "b"]), np.array([object()], dtype=object)])
def test_non_numeric_data_is_refused(data):
    with pytest.raises(TypeError, match="cannot make a tensor|numbers or booleans"):
        xpgrad.tensor(data)
