"""Pictures of training: loss/accuracy curves, learning-rate schedules, decision regions, linear weights.

Matplotlib is an optional dependency (``pip install 'xpgrad[plot]'``); it is
imported inside each function and draws on its own ``Agg`` canvas (never
through pyplot, so the user's matplotlib backend is left alone), so
``import xpgrad.plot`` costs nothing and works on machines without a display.
Every function renders a PNG in memory and writes it atomically
(:func:`xpgrad.checkpoint.write_atomic`), then returns the path.
"""

from __future__ import annotations

import io
import math

import numpy as np

from . import backend as _backend

__all__ = ["plot_decision_regions", "plot_history", "plot_linear_weights", "plot_schedule"]


def _figure(rows=1, cols=1, figsize=(6, 4)):
    """A figure on its own Agg canvas: no pyplot, no global backend switch, nothing left open."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("xpgrad.plot needs matplotlib: pip install 'xpgrad[plot]'") from None
    fig = Figure(figsize=figsize, dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols, squeeze=False)


def _cmap(name):
    import matplotlib

    return matplotlib.colormaps[name]


def _save(fig, path) -> str:
    from .checkpoint import write_atomic

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", metadata={"Software": None})  # reproducible bytes
    return write_atomic(path, buf.getvalue())


def _host(x) -> np.ndarray:
    return _backend.to_numpy(getattr(x, "data", x)) if not isinstance(x, np.ndarray) else x


def plot_history(history, path, *, title=None) -> str:
    """Plot the per-epoch loss and accuracy of a :class:`~xpgrad.train.History` side by side.

    Training curves are solid; validation curves (when the history has them)
    are dashed. A widening gap between the two accuracy curves is the
    lecture's sign of overfitting (then increase regularization).

    Parameters
    ----------
    history : History or dict
        Needs ``loss``; ``accuracy``, ``val_loss`` and ``val_accuracy`` are used when present.
    path : str or path-like
        Where to write the PNG.
    title : str, optional

    Returns
    -------
    str
        ``path``.

    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "h.png")
    >>> plot_history({"loss": [1.0, 0.5, 0.3], "accuracy": [0.4, 0.8, 0.9]}, p) == p
    True
    """
    get = history.get if isinstance(history, dict) else (lambda k, d=None: getattr(history, k, d))
    loss = list(get("loss", []) or [])
    if not loss:
        raise ValueError("plot_history needs a history with at least one epoch of 'loss'")
    epochs = np.arange(1, len(loss) + 1)
    fig, axes = _figure(1, 2, figsize=(9, 3.5))
    for ax, key, label in ((axes[0, 0], "loss", "loss"), (axes[0, 1], "accuracy", "accuracy")):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = get(prefix + key, None)
            if values and any(v is not None for v in values):
                vals = [np.nan if v is None else v for v in values]
                ax.plot(epochs[:len(vals)], vals, style, label=("validation " if prefix else "training ") + label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _lr_curve(schedule, steps):
    """Learning rates used at steps 0..steps-1; the schedule and its optimizer are restored afterwards."""
    opt = getattr(schedule, "optimizer", None)
    groups = getattr(opt, "param_groups", None)
    if not groups:
        raise TypeError(f"plot_schedule needs a schedule with an .optimizer that has param_groups, got "
                        f"{type(schedule).__name__}")
    saved_state, saved_lrs = schedule.state_dict(), [g["lr"] for g in groups]
    try:
        lrs = []
        for _ in range(steps):
            lrs.append(float(groups[0]["lr"]))
            schedule.step()
        return lrs
    finally:
        schedule.load_state_dict(saved_state)
        for g, lr in zip(groups, saved_lrs, strict=True):
            g["lr"] = lr


def _accepted(name, kwargs):
    """The keywords of ``kwargs`` that schedule ``name`` takes (for drawing several schedules at once)."""
    import inspect

    from . import registry

    try:
        params = inspect.signature(registry.schedules[name].obj).parameters.values()
    except (TypeError, ValueError):
        return kwargs
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return kwargs
    names = {p.name for p in params}
    return {k: v for k, v in kwargs.items() if k in names}


def _schedule_from_name(name, lr, optimizer, kwargs):
    import xpgrad

    p = xpgrad.zeros((1,), requires_grad=True)
    opt = xpgrad.optimizer(optimizer, [p], lr=lr)
    return xpgrad.schedule(name, opt, **kwargs)


def plot_schedule(schedule_or_name, steps, path, *, lr=0.1, optimizer="sgd", title=None, **schedule_kwargs) -> str:
    """Plot the learning rate over ``steps`` optimizer steps for one or several schedules.

    Parameters
    ----------
    schedule_or_name : schedule, str, or list of them
        A schedule object (it is stepped on a copy of its state and restored
        afterwards) or a registered schedule name, built over a dummy
        ``optimizer`` with learning rate ``lr`` and ``**schedule_kwargs``. A
        list draws one curve per entry; each named schedule then gets only
        the keywords it accepts (e.g. ``total_steps`` goes to ``cosine`` but
        not to ``constant``).
    steps : int
        Number of optimizer steps on the x axis.
    path : str or path-like
        Where to write the PNG.

    Returns
    -------
    str
        ``path``.

    >>> import os, tempfile
    >>> from xpgrad import registry
    >>> name = sorted(registry.schedules)[0]
    >>> p = os.path.join(tempfile.mkdtemp(), "lr.png")
    >>> plot_schedule(name, 50, p) == p
    True
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    entries = schedule_or_name if isinstance(schedule_or_name, (list, tuple)) else [schedule_or_name]
    fig, axes = _figure(figsize=(6, 3.5))
    ax = axes[0, 0]
    for entry in entries:
        if isinstance(entry, str):
            kw = _accepted(entry, schedule_kwargs) if len(entries) > 1 else schedule_kwargs
            label, sched = entry, _schedule_from_name(entry, lr, optimizer, kw)
        else:
            label, sched = type(entry).__name__, entry
        ax.plot(np.arange(steps), _lr_curve(sched, steps), label=label)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    ax.grid(alpha=0.3)
    if len(entries) > 1:
        ax.legend()
    ax.set_title(title or ("learning-rate schedule" if len(entries) > 1 else f"learning-rate schedule: {label}"))
    return _save(fig, path)


