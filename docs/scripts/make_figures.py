"""Regenerate the figures of the documentation (PNGs in docs/_static/figures/).

    python docs/scripts/make_figures.py            # all figures
    python docs/scripts/make_figures.py optimizers # only those whose name contains a word

Everything is computed with xpgrad itself (its optimizers, schedules, layers and training
loop) on the NumPy backend with fixed seeds, so the pictures are reproducible. Needs
matplotlib (the ``plot`` extra). Takes about a minute on two CPU cores.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("XPGRAD_DISABLE_PLUGIN_AUTOLOAD", "1")  # built-in components only
os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import xpgrad  # noqa: E402
from xpgrad import nn  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "_static" / "figures"
COLORS = {"sgd": "#444444", "momentum": "#1f77b4", "nesterov": "#17becf", "adagrad": "#2ca02c",
          "rmsprop": "#ff7f0e", "adam": "#d62728"}
LABELS = {"sgd": "SGD", "momentum": "SGD + momentum", "nesterov": "Nesterov", "adagrad": "AdaGrad",
          "rmsprop": "RMSProp", "adam": "Adam"}


def save(fig, name):
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


# -- optimizers on two 2-D problems ---------------------------------------------------------

def trajectory(f, start, name, steps, **hparams):
    """Positions visited by xpgrad's optimizer ``name`` minimizing f from ``start``."""
    p = xpgrad.tensor(start, dtype="float64", requires_grad=True)
    opt = xpgrad.optimizer(name, [p], **hparams)
    points = [p.numpy().copy()]
    for _ in range(steps):
        opt.zero_grad()
        f(p[0], p[1]).backward()
        opt.step()
        points.append(p.numpy().copy())
    return np.array(points)


def plot_paths(ax, f_np, paths, xlim, ylim, title, levels, hparams):
    xs, ys = np.meshgrid(np.linspace(*xlim, 300), np.linspace(*ylim, 300))
    ax.contour(xs, ys, f_np(xs, ys), levels=levels, colors="#bbbbbb", linewidths=0.7)
    for name, pts in paths.items():
        label = f"{LABELS[name]} (lr {hparams[name]['lr']:g})"
        ax.plot(pts[:, 0], pts[:, 1], "-", color=COLORS[name], lw=1.6, label=label)
        ax.plot(pts[-1, 0], pts[-1, 1], "o", color=COLORS[name], ms=4)
    ax.plot(*paths["sgd"][0], "k*", ms=10)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_title(title)
    ax.set_xlabel("x")
    ax.set_ylabel("y")


# Hyperparameters: each optimizer with a learning rate that suits it (adaptive methods take
# steps of about lr whatever the gradient's size, so theirs are smaller), PyTorch defaults else.
OPTIMIZERS = {
    "sgd": dict(lr=0.9),
    "momentum": dict(lr=0.3, momentum=0.9),
    "nesterov": dict(lr=0.3, momentum=0.9),
    "adagrad": dict(lr=1.0),
    "rmsprop": dict(lr=0.1, alpha=0.9),
    "adam": dict(lr=0.3),
}


def fig_optimizers_quadratic():
    # f = 0.5 (x²/20 + 2y²): curvature 0.05 along x, 2 along y — condition number 40.
    def f(x, y):
        return 0.5 * (x * x / 20 + 2 * y * y)

    paths = {n: trajectory(f, [-9.0, 2.0], n, 60, **hp) for n, hp in OPTIMIZERS.items()}
    fig, ax = plt.subplots(figsize=(9, 4.2))
    plot_paths(ax, lambda x, y: 0.5 * (x * x / 20 + 2 * y * y), paths, (-10, 2), (-2.5, 2.5),
               "Ill-conditioned quadratic f(x, y) = x²/40 + y², 60 steps from ★", levels=np.geomspace(0.01, 30, 14),
               hparams=OPTIMIZERS)
    ax.legend(loc="lower right", fontsize=8, ncol=2)
    ax.set_aspect("equal")
    save(fig, "optimizers_quadratic")


