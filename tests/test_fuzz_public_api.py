"""Hypothesis-driven fuzz test of the public API (issue 11, section 6).

Odd input to the public API (one section below per area) either works or fails
with an xpgrad error type or a ``ValueError``/``TypeError`` whose message names
something of the input, never a raw ``IndexError``/``AttributeError``/
``SystemError``/``ZeroDivisionError`` from inside the library (nor Python's own
message for one, re-raised), results are not silently wrong, and the process
never exits (the CLI returns 0, 1 or 2). The rules are in
``tests/fuzz_support.py``; each strategy draws 50 fixed examples
(``XPGRAD_FUZZ_EXAMPLES=1000`` draws that many new random ones;
``XPGRAD_FUZZ_COLLECT=file`` lists every finding instead of stopping at one).
"""

import contextlib
import importlib.util
import io
import math
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import xpgrad
from xpgrad import nn, registry

_spec = importlib.util.spec_from_file_location("xpgrad_fuzz_support", Path(__file__).with_name("fuzz_support.py"))
fz = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = fz
_spec.loader.exec_module(fz)

BACKENDS = st.sampled_from(["numpy", "array_api_strict"])
ODD = st.sampled_from([0, -1, 1, 2, 0.5, -0.5, float("nan"), float("inf"), -float("inf"), "x", "0.1", None, [1],
                       (0.9, 0.999), (0.9,), (2.0, -1.0), True, 1e300, 2**70, {"a": 1}, b"1"])

# -- tensor creation -----------------------------------------------------------------------------------

LEAF = st.one_of(st.integers(min_value=-(2**80), max_value=2**80), st.floats(), st.booleans(), st.none(),
                 st.text(max_size=2), st.complex_numbers(max_magnitude=10, allow_nan=False),
                 st.sampled_from([b"x", {}, object(), 1j, float("nan")]))
DATA = st.recursive(LEAF, lambda c: st.lists(c, max_size=3) | st.tuples(c, c), max_leaves=8)
DTYPES = st.sampled_from([None, "float32", "float64", "int64", "int32", "bool", "complex64", "uint8", "floaty", 3,
                          float, "float16"])


def _leaves(data):
    if isinstance(data, (list, tuple)):
        for d in data:
            yield from _leaves(d)
    else:
        yield data


@fz.FUZZ
@given(data=DATA, dtype=DTYPES, requires_grad=st.booleans(), backend=BACKENDS)
def test_tensor_creation_with_odd_data(data, dtype, requires_grad, backend):
    call = f"xpgrad.tensor({fz._short(data)}, dtype={dtype!r}, requires_grad={requires_grad}, backend={backend!r})"
    leaves = list(_leaves(data))
    names = ["tensor", "requires_grad", "ragged", dtype, *leaves[:8]]
    ok, t = fz.check(lambda: xpgrad.tensor(data, dtype=dtype, requires_grad=requires_grad, backend=backend),
                     "tensor creation", call, names)
    if ok:
        huge = [v for v in leaves if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 2**63]
        if huge and "int" in str(t.dtype):  # floats hold it (rounded), bool is its truth value; ints cannot
            fz.report("silently-wrong", "tensor creation", call, note=f"{huge[0]} does not fit any integer dtype "
                      f"but made a tensor of dtype {t.dtype}")


# -- ops ------------------------------------------------------------------------------------------------

SHAPES = st.lists(st.integers(0, 3), max_size=3).map(tuple)
OP_DTYPES = st.sampled_from(["float32", "float64", "int64", "bool"])
INT_AXES = st.integers(-4, 4)
ODD_AXES = st.sampled_from([None, "x", 1.5, (0, 0), (0, 1), True, 2**70])

BINARY = ["add", "subtract", "multiply", "divide", "maximum", "minimum", "matmul", "pow"]
UNARY_AXIS = ["sum", "mean", "max", "min", "logsumexp", "squeeze", "expand_dims"]
OTHERS = ["concat", "stack", "reshape", "permute_dims", "take", "take_along_axis", "where", "clip"]


