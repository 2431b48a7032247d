"""``xpgrad train``: options -> checks (paths, dependencies, components) -> data -> model -> fit.

Everything that can be wrong with the options is found before the first
training step: the output paths and the optional dependency of ``--plots``
first, then each component is built and tried on a two-row batch.
"""

from __future__ import annotations

import inspect
import os
import sys

from .. import backend as B
from ..checkpoint import CheckpointError
from .checks import (
    COMPONENT_KINDS,
    UsageError,
    _one_line,
    check_optimizer,
    input_file,
    loss_for_labels,
    optional_import,
    output_dir,
    output_file,
    parse_component_args,
)
from .commands import backend_option
from .models import MODELS, build_model, layer_sizes

TOY_DATASETS = ("spiral", "blobs")
DATASETS = (*TOY_DATASETS, "mnist", "cifar10", "digits")

# Defaults of ``xpgrad train``; per-dataset values where the image datasets need other ones.
DEFAULTS: dict[str, object] = {
    "backend": None, "dataset": "spiral", "data_dir": "data", "model": "mlp", "channels": "32,64", "hidden": "100",
    "activation": "relu",
    "loss": "cross_entropy", "optimizer": "adam", "lr": 1e-2, "schedule": "cosine", "warmup": 0,
    "regularizer": "l2", "reg": 1e-4, "epochs": 300, "batch_size": 32, "seed": 0,
    **{f"{kind}_args": [] for kind in COMPONENT_KINDS}, "dtype": "float32",
}
IMAGE_DEFAULTS: dict[str, object] = {"epochs": 5, "batch_size": 128, "lr": 1e-3}
# scikit-learn's 1797 8x8 digits: small enough for more epochs of smaller batches.
DIGITS_DEFAULTS: dict[str, object] = {"epochs": 15, "batch_size": 32, "lr": 5e-3}
# Options that define the network, the data and the training run: kept in checkpoints and used by --resume.
CONFIG_KEYS = tuple(k for k in DEFAULTS if k != "backend")
PLOT_MODULES = ("matplotlib.figure", "matplotlib.backends.backend_agg")


def on_main(fn, *args):
    """``fn(*args)`` on rank 0 of a data-parallel job, its result (or its UsageError) on every rank.

    Files are read and checked by the rank that writes them; the other ranks
    get the outcome, so every rank stops alike on a bad option. Outside a
    job it is just ``fn(*args)``.
    """
    from .. import distributed as dist

    if dist.world_size() == 1:
        return fn(*args)
    outcome = None
    if dist.is_main():
        try:
            outcome = ("ok", fn(*args))
        except (UsageError, CheckpointError) as e:
            outcome = ("error", str(e))
    kind, value = dist.broadcast_object(outcome)
    if kind == "error":
        raise UsageError(value)
    return value


def _read_config(path) -> dict:
    from ..checkpoint import read_metadata

    input_file("--resume", path)
    try:
        return read_metadata(path).get("config") or {}
    except OSError as e:
        raise UsageError(f"--resume {path}: cannot be read ({e.strerror or e})") from None


def config(args) -> dict:
    """Options given on the command line, over the resumed checkpoint's, over the defaults."""
    given = {k: getattr(args, k) for k in DEFAULTS if getattr(args, k, None) is not None}
    saved = {}
    if args.resume:
        saved = {k: v for k, v in on_main(_read_config, args.resume).items() if k in CONFIG_KEYS}
        for kind in COMPONENT_KINDS:  # another component than the saved one: its saved arguments do not apply
            if kind in given and f"{kind}_args" not in given:
                saved.pop(f"{kind}_args", None)
    dataset = given.get("dataset", saved.get("dataset", DEFAULTS["dataset"]))
    defaults = {**DEFAULTS, **(IMAGE_DEFAULTS if dataset not in TOY_DATASETS else {}),
                **(DIGITS_DEFAULTS if dataset == "digits" else {})}
    cfg = {**defaults, **saved, **given}
    validate(cfg)
    return cfg


