"""nn: parameters are floating point wherever they are made; load_state_dict and to() check first, then apply."""

import numpy as np
import pytest

import xpgrad
from xpgrad import nn
from xpgrad.nn import StateDictError

BAD_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "bool"]

MAKERS = {
    "Linear": lambda dt: nn.Linear(2, 3, dtype=dt),
    "Linear-no-bias": lambda dt: nn.Linear(2, 3, bias=False, dtype=dt),
    "Maxout": lambda dt: nn.Maxout(2, 3, dtype=dt),
    "BatchNorm1d": lambda dt: nn.BatchNorm1d(3, dtype=dt),
    "Parameter(dtype=)": lambda dt: nn.Parameter([1.0, 2.0], dtype=dt),
    "Parameter(array)": lambda dt: nn.Parameter(np.ones(2, dtype=dt)),
    "Parameter(tensor)": lambda dt: nn.Parameter(xpgrad.tensor(np.ones(2, dtype=dt))),
    "Parameter(frozen)": lambda dt: nn.Parameter(np.ones(2, dtype=dt), requires_grad=False),
    "init.kaiming": lambda dt: nn.init.kaiming((3, 2), dtype=dt),
    "init.xavier": lambda dt: nn.init.xavier((3, 2), dtype=dt),
    "init.normal": lambda dt: nn.init.normal((3,), dtype=dt),
    "Linear.to": lambda dt: nn.Linear(2, 3).to(dtype=dt),
    "Sequential.to": lambda dt: nn.Sequential(nn.Linear(2, 3), nn.ReLU()).to(dtype=dt),
}


@pytest.mark.parametrize("dtype", BAD_DTYPES)
@pytest.mark.parametrize("maker", list(MAKERS), ids=list(MAKERS))
def test_integer_and_bool_parameters_are_refused_naming_the_dtype_and_the_fix(maker, dtype):
    with pytest.raises(TypeError, match=rf"parameters must have a floating-point dtype, got '{dtype}'.*"
                                        r"dtype='float32'.*register_buffer"):
        MAKERS[maker](dtype)


@pytest.mark.parametrize("dtype", ["complex64", "not-a-dtype", 3])
def test_other_non_floating_dtypes_are_refused_too(dtype):
    with pytest.raises(TypeError, match=rf"nn\.Linear: parameters must have a floating-point dtype, got "
                                        rf"'?{dtype}'?"):
        nn.Linear(2, 2, dtype=dtype)


def test_a_custom_initializer_returning_integers_is_refused():
    def ints(shape, *, dtype=None, backend=None):
        return xpgrad.tensor(np.ones(shape, dtype=np.int32))

    with pytest.raises(TypeError, match="nn.Parameter: parameters must have a floating-point dtype, got 'int32'"):
        nn.Linear(2, 2, init=ints)


def test_to_an_integer_dtype_changes_nothing():
    layer = nn.Linear(2, 3)
    before = layer.weight.data
    with pytest.raises(TypeError, match="Linear.to: .*'int64'"):
        layer.to(dtype="int64")
    assert layer.weight.data is before and str(layer.weight.dtype) == "float32"