def _make(shape, dtype, backend):
    host = (np.arange(math.prod(shape)) % 3 + 0.5).reshape(shape)
    return xpgrad.tensor(host.astype(dtype), backend=backend,
                         requires_grad=dtype.startswith("float"))


def _op_calls(op, a, b, axis, new_shape, s1, s2, d1, d2, b1, b2):
    """(call, description) pairs for ``op`` on tensors ``a``, ``b`` (or an odd scalar as ``b``)."""
    fn = getattr(xpgrad, op)
    bs = f"b{s2}:{d2}@{b2}" if isinstance(b, xpgrad.Tensor) else repr(b)
    if op in BINARY:
        return [(lambda: fn(a, b), f"{op}(a{s1}:{d1}@{b1}, {bs})")]
    if op in UNARY_AXIS:
        return [(lambda: fn(a, axis=axis), f"{op}(a{s1}:{d1}, axis={axis!r})")]
    if op in ("concat", "stack"):
        return [(lambda: fn([a, b], axis=axis), f"{op}([a{s1}:{d1}@{b1}, {bs}], axis={axis!r})"),
                (lambda: fn([], axis=0), f"{op}([])"), (lambda: fn(a), f"{op}(a{s1}) (not a list)")]
    if op in ("reshape", "permute_dims"):
        return [(lambda: fn(a, new_shape), f"{op}(a{s1}, {new_shape!r})")]
    if op in ("take", "take_along_axis"):
        idx = xpgrad.tensor(np.asarray(new_shape, dtype="int64"), backend=b2)
        return [(lambda: fn(a, idx, axis=axis), f"{op}(a{s1}, indices={list(new_shape)}, axis={axis!r})")]
    if op == "where":
        return [(lambda: fn(b, a, a), f"where(cond {bs}, a{s1}, a{s1})")]
    return [(lambda: fn(a, b, None), f"clip(a{s1}:{d1}, min={bs})")]


def _run_op_calls(op, calls, names):
    for call, text in calls:
        ok, out = fz.check(call, f"op {op}", text, names)
        if ok and getattr(out, "requires_grad", False):
            fz.check(lambda out=out: out.sum().backward(), f"backward of {op}", text + ".sum().backward()",
                     names + ["backward", "grad"])


@fz.FUZZ
@given(op=st.sampled_from(BINARY + UNARY_AXIS + OTHERS), s1=SHAPES, s2=SHAPES, d1=OP_DTYPES, d2=OP_DTYPES,
       b1=BACKENDS, b2=BACKENDS, axis=INT_AXES, new_shape=st.lists(st.integers(-2, 4), max_size=3).map(tuple))
def test_ops_with_mismatching_shapes_dtypes_and_backends(op, s1, s2, d1, d2, b1, b2, axis, new_shape):
    a, b = _make(s1, d1, b1), _make(s2, d2, b2)
    names = [op, s1, s2, new_shape, d1, d2, b1, b2, axis, "axis", "shape", "dtype", "backend"]
    _run_op_calls(op, _op_calls(op, a, b, axis, new_shape, s1, s2, d1, d2, b1, b2), names)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # 0 * inf and friends: NumPy's warning, a NaN result
@fz.FUZZ
@given(op=st.sampled_from(BINARY + UNARY_AXIS + OTHERS), s1=SHAPES, d1=OP_DTYPES, b1=BACKENDS, scalar=ODD,
       axis=ODD_AXES, new_shape=st.sampled_from([(None,), ("2",), (1.5,), (2**70,), "x", None, 3]))