def validate(cfg):
    """Check every option that needs no data; adds ``hidden_sizes`` and the parsed ``kw`` of each component."""
    from .. import registry

    if cfg["dataset"] not in DATASETS:
        raise UsageError(f"unknown dataset {cfg['dataset']!r}; choose one of {', '.join(DATASETS)}")
    cfg["kw"] = {}
    for kind in COMPONENT_KINDS:  # the options named after kinds
        if not isinstance(cfg[kind], str):
            raise UsageError(f"--{kind} must be a name, got {cfg[kind]!r}")
        try:
            registry.table(kind)[cfg[kind]]
        except KeyError as e:
            raise UsageError(f"--{kind}: {e.args[0] if e.args else e}") from None
        tokens = cfg[f"{kind}_args"]
        if not isinstance(tokens, (list, tuple)) or not all(isinstance(t, str) for t in tokens):
            raise UsageError(f"--{kind}-args must be KEY=VALUE strings, got {tokens!r}")
        cfg["kw"][kind] = parse_component_args(kind, tokens)
    for key in ("lr", "reg"):
        if isinstance(cfg[key], bool) or not isinstance(cfg[key], (int, float)):
            raise UsageError(f"--{key} must be a number, got {cfg[key]!r}")
    if not 0 < cfg["lr"] < float("inf"):
        raise UsageError(f"--lr must be a positive, finite number, got {cfg['lr']!r}")
    if not 0 <= cfg["reg"] < float("inf"):
        raise UsageError(f"--reg must be >= 0 and finite, got {cfg['reg']!r}")
    if cfg["reg"] == 0 and cfg["kw"]["regularizer"]:
        raise UsageError("--regularizer-args has no effect with --reg 0; give a strength > 0 or drop the arguments")
    for key, low in (("epochs", 1), ("batch_size", 0), ("warmup", 0), ("seed", 0)):
        if isinstance(cfg[key], bool) or not isinstance(cfg[key], int):
            raise UsageError(f"--{key.replace('_', '-')} must be an integer, got {cfg[key]!r}")
        if cfg[key] < low:
            raise UsageError(f"--{key.replace('_', '-')} must be >= {low}, got {cfg[key]}")
    if cfg["dtype"] not in B.FLOAT_DTYPES:
        raise UsageError(f"--dtype must be one of {', '.join(B.FLOAT_DTYPES)}, got {cfg['dtype']!r}")
    cfg["hidden_sizes"] = hidden_sizes(cfg["hidden"])
    if cfg["model"] not in MODELS:
        raise UsageError(f"--model must be one of {', '.join(MODELS)}, got {cfg['model']!r}")
    cfg["channel_sizes"] = layer_sizes("--channels", cfg["channels"], allow_empty=False)
    if cfg["model"] == "cnn" and cfg["dataset"] in TOY_DATASETS:
        raise UsageError(f"--model cnn needs image data (--dataset mnist, cifar10 or digits), not --dataset "
                         f"{cfg['dataset']}")


def hidden_sizes(text) -> list:
    return layer_sizes("--hidden", text, allow_empty=True)


def check_outputs(args, cfg) -> None:
    """Every path option and optional dependency, before any data is read or any step taken."""
    if args.checkpoint:
        output_file("--checkpoint", args.checkpoint)
    if args.plots:
        output_dir("--plots", args.plots)
        optional_import("--plots", PLOT_MODULES, "plot")
    if cfg["dataset"] not in TOY_DATASETS:
        if os.path.exists(cfg["data_dir"]) and not os.path.isdir(cfg["data_dir"]):
            raise UsageError(f"--data-dir {cfg['data_dir']} is a file; give the folder of the data files")
        if args.download:
            output_dir("--data-dir", cfg["data_dir"])