class _Counter(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.register_buffer("steps", xpgrad.tensor(np.array([7], dtype=np.int32)))
        self.register_buffer("seen", xpgrad.tensor(np.array([True, False])))


def test_integer_and_bool_buffers_stay_allowed_and_keep_their_dtype():
    m = _Counter().to(dtype="float64")
    assert str(m.lin.weight.dtype) == "float64"
    assert m.steps.numpy().dtype == np.int32 and m.seen.numpy().dtype == np.bool_
    other = _Counter()
    other.load_state_dict(m.state_dict())
    assert other.steps.numpy().tolist() == [7]


# -- load_state_dict: every problem at once, then all or nothing -------------------------------------------


def _arrays(m):
    return {k: (v.data, v.numpy().copy()) for k, v in m.state_dict().items()}


def _assert_same(m, before):
    for k, v in m.state_dict().items():
        assert np.array_equal(v.numpy(), before[k][1]) and v.numpy().dtype == before[k][1].dtype, k


def _changed(m):
    """m's state dict as NumPy arrays, every value changed (bools negated)."""
    return {k: ~v.numpy() if v.numpy().dtype == np.bool_ else v.numpy() + 1 for k, v in m.state_dict().items()}


BAD_ENTRIES = {
    "complex into float": ("lin.weight", np.ones((2, 2), np.complex64), "wrong dtype for 'lin.weight'.*complex64"),
    "float into int buffer": ("steps", np.array([1.5]), "wrong dtype for 'steps'.*int32.*float64"),
    "int out of range": ("steps", np.array([2**40], np.int64), "'steps'.*int64 with values outside the range of "
                                                              "int32"),
    "int into bool buffer": ("seen", np.array([1, 0]), "wrong dtype for 'seen'.*bool.*int64"),
    "bool into float": ("lin.bias", np.array([True, False]), "wrong dtype for 'lin.bias'.*bool"),
    "strings": ("lin.bias", np.array(["a", "b"]), "'lin.bias'"),
    "a list": ("lin.bias", [1.0, 2.0], "unreadable value for 'lin.bias'.*list"),
    "None": ("lin.bias", None, "unreadable value for 'lin.bias'.*NoneType"),
    "wrong shape": ("lin.weight", np.ones((3, 2), np.float32), r"wrong shape for 'lin.weight'.*\(2, 2\).*\(3, 2\)"),
}


@pytest.mark.parametrize("case", list(BAD_ENTRIES), ids=list(BAD_ENTRIES))
def test_each_bad_entry_is_named_and_nothing_changes(case, cpu_backend):
    key, value, pattern = BAD_ENTRIES[case]
    m = _Counter()
    sd = _changed(_Counter())
    sd[key] = value
    before = _arrays(m)
    with pytest.raises(StateDictError, match=rf"(?s)nothing was changed.*{pattern}"):
        m.load_state_dict(sd)
    _assert_same(m, before)


def test_all_problems_are_reported_together():
    m = _Counter()
    sd = {"lin.weight": np.ones((2, 2), np.complex64), "steps": np.array([1.5]), "seen": None, "extra": 1}
    with pytest.raises(StateDictError) as info:
        m.load_state_dict(sd)
    e = info.value
    assert set(e.wrong_dtypes) == {"lin.weight", "steps"} and set(e.unreadable) == {"seen"}
    assert e.missing == ["lin.bias"] and e.unexpected == ["extra"]


@pytest.mark.parametrize("value, dtype", [
    (np.ones((2, 2), np.float64), "float32"), (np.ones((2, 2), np.int64), "float32"),
    (np.ones((2, 2), np.float16), "float32"),
])
def test_lossless_or_float_conversions_are_accepted(value, dtype, cpu_backend):
    m = _Counter()
    m.load_state_dict({"lin.weight": value}, strict=False)
    assert xpgrad.backend.dtype_name(m.lin.weight.dtype) == dtype
    assert m.lin.weight.numpy().tolist() == [[1.0, 1.0], [1.0, 1.0]]


@pytest.mark.parametrize("value", [np.array([5], np.int64), np.array([5], np.int8), np.array([True])])
def test_integer_buffers_take_integers_that_fit(value, cpu_backend):
    m = _Counter()
    m.load_state_dict({"steps": value}, strict=False)
    assert m.steps.numpy().dtype == np.int32 and m.steps.numpy().tolist() == [int(value[0])]


def test_a_failure_while_swapping_restores_the_entries_already_replaced(monkeypatch):
    from xpgrad.nn import state

    m = _Counter()
    before = _arrays(m)
    sd = _changed(_Counter())
    real, calls = state.as_tensor, []

    def flaky(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise MemoryError("out of memory while swapping")
        return real(*a, **k)

    monkeypatch.setattr(state, "as_tensor", flaky)
    with pytest.raises(MemoryError, match="out of memory") as info:
        m.load_state_dict(sd)
    assert any("restored" in n for n in getattr(info.value, "__notes__", ["restored"]))
    _assert_same(m, before)
    assert all(v.data is before[k][0] for k, v in m.state_dict().items())


def test_to_builds_every_array_before_swapping(monkeypatch):
    from xpgrad.nn import state

    m = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    before = _arrays(m)
    real, calls = state._move, []

    def flaky(*a):
        calls.append(1)
        if len(calls) == 3:
            raise MemoryError("no room for float64")
        return real(*a)

    monkeypatch.setattr(state, "_move", flaky)
    with pytest.raises(MemoryError):
        m.to(dtype="float64")
    _assert_same(m, before)
    assert all(str(p.dtype) == "float32" for p in m.parameters())


@pytest.mark.parametrize("bad", [[("a", 1)], "weights", 3, None])
def test_load_state_dict_wants_a_mapping(bad):
    with pytest.raises(TypeError, match=f"mapping of names to arrays, got {type(bad).__name__}"):
        nn.Linear(2, 2).load_state_dict(bad)