def test_ops_with_odd_operands_axes_and_shapes(op, s1, d1, b1, scalar, axis, new_shape):
    a = _make(s1, d1, b1)
    names = [op, s1, d1, b1, axis, scalar, new_shape, "axis", "shape", "dtype", "operand", "argument"]
    if op in ("take", "take_along_axis"):  # an index tensor is drawn by the other test; here the odd axis
        calls = [(lambda: getattr(xpgrad, op)(a, xpgrad.tensor([0], backend=b1), axis=axis),
                  f"{op}(a{s1}, [0], axis={axis!r})")]
    else:
        calls = _op_calls(op, a, scalar, axis, new_shape, s1, (), d1, "-", b1, b1)
    _run_op_calls(op, calls, names)


# -- component factories ---------------------------------------------------------------------------------

KIND_PARAMS = {
    "activation": ["negative_slope", "alpha", "pieces", "axis", "bogus"],
    "loss": ["reduction", "margin", "delta", "bogus"],
    "regularizer": ["beta", "bogus"],
    "optimizer": ["lr", "momentum", "betas", "eps", "alpha", "weight_decay", "samples", "local", "alternate",
                  "nesterov", "bogus"],
    "schedule": ["warmup_steps", "milestones", "gamma", "total_steps", "min_lr", "period", "period_mult",
                 "pct_start", "div_factor", "final_div_factor", "bogus"],
}


def _names(kind):
    return st.one_of(st.sampled_from(sorted(registry.table(kind))), st.sampled_from(["", "RELU", "sgdr", None, 3,
                                                                                    ("relu",), "relu "]))


def _kwargs(kind):
    return st.dictionaries(st.sampled_from(KIND_PARAMS[kind]), ODD, max_size=3)


def _finite_hparams(kw):
    def ok(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and abs(v) < 1e30
    return all(ok(v) or (isinstance(v, tuple) and all(ok(i) for i in v)) for v in kw.values())


@fz.FUZZ
@given(kind=st.sampled_from(sorted(KIND_PARAMS)), data=st.data())
def test_component_factories_with_odd_names_and_hyperparameters(kind, data):
    name = data.draw(_names(kind), label="name")
    kw = data.draw(_kwargs(kind), label="kwargs")
    names = [name, kind, *kw, *kw.values(), "hyperparameter"]
    w = xpgrad.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]], requires_grad=True)
    text = f"xpgrad.{kind}({name!r}, **{kw!r})"
    if kind == "activation":
        ok, f = fz.check(lambda: xpgrad.activation(name, **kw), "activation factory", text, names)
        if ok:
            fz.check(lambda: f(w), "activation call", text + "(w (2, 3))", names + [(2, 3)])
    elif kind == "loss":
        labels = data.draw(st.lists(st.integers(-2, 4), min_size=2, max_size=2), label="labels")
        ok, f = fz.check(lambda: xpgrad.loss(name, **kw), "loss factory", text, names)
        if ok:
            y = xpgrad.tensor(labels)
            ok, out = fz.check(lambda: f(w, y), "loss call", f"{text}(scores (2, 3), {labels})",
                               names + [*labels, "label", "target", (2, 3)])
            bad = [v for v in labels if not 0 <= v < 3]
            if ok and bad and registry.losses[name].name in ("softmax_cross_entropy", "multiclass_svm"):
                fz.report("silently-wrong", "loss call", f"{text}(scores (2, 3), {labels})",
                          note=f"label {bad[0]} outside [0, 3) accepted")
    elif kind == "regularizer":
        strength = data.draw(ODD, label="strength")
        ok, f = fz.check(lambda: xpgrad.regularizer(name, strength, **kw), "regularizer factory",
                         text.replace("(", f"(strength={strength!r}, ", 1), names + [strength, "strength"])
        if ok:
            fz.check(lambda: f([w]), "regularizer call", text + "([w])", names + [strength])
    elif kind == "optimizer":
        ok, opt = fz.check(lambda: xpgrad.optimizer(name, [w], **kw), "optimizer factory", text, names)
        if ok and registry.optimizers[name].name != "random_search":
            (w * w).sum().backward()
            ok, _ = fz.check(opt.step, "optimizer step", text + ".step()", names)
            if ok and _finite_hparams(kw) and not np.isfinite(np.asarray(w.tolist())).all():
                fz.report("silently-wrong", "optimizer step", text + ".step()",
                          note=f"finite hyperparameters gave non-finite weights {w.tolist()}")
    else:
        opt = xpgrad.optimizer("sgd", [w], lr=0.1)
        ok, sched = fz.check(lambda: xpgrad.schedule(name, opt, **kw), "schedule factory", text, names)
        if ok:
            for _ in range(3):
                ok, _ = fz.check(sched.step, "schedule step", text + ".step()", names)
                if not ok:
                    break
            lrs = [g["lr"] for g in opt.param_groups]
            if ok and _finite_hparams(kw) and not all(math.isfinite(lr) and lr >= 0 for lr in lrs):
                fz.report("silently-wrong", "schedule step", text, note=f"learning rates became {lrs}")