def load_data(cfg, download=False):
    """(X, y, Xval, yval, image_shape) as NumPy arrays; image_shape is None for 2-D toy data."""
    import numpy as np

    from .. import data
    from ..data.files import DatasetError

    seed = cfg["seed"]
    if cfg["dataset"] == "spiral":
        return (*data.spiral(100, 3, seed=seed), *data.spiral(100, 3, seed=seed + 1), None)
    if cfg["dataset"] == "blobs":  # validation points around the training set's class centres
        return (*data.blobs(100, 3, seed=seed), *data.blobs(100, 3, seed=seed + 1, center_seed=seed), None)
    loader = data.load_mnist if cfg["dataset"] == "mnist" else data.load_cifar10
    shape = {"mnist": (28, 28), "cifar10": (3, 32, 32), "digits": (8, 8)}[cfg["dataset"]]
    try:
        X, y = _load_digits() if cfg["dataset"] == "digits" else loader(cfg["data_dir"], train=True,
                                                                        download=download)
    except FileNotFoundError as e:
        hint = "" if download else " or add --download"
        raise UsageError(f"{e} (set the folder with --data-dir{hint})") from None
    except DatasetError as e:  # a damaged or forged file: the message names it
        raise UsageError(f"--dataset {cfg['dataset']}: {e}") from None
    except OSError as e:  # an unreadable file, or the download itself failed
        raise UsageError(f"could not read or download {cfg['dataset']} in {cfg['data_dir']}: {e}") from None
    if X.shape[0] < 2:
        raise UsageError(f"--dataset {cfg['dataset']}: {cfg['data_dir']} holds {X.shape[0]} example(s); "
                         "at least 2 are needed (one for validation)")
    order = np.random.default_rng(seed).permutation(X.shape[0])  # hold out 10 % for validation
    n_val = max(1, X.shape[0] // 10)
    val, train = order[:n_val], order[n_val:]
    return X[train], y[train], X[val], y[val], shape


def schedule_kwargs(name, total_steps, warmup, given):
    """Pass ``total_steps``/``warmup_steps`` to schedules whose signature takes them (plugins' included)."""
    from .. import registry

    kw = dict(given)
    try:
        params = inspect.signature(registry.schedules[name].obj).parameters
    except (TypeError, ValueError):
        params = {}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    if "total_steps" in params or takes_any:
        kw["total_steps"] = total_steps
    if warmup:
        if "warmup_steps" not in params and not takes_any:
            raise UsageError(f"--warmup: schedule {name!r} takes no warmup_steps")
        kw["warmup_steps"] = warmup
    return kw


def _component(kind, name, build):
    try:
        return build()
    except Exception as e:  # noqa: BLE001 - whatever the component raises is the reason it is refused
        raise UsageError(f"--{kind} {name}: {_one_line(e)} (set its parameters with --{kind}-args KEY=VALUE)") from None


def _load_digits():
    """scikit-learn's 1797 8x8 grey images of digits (shipped with it, no download), scaled to [0, 1]."""
    import numpy as np

    optional_import("--dataset digits", ("sklearn.datasets",), None, package="scikit-learn")
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64)


