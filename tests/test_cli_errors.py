"""``xpgrad train`` keeps its promise: bad input is exit 2 and one line, found before training; other errors exit 1.

Every registered component is either usable from the command line or refused up front; component
hyperparameters come through ``--KIND-args KEY=VALUE``; every output path and optional dependency is
checked before the first step.
"""

import os
import re
import sys

import pytest

import xpgrad
from xpgrad import registry
from xpgrad.cli import main
from xpgrad.cli.checks import UsageError, parse_component_args, parse_value

FINAL = re.compile(r"^final train accuracy: (\d\.\d{4})  val accuracy: (\d\.\d{4})$", re.M)
QUICK = ["train", "--quiet", "--epochs", "1", "--hidden", "8", "--batch-size", "0"]


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _fails(capsys, *argv, match, code=2):
    got, out, err = _run(capsys, *argv)
    assert got == code, (out, err)
    assert err.count("\n") == 1 and err.startswith("xpgrad") and "Traceback" not in err, err
    assert re.search(match, err), err
    assert not FINAL.search(out), out  # refused before training: no result line
    return err


# -- every registered component: usable or refused at once ---------------------------------------

REFUSED = {("optimizer", "random_search"): r"--optimizer random_search: it needs a closure",
           ("schedule", "cosine_restarts"): r"--schedule cosine_restarts: .*period.*--schedule-args"}


def _components():
    return [(kind, name) for kind in ("activation", "loss", "optimizer", "schedule", "regularizer")
            for name in registry.table(kind)]


@pytest.mark.parametrize("kind, name", _components())
def test_every_registered_component_trains_or_is_refused(capsys, kind, name):
    argv = [*QUICK, f"--{kind}", name]
    if (kind, name) in REFUSED:
        _fails(capsys, *argv, match=REFUSED[(kind, name)])
    else:
        code, out, err = _run(capsys, *argv)
        assert code == 0 and FINAL.search(out), err


def test_refused_components_become_usable_with_their_arguments(capsys):
    code, out, err = _run(capsys, *QUICK, "--schedule", "sgdr", "--schedule-args", "period=3", "period_mult=2")
    assert code == 0 and FINAL.search(out), err


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_dense_target_losses_learn_from_class_labels(capsys, loss):
    """mse/bce read integer labels as one-hot rows (one-vs-rest): they learn the spiral, not just run."""
    code, out, err = _run(capsys, "train", "--quiet", "--epochs", "40", "--loss", loss)
    assert code == 0, err
    assert float(FINAL.search(out).group(1)) > 0.8


def test_maxout_widens_the_layer_before_it(capsys, tmp_path):
    ckpt = tmp_path / "m.safetensors"
    code, out, err = _run(capsys, *QUICK, "--hidden", "6,4", "--activation", "maxout", "--activation-args",
                          "pieces=3", "--checkpoint", str(ckpt))
    assert code == 0, err
    from safetensors.numpy import load_file

    shapes = {k: v.shape for k, v in load_file(str(ckpt)).items() if k.endswith("weight")}
    assert shapes == {"model/0.weight": (18, 2), "model/2.weight": (12, 6), "model/4.weight": (3, 4)}


# -- --KIND-args ---------------------------------------------------------------------------------------

def test_values_are_parsed_into_numbers_and_tuples():
    assert parse_value("3") == 3 and isinstance(parse_value("3"), int)
    assert parse_value("1e-7") == 1e-7 and parse_value("0.5") == 0.5
    assert parse_value("0.9,0.99") == (0.9, 0.99) and parse_value("30,") == (30,)
    assert parse_value("true") is True and parse_value("False") is False and parse_value("none") is None
    assert parse_value("x") == "x"
    assert parse_component_args("schedule", ["milestones=2,4", "gamma=0.5"]) == {"milestones": (2, 4), "gamma": 0.5}


def test_optimizer_args_reach_the_optimizer(capsys, tmp_path, monkeypatch):
    built = []
    real = xpgrad.optimizer

    def spy(name, parameters, **hparams):
        built.append((name, hparams))
        return real(name, parameters, **hparams)

    monkeypatch.setattr(xpgrad, "optimizer", spy)
    ckpt = tmp_path / "a.safetensors"
    code, _, err = _run(capsys, *QUICK, "--optimizer", "adam", "--optimizer-args", "betas=0.8,0.9", "eps=1e-7",
                        "--checkpoint", str(ckpt))
    assert code == 0, err
    assert built == [("adam", {"lr": 0.01, "betas": (0.8, 0.9), "eps": 1e-7})]
    meta = xpgrad.checkpoint.read_metadata(ckpt)
    assert meta["config"]["optimizer_args"] == ["betas=0.8,0.9", "eps=1e-7"]
    # the saved arguments come back on --resume
    code, out, err = _run(capsys, "train", "--quiet", "--resume", str(ckpt), "--epochs", "2")
    assert code == 0 and FINAL.search(out), err
    assert built[-1] == ("adam", {"lr": 0.01, "betas": (0.8, 0.9), "eps": 1e-7})