# -- plugins registering odd things ------------------------------------------------------------------------

REG_VALUES = st.sampled_from(["{p}_a", "", None, 3, ["{p}_b"], ("{p}_c",), b"x", abs, len, object(), "relu"])


@fz.FUZZ
@given(kind=st.sampled_from(sorted(KIND_PARAMS)), args=st.lists(REG_VALUES, max_size=3),
       aliases=st.one_of(st.none(), REG_VALUES, st.lists(REG_VALUES, max_size=2)), override=ODD,
       give=st.sampled_from(["aliases", "override", "both", "neither"]))
def test_plugins_registering_odd_names_objects_and_aliases(kind, args, aliases, override, give):
    p = "f" + uuid.uuid4().hex[:8]

    def fmt(v):
        if isinstance(v, str):
            return v.format(p=p)
        return [fmt(i) for i in v] if isinstance(v, list) else tuple(fmt(i) for i in v) if isinstance(v, tuple) else v

    args, aliases = [fmt(a) for a in args], fmt(aliases)
    kw = {"aliases": aliases, "override": override, "both": None, "neither": None}
    kw = ({"aliases": aliases, "override": override} if give == "both" else {} if give == "neither"
          else {give: kw[give]})
    hook = registry.kind(kind).hook

    class Plugin:
        pass

    def impl(register):
        register(*args, **kw)

    impl.__name__ = hook
    setattr(Plugin, hook, staticmethod(xpgrad.hookimpl(impl)))
    pm = xpgrad.plugin_manager()
    before = {k: sorted(registry.table(k)) for k in registry.KINDS}
    text = f"a plugin's {hook}: register(*{args!r}, **{kw!r})"
    ok, _ = fz.check(lambda: pm.register(Plugin(), name=p), "plugin registration", text,
                     [p, "register", "alias", "override", "name", "callable", "Backend"])
    if ok:
        pm.unregister(name=p)
    elif {k: sorted(registry.table(k)) for k in registry.KINDS} != before or pm.get_plugin(p) is not None:
        fz.report("half-changed", "plugin registration", text, note="a refused plugin left components behind")


# -- nn layers ---------------------------------------------------------------------------------------------

SIZES = st.one_of(st.integers(-2, 4), st.sampled_from([2.5, "3", None, True, 2**70, float("nan")]))
LAYERS = {  # name: (class, positional size arguments, keyword strategies, a good construction)
    "Linear": (nn.Linear, ["in_features", "out_features"],
               {"bias": st.booleans(), "dtype": st.sampled_from([None, "float64", "int32", "floaty", 3])},
               lambda: nn.Linear(3, 2)),
    "Maxout": (nn.Maxout, ["in_features", "out_features"], {"pieces": SIZES}, lambda: nn.Maxout(3, 2)),
    "BatchNorm1d": (nn.BatchNorm1d, ["num_features"], {"momentum": ODD, "eps": ODD}, lambda: nn.BatchNorm1d(3)),
    "Dropout": (nn.Dropout, [], {"p": ODD}, lambda: nn.Dropout(0.5)),
    "LeakyReLU": (nn.LeakyReLU, [], {"negative_slope": ODD}, lambda: nn.LeakyReLU(0.1)),
    "ELU": (nn.ELU, [], {"alpha": ODD}, lambda: nn.ELU(1.0)),
    "Flatten": (nn.Flatten, [], {"start_dim": SIZES, "end_dim": SIZES}, lambda: nn.Flatten()),
}