def _predict(model, points, batch_size=65536):
    import xpgrad

    was_training = getattr(model, "training", None)
    if hasattr(model, "eval"):
        model.eval()
    try:
        out = []
        with xpgrad.no_grad():
            for i in range(0, points.shape[0], batch_size):
                # the grid goes to the current backend, in the default float dtype
                x = xpgrad.as_tensor(points[i:i + batch_size], dtype=xpgrad.get_default_dtype())
                scores = model(x)
                out.append(_host(scores))
        scores = np.concatenate(out)
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    return scores.argmax(axis=1) if scores.ndim == 2 and scores.shape[1] > 1 else (scores.ravel() > 0).astype(int)


def plot_decision_regions(model, X, y, path, *, resolution=300, title=None) -> str:
    """Colour the plane by the class a model predicts, with the data points on top (2-D inputs only).

    The model is evaluated (in eval mode, without recording a graph) on a
    ``resolution`` x ``resolution`` grid spanning the data plus a margin; the
    predicted class is argmax of the scores.

    Parameters
    ----------
    model : callable
        Maps a ``(n, 2)`` tensor to ``(n, classes)`` scores.
    X : array of shape (n, 2)
    y : array of shape (n,)
        Integer class labels, used for the colours of the points.
    path : str or path-like

    Returns
    -------
    str
        ``path``.

    >>> import os, tempfile, numpy as np, xpgrad
    >>> W = xpgrad.tensor([[1.0, -1.0], [0.0, 0.0]])
    >>> p = os.path.join(tempfile.mkdtemp(), "regions.png")
    >>> X = np.array([[-1.0, 0.0], [1.0, 0.0]]); y = np.array([1, 0])
    >>> plot_decision_regions(lambda x: x @ W, X, y, p, resolution=20) == p
    True
    """
    X, y = _host(X), _host(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"plot_decision_regions needs 2-D inputs of shape (n, 2), got shape {X.shape}; "
                         "it cannot draw regions for higher-dimensional data")
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.1 * np.maximum(hi - lo, 1e-6)
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    gx, gy = np.meshgrid(xs, ys)
    pred = _predict(model, np.stack([gx.ravel(), gy.ravel()], axis=1)).reshape(gx.shape)
    n_classes = int(max(pred.max(), y.max() if y.size else 0)) + 1
    cmap = _cmap("Set1" if n_classes <= 9 else "tab20")
    fig, axes = _figure(figsize=(5, 5))
    ax = axes[0, 0]
    ax.contourf(gx, gy, pred, levels=np.arange(n_classes + 1) - 0.5, cmap=cmap, alpha=0.35,
                vmin=-0.5, vmax=n_classes - 0.5)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap=cmap, vmin=-0.5, vmax=n_classes - 0.5, s=12, edgecolors="k",
               linewidths=0.3)
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    ax.set_aspect("equal")
    ax.set_title(title or "decision regions")
    return _save(fig, path)


