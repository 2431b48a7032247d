"""Plots: each function writes a valid PNG that matplotlib can read back, and rejects bad input clearly."""

import os

import numpy as np
import pytest

import xpgrad
from xpgrad import nn
from xpgrad.plot import plot_decision_regions, plot_history, plot_linear_weights, plot_schedule

pytest.importorskip("matplotlib")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _read_png(path):
    import matplotlib.image as mpimg

    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50
    return img


def test_history_plot(tmp_path):
    h = xpgrad.History()
    for e, (loss, a) in enumerate([(1.1, 0.3), (0.7, 0.6), (0.4, 0.9)], start=1):
        h.append(epoch=e, loss=loss, accuracy=a, lr=0.1, time=0.0, val_loss=loss + 0.1, val_accuracy=a - 0.1)
    out = plot_history(h, tmp_path / "history.png", title="run")
    assert out == str(tmp_path / "history.png")
    img = _read_png(out)
    assert img[..., :3].std() > 0.01  # not a blank image
    with pytest.raises(ValueError, match="at least one epoch"):
        plot_history({"loss": []}, tmp_path / "empty.png")


def test_schedule_plot_by_name_and_object_leaves_object_unchanged(tmp_path):
    _read_png(plot_schedule("cosine", 100, tmp_path / "cos.png", lr=0.5, total_steps=100))
    _read_png(plot_schedule(["constant", "cosine"], 50, tmp_path / "two.png", total_steps=50))
    w = xpgrad.zeros((1,), requires_grad=True)
    opt = xpgrad.optimizer("sgd", [w], lr=0.2)
    sched = xpgrad.schedule("cosine", opt, total_steps=10)
    sched.step()
    before, lr = sched.state_dict(), opt.param_groups[0]["lr"]
    _read_png(plot_schedule(sched, 10, tmp_path / "obj.png"))
    assert sched.state_dict() == before and opt.param_groups[0]["lr"] == lr
    with pytest.raises(ValueError, match="positive integer"):
        plot_schedule("cosine", 0, tmp_path / "bad.png")


def test_decision_regions_on_spiral(tmp_path, cpu_backend):
    X, y = xpgrad.data.spiral(30, 3)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    model.train()
    _read_png(plot_decision_regions(model, X, y, tmp_path / "regions.png", resolution=40))
    assert model.training  # the mode is restored after drawing
    with pytest.raises(ValueError, match=r"shape \(n, 2\).*\(4, 3\)"):
        plot_decision_regions(model, np.zeros((4, 3)), np.zeros(4, int), tmp_path / "x.png")


@pytest.mark.parametrize("shape", [(4, 5), (4, 5, 3), (3, 4, 5)])
def test_linear_weights_image_layouts(tmp_path, shape):
    W = xpgrad.randn(int(np.prod(shape)), 7)
    _read_png(plot_linear_weights(W, shape, tmp_path / "w.png", class_names=list("abcdefg")))


def test_linear_weights_errors(tmp_path):
    with pytest.raises(ValueError, match=r"\(20, C\).*\(21, 3\)"):
        plot_linear_weights(np.zeros((21, 3)), (4, 5), tmp_path / "w.png")
    with pytest.raises(ValueError, match="2 names for 3 classes"):
        plot_linear_weights(np.zeros((20, 3)), (4, 5), tmp_path / "w.png", class_names=["a", "b"])


def test_plot_write_is_atomic(tmp_path):
    path = tmp_path / "h.png"
    plot_history({"loss": [1.0, 0.5]}, path)
    plot_history({"loss": [2.0, 0.1]}, path)
    assert os.listdir(tmp_path) == ["h.png"]
    _read_png(path)