BAD_ARGS = [
    (["--optimizer-args", "betas"], r"--optimizer-args: 'betas' is not KEY=VALUE"),
    (["--optimizer-args", "=1"], r"--optimizer-args: '=1' is not KEY=VALUE"),
    (["--optimizer-args", "1x=2"], r"--optimizer-args: '1x=2' is not KEY=VALUE"),
    (["--optimizer-args", "eps="], r"--optimizer-args: 'eps=' is not KEY=VALUE"),
    (["--optimizer-args", "eps=1e-7", "eps=1e-8"], r"--optimizer-args: key 'eps' is given twice"),
    (["--optimizer-args", "lr=0.1"], r"--optimizer-args: key 'lr' is set with --lr"),
    (["--optimizer-args", "foo=1"], r"--optimizer adam: .*'foo'.*--optimizer-args"),
    (["--optimizer-args", "betas=abc"], r"--optimizer adam: .*betas"),
    (["--optimizer", "sgd", "--optimizer-args", "momentum=0.9"], r"--optimizer sgd: .*'momentum'"),
    (["--schedule-args", "total_steps=5"], r"--schedule-args: key 'total_steps' is set with --epochs"),
    (["--schedule-args", "warmup_steps=5"], r"--schedule-args: key 'warmup_steps' is set with --warmup"),
    (["--schedule", "step", "--schedule-args", "milestones=a,b"], r"--schedule step: .*milestones"),
    (["--schedule", "step", "--schedule-args", "gammma=0.5"], r"--schedule step: .*gammma"),
    (["--regularizer-args", "strength=1"], r"--regularizer-args: key 'strength' is set with --reg"),
    (["--regularizer", "elastic_net", "--regularizer-args", "alpha=1"], r"--regularizer elastic_net: .*'alpha'"),
    (["--reg", "0", "--regularizer", "elastic_net", "--regularizer-args", "beta=1"],
     r"--regularizer-args has no effect with --reg 0"),
    (["--loss-args", "reduction=none"], r"--loss-args: key 'reduction' is set by xpgrad train"),
    (["--loss", "svm", "--loss-args", "margn=1"], r"--loss svm: .*'margn'"),
    (["--activation", "leaky_relu", "--activation-args", "negative_slope=x"],
     r"--activation leaky_relu: .*negative_slope"),
    (["--activation", "relu", "--activation-args", "alpha=1"], r"--activation relu: .*'alpha'"),
    (["--activation", "maxout", "--activation-args", "pieces=0"], r"--activation maxout: .*pieces"),
    (["--lr", "inf"], r"--lr must be a positive, finite number, got inf"),
    (["--lr", "nan"], r"--lr must be a positive, finite number, got nan"),
    (["--reg", "inf"], r"--reg must be >= 0 and finite, got inf"),
]


@pytest.mark.parametrize("args, match", BAD_ARGS)
def test_bad_component_arguments_name_the_key(capsys, args, match):
    _fails(capsys, *QUICK, *args, match=match)


def test_parse_component_args_raises_usage_error():
    with pytest.raises(UsageError, match=r"--schedule-args: 'period' is not KEY=VALUE"):
        parse_component_args("schedule", ["period"])


# -- paths and optional dependencies, before training --------------------------------------------------

@pytest.fixture
def readonly_dir(tmp_path):
    """A folder nobody may create files in (root ignores permission bits: then /sys, if it refuses too)."""
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        candidates = [str(d), "/sys"]
        for c in candidates:
            try:
                open(os.path.join(c, ".xpgrad-probe"), "wb").close()
                os.unlink(os.path.join(c, ".xpgrad-probe"))
            except OSError:
                yield c
                return
        pytest.skip("no read-only folder available here (running as root?)")
    finally:
        d.chmod(0o700)


def test_unwritable_outputs_are_refused_before_training(capsys, readonly_dir):
    _fails(capsys, *QUICK, "--checkpoint", os.path.join(readonly_dir, "run.safetensors"),
           match=rf"--checkpoint {re.escape(readonly_dir)}/run\.safetensors: cannot write into folder")
    _fails(capsys, *QUICK, "--plots", os.path.join(readonly_dir, "figs"),
           match=rf"--plots {re.escape(readonly_dir)}/figs: cannot write into folder")
    _fails(capsys, "plugin", "new", "ro-acts", "--dir", readonly_dir, match=r"--dir .*cannot create the plugin there")


