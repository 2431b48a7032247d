"""The ``xpgrad`` command, run in-process through ``main([...])`` and once as a real subprocess."""

import pickle
import re
import subprocess
import sys

import numpy as np
import pytest

import xpgrad
from xpgrad.checkpoint import read_metadata
from xpgrad.cli import main
from xpgrad.cli.checks import UsageError
from xpgrad.cli.models import build_model, layer_sizes

FINAL = re.compile(r"^final train accuracy: (\d\.\d{4})  val accuracy: (\d\.\d{4})$", re.M)


def _train(capsys, *args):
    code = main(["train", "--quiet", *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    match = FINAL.search(out)
    assert match, out
    return float(match.group(1)), float(match.group(2)), out, err


def _fails(capsys, *argv, match):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert re.search(match, err), err
    return err


# -- done criteria ---------------------------------------------------------------------------------


def test_defaults_fit_the_spiral():
    """`xpgrad train` with no options: >= 98 % training accuracy (the lecture's 2-layer net)."""
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(["train", "--quiet"]) == 0
    train_acc, val_acc = map(float, FINAL.search(buf.getvalue()).groups())
    assert train_acc >= 0.98 and val_acc >= 0.95


def test_linear_classifier_stays_near_chance(capsys):
    """`--hidden 0`: a linear classifier cannot separate the arms (the lecture reports ~49 %)."""
    train_acc, val_acc, _, _ = _train(capsys, "--hidden", "0")
    assert train_acc <= 0.56 and val_acc <= 0.56


def test_array_api_strict_backend_and_progress_output(capsys):
    code = main(["train", "--backend", "array_api_strict", "--epochs", "3", "--hidden", "16", "--batch-size", "0"])
    out, err = capsys.readouterr()
    assert code == 0 and FINAL.search(out)
    assert "epoch 3/3  loss" in err and "step" in err  # epoch line and the progress bar
    assert xpgrad.get_backend() == "numpy"  # --backend does not leak into the caller


# -- options ------------------------------------------------------------------------------------


def test_options_plots_and_checkpoint(capsys, tmp_path):
    plots, ckpt = tmp_path / "plots", tmp_path / "run.safetensors"
    code = main(["train", "--epochs", "4", "--hidden", "32,16", "--activation", "tanh", "--loss", "svm",
                 "--optimizer", "momentum", "--lr", "0.05", "--schedule", "linear", "--warmup", "5",
                 "--regularizer", "l1", "--reg", "1e-4", "--batch-size", "50", "--seed", "3",
                 "--dataset", "blobs", "--plots", str(plots), "--checkpoint", str(ckpt)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "plots:" in out and "checkpoint:" in out
    for name in ("loss.png", "lr.png", "regions.png"):
        assert (plots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = xpgrad.checkpoint.read_metadata(ckpt)
    assert meta["epoch"] == 4 and meta["config"]["hidden"] == "32,16" and meta["config"]["loss"] == "svm"


def test_resume_continues_exactly(capsys, tmp_path):
    full, half, rest = (tmp_path / n for n in ("full.safetensors", "half.safetensors", "rest.safetensors"))
    common = ["--schedule", "constant", "--hidden", "16"]
    _train(capsys, *common, "--epochs", "6", "--checkpoint", str(full))
    _train(capsys, *common, "--epochs", "3", "--checkpoint", str(half))
    # the architecture comes from the checkpoint; --epochs is the total to reach
    _train(capsys, "--resume", str(half), "--epochs", "6", "--checkpoint", str(rest))
    from safetensors.numpy import load_file

    a, b = load_file(str(full)), load_file(str(rest))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert xpgrad.checkpoint.read_metadata(rest)["history"]["epoch"] == [1, 2, 3, 4, 5, 6]


def test_plugin_components_are_accepted(capsys):
    class Plugin:
        @xpgrad.hookimpl
        def register_activations(self, register):
            register("test_abs", lambda x: xpgrad.abs(x))

        @xpgrad.hookimpl
        def register_schedules(self, register):
            from xpgrad.schedules import ScheduleFactory

            register("test_halving", ScheduleFactory(lambda step, lr: lr / (1 + step)))

    pm = xpgrad.plugin_manager()
    pm.register(Plugin(), name="test-cli-plugin")
    try:
        _train(capsys, "--activation", "test_abs", "--schedule", "test_halving", "--epochs", "2")
        assert main(["list"]) == 0
        out = capsys.readouterr().out
        assert re.search(r"test_abs +plugin: test-cli-plugin", out)
        assert re.search(r"test_halving +plugin: test-cli-plugin", out)
    finally:
        pm.unregister(name="test-cli-plugin")


def test_help_and_version_return_zero(capsys):
    assert main(["--version"]) == 0
    assert xpgrad.__version__ in capsys.readouterr().out
    assert main(["train", "--help"]) == 0
    assert "--hidden" in capsys.readouterr().out


def test_list_and_info(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for header in ("activations:", "losses:", "regularizers:", "optimizers:", "schedules:"):
        assert header in out
    assert re.search(r"relu +plugin: xpgrad\.activations", out)
    assert re.search(r"adam +plugin: xpgrad\.optimizers", out)
    assert main(["list", "--kind", "schedule"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("schedules:") and "cosine" in out and "relu" not in out
    assert main(["info"]) == 0
    assert f"xpgrad {xpgrad.__version__}" in capsys.readouterr().out


def test_plugin_new(capsys, tmp_path):
    assert main(["plugin", "new", "my-acts", "--dir", str(tmp_path)]) == 0
    assert "created" in capsys.readouterr().out
    assert (tmp_path / "xpgrad-my-acts" / "pyproject.toml").is_file()
    _fails(capsys, "plugin", "new", "my-acts", "--dir", str(tmp_path), match="already exists")
    _fails(capsys, "plugin", "new", "9lives", "--dir", str(tmp_path), match="usable Python name")


# -- bad options: exit status 2, one line, no traceback ---------------------------------------------------


@pytest.mark.parametrize("args, match", [
    (["--optimizer", "adamz"], r"unknown optimizer 'adamz'.*Did you mean 'adam'"),
    (["--activation", "relux"], r"unknown activation"),
    (["--loss", "nope"], r"unknown loss"),
    (["--schedule", "nope"], r"unknown schedule"),
    (["--regularizer", "l3"], r"unknown regularizer"),
    (["--lr", "-0.1"], r"--lr must be a positive, finite number, got -0\.1"),
    (["--lr", "0"], r"--lr must be a positive"),
    (["--reg", "-1"], r"--reg must be >= 0"),
    (["--epochs", "0"], r"--epochs must be >= 1"),
    (["--batch-size", "-2"], r"--batch-size must be >= 0"),
    (["--hidden", "10,x"], r"--hidden must be a comma-separated list"),
    (["--hidden", "-4"], r"--hidden sizes must be >= 0"),
    (["--dataset", "imagenet"], r"unknown dataset 'imagenet'"),
    (["--warmup", "100000"], r"--warmup .* must be shorter"),
    (["--lr", "abc"], r"invalid float value: 'abc'"),
    (["--backend", "tpu"], r"unknown backend 'tpu'"),
])
def test_bad_options(capsys, args, match):
    _fails(capsys, "train", "--quiet", *args, match=match)


def _idx(array):
    import struct

    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.tobytes()


def test_image_datasets_and_weight_images(capsys, tmp_path):
    import pickle

    rng = np.random.default_rng(0)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx(rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx(rng.integers(0, 10, 40, dtype=np.uint8)))
    cifar = tmp_path / "cifar-10-batches-py"
    cifar.mkdir()
    for k in range(1, 6):
        batch = {"labels": rng.integers(0, 10, 8).tolist(), "data": rng.integers(0, 256, (8, 3072), dtype=np.uint8)}
        (cifar / f"data_batch_{k}").write_bytes(pickle.dumps(batch, protocol=4))
    for dataset in ("mnist", "cifar10"):
        plots = tmp_path / f"plots-{dataset}"
        acc, _, out, _ = _train(capsys, "--dataset", dataset, "--data-dir", str(tmp_path), "--hidden", "0",
                                "--epochs", "2", "--plots", str(plots))
        assert 0.0 <= acc <= 1.0
        assert (plots / "weights.png").read_bytes()[:4] == b"\x89PNG" and not (plots / "regions.png").exists()


def test_missing_data_files(capsys, tmp_path):
    for dataset, name in (("mnist", "train-images-idx3-ubyte"), ("cifar10", "data_batch_1")):
        err = _fails(capsys, "train", "--dataset", dataset, "--data-dir", str(tmp_path), match=name)
        assert str(tmp_path) in err


def test_download_without_network_is_a_one_line_error(capsys, tmp_path, monkeypatch):
    import urllib.error

    from xpgrad.data import files

    def offline(url, timeout=None):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(files.urllib.request, "urlopen", offline)
    err = _fails(capsys, "train", "--dataset", "mnist", "--data-dir", str(tmp_path), "--download",
                 match="train-images-idx3-ubyte")
    assert "network" in err and "add --download" not in err


def test_bad_resume_files(capsys, tmp_path):
    _fails(capsys, "train", "--resume", str(tmp_path / "none.safetensors"), match="does not exist")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    _fails(capsys, "train", "--resume", str(junk), match="truncated|not an xpgrad")
    ckpt = tmp_path / "small.safetensors"
    _train(capsys, "--epochs", "1", "--hidden", "8", "--checkpoint", str(ckpt))
    _fails(capsys, "train", "--resume", str(ckpt), "--hidden", "9", match=r"different model.*0\.weight")


def test_console_script_in_a_subprocess(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "xpgrad", "train", "--quiet", "--epochs", "5", "--hidden", "16"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert FINAL.search(proc.stdout)


# -- --model cnn and --dataset digits ---------------------------------------------------------------


def _cfg(**over):
    cfg = {"model": "cnn", "dataset": "digits", "activation": "relu", "kw": {"activation": {}},
           "channels": "4,8", "channel_sizes": [4, 8], "hidden_sizes": []}
    cfg.update(over)
    return cfg


def test_cnn_layers_shapes_and_pytorch_keys():
    model = build_model(_cfg(hidden_sizes=[16]), 64, 10, (8, 8))
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Unflatten", "Conv2d", "Activation", "MaxPool2d", "Conv2d", "Activation", "MaxPool2d",
                     "Flatten", "Linear", "Activation", "Linear"]
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["1.weight"] == (4, 1, 3, 3) and shapes["4.weight"] == (8, 4, 3, 3)
    assert shapes["8.weight"] == (16, 8 * 2 * 2) and shapes["10.weight"] == (10, 16)
    assert model(xpgrad.zeros((5, 64))).shape == (5, 10)
    colour = build_model(_cfg(dataset="cifar10", channel_sizes=[6]), 3072, 10, (3, 32, 32))
    assert tuple(colour.state_dict()["1.weight"].shape) == (6, 3, 3, 3)
    assert colour(xpgrad.zeros((2, 3072))).shape == (2, 10)


def test_cnn_refusals_name_the_option():
    with pytest.raises(UsageError, match="needs image data"):
        build_model(_cfg(dataset="spiral"), 2, 3, None)
    with pytest.raises(UsageError, match="too many conv blocks for \\(8, 8\\) images"):
        build_model(_cfg(channel_sizes=[4, 4, 4, 4]), 64, 10, (8, 8))
    with pytest.raises(UsageError, match="--activation maxout changes the number of features"):
        build_model(_cfg(activation="maxout", kw={"activation": {"pieces": 2}}), 64, 10, (8, 8))
    assert layer_sizes("--channels", "16, 32", allow_empty=False) == [16, 32]
    for text, match in (("16,x", "comma-separated"), ("-1", ">= 0"), ("0", "at least one"), ("8,0", "only allowed")):
        with pytest.raises(UsageError, match=match):
            layer_sizes("--channels", text, allow_empty=False)


def test_digits_cnn_trains_and_resumes(capsys, tmp_path):
    pytest.importorskip("sklearn")
    ckpt = tmp_path / "cnn.safetensors"
    train, val, _, _ = _train(capsys, "--dataset", "digits", "--model", "cnn", "--channels", "8,16", "--epochs", "3",
                        "--checkpoint", str(ckpt))
    assert train > 0.8 and val > 0.8  # 3 epochs of a small CNN on 1617 real digits
    config = read_metadata(str(ckpt))["config"]
    assert config["model"] == "cnn" and config["channels"] == "8,16"
    # --resume restores the model's options: the CNN of the checkpoint, trained further
    train2, *_ = _train(capsys, "--resume", str(ckpt), "--epochs", "4")
    assert train2 > 0.8


def test_cnn_on_image_files_and_refusals(capsys, tmp_path):
    rng = np.random.default_rng(0)
    cifar = tmp_path / "cifar-10-batches-py"
    cifar.mkdir()
    for k in range(1, 6):
        batch = {"labels": rng.integers(0, 10, 6).tolist(), "data": rng.integers(0, 256, (6, 3072), dtype=np.uint8)}
        (cifar / f"data_batch_{k}").write_bytes(pickle.dumps(batch, protocol=4))
    train, *_ = _train(capsys, "--dataset", "cifar10", "--data-dir", str(tmp_path), "--model", "cnn",
                      "--channels", "4", "--hidden", "0", "--epochs", "1")
    assert 0.0 <= train <= 1.0
    _fails(capsys, "train", "--quiet", "--model", "cnn", match="--model cnn needs image data .* not --dataset spiral")
    _fails(capsys, "train", "--quiet", "--model", "rnn", match="invalid choice: 'rnn'")
    _fails(capsys, "train", "--quiet", "--dataset", "digits", "--model", "cnn", "--channels", "8,8,8,8",
           match="too many conv blocks")