def _input(shape, kind):
    host = (np.arange(math.prod(shape), dtype="float64") % 5 - 2).reshape(shape)
    return host.tolist() if kind == "host" else xpgrad.tensor(host.astype(kind))


def _call_layer(layer, m, text, names, shape, kind):
    x = _input(shape, kind)
    host_kind = type(x).__name__  # a host input is a float (0-d) or a list
    call_text = f"{text}(x {shape} {kind})"
    ok, out = fz.check(lambda: m(x), f"nn.{layer} call", call_text, names + [shape, kind, host_kind, "input"])
    if ok and getattr(out, "requires_grad", False):
        fz.check(lambda: out.sum().backward(), f"nn.{layer} backward", call_text + ".sum().backward()",
                 names + [shape])


@fz.FUZZ
@given(layer=st.sampled_from(sorted(LAYERS)), data=st.data())
def test_nn_layers_with_odd_sizes_and_hyperparameters(layer, data):
    cls, positional, keywords, _ = LAYERS[layer]
    args = [data.draw(SIZES, label=p) for p in positional]
    kw = {k: data.draw(s, label=k) for k, s in keywords.items() if data.draw(st.booleans(), label=f"give {k}")}
    text = f"nn.{layer}({', '.join(map(repr, args))}, **{kw!r})"
    names = [layer, *positional, *kw, *args, *kw.values(), "size", "dtype"]
    ok, m = fz.check(lambda: cls(*args, **kw), f"nn.{layer}", text, names)
    if ok:  # accepted: it must then work on a well-formed input
        features = args[0] if args and isinstance(args[0], int) and 0 < args[0] < 10 else 3
        _call_layer(layer, m, text, names, (2, features), "float32")


@fz.FUZZ
@given(layer=st.sampled_from(sorted(LAYERS)), shape=st.lists(st.integers(0, 4), max_size=3).map(tuple),
       kind=st.sampled_from(["float32", "float64", "int64", "bool", "host"]))
def test_nn_layers_called_with_odd_inputs(layer, shape, kind):
    m = LAYERS[layer][3]()
    _call_layer(layer, m, f"nn.{layer}(...)", [layer, "dtype", "shape", "features"], shape, kind)


# -- xpgrad.load of damaged files ----------------------------------------------------------------------------

_CKPT = {}


def _checkpoint():
    if not _CKPT:
        folder = Path(tempfile.mkdtemp(prefix="xpgrad-fuzz-"))
        xpgrad.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
        opt = xpgrad.optimizer("adam", model.parameters(), lr=0.01)
        model(xpgrad.tensor([[1.0, 2.0, 3.0]])).sum().backward()
        opt.step()
        path = xpgrad.save(folder / "good.safetensors", model=model, optimizer=opt, epoch=1)
        _CKPT.update(folder=folder, data=Path(path).read_bytes(),
                     state={k: v.tolist() for k, v in model.state_dict().items()})
    return _CKPT