def plot_linear_weights(weight, image_shape, path, *, class_names=None, title=None) -> str:
    """Show each class's weights of a linear classifier as an image (the lecture's visual viewpoint).

    For scores ``s = x @ W.T + b`` with ``W`` of shape ``(C, D)`` (the layout
    of ``nn.Linear.weight``, as in PyTorch), row ``c`` is a template that the
    image is matched against by a dot product; each template is reshaped to
    ``image_shape`` and rescaled to [0, 1] on its own. A ``(D, C)`` matrix
    (scores ``x @ W``, one template per column) is accepted as well.

    Parameters
    ----------
    weight : array or Tensor of shape (C, D) or (D, C)
        ``D`` must equal the product of ``image_shape``; when both sides
        equal it, rows are taken as the templates.
    image_shape : tuple
        ``(height, width)`` for grey images, ``(height, width, 3)`` for RGB, or
        ``(3, height, width)`` for channel-first rows such as CIFAR-10's.
    path : str or path-like
    class_names : sequence of str, optional
        Titles of the images (default: class indices).

    Returns
    -------
    str
        ``path``.

    >>> import os, tempfile, numpy as np
    >>> p = os.path.join(tempfile.mkdtemp(), "w.png")
    >>> plot_linear_weights(np.random.default_rng(0).normal(size=(3, 16)), (4, 4), p) == p
    True
    >>> plot_linear_weights(np.random.default_rng(0).normal(size=(16, 3)), (4, 4), p) == p
    True
    """
    W = _host(weight).astype(np.float64)
    image_shape = tuple(int(s) for s in image_shape)
    D = math.prod(image_shape)
    if W.ndim != 2 or D not in W.shape:
        raise ValueError(f"weight must have shape (classes, prod(image_shape)) = (C, {D}) (nn.Linear's layout) or "
                         f"({D}, C) for image_shape {image_shape}, got {W.shape}; pass the Linear layer's .weight")
    if W.shape[1] == D:  # one template per row (nn.Linear.weight): make them columns
        W = W.T
    classes = W.shape[1]
    channels_first = len(image_shape) == 3 and image_shape[0] in (1, 3) and image_shape[-1] not in (1, 3)
    names = list(class_names) if class_names is not None else [str(c) for c in range(classes)]
    if len(names) != classes:
        raise ValueError(f"class_names has {len(names)} names for {classes} classes")
    cols = min(classes, 5)
    rows = math.ceil(classes / cols)
    fig, axes = _figure(rows, cols, figsize=(1.8 * cols, 1.9 * rows))
    for c, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if c >= classes:
            continue
        img = W[:, c].reshape(image_shape)
        if channels_first:
            img = np.moveaxis(img, 0, -1)
        if img.ndim == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        span = img.max() - img.min()
        img = (img - img.min()) / (span if span > 0 else 1.0)
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
        ax.set_title(names[c], fontsize=9)
    if title:
        fig.suptitle(title)
    return _save(fig, path)
