"""Odd arguments to ops and layers are refused naming the op, the argument and the value, never with the
array library's own words ('tuple index out of range', 'unsupported operand type', 'modulo by zero')."""

import pytest

import xpgrad
from xpgrad import nn

LEAKS = ("tuple index out of range", "unsupported operand", "modulo by zero", "not supported between",
         "object is not iterable", "has no attribute")

CASES = {
    "add None": (lambda: xpgrad.ones(3) + None, TypeError,
                 r"add: x2 must be a Tensor or a real number, got NoneType"),
    "multiply dict": (lambda: xpgrad.multiply(xpgrad.ones(3), {"a": 1}), TypeError, r"multiply: x2 .*dict"),
    "pow tuple": (lambda: xpgrad.pow(xpgrad.ones(3), (0.9, 0.999)), TypeError, r"pow: x2 .*tuple"),
    "maximum None": (lambda: xpgrad.maximum(None, xpgrad.ones(1)), TypeError, r"maximum: x1 .*NoneType"),
    "sum axis float": (lambda: xpgrad.sum(xpgrad.ones(2), axis=1.5), TypeError,
                       r"sum: axis must be an integer, got float"),
    "mean axis str": (lambda: xpgrad.mean(xpgrad.ones(2), axis="x"), TypeError, r"mean: axis must be an integer"),
    "max axis of 0-d": (lambda: xpgrad.max(xpgrad.ones(()), axis=0), ValueError,
                        r"max: axis 0 is out of range .*0-d"),
    "mean repeated axis": (lambda: xpgrad.mean(xpgrad.ones((2, 2)), axis=(0, 0)), ValueError, r"mean: .*axis twice"),
    "logsumexp axis 5": (lambda: xpgrad.logsumexp(xpgrad.ones((2, 2)), axis=5), ValueError, r"axis 5 .*\[-2, 2\)"),
    "concat 0-d": (lambda: xpgrad.concat([xpgrad.ones(()), xpgrad.ones(())]), ValueError,
                   r"concat: axis 0 .*0-d"),
    "concat scalar entry": (lambda: xpgrad.concat([xpgrad.ones(2), 0.5]), TypeError,
                            r"concat: entry 1 must be a Tensor"),
    "concat empty": (lambda: xpgrad.concat([]), ValueError, r"concat: needs at least one Tensor"),
    "stack axis tuple": (lambda: xpgrad.stack([xpgrad.ones(2)], axis=(0, 1)), TypeError,
                         r"stack: axis must be an integer"),
    "take on 0-d": (lambda: xpgrad.take(xpgrad.ones(()), [0], axis=0), ValueError, r"take: axis 0 .*0-d"),
    "take axis None": (lambda: xpgrad.take(xpgrad.ones((2, 3)), [0], axis=None), TypeError,
                       r"take: axis must be an integer"),
    "take_along_axis axis 3": (lambda: xpgrad.take_along_axis(xpgrad.ones((2, 2)), xpgrad.tensor([[0]]), axis=3),
                               ValueError, r"take_along_axis: axis 3"),
    "reshape None": (lambda: xpgrad.reshape(xpgrad.ones(2), None), TypeError,
                     r"reshape: shape entry must be an integer"),
    "reshape -2": (lambda: xpgrad.reshape(xpgrad.ones(2), (-2, -1)), ValueError, r"reshape: shape \(-2, -1\)"),
    "permute None": (lambda: xpgrad.permute_dims(xpgrad.ones((2, 2)), (None, 0)), TypeError, r"permute_dims: axis"),
    "permute huge": (lambda: xpgrad.permute_dims(xpgrad.ones(()), (2**70,)), ValueError, r"permute_dims: axis"),
    "squeeze wide axis": (lambda: xpgrad.squeeze(xpgrad.ones((2, 3)), axis=0), ValueError,
                          r"squeeze: axis 0 of shape \(2, 3\) has length 2, not 1"),
    "expand_dims axis 3": (lambda: xpgrad.expand_dims(xpgrad.ones(2), axis=3), ValueError, r"expand_dims: axis 3"),
    "matmul scalar": (lambda: xpgrad.ones(3) @ 2.0, TypeError, r"matmul: x2 must be a Tensor, got float"),
    "linear float x": (lambda: xpgrad.linear(0.5, xpgrad.ones((2, 2))), TypeError, r"linear: x must be a Tensor"),
    "Linear on a number": (lambda: nn.Linear(2, 2)(1.0), ValueError, r"linear: x has 0 features"),
    "Linear huge": (lambda: nn.Linear(2**70, 2), ValueError, r"cannot allocate a parameter of shape"),
    "BatchNorm momentum tuple": (lambda: nn.BatchNorm1d(3, momentum=(0.9,)), TypeError, r"BatchNorm1d: .*momentum"),
    "BatchNorm eps 0": (lambda: nn.BatchNorm1d(3, eps=0), ValueError, r"BatchNorm1d: .*eps"),
    "Flatten float dim": (lambda: nn.Flatten(start_dim=2.5), TypeError, r"Flatten: start_dim must be an integer"),
    "Flatten dim out of range": (lambda: nn.Flatten(start_dim=3)(xpgrad.ones((2, 3))), ValueError,
                                 r"Flatten: start_dim=3 is out of range for an input of shape \(2, 3\)"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_odd_arguments_are_refused_by_name(cpu_backend, case):
    fn, kind, pattern = CASES[case]
    with pytest.raises(kind, match=pattern) as err:
        fn()
    assert not any(leak in str(err.value) for leak in LEAKS), str(err.value)


def test_valid_axes_still_work_and_normalise(cpu_backend):
    x = xpgrad.ones((2, 3, 4))
    assert xpgrad.sum(x, axis=-1).shape == (2, 3)
    assert xpgrad.sum(x, axis=(0, -1)).shape == (3,)
    assert xpgrad.concat([x, x], axis=-1).shape == (2, 3, 8)
    assert xpgrad.stack([x, x], axis=-1).shape == (2, 3, 4, 2)
    assert xpgrad.squeeze(xpgrad.ones((1, 3, 1)), axis=(0, -1)).shape == (3,)
    assert xpgrad.permute_dims(x, (-1, 0, 1)).shape == (4, 2, 3)
    assert xpgrad.reshape(x, 24).shape == (24,)


@pytest.mark.parametrize("data, where", [((None, 0), r"element \[0\] is the NoneType None"),
                                         ([[1, 2], [3, ""]], r"element \[1\]\[1\] is the str ''"),
                                         ({}, r"the data is the dict \{\}"), ([b"x"], r"element \[0\] is the bytes")])
def test_tensor_of_non_numbers_names_the_first_offending_element(data, where):
    with pytest.raises(TypeError, match=where):
        xpgrad.tensor(data)


def test_concat_of_tensors_of_different_ranks_names_their_shapes(cpu_backend):
    with pytest.raises(ValueError, match=r"concat: the tensors have different numbers of dimensions "
                                         r"\(\(1, 2, 2\), \(1, 2\)\)"):
        xpgrad.concat([xpgrad.ones((1, 2, 2)), xpgrad.ones((1, 2))], axis=2)


def test_take_refuses_out_of_range_indices_on_host_backends(cpu_backend):
    with pytest.raises(IndexError, match=r"take: indices must lie in \[0, 0\) for axis 0 of shape \(0,\)"):
        xpgrad.take(xpgrad.ones((0,)), [5])
    with pytest.raises(ValueError, match=r"got min -4 and max 1"):
        xpgrad.take(xpgrad.ones(3), [-4, 1])
    assert xpgrad.take(xpgrad.ones(3), [-3, 2]).shape == (2,)
