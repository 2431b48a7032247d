"""``xpgrad train --model cnn`` and ``--dataset digits``: the network built, trained, checkpointed and refused."""

import pickle
import re

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
    return float(match.group(1)), float(match.group(2))


def _fails(capsys, *args, match):
    code = main(["train", "--quiet", *args])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and "Traceback" not in err and re.search(match, err), err


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
    train, val = _train(capsys, "--dataset", "digits", "--model", "cnn", "--channels", "8,16", "--epochs", "3",
                        "--checkpoint", str(ckpt))
    assert train > 0.8 and val > 0.8  # 3 epochs of a small CNN on 1617 real digits
    config = read_metadata(str(ckpt))["config"]
    assert config["model"] == "cnn" and config["channels"] == "8,16"
    # --resume restores the model's options: the CNN of the checkpoint, trained further
    train2, _ = _train(capsys, "--resume", str(ckpt), "--epochs", "4")
    assert train2 > 0.8


def test_cnn_on_image_files_and_refusals(capsys, tmp_path):
    rng = np.random.default_rng(0)
    cifar = tmp_path / "cifar-10-batches-py"
    cifar.mkdir()
    for k in range(1, 6):
        batch = {"labels": rng.integers(0, 10, 6).tolist(), "data": rng.integers(0, 256, (6, 3072), dtype=np.uint8)}
        (cifar / f"data_batch_{k}").write_bytes(pickle.dumps(batch, protocol=4))
    train, _ = _train(capsys, "--dataset", "cifar10", "--data-dir", str(tmp_path), "--model", "cnn",
                      "--channels", "4", "--hidden", "0", "--epochs", "1")
    assert 0.0 <= train <= 1.0
    _fails(capsys, "--model", "cnn", match="--model cnn needs image data .* not --dataset spiral")
    _fails(capsys, "--model", "rnn", match="invalid choice: 'rnn'")
    _fails(capsys, "--dataset", "digits", "--model", "cnn", "--channels", "8,8,8,8",
           match="too many conv blocks")