def fig_optimizers_saddle():
    # The lecture's saddle f = x² − y², starting almost on the ridge y = 0.
    def f(x, y):
        return x * x - y * y

    hp = {n: dict(h) for n, h in OPTIMIZERS.items()}
    for n in ("sgd", "momentum", "nesterov"):
        hp[n]["lr"] = 0.05  # the ridge pulls back with curvature 2: keep the gradient steps stable
    paths = {n: trajectory(f, [-1.5, 1e-3], n, 40, **h) for n, h in hp.items()}
    fig, ax = plt.subplots(figsize=(6, 5))
    plot_paths(ax, lambda x, y: x * x - y * y, paths, (-2, 2), (-0.5, 2), "Saddle f(x, y) = x² − y², 40 steps from ★",
               levels=np.linspace(-4, 4, 17), hparams=hp)
    ax.legend(loc="upper left", fontsize=8)
    save(fig, "optimizers_saddle")


# -- schedules ------------------------------------------------------------------------------

SCHEDULES = {
    "constant": {},
    "step": dict(milestones=[30, 60, 90], gamma=0.1),
    "cosine": dict(total_steps=100),
    "linear": dict(total_steps=100),
    "inverse_sqrt": {},
    "cosine_restarts": dict(period=25),
}


def lr_curve(name, steps, warmup, **kw):
    w = xpgrad.tensor([0.0], requires_grad=True)
    opt = xpgrad.optimizer("sgd", [w], lr=1.0)
    sched = xpgrad.schedule(name, opt, warmup_steps=warmup, **kw)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(steps - 1):
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    return np.array(lrs)


def fig_schedules():
    builtin = [n for n in xpgrad.registry.schedules if xpgrad.registry.schedules.entry(n).distribution == "xpgrad"] \
        if hasattr(xpgrad.registry.schedules, "entry") else list(SCHEDULES)
    names = [n for n in SCHEDULES if n in builtin] + [n for n in builtin if n not in SCHEDULES]
    cols = 3
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(11, 3.0 * rows), sharex=True, squeeze=False)
    steps = 110
    for ax, name in zip(axes.flat, names):
        kw = SCHEDULES.get(name, {})
        ax.plot(lr_curve(name, steps, 0, **kw), color="#1f77b4", lw=1.8, label="no warmup")
        ax.plot(lr_curve(name, steps, 10, **kw), color="#d62728", lw=1.4, ls="--", label="warmup_steps=10")
        args = ", ".join(f"{k}={v}" for k, v in kw.items())
        ax.set_title(f"{name}({args})" if args else name, fontsize=10)
        ax.set_ylim(-0.05, 1.08)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("step t")
    for ax in axes[:, 0]:
        ax.set_ylabel("learning rate (α₀ = 1)")
    axes.flat[0].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    save(fig, "schedules")


# -- tutorials ------------------------------------------------------------------------------

def spiral_model(hidden):
    layers = [nn.Linear(2, 3)] if hidden == 0 else [nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, 3)]
    return nn.Sequential(*layers)


def train_spiral(hidden, epochs=300, lr=1.0, optimizer="sgd", schedule=None, batch_size=None, seed=0, reg=1e-3,
                 **opt_kw):
    xpgrad.manual_seed(seed)
    X, y = xpgrad.data.spiral(n_per_class=100, classes=3, seed=0)
    model = spiral_model(hidden)
    opt = xpgrad.optimizer(optimizer, model.parameters(), lr=lr, **opt_kw)
    sched = None if schedule is None else xpgrad.schedule(schedule[0], opt, **schedule[1])
    hist = xpgrad.fit(model, xpgrad.loss("softmax_cross_entropy"), opt, (X, y), epochs=epochs,
                      batch_size=batch_size, schedule=sched,
                      regularizer=xpgrad.regularizer("l2", reg) if reg else None,
                      progress=False)
    return model, hist, (X, y)


def fig_spiral_regions():
    for hidden, name in [(0, "spiral_linear"), (100, "spiral_two_layer")]:
        model, hist, (X, y) = train_spiral(hidden)
        title = ("linear classifier" if hidden == 0 else "2-layer network, 100 ReLU units") + \
            f": training accuracy {hist.accuracy[-1]:.0%}"
        xpgrad.plot.plot_decision_regions(model, X, y, OUT / f"{name}.png", title=title)
        print(f"wrote {name}.png")