@fz.FUZZ
@given(how=st.sampled_from(["truncate", "flip", "random", "append"]), data=st.data())
def test_load_of_random_truncated_or_flipped_bytes(how, data):
    ck = _checkpoint()
    good = ck["data"]
    if how == "truncate":
        cut = data.draw(st.integers(0, len(good) - 1), label="cut")
        bad, what = good[:cut], f"first {cut} of {len(good)} bytes"
    elif how == "flip":
        at = data.draw(st.integers(0, len(good) - 1), label="at")
        bit = data.draw(st.integers(0, 7), label="bit")
        bad, what = good[:at] + bytes([good[at] ^ (1 << bit)]) + good[at + 1:], f"bit {bit} of byte {at} flipped"
    elif how == "random":
        bad = data.draw(st.binary(max_size=64), label="bytes")
        what = f"random bytes {bad!r}"
    else:
        bad, what = good + data.draw(st.binary(min_size=1, max_size=16), label="tail"), "bytes appended"
    path = ck["folder"] / "bad.safetensors"
    path.write_bytes(bad)
    xpgrad.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = xpgrad.optimizer("adam", model.parameters(), lr=0.01)
    text = f"xpgrad.load(<{what}>, model=..., optimizer=...)"
    ok, _ = fz.check(lambda: xpgrad.load(path, model=model, optimizer=opt), "xpgrad.load", text,
                     [str(path), path.name, "checkpoint"])
    if ok:
        state = {k: v.tolist() for k, v in model.state_dict().items()}
        if state != ck["state"]:
            fz.report("silently-wrong", "xpgrad.load", text, note="a damaged file loaded other weights without error")


# -- the CLI parser --------------------------------------------------------------------------------------------

CLI_WORDS = ["train", "list", "info", "plugin", "new", "--kind", "--backend", "--dataset", "--data-dir", "--hidden",
             "--activation", "--loss", "--optimizer", "--lr", "--schedule", "--warmup", "--regularizer", "--reg",
             "--epochs", "--batch-size", "--seed", "--checkpoint", "--resume", "--plots", "--quiet", "--help",
             "--version", "--dir", "--bogus", "-x", "--optimizer-args", "--schedule-args", "--loss-args"]
CLI_VALUES = ["numpy", "strict", "foo", "0", "1", "-1", "x", "nan", "inf", "1e-3", "spiral", "blobs", "mnist",
              "cifar10", "relu", "maxout", "mse", "bce", "svm", "adam", "random_search", "sgdr", "cosine", "step",
              "l2", "group_lasso", "", "16,8", "a,b", "activation", "out/ck.safetensors", "file/ck.safetensors",
              "file", "missing/x.safetensors", "out", "plots", "my plugin", "/proc/xpgrad", "period=5",
              "betas=0.9,0.99", "bogus=1", "lr", "=", "period=x", "eps=0", "momentum=2", "milestones=a"]
# Values that fit each train option, plus the odd ones above: most draws get past the parser and train.
TRAIN_VALUES = {
    "--backend": ["numpy", "strict", "cpu", "gpu", "foo"], "--dataset": ["spiral", "blobs", "mnist", "xor"],
    "--hidden": ["8", "0", "8,4", "-1", "a", "1000000000000"], "--activation": ["relu", "maxout", "tanh", "softmax"],
    "--loss": ["svm", "mse", "bce", "huber", "cross_entropy"], "--optimizer": ["adam", "sgd", "random_search", "lion"],
    "--lr": ["0.1", "0", "-1", "inf", "nan"], "--schedule": ["cosine", "sgdr", "step", "one_cycle", "constant"],
    "--warmup": ["0", "3", "-2"], "--regularizer": ["l2", "group_lasso", "elastic_net"], "--reg": ["0", "1e-3", "-1"],
    "--epochs": ["0", "2", "-1"], "--batch-size": ["0", "16", "-3", "100000"], "--seed": ["0", "-1", "7"],
    "--checkpoint": ["out/ck.safetensors", "file/ck.safetensors", "out", "/proc/xpgrad/ck.safetensors"],
    "--resume": ["missing.safetensors", "out", "file"], "--plots": ["plots", "file/plots", "/proc/xpgrad"],
    "--optimizer-args": ["betas=0.9,0.99", "eps=0", "momentum=2", "bogus=1", "=", "lr"],
    "--schedule-args": ["period=5", "period=x", "milestones=a", "total_steps=0", "gamma=2"],
    "--loss-args": ["margin=2", "delta=-1", "reduction=none"],
}
TRAIN_ARGV = st.lists(st.sampled_from(sorted(TRAIN_VALUES)).flatmap(
    lambda o: st.tuples(st.just(o), st.sampled_from(TRAIN_VALUES[o] + ["x", ""]))), max_size=4).map(
    lambda pairs: ["train", "--epochs", "1", "--quiet", *[w for pair in pairs for w in pair]])