def build_run(cfg, X, y, classes, image_shape=None):
    """Model, loss, regularizer, optimizer and schedule, each built and tried before training (UsageError otherwise)."""
    import xpgrad

    model = build_model(cfg, X.shape[1], classes, image_shape)
    kw = cfg["kw"]
    loss = _component("loss", cfg["loss"], lambda: xpgrad.loss(cfg["loss"], **kw["loss"]))
    reg = None
    if cfg["reg"] > 0:
        reg = _component("regularizer", cfg["regularizer"],
                         lambda: xpgrad.regularizer(cfg["regularizer"], cfg["reg"], **kw["regularizer"]))
    optimizer = _component("optimizer", cfg["optimizer"],
                           lambda: xpgrad.optimizer(cfg["optimizer"], model.parameters(), lr=cfg["lr"],
                                                    **kw["optimizer"]))
    check_optimizer(cfg["optimizer"], optimizer)
    batch = cfg["batch_size"] or X.shape[0]
    total_steps = cfg["epochs"] * -(-X.shape[0] // batch)
    if cfg["warmup"] >= total_steps:
        raise UsageError(f"--warmup ({cfg['warmup']} steps) must be shorter than the run ({total_steps} steps)")
    sched_kw = schedule_kwargs(cfg["schedule"], total_steps, cfg["warmup"], kw["schedule"])
    schedule = _component("schedule", cfg["schedule"], lambda: xpgrad.schedule(cfg["schedule"], optimizer, **sched_kw))
    # One forward and backward pass on two rows (no update): the loss learns its target form, and a component
    # that cannot run here is refused now rather than after the first epoch.
    scores = _component("activation", cfg["activation"], lambda: model(X[:2]))
    loss = loss_for_labels(cfg["loss"], loss, scores, xpgrad.as_tensor(y[:2]))
    objective = loss(scores, xpgrad.as_tensor(y[:2]))
    if reg is not None:
        objective = objective + _component("regularizer", cfg["regularizer"],
                                           lambda: reg([p for p in model.parameters() if p.ndim > 1]))
    _component("loss", cfg["loss"], objective.backward)
    optimizer.zero_grad()
    return model, loss, reg, optimizer, schedule, sched_kw


def join_job(args) -> bool:
    """``--distributed``: join the job ``mpiexec`` started (``--comm`` picks the GPU reduction); True when it has
    more than one rank. Without it a launch of several ranks is refused: they would each train alone."""
    from .. import distributed as dist

    comm = getattr(args, "comm", None)
    if not getattr(args, "distributed", False):
        if comm is not None:
            raise UsageError(f"--comm {comm} only applies with --distributed (mpiexec -n N xpgrad train "
                             "--distributed ...)")
        from ..distributed.launch import launcher_size

        size = launcher_size()
        if size is not None and size > 1:
            raise UsageError(f"started by a launcher with {size} ranks but without --distributed: every rank "
                             "would train the same model alone and write the same files; add --distributed")
        return False
    try:
        return dist.init(comm=comm or "auto") > 1
    except RuntimeError as e:  # mpi4py missing, or an mpiexec of another MPI library
        raise UsageError(f"--distributed: {e}") from None


def _download(cfg) -> None:
    load_data(cfg, download=True)


def _load_checkpoint(path, model, optimizer, schedule) -> dict:
    from ..checkpoint import load

    try:
        meta = load(path, model=model, optimizer=optimizer, schedule=schedule)
    except CheckpointError as e:
        raise UsageError(f"--resume: {e}") from None
    return {"epoch": int(meta.get("epoch", 0)), "history": meta.get("history") or {}}


def run(args) -> int:
    import xpgrad

    from .. import distributed as dist
    from ..train import History, ModelCheckpoint, NonFiniteLossError, evaluate, fit

    backend = backend_option(args.backend) if args.backend else B.get_backend()
    old_dtype = B.get_default_dtype()
    with B.use_backend(backend):
        join_job(args)  # on the backend in use: a GPU rank picks its device here
        main = dist.is_main()
        cfg = config(args)
        on_main(check_outputs, args, cfg)
        xpgrad.set_default_dtype(cfg["dtype"])
        try:
            xpgrad.manual_seed(cfg["seed"])
            if args.download and dist.world_size() > 1:  # rank 0 downloads; the others then find its files
                on_main(_download, cfg)
            X, y, Xv, yv, image_shape = load_data(cfg, download=args.download)
            classes = int(max(y.max(), yv.max())) + 1
            model, loss, reg, optimizer, schedule, sched_kw = build_run(cfg, X, y, classes, image_shape)
            start, history = 0, History()
            if args.resume:  # rank 0 reads; fit broadcasts the weights, optimizer, schedule and generator
                meta = on_main(_load_checkpoint, args.resume, model, optimizer, schedule)
                start, history = meta["epoch"], History.from_dict(meta["history"])
            saved = {k: cfg[k] for k in CONFIG_KEYS}
            callbacks = []
            if args.checkpoint:
                every = max(1, cfg["epochs"] // 10)
                callbacks.append(ModelCheckpoint(args.checkpoint, every=every, config=saved))
            remaining = max(0, cfg["epochs"] - start)
            try:
                history = fit(model, loss, optimizer, (X, y), remaining, batch_size=cfg["batch_size"] or None,
                              schedule=schedule, regularizer=reg, val_data=(Xv, yv), callbacks=callbacks,
                              progress=not args.quiet, start_epoch=start, history=history,
                              compile=bool(getattr(args, "compile", False)))
            except NonFiniteLossError as e:  # decided on global figures: every rank stops here alike
                if main:
                    print(f"xpgrad train: error: {_one_line(e)}", file=sys.stderr)
                return 1
            if main:  # the ranks hold the same weights: rank 0 evaluates, plots and reports
                train_acc = evaluate(model, loss, (X, y))["accuracy"]
                val_acc = evaluate(model, loss, (Xv, yv))["accuracy"]
                if args.plots:
                    plots(args.plots, cfg, history, sched_kw, model, X, y, image_shape, quiet=args.quiet)
                if args.checkpoint and not args.quiet:
                    print(f"checkpoint: {args.checkpoint}")
        finally:
            xpgrad.set_default_dtype(old_dtype)
    dist.barrier()
    if main:
        print(f"final train accuracy: {train_acc:.4f}  val accuracy: {val_acc:.4f}")
    return 0


def plots(directory, cfg, history, sched_kw, model, X, y, image_shape, quiet):
    from .. import plot

    os.makedirs(directory, exist_ok=True)
    written = []
    if len(history):
        written.append(plot.plot_history(history, os.path.join(directory, "loss.png"),
                                         title=f"{cfg['dataset']}: hidden {cfg['hidden']}"))
    steps = sched_kw.get("total_steps") or cfg["epochs"] * -(-X.shape[0] // (cfg["batch_size"] or X.shape[0]))
    written.append(plot.plot_schedule(cfg["schedule"], steps, os.path.join(directory, "lr.png"), lr=cfg["lr"],
                                      **sched_kw))
    if X.shape[1] == 2:
        written.append(plot.plot_decision_regions(model, X, y, os.path.join(directory, "regions.png")))
    elif image_shape is not None and not cfg["hidden_sizes"] and cfg["model"] == "mlp":
        weight = model.state_dict()["0.weight"]
        names = None
        if cfg["dataset"] == "cifar10":
            from ..data import CIFAR10_CLASSES as names
        written.append(plot.plot_linear_weights(weight, image_shape, os.path.join(directory, "weights.png"),
                                                class_names=names))
    if not quiet:
        print("plots: " + ", ".join(written))
