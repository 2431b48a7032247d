"""Every differentiable op: forward values against NumPy and gradients against central differences,
in float64, on NumPy and array-api-strict (the ``cpu_backend`` fixture). The binary broadcasting
ops get hypothesis-generated broadcastable shapes."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import xpgrad

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def t64(values, requires_grad=True):
    """A float64 tensor on the current backend."""
    return xpgrad.tensor(np.asarray(values, dtype=np.float64), dtype="float64", backend=xpgrad.get_backend(),
                         requires_grad=requires_grad)


def ints(values):
    return xpgrad.tensor(np.asarray(values, dtype=np.int64), backend=xpgrad.get_backend())


def rand(rng, shape, low=-2.0, high=2.0):
    return rng.uniform(low, high, size=shape)


def away_from_zero(rng, shape, low=0.5, high=2.0):
    return rng.uniform(low, high, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def check(fn, inputs, expected=None, **kw):
    """gradcheck ``fn`` and, when given, compare its forward value with a NumPy reference."""
    out = fn(*inputs)
    assert out.backend == xpgrad.get_backend()
    if expected is not None:
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)
    assert xpgrad.gradcheck(fn, inputs, **kw) is True


# -- elementwise, one input ----------------------------------------------------------------------

UNARY = {
    "exp": (xpgrad.exp, np.exp, rand),
    "log": (xpgrad.log, np.log, lambda r, s: rand(r, s, 0.2, 3.0)),
    "log1p": (xpgrad.log1p, np.log1p, lambda r, s: rand(r, s, -0.8, 3.0)),
    "sqrt": (xpgrad.sqrt, np.sqrt, lambda r, s: rand(r, s, 0.2, 3.0)),
    "tanh": (xpgrad.tanh, np.tanh, rand),
    "abs": (xpgrad.abs, np.abs, away_from_zero),
    "negative": (xpgrad.negative, np.negative, rand),
    "neg_operator": (lambda x: -x, np.negative, rand),
    "square": (lambda x: x ** 2, np.square, rand),
    "cube_int_exponent": (lambda x: x ** 3, lambda a: a ** 3, rand),
    "inverse": (lambda x: 1.0 / x, lambda a: 1.0 / a, away_from_zero),
    "rpow": (lambda x: 2.0 ** x, lambda a: 2.0 ** a, rand),
    "rsub": (lambda x: 3 - x, lambda a: 3 - a, rand),
    "radd_rmul": (lambda x: 2 * x + 1, lambda a: 2 * a + 1, rand),
    "clip_both": (lambda x: xpgrad.clip(x, -0.9, 1.1), lambda a: np.clip(a, -0.9, 1.1), away_from_zero),
    "clip_min": (lambda x: xpgrad.clip(x, min=0.1), lambda a: np.maximum(a, 0.1), away_from_zero),
    "clip_max": (lambda x: x.clip(max=-0.1), lambda a: np.minimum(a, -0.1), away_from_zero),
    "maximum_scalar": (lambda x: xpgrad.maximum(x, 0.0), lambda a: np.maximum(a, 0.0), away_from_zero),
    "minimum_scalar_left": (lambda x: xpgrad.minimum(0.0, x), lambda a: np.minimum(0.0, a), away_from_zero),
    "astype_float64_noop": (lambda x: x.astype("float64") * 2.0, lambda a: a * 2.0, rand),
}


@pytest.mark.parametrize("name", list(UNARY))
def test_unary(cpu_backend, name):
    fn, ref, sample = UNARY[name]
    a = sample(np.random.default_rng(1), (2, 3))
    check(fn, [t64(a)], ref(a))


def test_astype_through_float32_passes_the_gradient_back_in_the_input_dtype(cpu_backend):
    a = rand(np.random.default_rng(2), (4,))
    x = t64(a)
    y = x.astype("float32")
    assert y.grad_fn is not None
    (y * y).sum().backward()
    assert x.grad.dtype == x.dtype
    np.testing.assert_allclose(xpgrad.tensor(x.grad).numpy(), 2 * a, rtol=1e-6)
    # float32 in the middle: a coarser step and looser tolerances still see a correct gradient
    assert xpgrad.gradcheck(lambda t: xpgrad.exp(t.astype("float32")).astype("float64"), [t64(a)],
                            eps=1e-3, atol=1e-3, rtol=1e-2)


# -- elementwise, two inputs, hypothesis-generated broadcastable shapes --------------------------

BINARY = {
    "add": (xpgrad.add, np.add, rand, rand),
    "subtract": (xpgrad.subtract, np.subtract, rand, rand),
    "multiply": (xpgrad.multiply, np.multiply, rand, rand),
    "divide": (xpgrad.divide, np.divide, rand, away_from_zero),
    "pow": (xpgrad.pow, np.power, lambda r, s: rand(r, s, 0.3, 2.0), rand),
    "maximum": (xpgrad.maximum, np.maximum, rand, rand),
    "minimum": (xpgrad.minimum, np.minimum, rand, rand),
    "add_operator": (lambda a, b: a + b, np.add, rand, rand),
    "sub_operator": (lambda a, b: a - b, np.subtract, rand, rand),
    "mul_operator": (lambda a, b: a * b, np.multiply, rand, rand),
    "div_operator": (lambda a, b: a / b, np.divide, rand, away_from_zero),
    "pow_operator": (lambda a, b: a ** b, np.power, lambda r, s: rand(r, s, 0.3, 2.0), rand),
}

broadcastable_pairs = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)


@pytest.mark.parametrize("name", list(BINARY))
@SETTINGS
@given(shapes=broadcastable_pairs, seed=st.integers(0, 2**16))
def test_binary_broadcasting(cpu_backend, name, shapes, seed):
    fn, ref, sample_a, sample_b = BINARY[name]
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a, b = sample_a(rng, sa), sample_b(rng, sb)
    ta, tb = t64(a), t64(b)
    check(fn, [ta, tb], ref(a, b))
    assert ta.grad.shape == sa and tb.grad.shape == sb  # gradients are summed back to each input's shape


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_with_one_constant_input(cpu_backend, name):
    fn, ref, sample_a, sample_b = BINARY[name]
    rng = np.random.default_rng(3)
    a, b = sample_a(rng, (2, 3)), sample_b(rng, (3,))
    check(fn, [t64(a), t64(b, requires_grad=False)], ref(a, b))
    check(fn, [t64(a, requires_grad=False), t64(b)], ref(a, b))


@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3),
       seed=st.integers(0, 2**16))
def test_where_broadcasting(cpu_backend, shapes, seed):
    rng = np.random.default_rng(seed)
    sc, sa, sb = shapes.input_shapes
    cond_np = rng.uniform(size=sc) > 0.5
    a, b = rand(rng, sa), rand(rng, sb)
    cond = xpgrad.tensor(cond_np, backend=cpu_backend)
    check(lambda x, y: xpgrad.where(cond, x, y), [t64(a), t64(b)], np.where(cond_np, a, b))


def test_where_with_scalar_branches(cpu_backend):
    a = rand(np.random.default_rng(4), (3, 2))
    x = t64(a)
    check(lambda t: xpgrad.where(t > 0, t, 0.0), [x], np.where(a > 0, a, 0.0))
    check(lambda t: xpgrad.where(t > 0, -1.0, t * t), [x], np.where(a > 0, -1.0, a * a))


def test_where_needs_a_tensor_condition():
    with pytest.raises(TypeError, match="condition must be a boolean Tensor, got list"):
        xpgrad.where([True], xpgrad.tensor([1.0]), 0.0)


# -- reductions -------------------------------------------------------------------------------

REDUCTIONS = {
    "sum": (xpgrad.sum, np.sum),
    "mean": (xpgrad.mean, np.mean),
    "max": (xpgrad.max, np.max),
    "min": (xpgrad.min, np.min),
    "logsumexp": (xpgrad.logsumexp, lambda a, axis=None, keepdims=False: np.log(
        np.sum(np.exp(a), axis=axis, keepdims=keepdims))),
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
@pytest.mark.parametrize("axis, keepdims", [(None, False), (None, True), (0, False), (-1, True), ((0, 2), False),
                                            ((1,), True)])
def test_reductions(cpu_backend, name, axis, keepdims):
    fn, ref = REDUCTIONS[name]
    a = np.random.default_rng(5).permutation(24).reshape(2, 3, 4) / 7.0  # distinct values: no max ties
    check(lambda x: fn(x, axis=axis, keepdims=keepdims), [t64(a)], ref(a, axis=axis, keepdims=keepdims))


def test_reduction_methods_and_0d_input(cpu_backend):
    a = np.array([[0.3, -1.2], [2.0, 0.7]])
    check(lambda x: x.sum(axis=1) * x.mean() + x.max(axis=0) - x.min() + x.logsumexp(), [t64(a)])
    check(lambda x: xpgrad.sum(x) * 3.0, [t64(1.5)], 4.5)


def test_logsumexp_is_stable_for_large_inputs(cpu_backend):
    a = np.array([[1000.0, 1000.0], [-1000.0, -1001.0]])
    x = t64(a)
    want = [1000.0 + np.log(2.0), -1000.0 + np.log1p(np.exp(-1.0))]
    check(lambda t: xpgrad.logsumexp(t, axis=1), [x], want)
    x.grad = None
    xpgrad.logsumexp(x, axis=1).sum().backward()  # the gradient is the softmax of each row
    np.testing.assert_allclose(xpgrad.tensor(x.grad).numpy(), [[0.5, 0.5], [1 / (1 + np.e ** -1), 1 / (1 + np.e)]])


@pytest.mark.parametrize("fn", [xpgrad.max, xpgrad.min])
def test_max_and_min_over_an_empty_axis_are_clear_errors(fn):
    with pytest.raises(ValueError, match=r"over an empty axis of a tensor of shape \(0, 3\)"):
        fn(xpgrad.zeros((0, 3)), axis=0)


def test_reduction_axis_out_of_range():
    with pytest.raises(ValueError, match="axis 2 is out of range for a tensor with 2 dimensions"):
        xpgrad.sum(xpgrad.ones((2, 2)), axis=2)


# -- linear algebra --------------------------------------------------------------------------------

@pytest.mark.parametrize("sa, sb", [((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)),
                                    ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((5, 2, 3), (5, 3, 4)),
                                    ((2, 1, 2, 3), (4, 3, 2)), ((3,), (2, 3, 4)), ((2, 2, 3), (3,))])
def test_matmul_shapes(cpu_backend, sa, sb):
    rng = np.random.default_rng(6)
    a, b = rand(rng, sa), rand(rng, sb)
    check(xpgrad.matmul, [t64(a), t64(b)], a @ b)
    check(lambda x, y: x @ y, [t64(a, requires_grad=False), t64(b)], a @ b)


@SETTINGS
@given(batch=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=2),
       seed=st.integers(0, 2**16))
def test_matmul_broadcast_batches(cpu_backend, batch, seed):
    rng = np.random.default_rng(seed)
    ba, bb = batch.input_shapes
    a, b = rand(rng, (*ba, 2, 3)), rand(rng, (*bb, 3, 2))
    check(xpgrad.matmul, [t64(a), t64(b)], a @ b)


@pytest.mark.parametrize("xshape", [(4, 3), (2, 4, 3), (3,)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear(cpu_backend, xshape, with_bias):
    rng = np.random.default_rng(7)
    x, w, b = rand(rng, xshape), rand(rng, (2, 3)), rand(rng, (2,))  # weight (out, in), as torch's F.linear
    inputs = [t64(x), t64(w)] + ([t64(b)] if with_bias else [])
    check(xpgrad.linear, inputs, x @ w.T + (b if with_bias else 0.0))


@pytest.mark.parametrize("xshape", [(4, 3), (2, 4, 3)])
def test_linear_relu_is_relu_of_linear(cpu_backend, xshape):
    rng = np.random.default_rng(8)
    x, w, b = rand(rng, xshape), rand(rng, (2, 3)), rand(rng, (2,))
    check(lambda *t: xpgrad.linear(*t, activation="relu"), [t64(x), t64(w), t64(b)],
          np.maximum(x @ w.T + b, 0.0))
    with pytest.raises(ValueError, match="activation must be None or 'relu'"):
        xpgrad.linear(t64(x), t64(w), activation="tanh")


def test_linear_shape_errors():
    with pytest.raises(ValueError, match=r"weight must be 2-D.*\(3,\)"):
        xpgrad.linear(xpgrad.ones((2, 3)), xpgrad.ones(3))
    with pytest.raises(ValueError, match=r"x has 4 features \(shape \(2, 4\)\) but weight of shape \(2, 3\) "
                                         r"\(out_features, in_features\) expects 3"):
        xpgrad.linear(xpgrad.ones((2, 4)), xpgrad.ones((2, 3)))


# -- shape and indexing ------------------------------------------------------------------------------

A = np.arange(24.0).reshape(2, 3, 4) / 5.0 - 2.0

SHAPE_OPS = {
    "reshape": (lambda x: xpgrad.reshape(x, (4, -1)), lambda a: a.reshape(4, -1)),
    "reshape_method": (lambda x: x.reshape(6, 4), lambda a: a.reshape(6, 4)),
    "flatten": (lambda x: x.reshape(-1), lambda a: a.reshape(-1)),
    "permute_dims": (lambda x: xpgrad.permute_dims(x, (2, 0, 1)), lambda a: a.transpose(2, 0, 1)),
    "permute_negative": (lambda x: xpgrad.permute_dims(x, (-1, 1, 0)), lambda a: a.transpose(2, 1, 0)),
    "T": (lambda x: x[0].T, lambda a: a[0].T),
    "mT": (lambda x: x.mT, lambda a: np.swapaxes(a, -1, -2)),
    "expand_dims": (lambda x: xpgrad.expand_dims(x, axis=1), lambda a: a[:, None]),
    "expand_dims_last": (lambda x: x.expand_dims(-1), lambda a: a[..., None]),
    "squeeze": (lambda x: xpgrad.squeeze(x[:, :1, None], axis=(1, 2)), lambda a: a[:, 0]),
    "squeeze_int": (lambda x: xpgrad.squeeze(x[:1], axis=0), lambda a: a[0]),
    "getitem_int": (lambda x: x[1], lambda a: a[1]),
    "getitem_negative_ints": (lambda x: x[-1, -2], lambda a: a[-1, -2]),
    "getitem_scalar": (lambda x: x[1, 2, 3] * x[0, 0, 0], lambda a: a[1, 2, 3] * a[0, 0, 0]),
    "getitem_slices": (lambda x: x[:, 1:, ::2], lambda a: a[:, 1:, ::2]),
    "getitem_reverse": (lambda x: x[::-1, :, 1], lambda a: a[::-1, :, 1]),
    "getitem_none_ellipsis": (lambda x: x[None, ..., 2], lambda a: a[None, ..., 2]),
    "getitem_ellipsis_none_int": (lambda x: x[..., None, 1], lambda a: a[..., None, 1]),
    "getitem_mixed": (lambda x: x[:, None, -1, 1:3], lambda a: a[:, None, -1, 1:3]),
    "getitem_0d": (lambda x: x.sum()[None] * x.sum()[...], lambda a: a.sum()[None] * a.sum()),
    "getitem_overlapping": (lambda x: x[0] * x[:, 1:2].sum(), lambda a: a[0] * a[:, 1:2].sum()),
    "take_axis0_repeated": (lambda x: xpgrad.take(x, [1, 1, 0, 1], axis=0), lambda a: a[[1, 1, 0, 1]]),
    "take_axis1_repeated": (lambda x: xpgrad.take(x, [2, 0, 2], axis=1), lambda a: a[:, [2, 0, 2]]),
    "take_axis2_tensor": (lambda x: x.take(ints([3, 3]), axis=2), lambda a: a[:, :, [3, 3]]),
    "take_negative_axis": (lambda x: xpgrad.take(x, [0, 3, 3], axis=-1), lambda a: a[..., [0, 3, 3]]),
    "take_along_negative_axis": (lambda x: xpgrad.take_along_axis(x, ints(np.zeros((2, 3, 2), dtype=np.int64)), -1),
                                 lambda a: a[..., [0, 0]]),
    "take_along_axis": (lambda x: xpgrad.take_along_axis(x, ints([[[0, 0, 3]], [[2, 1, 2]]]), axis=2),
                        lambda a: np.take_along_axis(a, np.array([[[0, 0, 3]], [[2, 1, 2]]]), axis=2)),
    "take_along_axis_0": (lambda x: xpgrad.take_along_axis(x, ints(np.ones((3, 3, 4), dtype=np.int64)), axis=0),
                          lambda a: np.take_along_axis(a, np.ones((3, 3, 4), dtype=np.int64), axis=0)),
}


@pytest.mark.parametrize("name", list(SHAPE_OPS))
def test_shape_ops(cpu_backend, name):
    fn, ref = SHAPE_OPS[name]
    check(fn, [t64(A)], ref(A))


def test_take_sums_gradients_of_repeated_indices(cpu_backend):
    x = t64([10.0, 20.0, 30.0])
    xpgrad.take(x, [2, 2, 0, 2]).sum().backward()
    assert xpgrad.tensor(x.grad).numpy().tolist() == [1.0, 0.0, 3.0]
    y = t64([[1.0, 2.0], [3.0, 4.0]])
    idx = ints([[1, 1, 1], [0, 1, 0]])
    (xpgrad.take_along_axis(y, idx, axis=1) * t64([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], False)).sum().backward()
    assert xpgrad.tensor(y.grad).numpy().tolist() == [[0.0, 6.0], [10.0, 5.0]]


def test_take_rejects_float_indices():
    with pytest.raises(TypeError, match="take: indices must be integers, got dtype float"):
        xpgrad.take(xpgrad.ones(3), [0.5])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat(cpu_backend, axis):
    rng = np.random.default_rng(8)
    shapes = {0: [(1, 3), (2, 3), (3, 3)], 1: [(2, 1), (2, 2), (2, 4)], -1: [(2, 2), (2, 1), (2, 3)]}[axis]
    arrays = [rand(rng, s) for s in shapes]
    check(lambda *ts: xpgrad.concat(list(ts), axis=axis), [t64(a) for a in arrays],
          np.concatenate(arrays, axis=axis))
    check(lambda a, b: xpgrad.concat([a, b, a], axis=axis), [t64(arrays[0]), t64(arrays[1], requires_grad=False)])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_stack(cpu_backend, axis):
    rng = np.random.default_rng(9)
    arrays = [rand(rng, (2, 3)) for _ in range(3)]
    check(lambda *ts: xpgrad.stack(list(ts), axis=axis), [t64(a) for a in arrays], np.stack(arrays, axis=axis))
    check(lambda a: xpgrad.stack([a, a * 2.0], axis=axis), [t64(arrays[0])])


def test_joins_want_a_sequence_of_tensors():
    with pytest.raises(TypeError, match="pass tensors as separate arguments"):
        xpgrad.Function.apply.__func__(xpgrad.autograd.ops.shape.Stack, [xpgrad.ones(2)])


def test_permute_dims_rejects_a_non_permutation():
    with pytest.raises(ValueError, match=r"axes \(0, 0\) are not a permutation of range\(2\)"):
        xpgrad.permute_dims(xpgrad.ones((2, 2)), (0, 0))


# -- a composite: every family in one graph ----------------------------------------------------------

def test_composite_network_step(cpu_backend):
    rng = np.random.default_rng(10)
    x, w1, b1, w2 = rand(rng, (4, 3)), rand(rng, (5, 3)), rand(rng, (5,)), rand(rng, (5, 2))
    labels = ints([0, 1, 1, 0])

    def loss(x, w1, b1, w2):
        h = xpgrad.maximum(xpgrad.linear(x, w1, b1), 0.0)
        scores = xpgrad.tanh(h) @ w2
        picked = xpgrad.take_along_axis(scores, xpgrad.expand_dims(labels, axis=1), axis=1)
        return xpgrad.mean(xpgrad.logsumexp(scores, axis=1) - xpgrad.squeeze(picked, axis=1))

    check(loss, [t64(x), t64(w1), t64(b1), t64(w2)])


def test_take_along_axis_broadcasts_indices_and_input(cpu_backend):
    a = np.arange(4.0).reshape(1, 4) - 1.5
    idx = np.array([[0, 3], [1, 1], [2, 3]])
    check(lambda x: xpgrad.take_along_axis(x, ints(idx), axis=1), [t64(a)], np.take_along_axis(a, idx, axis=1))


def test_clip_takes_tensor_bounds(cpu_backend):
    x = t64(np.array([-2.0, 0.5, 2.0, -0.5]))
    lo, hi = t64(np.array([-1.0, 0.0, -1.0, 0.0])), t64(np.array(1.0))
    y = xpgrad.clip(x, min=lo, max=hi)
    np.testing.assert_array_equal(y.numpy(), [-1.0, 0.5, 1.0, 0.0])
    assert xpgrad.gradcheck(lambda t: xpgrad.clip(t, min=lo, max=hi), [x])
    other = "numpy" if cpu_backend != "numpy" else "array_api_strict"
    with pytest.raises(ValueError, match="Clip: arguments live on different backends"):
        xpgrad.clip(x, min=lo.to(other))