def test_path_options_of_the_wrong_kind(capsys, tmp_path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    cases = [
        (["--checkpoint", str(tmp_path)], r"--checkpoint .* is a directory; give a file name"),
        (["--checkpoint", str(tmp_path / "missing" / "run.safetensors")], r"--checkpoint .*missing does not exist"),
        (["--checkpoint", str(a_file / "run.safetensors")], r"--checkpoint .*file\.txt is a file, not a folder"),
        (["--plots", str(a_file)], r"--plots .*file\.txt is a file; give a folder"),
        (["--plots", str(a_file / "sub")], r"--plots .*file\.txt is a file, so the folder cannot be created"),
        (["--resume", str(tmp_path)], r"--resume .* is a directory; give the file inside it"),
        (["--resume", str(tmp_path / "nothing.safetensors")], r"--resume .*nothing\.safetensors does not exist"),
        (["--dataset", "mnist", "--data-dir", str(a_file)], r"--data-dir .*file\.txt is a file"),
    ]
    for args, match in cases:
        _fails(capsys, *QUICK, *args, match=match)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]  # nothing created by the refusals
    _fails(capsys, "plugin", "new", "acts", "--dir", str(a_file), match=r"--dir .*file\.txt: cannot create")


def test_plots_without_matplotlib_refused_before_training(capsys, tmp_path, monkeypatch):
    for module in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, module, None)
    _fails(capsys, *QUICK, "--plots", str(tmp_path / "figs"), match=r"--plots needs matplotlib.*xpgrad\[plot\]")
    assert not (tmp_path / "figs").exists()


def test_plugin_new_leaves_nothing_behind_on_failure(tmp_path, monkeypatch):
    from xpgrad import scaffold

    real = scaffold.Path.write_text
    calls = []

    def failing(self, *a, **k):
        calls.append(self)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(self, *a, **k)

    monkeypatch.setattr(scaffold.Path, "write_text", failing)
    with pytest.raises(OSError, match="No space"):
        scaffold.new_plugin("half", tmp_path)
    assert list(tmp_path.iterdir()) == []


# -- anything else: exit 1, one line, unless --debug ---------------------------------------------------

def test_unexpected_errors_are_one_line_exit_1(capsys, monkeypatch):
    import xpgrad.train

    def boom(*a, **k):
        raise RuntimeError("boom in\nthe loop")

    monkeypatch.setattr(xpgrad.train, "fit", boom)
    err = _fails(capsys, *QUICK, match=r"RuntimeError: boom in the loop .*--debug", code=1)
    assert err.startswith("xpgrad train: error:")
    for argv in (["--debug", *QUICK], [*QUICK, "--debug"]):
        with pytest.raises(RuntimeError, match="boom"):
            main(argv)


def test_a_plugin_component_that_crashes_is_refused_naming_it(capsys):
    class Plugin:
        @xpgrad.hookimpl
        def register_activations(self, register):
            def broken(x):
                raise RuntimeError("not implemented on this backend")

            register("test_broken", broken)

        @xpgrad.hookimpl
        def register_losses(self, register):
            register("test_vector_loss", lambda scores, targets, reduction="mean": scores.sum(axis=1))

    pm = xpgrad.plugin_manager()
    pm.register(Plugin(), name="test-cli-broken-plugin")
    try:
        _fails(capsys, *QUICK, "--activation", "test_broken",
               match=r"--activation test_broken: fails on a batch of shape \(2, 8\): not implemented")
        _fails(capsys, *QUICK, "--loss", "test_vector_loss",
               match=r"--loss test_vector_loss: takes neither integer class labels \(it returns shape \(2,\)")
    finally:
        pm.unregister(name="test-cli-broken-plugin")


def test_forged_component_arguments_in_a_checkpoint_are_refused(capsys, tmp_path, monkeypatch):
    ckpt = tmp_path / "c.safetensors"
    code, _, err = _run(capsys, *QUICK, "--checkpoint", str(ckpt))
    assert code == 0, err
    from xpgrad import checkpoint

    real = checkpoint.read_metadata

    def forged(path):
        meta = real(path)
        meta["config"]["optimizer_args"] = 5
        return meta

    monkeypatch.setattr(checkpoint, "read_metadata", forged)
    _fails(capsys, "train", "--quiet", "--resume", str(ckpt),
           match=r"--optimizer-args must be KEY=VALUE strings, got 5")