def fig_optimizer_comparison():
    # The setting of tutorial 3: 30 epochs, batches of 30, no regularization; each optimizer
    # with the best learning rate of its sweep there.
    best = {"sgd": 1.0, "momentum": 0.3, "nesterov": 0.3, "adagrad": 0.3, "rmsprop": 0.01, "adam": 0.03}
    common = dict(epochs=30, batch_size=30, reg=0)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, lr in best.items():
        _, hist, _ = train_spiral(100, optimizer=name, lr=lr, **common)
        axes[0].plot(hist.epoch, hist.loss, color=COLORS[name], label=f"{LABELS[name]} (lr={lr})")
    axes[0].set_title("Each optimizer at its best learning rate")
    schedules = [("constant", {}, "-"), ("step", dict(milestones=[150, 250], gamma=0.1), "--"),
                 ("cosine", dict(total_steps=300), "-."), ("cosine", dict(total_steps=300, warmup_steps=30), ":"),
                 ("linear", dict(total_steps=300), (0, (5, 1, 1, 1))), ("inverse_sqrt", {}, (0, (1, 3)))]
    for i, (sched, kw, style) in enumerate(schedules):
        _, hist, _ = train_spiral(100, optimizer="adam", lr=0.03, schedule=(sched, kw), **common)
        label = sched + (" + warmup 30" if "warmup_steps" in kw else "")
        axes[1].plot(hist.epoch, hist.loss, linestyle=style, color=plt.cm.tab10(i), label=label)
    axes[1].set_title("Adam (lr=0.03) with each schedule, 300 steps")
    for ax in axes:
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, "spiral_optimizers")


def fig_batch_scaling():
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    base_b, base_lr = 30, 0.05
    for k, color in zip([1, 2, 4, 8], ["#444444", "#1f77b4", "#2ca02c", "#d62728"]):
        b = base_b * k
        for ax, lr in [(axes[0], base_lr), (axes[1], base_lr * k)]:
            _, hist, _ = train_spiral(100, epochs=40, optimizer="sgd", lr=lr, batch_size=b, reg=0)
            ax.plot(hist.epoch, hist.loss, color=color, label=f"batch {b}, lr {lr:g}")
    axes[0].set_title("Batch size × k, learning rate unchanged")
    axes[1].set_title("Batch size × k, learning rate × k")
    for ax in axes:
        ax.set_xlabel("epoch (same number of examples seen)")
        ax.set_ylabel("training loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, "batch_scaling")


def fig_mnist_templates():
    # The stand-in digits of tutorial 2 (same generator, same seed), mean-subtracted.
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, size=600)
    images = rng.integers(0, 60, size=(600, 28, 28))
    for i, k in enumerate(labels):
        images[i, 4:24, 2 + 2 * k: 4 + 2 * k] = 255
    X = (images.astype(np.uint8).astype(np.float32) / np.float32(255.0)).reshape(600, -1)
    X = X - X.mean(axis=0)
    xpgrad.manual_seed(0)
    linear = nn.Linear(784, 10)
    opt = xpgrad.optimizer("adam", linear.parameters(), lr=1e-2)
    xpgrad.fit(linear, xpgrad.loss("softmax_cross_entropy"), opt, (X, labels.astype(np.int64)), epochs=5,
               batch_size=64, regularizer=xpgrad.regularizer("l2", 0.1), progress=False)
    xpgrad.plot.plot_linear_weights(linear.weight, (28, 28), OUT / "mnist_templates.png")
    print("wrote mnist_templates.png")


FIGURES = [fig_optimizers_quadratic, fig_optimizers_saddle, fig_schedules, fig_spiral_regions,
           fig_optimizer_comparison, fig_batch_scaling, fig_mnist_templates]


def main(words):
    xpgrad.set_backend("numpy")
    for fn in FIGURES:
        if words and not any(w in fn.__name__ for w in words):
            continue
        t = time.perf_counter()
        fn()
        print(f"  {fn.__name__}: {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
