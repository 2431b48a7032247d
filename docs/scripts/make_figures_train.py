"""Regenerate the figures of the plots guide (docs/guide/plots.md) with ``xpgrad.plot`` itself.

    python docs/scripts/make_figures_train.py

Writes ``plot_*.png`` into docs/_static/figures/. Everything runs on the NumPy backend
with fixed seeds and built-in components only, so the pictures are reproducible. Needs
matplotlib (the ``plot`` extra); takes a few seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("XPGRAD_DISABLE_PLUGIN_AUTOLOAD", "1")  # built-in components only

import numpy as np  # noqa: E402

import xpgrad  # noqa: E402
from xpgrad import nn, plot  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "_static" / "figures"


def spiral_run(hidden, epochs=300):
    """The `xpgrad train` defaults: Adam 1e-2, cosine schedule, batches of 32, L2 1e-4."""
    xpgrad.manual_seed(0)
    X, y = xpgrad.data.spiral(100, 3, seed=0)
    Xv, yv = xpgrad.data.spiral(100, 3, seed=1)
    layers = [nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, 3)] if hidden else [nn.Linear(2, 3)]
    model = nn.Sequential(*layers)
    opt = xpgrad.optimizer("adam", model.parameters(), lr=1e-2)
    sched = xpgrad.schedule("cosine", opt, total_steps=epochs * 10)
    history = xpgrad.fit(model, xpgrad.loss("cross_entropy"), opt, (X, y), epochs, batch_size=32, schedule=sched,
                         regularizer=xpgrad.regularizer("l2", 1e-4), val_data=(Xv, yv), progress=False)
    return model, history, X, y


SHAPES = ("horizontal bar", "vertical bar", "diagonal", "ring")


def shapes(n_per_class=200, size=12, seed=0):
    """Tiny grey images of four shapes at random positions, plus noise (a stand-in for real images)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    images, labels = [], []
    for label in range(len(SHAPES)):
        for _ in range(n_per_class):
            img = np.zeros((size, size))
            r, c = rng.integers(size // 2 - 3, size // 2 + 3, size=2)  # a little jitter around the centre
            if label == 0:
                img[r, 1:-1] = 1
            elif label == 1:
                img[1:-1, c] = 1
            elif label == 2:
                img[np.abs((yy - xx) - (r - c) // 3) <= 0.5] = 1
            else:
                d = np.hypot(yy - size / 2 + 0.5, xx - size / 2 + 0.5)
                img[np.abs(d - rng.uniform(2.5, 4.5)) < 0.7] = 1
            images.append(img + rng.normal(0, 0.25, img.shape))
            labels.append(label)
    return np.array(images, dtype=np.float32).reshape(len(labels), -1), np.array(labels)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    model, history, X, y = spiral_run(100)
    written = [plot.plot_history(history, OUT / "plot_history.png", title="2-layer net on the spiral"),
               plot.plot_decision_regions(model, X, y, OUT / "plot_regions_two_layer.png",
                                          title=f"100 hidden ReLU units: {history.accuracy[-1]:.0%} training accuracy")]
    linear, lin_hist, _, _ = spiral_run(0)
    written.append(plot.plot_decision_regions(linear, X, y, OUT / "plot_regions_linear.png",
                                              title=f"linear classifier: {lin_hist.accuracy[-1]:.0%}"))
    written.append(plot.plot_schedule(["constant", "step", "linear", "cosine", "inverse_sqrt"], 1000,
                                      OUT / "plot_schedules.png", lr=0.1, warmup_steps=100, total_steps=1000,
                                      milestones=[400, 700], gamma=0.3, title="schedules with 100 warmup steps"))
    Xs, ys = shapes()
    xpgrad.manual_seed(0)
    clf = nn.Linear(Xs.shape[1], len(SHAPES))
    opt = xpgrad.optimizer("adam", clf.parameters(), lr=1e-2)
    hist = xpgrad.fit(clf, xpgrad.loss("cross_entropy"), opt, (Xs, ys), 30, batch_size=50,
                      regularizer=xpgrad.regularizer("l2", 1e-2), progress=False)
    print(f"shapes: linear classifier training accuracy {hist.accuracy[-1]:.3f}")
    written.append(plot.plot_linear_weights(clf.weight, (12, 12), OUT / "plot_linear_weights.png",
                                            class_names=SHAPES))
    for path in written:
        print("wrote", path)


if __name__ == "__main__":
    main()