@fz.FUZZ
@given(argv=st.one_of(TRAIN_ARGV, st.lists(st.sampled_from(CLI_WORDS) | st.sampled_from(CLI_VALUES), max_size=8)))
def test_cli_with_random_option_lists(argv):
    from xpgrad.cli import main

    if "train" in argv and argv[1:4] != ["--epochs", "1", "--quiet"]:  # quick: only a drawn --epochs overrides 1
        argv[argv.index("train") + 1:argv.index("train") + 1] = ["--epochs", "1", "--quiet"]
    folder = Path(tempfile.mkdtemp(prefix="xpgrad-fuzz-cli-"))
    (folder / "file").write_text("a file, so nothing can be written below it (even as root)")
    old, err, out = os.getcwd(), io.StringIO(), io.StringIO()
    text = f"xpgrad.cli.main({argv!r})"
    try:
        os.chdir(folder)
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            ok, code = fz.check(lambda: main(list(argv)), "cli", text, [])
    finally:
        os.chdir(old)
        shutil.rmtree(folder, ignore_errors=True)
    if ok and code not in (0, 1, 2):
        fz.report("bad-exit-status", "cli", text, note=f"exit status {code!r}; stderr {err.getvalue()[-300:]!r}")
    if ok and "Traceback" in err.getvalue():
        fz.report("traceback", "cli", text, note=err.getvalue()[-300:])
    if ok and code == 2 and len(err.getvalue().strip().splitlines()) != 1:
        fz.report("not-one-line", "cli", text, note=err.getvalue()[-300:])


# -- the rules themselves: a fuzz test that cannot fail is no test ---------------------------------------------


def _raise(exc):
    def call():
        raise exc
    return call


def test_the_rules_refuse_raw_unclear_and_leaked_errors_and_accept_clear_ones():
    refused = [IndexError("tuple index out of range"), AttributeError("'int' object has no attribute 'shape'"),
               ZeroDivisionError("integer modulo by zero"), SystemError("x"), SystemExit(3), KeyError("state"),
               RuntimeError("Linear: in_features"), ValueError("Maximum allowed dimension exceeded"),
               TypeError("Concat: refused: tuple indices must be integers or slices, not NoneType"),
               np.exceptions.AxisError("axis 3 is out of bounds for array of dimension 1")]
    for exc in refused:
        with pytest.MonkeyPatch.context() as mp, pytest.raises(fz.Finding):
            mp.setattr(fz, "_COLLECT", None)  # fail even when a run collects findings
            fz.check(_raise(exc), "rules", "input", ["Linear", "in_features", (2, 3)])
    accepted = [ValueError("Linear: in_features must be a positive integer, got -1"),
                TypeError("linear: x of shape (2, 3) ..."),
                registry.UnknownComponentError("unknown loss 'in_features'"),
                xpgrad.BackendError("backend 'numpy' and 'array_api_strict' (Linear)")]
    for exc in accepted:
        assert fz.check(_raise(exc), "rules", "input", ["Linear", "in_features", (2, 3)]) == (False, exc)
    assert fz.check(lambda: 5, "rules", "input", []) == (True, 5)
    assert not fz.names_one("got float16", {"1"}) and fz.names_one("got 1 feature", {"1"})
